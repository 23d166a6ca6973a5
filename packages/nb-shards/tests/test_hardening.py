"""Reproducers of hostile, corrupt and careless inputs: only project errors escape, nothing hangs,
nothing is silently wrong, a failed write leaves the artifact as it was."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nb_core import Sample
from nb_core.errors import (
    ChecksumMismatchError,
    CorruptDataError,
    IncompatibleDataError,
    NBError,
    SchemaError,
    UnsafeContentError,
    UnsupportedFormatError,
    UserError,
)
from nb_core.testing import deadline
from nb_shards import IndexedShards, ShardDataset, ShardWriter, inspect_artifact, verify
from nb_shards.convert import write_inputs
from nb_shards.verify import IncompleteArtifactError


def _digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir()) if p.is_file()}


def _edit_manifest(d: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    m = json.loads((d / "nb-manifest.json").read_text())
    fn(m)
    (d / "nb-manifest.json").write_text(json.dumps(m))


def _tar(members: list[tuple[str, bytes]], *, encoding: str = "utf-8") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT, encoding=encoding) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


# -- C1: --items-per-task never duplicates ----------------------------------------------------------
def test_items_per_task_writes_each_item_once(tmp_path: Path) -> None:
    x = np.arange(250 * 6, dtype="float32").reshape(250, 2, 3)
    np.save(tmp_path / "x.npy", x)
    m = write_inputs([tmp_path / "x.npy"], tmp_path / "o", items_per_task=100, max_workers=0)
    assert m.splits == {"train": 250}
    ds = IndexedShards(tmp_path / "o")
    assert len({ds.key(i) for i in range(250)}) == 250
    np.testing.assert_array_equal(ds[249]["eeg"], x[249])


def test_items_per_task_on_nb_formats_input(tmp_path: Path) -> None:
    nbf = pytest.importorskip("nb_formats")
    from nb_core.testing import simulate_windows

    recs, windows = simulate_windows(n_recordings=2, n_channels=2, sfreq=50.0, duration=8.0, window_size=50)
    src = tmp_path / "eeg.h5"
    nbf.write((recs, windows), src, format="hdf5")
    n = len(nbf.open(src))
    assert n == 16
    m = write_inputs([src], tmp_path / "o", items_per_task=5, max_workers=0)
    assert m.splits == {"train": 16}
    # --window applies to an nb-formats input (windows cut now), it is not ignored
    w = write_inputs([src], tmp_path / "w", window=0.5, max_workers=0)
    assert w.splits == {"train": 2 * 16} and w.modalities["eeg"].shape == [2, 25]


# -- C2: a tar member with a negative size (GNU base-256) ------------------------------------------
def test_negative_tar_size_raises_instead_of_looping(tmp_path: Path) -> None:
    data = bytearray(_tar([("k0.json", b"{}"), ("k1.json", b"{}")]))
    # size field of the second header: GNU base-256, negative (-1024)
    field = b"\xff" + (-1024).to_bytes(11, "big", signed=True)
    data[512 + 512 + 124 : 512 + 512 + 136] = field
    head = data[1024:1536]
    head[148:156] = b"        "
    data[1024 + 148 : 1024 + 156] = b"%06o\0 " % sum(head)
    p = tmp_path / "neg.tar"
    p.write_bytes(bytes(data))
    for call in (
        lambda: IndexedShards(p),
        lambda: list(ShardDataset(p)),
        lambda: verify(p),
        lambda: inspect_artifact(p),
    ):
        with deadline(5), pytest.raises(CorruptDataError, match="negative size"):
            call()


# -- C3: every manifest path stays inside the artifact and is checksummed --------------------------
def test_manifest_shard_paths_are_checked(shards: Path, tmp_path: Path) -> None:
    (shards.parent / "secret.txt").write_text("secret")
    art = tmp_path / "escape"
    shutil.copytree(shards, art)

    def escape(m: dict[str, Any]) -> None:
        m["extra"]["nb_shards"]["shards"][0]["path"] = "../secret.txt"

    _edit_manifest(art, escape)
    for call in (lambda: IndexedShards(art)[0], lambda: verify(art)):
        with pytest.raises(SchemaError, match="relative POSIX path|inside"):
            call()
    # a shard the manifest lists but does not checksum
    unlisted = tmp_path / "unlisted"
    shutil.copytree(shards, unlisted)
    _edit_manifest(
        unlisted, lambda m: m.__setitem__("files", [f for f in m["files"] if f["path"] != "train-000001.tar"])
    )
    with pytest.raises(NBError, match="train-000001.tar.*not listed|not listed.*train-000001.tar"):
        verify(unlisted)


# -- C4: a stale .idx is detected on open -----------------------------------------------------------
def test_stale_index_is_detected(shards: Path) -> None:
    shutil.copyfile(shards / "train-000000.idx", shards / "train-000001.idx")
    with pytest.raises(CorruptDataError, match="does not belong to this shard"):
        IndexedShards(shards)[25]
    with pytest.raises(CorruptDataError):
        list(ShardDataset(shards))


# -- C5: verify=True checks each shard's sha256 once ------------------------------------------------
def test_verify_on_open(shards: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nb_shards import source

    p = shards / "train-000002.tar"
    data = bytearray(p.read_bytes())
    data[512 + 200] ^= 0xFF  # inside the first array: silently wrong without verify
    p.write_bytes(bytes(data))
    assert IndexedShards(shards)[50]["eeg"] is not None
    with pytest.raises(ChecksumMismatchError, match="train-000002.tar"):
        IndexedShards(shards, verify=True)[50]
    with pytest.raises(ChecksumMismatchError):
        list(ShardDataset(shards, verify=True))
    hashed: list[Path] = []
    real = source._verify_file

    def counting(path: Path, *a: Any, **kw: Any) -> None:
        hashed.append(path)
        real(path, *a, **kw)

    monkeypatch.setattr(source, "_verify_file", counting)
    ds = IndexedShards(shards, verify=True, max_open=1)
    ds[0], ds[30], ds[0], ds[30]  # shards reopened: hashed on the first open only (cached per process)
    assert len(hashed) == 4 and len(source._VERIFIED) >= 2
    with pytest.raises(UserError, match="manifest"):
        IndexedShards(shards / "train-000000.tar", verify=True)


# -- C6: hostile JSON, names and arrays give project errors ----------------------------------------
@pytest.mark.parametrize(
    "payload",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a": ' + b"9" * 5000 + b"}", b'{"a": "\xff\xfe"}', b'{"a": NaN}'],
    ids=["deep", "huge-int", "not-utf8", "nan"],
)
def test_hostile_json_in_samples_and_indexes(shards: Path, tmp_path: Path, payload: bytes) -> None:
    p = tmp_path / "j.tar"
    p.write_bytes(_tar([("k0.json", payload)]))
    with pytest.raises(CorruptDataError):
        IndexedShards(p)[0]
    (shards / "train-000000.idx").write_bytes(payload)
    with pytest.raises(CorruptDataError):
        IndexedShards(shards)[0]


def test_non_utf8_member_name(tmp_path: Path) -> None:
    p = tmp_path / "n.tar"
    p.write_bytes(_tar([("k\xe9.json", b"{}")], encoding="latin-1"))
    with pytest.raises(CorruptDataError, match="UTF-8"):
        IndexedShards(p)
    with pytest.raises(CorruptDataError):
        verify(p)


def test_object_and_corrupt_npy_inputs(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([[{"a": 1}], [{"b": 2}]], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafeContentError, match="pickle"):
        write_inputs([tmp_path / "obj.npy"], tmp_path / "o", max_workers=0)
    np.save(tmp_path / "bad.npy", np.zeros((3, 2, 2), "float32"))
    raw = bytearray((tmp_path / "bad.npy").read_bytes())
    raw[10:20] = b"{'descr': "[:10].replace(b"{", b"(")
    (tmp_path / "bad.npy").write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError, match="bad.npy"):
        write_inputs([tmp_path / "bad.npy"], tmp_path / "p", max_workers=0)


# -- C8: verify on an unfinished write; a shards manifest with another layout ----------------------
def test_verify_unfinished_write_says_incomplete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nb_core.cli import main

    out = tmp_path / "o"
    with pytest.raises(RuntimeError), ShardWriter(out, max_count=2) as w:
        for i in range(5):
            w.write({"__key__": f"k{i}", "x.npy": np.zeros(3, "float32")})
        raise RuntimeError("crash")
    with pytest.raises(IncompleteArtifactError, match="incomplete"):
        verify(out)
    assert main(["shards", "verify", str(out)]) == 2
    assert "incomplete" in capsys.readouterr().err


def test_shards_manifest_with_another_layout_is_refused(shards: Path) -> None:
    _edit_manifest(shards, lambda m: m.__setitem__("layout", "hdf5"))
    with pytest.raises(UnsupportedFormatError, match="hdf5"):
        verify(shards)
    with pytest.raises(UnsupportedFormatError):
        ShardDataset(shards)


# -- C9: no temporaries after crash recovery --------------------------------------------------------
def test_resume_removes_temporaries(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((6, 2, 2), "float32"))
    out = tmp_path / "o"
    out.mkdir()
    for name in (
        ".nb-tmp-0123456789ab-train-000000.tar",
        ".nb-tmp-0123456789ab-train-000000.idx",
        ".nb-tmp-ba9876543210-nb-manifest.json",
    ):
        (out / name).write_bytes(b"left by a crash")
    write_inputs([tmp_path / "x.npy"], out, max_workers=0)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".nb-tmp")) == []
    w = tmp_path / "w"
    w.mkdir()
    (w / ".nb-tmp-ba9876543210-nb-manifest.json").write_bytes(b"{}")
    with ShardWriter(w) as sw:
        sw.write({"__key__": "a", "x.npy": np.zeros(2, "int8")})
    assert [p.name for p in w.iterdir() if p.name.startswith(".nb-tmp")] == []


# -- C10: decompression is bounded by the index ----------------------------------------------------
def test_gzip_bomb_is_stopped_at_the_declared_size(tmp_path: Path) -> None:
    out = tmp_path / "gz"
    with ShardWriter(out, compression="gz") as w:
        w.write({"__key__": "a", "x.npy": np.zeros(8, "float32")})
    bomb = gzip.compress(bytes(64 << 20), compresslevel=1)  # 64 MiB of zeros in ~64 KiB
    (out / "train-000000.tar.gz").write_bytes(bomb)
    with pytest.raises(CorruptDataError, match="inflates to more than"):
        IndexedShards(out)[0]


# -- C11: loader state validation and the end of an epoch ------------------------------------------
def test_load_state_dict_validates(shards: Path) -> None:
    pytest.importorskip("torch")
    from nb_shards import ShardLoader

    ld = ShardLoader(shards, batch_size=8, decode="numpy")
    good = ld.state_dict()
    for bad in (
        {"position": 121},
        {"position": True},
        {"epoch": 10**30},
        {"epoch": -1},
        {"nb_shards_loader": True},
    ):
        with pytest.raises((SchemaError, UserError)):
            ld.load_state_dict({**good, **bad})


def test_state_after_last_batch_resumes_next_epoch_on_other_world_size(shards: Path) -> None:
    pytest.importorskip("torch")
    from nb_shards import ShardLoader

    # 120 samples, world 7, drop: 17 per rank (119 consumed); a state saved after the last batch
    lds = [
        ShardLoader(shards, batch_size=17, rank=r, world_size=7, uneven="drop", decode="numpy", shuffle=True)
        for r in range(7)
    ]
    for ld in lds:
        assert len(list(ld)) == 1
    state = lds[0].state_dict()
    assert state["epoch"] == 1 and state["position"] == 0  # the loop ended: next epoch
    it = iter(lds[0])
    next(it)
    state = lds[0].state_dict()  # right after the last batch of epoch 1, inside the loop
    new = ShardLoader(
        shards, batch_size=10, rank=0, world_size=1, uneven="drop", decode="numpy", shuffle=True
    )
    new.load_state_dict(state)
    batches = list(new)
    assert new.epoch == 3 and len(batches) == 12  # a whole epoch 2, no leftovers of epoch 1
    ref = ShardDataset(shards, shuffle=True, epoch=2, rank=0, world_size=1)
    assert [k for b in batches for k in b["__key__"]] == [s["__key__"] for s in ref]


# -- index errors ----------------------------------------------------------------------------------
def test_bad_indices_raise_project_errors(shards: Path) -> None:
    from nb_core.errors import IndexOutOfRangeError

    ds = IndexedShards(shards)
    with pytest.raises(IndexOutOfRangeError):
        ds[10**6]
    with pytest.raises(UserError):
        ds[None]  # type: ignore[index]


# -- B2: a failed write into an existing artifact leaves it unchanged ------------------------------
def test_failed_split_write_leaves_artifact_unchanged(tmp_path: Path) -> None:
    np.save(tmp_path / "train.npy", np.zeros((6, 2, 4), "float32"))
    np.save(tmp_path / "valid.npy", np.zeros((3, 2, 5), "float32"))
    out = tmp_path / "o"
    write_inputs([tmp_path / "train.npy"], out, max_workers=0)
    before = _digests(out)
    with pytest.raises(IncompatibleDataError, match="modality 'eeg'"):
        write_inputs([tmp_path / "valid.npy"], out, split="valid", max_workers=0)
    assert _digests(out) == before and not list(out.glob("valid-*"))
    with pytest.raises(IncompatibleDataError), ShardWriter(out, split="valid") as w:
        w.write(Sample("a", {"eeg": np.zeros((2, 5), "float32")}))
    assert _digests(out) == before and not list(out.glob("valid-*"))
    assert verify(out)["samples"] == 6


# -- B6: empty results are errors --------------------------------------------------------------------
def test_no_samples_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nb_core.cli import main
    from nb_core.testing import simulate_raw

    raw = simulate_raw(n_channels=2, sfreq=50.0, duration=3.0)
    raw.save(tmp_path / "r_raw.fif", verbose="error")
    with pytest.raises(UserError, match="no samples"):
        write_inputs([tmp_path / "r_raw.fif"], tmp_path / "o", window=10.0, max_workers=0)
    assert not (tmp_path / "o" / "nb-manifest.json").exists()
    code = main(
        [
            "shards",
            "write",
            str(tmp_path / "r_raw.fif"),
            "-o",
            str(tmp_path / "c"),
            "--window",
            "10",
            "--workers",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and err.startswith("nb: error:")
        and "no samples" in err
        and len(err.strip().splitlines()) == 1
    )
