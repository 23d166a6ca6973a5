from __future__ import annotations

import glob
import hashlib
import io
import os
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nb_core import Manifest, Sample
from nb_core.errors import (
    IncompatibleDataError,
    OutputExistsError,
    SchemaError,
    UnsafeContentError,
    UserError,
)
from nb_shards import IndexedShards, ShardDataset, ShardWriter


def _digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_layout_manifest_and_tar_members(shards: Path, eeg_samples: list[Sample]) -> None:
    names = sorted(p.name for p in shards.iterdir())
    assert names[:2] == ["nb-manifest.json", "train-000000.idx"]
    assert [n for n in names if n.endswith(".tar")] == [f"train-{i:06d}.tar" for i in range(5)]
    m = Manifest.read(shards)
    assert m.layout == "shards" and m.writer["package"] == "nb-shards"
    assert m.splits == {"train": 120}
    assert m.modalities["eeg"].dtype == "float32" and m.modalities["eeg"].shape == [4, 50]
    assert [e["n_samples"] for e in m.extra["nb_shards"]["shards"]] == [25, 25, 25, 25, 20]
    assert m.extra["hf_configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "train-*.tar"}]}
    ]
    assert {f.path for f in m.files} == {n for n in names if n != "nb-manifest.json"}
    m.verify(shards)
    with tarfile.open(shards / "train-000000.tar") as tf:
        infos = tf.getmembers()
    assert [i.name for i in infos[:4]] == ["w00000.eeg.npy", "w00000.json", "w00001.eeg.npy", "w00001.json"]
    assert all(i.mtime == 0 and i.uid == 0 and i.gid == 0 and i.uname == "" and i.isreg() for i in infos)
    # np.load of the member gives the array back, without pickle
    with tarfile.open(shards / "train-000000.tar") as tf:
        f = tf.extractfile("w00000.eeg.npy")
        assert f is not None
        a = np.load(io.BytesIO(f.read()), allow_pickle=False)
    np.testing.assert_array_equal(a, eeg_samples[0].arrays["eeg"])


def test_webdataset_reads_our_shards(shards: Path, eeg_samples: list[Sample]) -> None:
    import webdataset as wds

    urls = sorted(glob.glob(str(shards / "train-*.tar")))
    got = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode())
    assert [s["__key__"] for s in got] == [s.key for s in eeg_samples]
    for s, ref in zip(got, eeg_samples):
        np.testing.assert_array_equal(s["eeg.npy"], ref.arrays["eeg"])
        assert s["json"] == ref.metadata


def test_datasets_reads_our_shards(shards: Path, eeg_samples: list[Sample], tmp_path: Path) -> None:
    import datasets

    files = sorted(glob.glob(str(shards / "train-*.tar")))
    ds = datasets.load_dataset(
        "webdataset", data_files={"train": files}, split="train", cache_dir=str(tmp_path / "c1")
    )
    assert len(ds) == 120
    row = ds[7]
    assert row["__key__"] == "w00007"
    np.testing.assert_array_equal(np.asarray(row["eeg.npy"], dtype=np.float32), eeg_samples[7].arrays["eeg"])
    assert row["json"]["target"] == eeg_samples[7].metadata["target"]
    # The artifact directory itself: datasets infers the split from the names and ignores the
    # index sidecars and the manifest.
    whole = datasets.load_dataset(str(shards), cache_dir=str(tmp_path / "c2"))
    assert list(whole) == ["train"] and len(whole["train"]) == 120


def test_same_input_gives_identical_bytes(tmp_path: Path, eeg_samples: list[Sample], write: Any) -> None:
    a = write(tmp_path / "a", eeg_samples, max_count=40, name="x")
    b = write(tmp_path / "b", eeg_samples, max_count=40, name="x")
    assert _digests(a) == _digests(b)


@pytest.mark.parametrize(
    "kw", [{"max_count": 25}, {"max_bytes": 8000}, {"max_count": 30, "compression": "zst"}]
)
def test_interrupted_writer_resumes_to_identical_output(
    tmp_path: Path, eeg_samples: list[Sample], kw: dict[str, object], write: Any
) -> None:
    ref = write(tmp_path / "ref", eeg_samples, name="x", **kw)
    out = tmp_path / "out"

    class Crash(Exception):
        pass

    with pytest.raises(Crash), ShardWriter(out, name="x", **kw) as w:  # type: ignore[arg-type]
        for i, s in enumerate(eeg_samples):
            if i == 67:
                raise Crash
            w.write(s)
    left = sorted(p.name for p in out.iterdir())
    assert "nb-manifest.json" not in left
    assert not [n for n in left if n.startswith(".nb-tmp")]  # no half shard, not even a temporary
    complete = [n for n in left if ".tar" in n]
    assert complete and all((out / n).read_bytes() == (ref / n).read_bytes() for n in complete)
    mtimes = {n: (out / n).stat().st_mtime_ns for n in complete}
    write(out, eeg_samples, name="x", **kw)
    assert _digests(out) == _digests(ref)
    assert {n: (out / n).stat().st_mtime_ns for n in complete} == mtimes  # kept, not rewritten


