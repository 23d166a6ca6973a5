"""convert: between every pair of layouts, keeping signals, windows and metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nb_formats
from nb_core.errors import OutputExistsError

PAIRS = [(a, b) for a in ("hdf5", "zarr", "parquet") for b in ("hdf5", "zarr", "parquet")]


@pytest.mark.parametrize(("src_fmt", "dst_fmt"), PAIRS)
def test_convert_windows(tmp_path: Path, windowed: Any, src_fmt: str, dst_fmt: str) -> None:
    src = tmp_path / "src"
    nb_formats.write(windowed, src, format=src_fmt)
    dst = tmp_path / "dst"
    nb_formats.convert(src, dst, format=dst_fmt, zip_store=dst_fmt == "zarr")
    a, b = nb_formats.open(src), nb_formats.open(dst, verify=True)
    assert b.manifest.layout == dst_fmt and len(a) == len(b)
    for i in range(len(a)):
        np.testing.assert_array_equal(a[i][0], b[i][0])
        assert a.window(i) == b.window(i)
    assert [a.recording(j).to_dict() for j in range(2)] == [b.recording(j).to_dict() for j in range(2)]


@pytest.mark.parametrize("dst_fmt", ["hdf5", "zarr", "parquet"])
def test_convert_arrays_and_compression(tmp_path: Path, dst_fmt: str) -> None:
    x = np.random.default_rng(0).normal(size=(300, 2, 16)).astype(np.float32)  # > one 256-window block
    src = tmp_path / "src"
    nb_formats.write((x, ["a", "b", "c"] * 100), src, format="parquet", sfreq=64.0)
    dst = tmp_path / "dst"
    nb_formats.convert(src, dst, format=dst_fmt, compression="none" if dst_fmt != "parquet" else None)
    b = nb_formats.open(dst)
    np.testing.assert_array_equal(np.stack([b[i][0] for i in range(len(b))]), x)
    assert b.target(299) == "c" and b.manifest.modalities["eeg"].sfreq == 64.0


def test_convert_continuous_float64_and_overwrite(tmp_path: Path, raws: list[Any]) -> None:
    src = tmp_path / "src"
    nb_formats.write(raws, src, format="hdf5", dtype="float64")
    dst = tmp_path / "dst"
    nb_formats.convert(src, dst, format="zarr")
    assert nb_formats.open(dst).info["dtype"] == "float64"
    np.testing.assert_array_equal(nb_formats.open(dst).recording(0).data, raws[0].get_data())
    with pytest.raises(OutputExistsError):
        nb_formats.convert(src, dst, format="parquet")
    nb_formats.convert(src, dst, format="parquet", overwrite=True)
    assert nb_formats.open(dst).manifest.layout == "parquet"
