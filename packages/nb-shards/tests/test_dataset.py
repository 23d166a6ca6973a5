from __future__ import annotations

import io
import json
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest

from nb_core import Manifest, Sample
from nb_core.errors import (
    CorruptDataError,
    IncompatibleDataError,
    IndexOutOfRangeError,
    SchemaVersionError,
    UnsafeContentError,
    UserError,
)
from nb_shards import IndexedShards, ShardDataset, SkippedSampleWarning, collate


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _reg(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a, allow_pickle=True)
    return b.getvalue()


def test_sequential_and_shuffled_orders(shards: Path) -> None:
    ds = ShardDataset(shards)
    assert [s["__key__"] for s in ds] == [f"w{i:05d}" for i in range(120)]
    sh = ShardDataset(shards, shuffle=True, seed=7)
    e0 = [s["__key__"] for s in sh]
    sh.set_epoch(1)
    e1 = [s["__key__"] for s in sh]
    assert e0 != e1 and sorted(e0) == sorted(e1)
    assert [s["__key__"] for s in ShardDataset(shards, shuffle=True, seed=7)] == e0
    parts = [
        [s["__key__"] for s in ShardDataset(shards, shuffle=True, seed=7, rank=r, world_size=3)]
        for r in range(3)
    ]
    assert [k for trio in zip(*parts) for k in trio] == e0  # ranks interleave the global order
    assert len(ShardDataset(shards, rank=0, world_size=7)) == 18  # ceil(120 / 7), padded


def test_samples_decode_to_views_or_tensors(shards: Path, eeg_samples: list[Sample]) -> None:
    import torch

    s = next(iter(ShardDataset(shards)))
    assert isinstance(s["eeg"], np.ndarray) and not s["eeg"].flags.writeable and s["eeg"].base is not None
    np.testing.assert_array_equal(s["eeg"], eeg_samples[0].arrays["eeg"])
    t = next(iter(ShardDataset(shards, decode="torch")))
    assert isinstance(t["eeg"], torch.Tensor)
    b = next(iter(ShardDataset(shards, batch_size=3, collate_fn=lambda xs: [x["__key__"] for x in xs])))
    assert b == ["w00000", "w00001", "w00002"]
    assert collate([])["__key__"] == []


def test_torch_dataloader_over_to_torch(shards: Path) -> None:
    import torch

    ds = ShardDataset(shards, batch_size=10)
    keys = [
        k
        for b in torch.utils.data.DataLoader(ds.to_torch(), batch_size=None, num_workers=2)
        for k in b["__key__"]
    ]
    assert keys == [f"w{i:05d}" for i in range(120)]


def test_indexed_shards(shards: Path, eeg_samples: list[Sample]) -> None:
    ds = IndexedShards(shards)
    assert len(ds) == 120
    np.testing.assert_array_equal(ds[57]["eeg"], eeg_samples[57].arrays["eeg"])
    assert ds[-1]["__key__"] == "w00119" and ds.key(25) == "w00025"
    with pytest.raises(IndexOutOfRangeError):
        ds[120]
    with pytest.raises(IndexOutOfRangeError):
        ds[-121]
    with pytest.raises(UserError):
        ds["a"]  # type: ignore[index]
    with pytest.raises(UserError):
        ds[True]  # type: ignore[index]
    with pytest.raises(UserError):
        ds.key(1.5)  # type: ignore[arg-type]


def test_plain_webdataset_tar_without_index(tmp_path: Path) -> None:
    import webdataset as wds

    with wds.TarWriter(str(tmp_path / "x.tar")) as w:
        for i in range(5):
            w.write({"__key__": f"k{i}", "eeg.npy": np.full(3, i, "int16"), "cls": i})
    ds = IndexedShards(tmp_path / "x.tar")
    assert len(ds) == 5 and ds[3]["eeg"].tolist() == [3, 3, 3] and ds[3]["cls"] == b"3"
    assert [s["__key__"] for s in ShardDataset([str(tmp_path / "x.tar")])] == [f"k{i}" for i in range(5)]
    assert len(ShardDataset(tmp_path)) == 5  # a directory of plain tars