def test_resume_refuses_changed_input(tmp_path: Path, eeg_samples: list[Sample], write: Any) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), ShardWriter(out, max_count=10) as w:
        for s in eeg_samples[:25]:
            w.write(s)
        raise RuntimeError("crash")
    with pytest.raises(IncompatibleDataError, match="input changed"), ShardWriter(out, max_count=10) as w:
        for s in eeg_samples[1:]:
            w.write(s)
    write(out, eeg_samples[1:], max_count=10, overwrite=True)
    assert IndexedShards(out).key(0) == "w00001"


def test_splits_in_one_artifact_and_overwrite(tmp_path: Path, eeg_samples: list[Sample], write: Any) -> None:
    out = write(tmp_path / "d", eeg_samples[:100], max_count=50)
    write(out, eeg_samples[100:], split="test")
    m = Manifest.read(out)
    assert m.splits == {"test": 20, "train": 100}
    assert m.extra["hf_configs"][0]["data_files"] == [
        {"split": "test", "path": "test-*.tar"},
        {"split": "train", "path": "train-*.tar"},
    ]
    assert len(ShardDataset(out, split="test").source.shards) == 1
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        ShardWriter(out, split="test")
    write(out, eeg_samples[100:110], split="test", overwrite=True)
    assert Manifest.read(out).splits == {"test": 10, "train": 100}
    m = Manifest.read(out)
    m.verify(out)


def test_compressed_shards_roundtrip(tmp_path: Path, eeg_samples: list[Sample], write: Any) -> None:
    import webdataset as wds

    for comp in ("gz", "zst"):
        out = write(tmp_path / comp, eeg_samples[:30], max_count=20, compression=comp)
        assert sorted(p.name for p in out.glob("*.tar*")) == [f"train-00000{i}.tar.{comp}" for i in range(2)]
        assert "hf_configs" not in Manifest.read(out).extra  # datasets reads plain .tar only
        got = list(ShardDataset(out))
        assert [s["__key__"] for s in got] == [s.key for s in eeg_samples[:30]]
        np.testing.assert_array_equal(got[29]["eeg"], eeg_samples[29].arrays["eeg"])
    gz = sorted(glob.glob(str(tmp_path / "gz" / "*.tar.gz")))
    assert len(list(wds.WebDataset(gz, shardshuffle=False, empty_check=False))) == 30


def test_webdataset_dict_samples_and_extra_members(tmp_path: Path) -> None:
    out = tmp_path / "d"
    with ShardWriter(out) as w:
        w.write(
            {"__key__": "a", "eeg.npy": np.ones((2, 3), "float32"), "json": {"y": 1}, "txt": "hi", "cls": 3}
        )
    s = IndexedShards(out)[0]
    assert s["txt"] == b"hi" and s["cls"] == b"3" and s["json"] == {"y": 1}
    assert s["eeg"].shape == (2, 3) and not s["eeg"].flags.writeable  # a view into the shard


def test_bad_samples_are_refused_and_nothing_half_written(tmp_path: Path) -> None:
    out = tmp_path / "d"
    x = np.zeros((2, 4), "float32")
    with pytest.raises(IncompatibleDataError, match="lacks modality 'meg'"), ShardWriter(out) as w:
        w.write({"__key__": "a", "eeg.npy": x, "meg.npy": x})
        w.write({"__key__": "b", "eeg.npy": x})
    assert sorted(p.name for p in out.iterdir()) == []
    cases = [
        ({"__key__": "b", "eeg.npy": x.astype("float64")}, IncompatibleDataError, "dtype float64"),
        ({"__key__": "b", "eeg.npy": np.zeros((2, 5), "float32")}, IncompatibleDataError, r"shape \[2, 5\]"),
        ({"__key__": "b", "eeg.npy": np.array([object()], dtype=object)}, UnsafeContentError, "pickle"),
        ({"__key__": "b", "eeg.npy": x, "pickle": b"x"}, UnsafeContentError, "refused"),
        ({"__key__": "b", "eeg.npy": x, "model.pth": b"x"}, UnsafeContentError, "refused"),
        ({"__key__": "../b", "eeg.npy": x}, SchemaError, "not a valid sample key"),
        ({"__key__": "a", "eeg.npy": x}, UserError, "written twice"),
        ({"eeg.npy": x}, SchemaError, "__key__"),
        ({"__key__": "b", "eeg.npy": x, "json": {"v": float("nan")}}, ValueError, "finite"),
    ]
    for bad, err, msg in cases:
        with pytest.raises(err, match=msg), ShardWriter(out) as w:
            w.write({"__key__": "a", "eeg.npy": x})
            w.write(bad)
        assert not [p for p in out.iterdir() if p.name.endswith(".tar") or p.name.startswith(".nb-tmp")]
    with pytest.raises(UserError):
        ShardWriter(out, compression="lz4")
    with pytest.raises(UserError):
        ShardWriter(out, max_count=0)
    with pytest.raises(UserError):
        ShardWriter(out, split="a/b")


