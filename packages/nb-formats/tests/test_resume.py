"""Resumable writes: an interrupted write keeps its finished pieces and a re-run completes it identically."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nb_formats
from nb_core.atomic import clean_temporaries
from nb_core.errors import OutputExistsError, UserError
from nb_core.manifest import Manifest
from nb_formats import zarr_layout
from nb_formats.resume import LEDGER_NAME, resume_dir


class Interrupted(RuntimeError):
    pass


def _flaky(items: list[Any], fail_at: int) -> Iterator[Any]:
    """Yield ``items`` but fail (like a crash in the middle of a conversion) before item ``fail_at``."""
    for k, it in enumerate(items):
        if k == fail_at:
            raise Interrupted(f"interrupted before item {k}")
        yield it


def _stamps(root: Path, rels: list[str]) -> dict[str, tuple[int, int]]:
    return {r: ((root / r).stat().st_ino, (root / r).stat().st_mtime_ns) for r in rels}


def _files(path: Path) -> dict[str, str]:
    return {f.path: f.sha256 for f in Manifest.read(path).files}


@pytest.mark.parametrize("fmt", ["parquet", "zarr"])
def test_interrupted_recordings_resume_identically(tmp_path: Path, fmt: str) -> None:
    from nb_core.testing import simulate_recordings

    recs = simulate_recordings(4, n_channels=3, sfreq=100.0, duration=2.0, seed=11)
    ref = tmp_path / "ref" / "ds"
    nb_formats.write(recs, ref, format=fmt, fsync=False)
    out = tmp_path / "ds"
    with pytest.raises(Interrupted):
        nb_formats.write(_flaky(recs, 2), out, format=fmt, resume=True, fsync=False)
    work = resume_dir(out)
    assert not out.exists() and (work / LEDGER_NAME).is_file()  # nothing visible, the work kept
    kept = (
        ["recordings/000000.npy", "recordings/000001.npy"]
        if fmt == "parquet"
        else ["data.zarr/recordings/000000/c/0/0", "data.zarr/recordings/000001/c/0/0"]
    )
    before = _stamps(work, kept)
    with pytest.raises(UserError, match="other options \\(compression\\)"):
        nb_formats.write(
            recs, out, format=fmt, resume=True, compression="gzip" if fmt == "zarr" else "snappy"
        )
    written = nb_formats.write(recs, out, format=fmt, resume=True, fsync=False)
    assert written.to_dict() == Manifest.read(out).to_dict()
    assert not work.exists() and not (out / LEDGER_NAME).exists()
    assert _files(out) == _files(ref)  # byte-for-byte the uninterrupted artifact
    assert _stamps(out, kept) == before  # finished pieces were kept, not rewritten
    Manifest.read(out).verify(out)
    np.testing.assert_array_equal(nb_formats.open(out)[3][0], recs[3].data.astype(np.float32))
    with pytest.raises(OutputExistsError):
        nb_formats.write(recs, out, format=fmt, resume=True)


def test_interrupted_window_shards_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zarr_layout, "SHARD_BYTES", 4 * 2 * 30 * 4)  # 4 windows per shard
    monkeypatch.setattr(nb_formats.inputs, "BLOCK_WINDOWS", 3)
    x = np.random.default_rng(2).normal(size=(14, 2, 30)).astype(np.float32)
    y = list(range(14))

    class Flaky(np.ndarray):
        fail_from = 9

        def __getitem__(self, key: Any) -> Any:
            if isinstance(key, slice) and (key.start or 0) >= self.fail_from:
                raise Interrupted("interrupted at window 9")
            return super().__getitem__(key)

    ref = tmp_path / "ref" / "ds"
    nb_formats.write((x, y), ref, format="zarr", fsync=False)
    out = tmp_path / "ds"
    with pytest.raises(Interrupted):
        nb_formats.write((x.view(Flaky), y), out, format="zarr", resume=True)
    work = resume_dir(out)
    shards = ["data.zarr/windows/c/0/0/0", "data.zarr/windows/c/1/0/0"]  # windows 0..7 were complete
    assert [
        p.relative_to(work).as_posix()
        for p in sorted((work / "data.zarr/windows/c").rglob("*"))
        if p.is_file()
    ] == shards
    (work / "data.zarr/windows/c/2").mkdir()
    (work / "data.zarr/windows/c/2/0.abc.partial").write_bytes(b"half")  # a killed zarr write's temporary
    before = _stamps(work, shards)
    nb_formats.write((x, y), out, format="zarr", resume=True)
    assert _files(out) == _files(ref) and _stamps(out, shards) == before
    assert not list(out.rglob("*.partial"))
    ds = nb_formats.open(out)
    np.testing.assert_array_equal(np.stack([ds[i][0] for i in range(14)]), x)


def test_changed_input_is_rewritten_and_work_is_a_temporary(tmp_path: Path) -> None:
    from nb_core.testing import simulate_recordings

    recs = simulate_recordings(3, n_channels=3, sfreq=100.0, duration=2.0, seed=12)
    out = tmp_path / "ds"
    with pytest.raises(Interrupted):
        nb_formats.write(_flaky(recs, 2), out, format="parquet", resume=True)
    recs[0].data = recs[0].data * 2  # the input changed: its piece must not be kept
    nb_formats.write(recs, out, format="parquet", resume=True)
    np.testing.assert_array_equal(nb_formats.open(out)[0][0], recs[0].data.astype(np.float32))
    with pytest.raises(Interrupted):
        nb_formats.write(_flaky(recs, 1), tmp_path / "other", format="zarr", resume=True)
    assert clean_temporaries(tmp_path, recursive=False) == [resume_dir(tmp_path / "other")]  # readers skip it


def test_resume_needs_a_piecewise_layout(tmp_path: Path, recordings: list[Any]) -> None:
    with pytest.raises(UserError, match="resume=True needs"):
        nb_formats.write(recordings, tmp_path / "h", format="hdf5", resume=True)
    with pytest.raises(UserError, match="resume=True needs"):
        nb_formats.write(recordings, tmp_path / "z", format="zarr", zip_store=True, resume=True)
    assert not list(tmp_path.iterdir())


def test_convert_and_cli_resume(tmp_path: Path, windowed: Any) -> None:
    from nb_core.cli import main

    src = tmp_path / "src"
    nb_formats.write(windowed, src, format="hdf5")
    out = tmp_path / "a"
    nb_formats.convert(src, out, format="zarr", resume=True)
    nb_formats.convert(src, tmp_path / "b", format="zarr")
    assert _files(out) == _files(tmp_path / "b")
    assert (
        main(["formats", "convert", str(src), "-o", str(tmp_path / "c"), "--format", "parquet", "--resume"])
        == 0
    )
    assert len(nb_formats.open(tmp_path / "c")) == len(windowed[1])
