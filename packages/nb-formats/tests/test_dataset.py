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
    out = tmp_path_factory.mktemp("w") / "ds"
    nb_formats.write(windowed, out, format="hdf5")
    return out


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_open_time_windowing(tmp_path: Path, recordings: list[Any], fmt: str) -> None:
    out = tmp_path / "ds"
    nb_formats.write(recordings, out, format=fmt, chunk_samples=64)
    ds = nb_formats.open(out, window_size=100, stride=30)
    per = (recordings[0].n_times - 100) // 30 + 1
    assert len(ds) == per * len(recordings)
    for i in (0, 1, per - 1, per, len(ds) - 1):  # straddles chunk edges (64) and recordings
        j, k = divmod(i, per)
        x, y = ds[i]
        ref = recordings[j].data[:, k * 30 : k * 30 + 100].astype(np.float32)
        np.testing.assert_array_equal(x, ref)
        assert y == -1 and type(y) is int  # "no target", batchable
    assert ds.window(per + 2).i_window_in_trial == 2 and ds.window(0).target is None
    assert ds.classes == []


def test_lazy_open_reads_only_metadata(tmp_path: Path, recordings: list[Any]) -> None:
    out = tmp_path / "ds"
    nb_formats.write(recordings, out, format="hdf5")
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
    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format=fmt.split("-")[0], zip_store=fmt.endswith("-zip"))
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
    out = tmp_path / "ds"
    nb_formats.write(raw, out, format=fmt, dtype=dtype)
    back = nb_formats.open(out).recording(0).to_mne()
    _assert_raw_equal(raw, back, exact=dtype == "float64")


def test_history_and_entities_kept(tmp_path: Path, recordings: list[Any]) -> None:
    out = tmp_path / "ds"
    nb_formats.write(recordings, out, format="zarr")
    rec = nb_formats.open(out).recording(1)
    assert rec.history == recordings[1].history and rec.history[0].name == "simulate"
    assert rec.entities == recordings[1].entities
    assert rec.to_dict() == recordings[1].to_dict()


def _expected_labels(raw: Any, size: int, stride: int) -> list[str | None]:
    """Reference labels from MNE itself: events_from_annotations gives each onset's sample."""
    import mne

    events, ids = mne.events_from_annotations(raw, verbose="error")
    names = {v: k for k, v in ids.items()}
    ann = raw.annotations
    spans = sorted(
        (int(ev[0] - raw.first_samp), max(1, round(d * raw.info["sfreq"])), names[ev[2]])
        for ev, d in zip(events, ann.duration, strict=True)
    )
    out: list[str | None] = []
    for s in range(0, raw.n_times - size + 1, stride):
        lab = None
        for a, n, desc in spans:
            if a <= s < a + n:
                lab = desc
        out.append(lab)
    return out


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_targets_from_annotations_batch_in_a_dataloader(tmp_path: Path, fmt: str) -> None:
    torch = pytest.importorskip("torch")
    from nb_core.testing import simulate_raw

    raws = [
        simulate_raw(n_channels=4, sfreq=100.0, duration=8.0, seed=7),
        simulate_raw(n_channels=4, sfreq=100.0, duration=8.0, seed=8).crop(tmin=0.73),  # first_samp 73
    ]
    assert raws[1].first_samp == 73 and raws[1].annotations.orig_time is not None
    out = tmp_path / "ds"
    nb_formats.write(raws, out, format=fmt)
    ds = nb_formats.open(out, window_size=50, stride=20, target_from="annotations")
    expected = [lab for r in raws for lab in _expected_labels(r, 50, 20)]
    assert ds.classes == sorted({d for r in raws for d in r.annotations.description})
    got = [ds[i][1] for i in range(len(ds))]
    assert [ds.classes[y] if y >= 0 else None for y in got] == expected
    assert -1 in got and any(y >= 0 for y in got)  # some windows start in an annotation, some do not
    k = got.index(next(y for y in got if y >= 0))
    assert ds.window(k).target == ds.classes[got[k]] and ds.sample(k).metadata["target"] == ds.classes[got[k]]
    for workers in (0, 2):
        loader = torch.utils.data.DataLoader(
            nb_formats.open(out, window_size=50, stride=20, target_from="annotations"),
            batch_size=7,
            num_workers=workers,
            multiprocessing_context="fork" if workers else None,
        )  # default_collate
        ys = torch.cat([yb for _, yb in loader])
        assert ys.dtype == torch.int64 and ys.tolist() == got
    plain = torch.utils.data.DataLoader(nb_formats.open(out, window_size=50), batch_size=4)
    xb, yb = next(iter(plain))
    assert xb.shape == (4, 4, 50) and yb.tolist() == [-1] * 4


def test_target_from_arguments(windows_hdf5: Path) -> None:
    with pytest.raises(UserError, match="target_from must be one of annotations"):
        nb_formats.open(windows_hdf5, window_size=10, target_from="events")
    with pytest.raises(UserError, match="needs window_size"):
        nb_formats.open(windows_hdf5, target_from="annotations")
    ds = nb_formats.open(windows_hdf5, window_size=10, target_from="annotations")
    ds2 = pickle.loads(pickle.dumps(ds))
    assert ds2.classes == ds.classes and ds2[3][1] == ds[3][1]