def _fail_rename_of(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make the rename of one shard fail as a full disk would (the shard's flush fails)."""
    import nb_core.atomic

    real = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(dst).name == name:
            raise OSError(28, "No space left on device", str(dst))
        real(src, dst)

    monkeypatch.setattr(nb_core.atomic.os, "replace", replace)


def _no_flush_thread() -> bool:
    return not any(t.name.startswith("nb-shards-flush") for t in threading.enumerate())


@pytest.mark.parametrize("failing", ["train-000001.tar", "train-000011.tar"])
def test_a_failed_background_flush_is_raised_and_nothing_is_half_written(
    tmp_path: Path, eeg_samples: list[Sample], write: Any, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Shard 1 fails while later samples are written (raised by a later write); the last shard
    (11) fails while close() waits for it. Either way: the error reaches the caller, no manifest,
    no temporary, no shard under the failed name; a new writer finishes the same bytes."""
    ref = write(tmp_path / "ref", eeg_samples, max_count=10, name="x")
    out = tmp_path / "out"
    _fail_rename_of(monkeypatch, failing)
    with pytest.raises(OSError, match="No space left"), ShardWriter(out, max_count=10, name="x") as w:
        for s in eeg_samples:
            w.write(s)
    left = sorted(p.name for p in out.iterdir())
    assert "nb-manifest.json" not in left and failing not in left
    assert not [n for n in left if n.startswith(".nb-tmp")]
    assert all((out / n).read_bytes() == (ref / n).read_bytes() for n in left if ".tar" in n)
    assert _no_flush_thread()
    monkeypatch.undo()
    write(out, eeg_samples, max_count=10, name="x")
    assert _digests(out) == _digests(ref)


def test_fsync_of_a_shard_overlaps_encoding_the_next(
    tmp_path: Path, eeg_samples: list[Sample], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While shard 0 is being flushed to disk, the writer already writes shard 1 (its temporary
    appears); the manifest comes only after every shard is complete."""
    import nb_core.atomic

    out = tmp_path / "out"
    real = nb_core.atomic.fsync_path
    overlapped = []

    def slow_fsync(path: Any) -> None:
        if Path(path).name.endswith("-train-000000.tar"):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not list(out.glob(".nb-tmp-*-train-000001.tar")):
                time.sleep(0.01)
            overlapped.append(bool(list(out.glob(".nb-tmp-*-train-000001.tar"))))
            assert not (out / "nb-manifest.json").exists()
        real(path)

    monkeypatch.setattr(nb_core.atomic, "fsync_path", slow_fsync)
    with ShardWriter(out, max_count=50) as w:
        for s in eeg_samples:
            w.write(s)
    assert overlapped == [True]
    assert w.manifest is not None and [f.path for f in w.manifest.files] == [
        f"train-00000{i}.{ext}" for i in range(3) for ext in ("tar", "idx")
    ]
    assert sorted(p.name for p in out.glob("*.tar")) == [f"train-00000{i}.tar" for i in range(3)]
    assert _no_flush_thread()


@pytest.mark.parametrize("fsync", [True, False])
def test_durable_shards_start_their_writeback_as_they_grow(
    tmp_path: Path, eeg_samples: list[Sample], monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    """With fsync each uncompressed shard asks the OS to write its bytes out as it grows (so its
    fsync has little left to do); without fsync it never does. The shards are the same."""
    import nb_shards.writer

    calls: list[tuple[int, int]] = []
    real = nb_shards.writer.start_writeback

    def counted(fd: int, offset: int, nbytes: int) -> bool:
        calls.append((offset, nbytes))
        return real(fd, offset, nbytes)

    monkeypatch.setattr(nb_shards.writer, "start_writeback", counted)
    monkeypatch.setattr(nb_shards.writer, "_WRITEBACK_BYTES", 8192)
    out = tmp_path / "out"
    with ShardWriter(out, max_count=60, fsync=fsync) as w:
        for s in eeg_samples:
            w.write(s)
    if fsync:
        assert len(calls) > 10
        # per shard, the ranges follow each other from the start of the file
        starts = [o for o, _ in calls]
        assert starts.count(0) == 2 and all(n >= 8192 for _, n in calls)
    else:
        assert calls == []
    monkeypatch.undo()
    ref = tmp_path / "ref"
    with ShardWriter(ref, max_count=60, fsync=not fsync) as w:
        for s in eeg_samples:
            w.write(s)
    tars = {k: v for k, v in _digests(out).items() if k.endswith(".tar")}
    assert len(tars) == 2 and tars == {k: v for k, v in _digests(ref).items() if k.endswith(".tar")}
