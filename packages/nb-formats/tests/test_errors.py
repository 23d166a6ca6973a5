"""Bad input: each case raises an NBError naming what and where, and damages nothing."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nb_formats
from nb_core.errors import (
    ChecksumMismatchError,
    CorruptDataError,
    IncompatibleDataError,
    ManifestNotFoundError,
    NonFiniteDataError,
    OutputExistsError,
    UnsupportedFormatError,
    UserError,
)
from nb_core.schema import Channel, Recording


def _snapshot(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_nan_refused_with_recording_and_channel(tmp_path: Path, recordings: list[Any], fmt: str) -> None:
    bad = copy.deepcopy(recordings)
    bad[1].data[2, 17] = np.nan
    with pytest.raises(
        NonFiniteDataError, match=rf"recording '{bad[1].id}'.*channel '{bad[1].ch_names[2]}', sample 17"
    ):
        nb_formats.write(bad, tmp_path / "ds", format=fmt)
    assert not (tmp_path / "ds").exists() and os.listdir(tmp_path) == []  # no temporary left
    out = tmp_path / "ok"
    nb_formats.write(bad, out, format=fmt, allow_nonfinite=True)
    assert np.isnan(nb_formats.open(out).recording(1).data[2, 17])


def test_inf_in_arrays_refused(tmp_path: Path) -> None:
    x = np.zeros((3, 2, 10), np.float32)
    x[2, 1, 4] = np.inf
    with pytest.raises(NonFiniteDataError, match="windows 0..2"):
        nb_formats.write((x, [0, 1, 2]), tmp_path / "ds")


def test_mismatched_channels_and_rates(tmp_path: Path, windowed: Any) -> None:
    recs, wins = copy.deepcopy(windowed)
    recs[1].channels[0] = Channel("Other")
    with pytest.raises(IncompatibleDataError, match=f"recording '{recs[1].id}'.*does not match"):
        nb_formats.write((recs, wins), tmp_path / "a")
    recs, wins = copy.deepcopy(windowed)
    recs[1].sfreq = 200.0
    with pytest.raises(IncompatibleDataError, match="200.0 Hz"):
        nb_formats.write((recs, wins), tmp_path / "b", format="zarr")
    # continuous recordings may differ: each is stored on its own
    out = tmp_path / "c"
    nb_formats.write(recs, out, format="parquet")
    assert nb_formats.open(out).recording(1).sfreq == 200.0


def test_empty_inputs(tmp_path: Path) -> None:
    empty = Recording(id="empty", sfreq=100.0, channels=[Channel("Cz")], data=np.zeros((1, 0)))
    with pytest.raises(IncompatibleDataError, match="recording 'empty' is empty"):
        nb_formats.write([empty], tmp_path / "a")
    with pytest.raises(IncompatibleDataError, match="empty"):
        nb_formats.write([], tmp_path / "b")
    with pytest.raises(IncompatibleDataError, match="empty"):
        nb_formats.write((np.zeros((0, 2, 5)), None), tmp_path / "c")
    assert os.listdir(tmp_path) == []


def test_window_outside_recording(tmp_path: Path, windowed: Any) -> None:
    recs, wins = copy.deepcopy(windowed)
    wins[-1].stop = recs[-1].n_times + 5
    with pytest.raises(IncompatibleDataError, match="runs past the recording"):
        nb_formats.write((recs, wins), tmp_path / "a")
    wins[-1].recording_id = "nope"
    with pytest.raises(IncompatibleDataError, match="'nope'"):
        nb_formats.write((recs, wins), tmp_path / "b")


def test_existing_path_not_damaged(tmp_path: Path, recordings: list[Any]) -> None:
    out = tmp_path / "ds"
    nb_formats.write(recordings, out, format="hdf5")
    before = _snapshot(out)
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        nb_formats.write(recordings[:1], out, format="zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(OutputExistsError):
        nb_formats.write(recordings, tmp_path / "plain")
    bad = copy.deepcopy(recordings)
    bad[0].data[0, 0] = np.inf
    with pytest.raises(NonFiniteDataError):  # a failing overwrite keeps the old artifact
        nb_formats.write(bad, out, format="zarr", overwrite=True)
    assert _snapshot(out) == before
    nb_formats.write(recordings[:1], out, format="zarr", overwrite=True)
    assert nb_formats.open(out).manifest.layout == "zarr"


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_truncated_and_changed_files(tmp_path: Path, windowed: Any, fmt: str) -> None:
    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format=fmt)
    target = {
        "hdf5": "data.h5",
        "zarr": "data.zarr/recordings/000000/c/0/0",  # one shard: the whole recording
        "parquet": "recordings/000000.npy",
    }[fmt]
    p = out / target
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(ChecksumMismatchError, match=target.split("/")[-1]):
        nb_formats.open(out, verify=True)
    with pytest.raises(ChecksumMismatchError, match="truncated"):
        nb_formats.open(out, verify=True)
    with pytest.raises(CorruptDataError, match=target.split("/")[0]):  # without verify: named on read
        ds = nb_formats.open(out)
        for i in range(len(ds)):
            ds[i]


def test_changed_bytes_same_size(tmp_path: Path, windowed: Any) -> None:
    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="parquet")
    p = out / "recordings" / "000001.npy"
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(ChecksumMismatchError, match="000001.npy.*sha256"):
        nb_formats.open(out, verify=True)


def test_pickled_npy_refused(tmp_path: Path, windowed: Any) -> None:
    from nb_core.errors import UnsafeContentError

    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="parquet")
    np.save(out / "recordings" / "000000.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    ds = nb_formats.open(out)
    with pytest.raises(UnsafeContentError, match="pickle"):
        ds[0]


def test_bad_arguments(tmp_path: Path, recordings: list[Any]) -> None:
    with pytest.raises(UserError, match="format"):
        nb_formats.write(recordings, tmp_path / "a", format="csv")
    with pytest.raises(UnsupportedFormatError, match="lzf"):
        nb_formats.write(recordings, tmp_path / "b", format="zarr", compression="lzf")
    with pytest.raises(UserError, match="dtype"):
        nb_formats.write(recordings, tmp_path / "c", dtype="int16")
    with pytest.raises(UnsupportedFormatError, match="cannot write a str"):
        nb_formats.write("hello", tmp_path / "d")
    with pytest.raises(ManifestNotFoundError):
        nb_formats.open(tmp_path)
    out = tmp_path / "e"
    nb_formats.write(recordings, out)
    with pytest.raises(UserError, match="stride needs window_size"):
        nb_formats.open(out, stride=3)
