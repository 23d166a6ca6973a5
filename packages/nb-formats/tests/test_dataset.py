"""The lazy dataset: laziness, open-time windowing, pickling, DataLoader workers, MNE round trip."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nb_formats
from nb_core.errors import IndexOutOfRangeError, UserError


@pytest.fixture(scope="module")
def windows_hdf5(tmp_path_factory: pytest.TempPathFactory, windowed: Any) -> Path:
    return nb_formats.write(windowed, tmp_path_factory.mktemp("w") / "ds", format="hdf5")


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_open_time_windowing(tmp_path: Path, recordings: list[Any], fmt: str) -> None:
    out = nb_formats.write(recordings, tmp_path / "ds", format=fmt, chunk_samples=64)
    ds = nb_formats.open(out, window_size=100, stride=30)
    per = (recordings[0].n_times - 100) // 30 + 1
    assert len(ds) == per * len(recordings)
    for i in (0, 1, per - 1, per, len(ds) - 1):  # straddles chunk edges (64) and recordings
        j, k = divmod(i, per)
        x, y = ds[i]
        ref = recordings[j].data[:, k * 30 : k * 30 + 100].astype(np.float32)
        np.testing.assert_array_equal(x, ref)
        assert y is None
    assert ds.window(per + 2).i_window_in_trial == 2


def test_lazy_open_reads_only_metadata(tmp_path: Path, recordings: list[Any]) -> None:
    out = nb_formats.write(recordings, tmp_path / "ds", format="hdf5")
    ds = nb_formats.open(out)
    assert ds._store._f is None and ds._store._index == {}  # no handle, no chunk read yet
    ds[0]
    assert list(ds._store._index) == ["recordings/000000"]  # only the recording that was read


def test_pickle_carries_no_data(windows_hdf5: Path) -> None:
    ds = nb_formats.open(windows_hdf5)
    ds[0]
    blob = pickle.dumps(ds)
    assert len(blob) < 1000  # path and options only
    ds2 = pickle.loads(blob)
    np.testing.assert_array_equal(ds2[5][0], ds[5][0])


def test_index_errors(windows_hdf5: Path) -> None:
    ds = nb_formats.open(windows_hdf5)
    n = len(ds)
    np.testing.assert_array_equal(ds[-1][0], ds[n - 1][0])
    with pytest.raises(IndexOutOfRangeError, match=f"item index {n} is out of range"):
        ds[n]
    with pytest.raises(IndexError):
        ds[-n - 1]
    with pytest.raises(IndexOutOfRangeError, match="recording index 7"):
        ds.recording(7)
    with pytest.raises(UserError):
        ds["0"]  # type: ignore[index]
    assert len(list(ds)) == n


@pytest.mark.parametrize(
    ("fmt", "workers", "ctx"),
    [(f, w, c) for f in ("hdf5", "zarr", "parquet") for w, c in ((0, None), (2, "fork"))]
    + [("hdf5", 2, "spawn"), ("zarr-zip", 2, "fork")],  # spawn start-up is slow: one layout proves pickling
    ids=lambda v: str(v),
)
def test_dataloader(tmp_path: Path, windowed: Any, fmt: str, workers: int, ctx: str | None) -> None:
    torch = pytest.importorskip("torch")
    out = nb_formats.write(
        windowed, tmp_path / "ds", format=fmt.split("-")[0], zip_store=fmt.endswith("-zip")
    )
    ds = nb_formats.open(out)
    ds[0]  # handles opened in the parent must not leak into forked workers
    loader = torch.utils.data.DataLoader(
        ds, batch_size=8, num_workers=workers, multiprocessing_context=ctx, shuffle=False
    )
    xs, ys = [], []
    for xb, yb in loader:
        xs.append(xb.numpy())
        ys.append(yb.numpy())
    x = np.concatenate(xs)
    assert x.shape == (len(ds), 5, 50)
    np.testing.assert_array_equal(x, np.stack([ds[i][0] for i in range(len(ds))]))
    np.testing.assert_array_equal(np.concatenate(ys), [w.target for w in windowed[1]])


def _assert_raw_equal(a: Any, b: Any, *, exact: bool) -> None:
    if exact:
        np.testing.assert_array_equal(a.get_data(), b.get_data())
    else:
        np.testing.assert_allclose(a.get_data(), b.get_data(), rtol=1e-6, atol=1e-12)
    ia, ib = a.info, b.info
    assert ia["ch_names"] == ib["ch_names"] and ia["sfreq"] == ib["sfreq"]
    assert a.get_channel_types() == b.get_channel_types()
    assert [c["unit"] for c in ia["chs"]] == [c["unit"] for c in ib["chs"]]
    np.testing.assert_allclose([c["loc"][:3] for c in ia["chs"]], [c["loc"][:3] for c in ib["chs"]])
    assert ia["meas_date"] == ib["meas_date"] and ia["bads"] == ib["bads"]
    assert len(ia["dig"]) == len(ib["dig"])
    np.testing.assert_allclose([d["r"] for d in ia["dig"]], [d["r"] for d in ib["dig"]])
    np.testing.assert_allclose(a.annotations.onset, b.annotations.onset)
    assert list(a.annotations.description) == list(b.annotations.description)
    assert a.annotations.orig_time == b.annotations.orig_time
    assert ia["subject_info"]["his_id"] == ib["subject_info"]["his_id"]
    assert ia["line_freq"] == ib["line_freq"]
    assert (
        a.get_montage().get_positions()["ch_pos"].keys() == b.get_montage().get_positions()["ch_pos"].keys()
    )


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_mne_equals_input(tmp_path: Path, raws: list[Any], fmt: str, dtype: str) -> None:
    raw = raws[0].copy()
    raw.info["bads"] = [raw.ch_names[1]]
    raw.set_meas_date(dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC))
    out = nb_formats.write(raw, tmp_path / "ds", format=fmt, dtype=dtype)
    back = nb_formats.open(out).recording(0).to_mne()
    _assert_raw_equal(raw, back, exact=dtype == "float64")


def test_history_and_entities_kept(tmp_path: Path, recordings: list[Any]) -> None:
    out = nb_formats.write(recordings, tmp_path / "ds", format="zarr")
    rec = nb_formats.open(out).recording(1)
    assert rec.history == recordings[1].history and rec.history[0].name == "simulate"
    assert rec.entities == recordings[1].entities
    assert rec.to_dict() == recordings[1].to_dict()