def test_truncated_tar_names_shard_and_offset(shards: Path, tmp_path: Path) -> None:
    data = (shards / "train-000001.tar").read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2 + 100])
    with pytest.raises(CorruptDataError, match=r"cut\.tar: truncated tar: .* at byte offset \d+"):
        IndexedShards(cut)
    # With the artifact's index the damage is found per sample: skip or raise.
    (shards / "train-000001.tar").write_bytes(data[: len(data) // 2 + 100])
    with pytest.raises(
        CorruptDataError, match=r"train-000001\.tar: truncated: member w000\d\d\.eeg\.npy at byte offset"
    ):
        list(ShardDataset(shards))
    ds = ShardDataset(shards, on_error="skip")
    with pytest.warns(SkippedSampleWarning, match="byte offset"):
        got = list(ds)
    assert ds.skipped == 120 - len(got) == 11  # w00039..w00049 lie past the cut
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedSampleWarning)
        batches = list(ShardDataset(shards, on_error="skip", batch_size=10))
    assert len(batches) == 12  # the number of batches never changes


def test_corrupted_member_bytes(shards: Path) -> None:
    p = shards / "train-000000.tar"
    data = bytearray(p.read_bytes())
    off = data.find(b"\x93NUMPY")
    data[off : off + 6] = b"XXXXXX"
    p.write_bytes(bytes(data))
    with pytest.raises(
        CorruptDataError, match=rf"train-000000\.tar: w00000\.eeg\.npy at byte offset {off}: not an \.npy"
    ):
        IndexedShards(shards)[0]
    data[148:156] = b"9999999\0"  # wrong checksum in the first tar header
    bad = shards / "damaged.tar"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="damaged tar header at byte offset"):
        IndexedShards(bad)


@pytest.mark.parametrize(
    ("member", "match"),
    [
        ("../evil.json", "escapes"),
        ("/abs/evil.json", "escapes"),
        ("k.model.pth", r"\.pth file"),
        ("k.data.pickle", r"\.pickle file"),
        ("k.ext.pyd", r"\.pyd file"),
    ],
)
def test_unsafe_member_names(tmp_path: Path, member: str, match: str) -> None:
    p = _tar(tmp_path / "bad.tar", [_reg("k.json", b"{}"), _reg(member, b"x")])
    with pytest.raises(UnsafeContentError, match=match):
        IndexedShards(p)


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.LNKTYPE, "hard link"),
        (tarfile.CHRTYPE, "character device"),
        (tarfile.FIFOTYPE, "FIFO"),
    ],
)
def test_links_and_devices_are_refused(tmp_path: Path, kind: bytes, what: str) -> None:
    info = tarfile.TarInfo("k.eeg.npy")
    info.type = kind
    info.linkname = "/etc/passwd"
    p = _tar(tmp_path / "bad.tar", [_reg("j.json", b"{}"), (info, None)])
    with pytest.raises(UnsafeContentError, match=what):
        IndexedShards(p)


def test_pickled_npy_is_never_unpickled(tmp_path: Path) -> None:
    p = _tar(tmp_path / "bad.tar", [_reg("k.x.npy", _npy(np.array([{"a": 1}], dtype=object)))])
    with pytest.raises(UnsafeContentError, match="needs pickle"):
        IndexedShards(p)[0]


def test_missing_modality_and_wrong_shape_against_manifest(shards: Path, tmp_path: Path) -> None:
    m = Manifest.read(shards)
    m.modalities["eeg"].shape = [4, 51]
    m.write(shards)
    with pytest.raises(
        IncompatibleDataError,
        match=r"modality 'eeg' is float32 \[4, 50\], the manifest says float32 \[4, 51\]",
    ):
        IndexedShards(shards)[0]
    m.modalities["eeg"].shape = [4, None]  # a free axis is fine
    m.write(shards)
    assert IndexedShards(shards)[0]["eeg"].shape == (4, 50)
    from nb_core import ModalitySpec

    m.modalities["meg"] = ModalitySpec(dtype="float32", shape=[2])
    m.write(shards)
    with pytest.raises(IncompatibleDataError, match="lacks modality 'meg'"):
        IndexedShards(shards)[0]


def test_newer_schema_or_layout_is_refused(shards: Path) -> None:
    d = json.loads((shards / "nb-manifest.json").read_text())
    d["extra"]["nb_shards"]["format_version"] = 99
    (shards / "nb-manifest.json").write_text(json.dumps(d))
    with pytest.raises(SchemaVersionError, match="newer"):
        ShardDataset(shards)
    d["schema_version"] = 99
    (shards / "nb-manifest.json").write_text(json.dumps(d))
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        ShardDataset(shards)
    idx = json.loads((shards / "train-000000.idx").read_text())
    idx["nb_shards_index"] = 5
    (shards / "train-000000.idx").write_text(json.dumps(idx))
    with pytest.raises(SchemaVersionError):
        IndexedShards([str(shards / "train-000000.tar")])


def test_import_does_not_pull_heavy_modules() -> None:
    import subprocess
    import sys

    code = "import sys, nb_shards; print(sorted(m for m in ('torch','datasets','mne','huggingface_hub','webdataset','h5py') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
