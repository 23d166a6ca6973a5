"""The HDF5 fast path: chunks served from a per-process read-only map of ``data.h5``."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nb_formats
from nb_core.errors import CorruptDataError


@pytest.mark.parametrize("comp", ["none", "blosc-lz4", "gzip"])
def test_reads_come_from_the_map(tmp_path: Path, windowed: Any, comp: str) -> None:
    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="hdf5", compression=comp)
    ds = nb_formats.open(out)
    recs, wins = windowed
    x = ds[3][0]
    mm = ds._store._mm
    assert mm is not None and len(mm) == (out / "data.h5").stat().st_size  # mapped once
    assert not mm.flags.writeable and x.flags.writeable and not np.shares_memory(x, mm)  # a copy
    ref = {r.id: r.data for r in recs}[wins[3].recording_id][:, wins[3].start : wins[3].stop]
    np.testing.assert_array_equal(x, ref)
    ds[4]
    assert ds._store._mm is mm
    assert len(pickle.dumps(ds)) < 1000  # the map does not travel
    ds.close()
    assert ds._store._mm is None


def test_map_is_per_process(tmp_path: Path, windowed: Any) -> None:
    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="hdf5", compression="none")
    ds = nb_formats.open(out)
    first = ds[0][0]
    parent_map = ds._store._mm
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not use the parent's map or handles
        ok = np.array_equal(ds[0][0], first) and ds._store._mm is not parent_map
        os.write(w, b"1" if ok else b"0")
        os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.waitpid(pid, 0)
    assert got == b"1"


def test_uncompressed_chunk_past_end_is_named(tmp_path: Path) -> None:
    import h5py

    x = np.ones((4, 2, 30), np.float32)
    out = tmp_path / "ds"
    nb_formats.write((x, None), out, format="hdf5", compression="none")
    with h5py.File(out / "data.h5") as f:
        last = f["windows"].id.get_chunk_info_by_coord((3, 0, 0))
    ds = nb_formats.open(out)
    ds._store._check_pid()
    ds._store._chunk_index("windows")  # HDF5 opened and chunks listed, nothing mapped yet
    with open(out / "data.h5", "r+b") as fh:  # cut into the last window's chunk
        fh.truncate(last.byte_offset + 8)
    with pytest.raises(CorruptDataError, match=r"data\.h5:/windows chunk \(3, 0, 0\).*truncated"):
        ds[3]
