"""Readers give back what writers take: a Recording comes back equal, items are nb_core Samples/Windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nb_formats
from nb_core import Recording, Sample, Window
from nb_core.testing import simulate_recordings, simulate_windows


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_recording_written_comes_back_equal(tmp_path: Path, fmt: str) -> None:
    recs = simulate_recordings(2, n_channels=3, duration=2.0)
    expected = [(r.to_dict(), np.array(r.data)) for r in recs]
    nb_formats.write(recs, tmp_path / fmt, format=fmt, dtype="float64")
    ds = nb_formats.open(tmp_path / fmt)
    for j, (meta, data) in enumerate(expected):
        back = ds.recording(j)
        assert isinstance(back, Recording)
        got = back.to_dict()
        meta = {**meta, "n_times": data.shape[1]}
        assert got == meta
        assert back.data is not None and back.data.dtype == np.float64
        np.testing.assert_array_equal(back.data, data)  # float64 keeps the signals bit for bit


@pytest.mark.parametrize("fmt", ["hdf5", "parquet"])
def test_items_are_samples_and_windows(tmp_path: Path, fmt: str) -> None:
    recs, wins = simulate_windows(n_recordings=1, duration=2.0)
    nb_formats.write((recs, wins), tmp_path / fmt, format=fmt)
    ds = nb_formats.open(tmp_path / fmt)
    assert len(ds) == len(wins)
    for i, w in enumerate(wins):
        got = ds.window(i)
        assert isinstance(got, Window)
        assert got == w
        s = ds.sample(i)
        assert isinstance(s, Sample)
        x, _ = ds[i]
        np.testing.assert_array_equal(s.arrays["eeg"], x)
        assert s.metadata["target"] == w.target and s.metadata["recording_id"] == w.recording_id
        assert (s.metadata["start"], s.metadata["stop"]) == (w.start, w.stop)
    opened = nb_formats.open(tmp_path / fmt, window_size=100)
    assert all(isinstance(opened.window(i), Window) for i in range(len(opened)))
