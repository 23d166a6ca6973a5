"""MNE Raw -> Recording -> MNE Raw keeps signals and metadata exactly."""

from __future__ import annotations

import datetime as dt

import mne
import numpy as np
import pytest

from nb_core import Recording
from nb_core.errors import IncompatibleDataError
from nb_core.testing import simulate_raw


def _assert_same_raw(a: mne.io.BaseRaw, b: mne.io.BaseRaw, *, exact: bool = True) -> None:
    if exact:
        np.testing.assert_array_equal(a.get_data(), b.get_data())
    else:
        np.testing.assert_allclose(a.get_data(), b.get_data(), rtol=1e-6, atol=1e-12)
    assert a.ch_names == b.ch_names
    assert a.get_channel_types() == b.get_channel_types()
    assert a.info["sfreq"] == b.info["sfreq"]
    assert a.first_samp == b.first_samp
    for ca, cb in zip(a.info["chs"], b.info["chs"], strict=True):
        np.testing.assert_array_equal(ca["loc"], cb["loc"])
        for k in ("unit", "unit_mul", "coil_type", "kind", "coord_frame"):
            assert ca[k] == cb[k], k
    assert a.info["dig"] == b.info["dig"]
    assert a.info["meas_date"] == b.info["meas_date"]
    for k in ("bads", "description", "experimenter", "line_freq", "highpass", "lowpass", "subject_info"):
        assert a.info[k] == b.info[k], k
    np.testing.assert_array_equal(a.annotations.onset, b.annotations.onset)
    np.testing.assert_array_equal(a.annotations.duration, b.annotations.duration)
    assert list(a.annotations.description) == list(b.annotations.description)
    assert a.annotations.ch_names.tolist() == b.annotations.ch_names.tolist()
    assert a.annotations.orig_time == b.annotations.orig_time
    ma, mb = a.get_montage(), b.get_montage()
    assert (ma is None) == (mb is None)
    if ma is None or mb is None:
        return
    pa, pb = ma.get_positions(), mb.get_positions()
    assert pa["coord_frame"] == pb["coord_frame"]
    for name, pos in pa["ch_pos"].items():
        np.testing.assert_array_equal(pos, pb["ch_pos"][name])


def test_round_trip_exact_float64() -> None:
    raw = simulate_raw(n_channels=21, sfreq=250.0, duration=4.0, seed=3, n_eog=1)
    raw.info["bads"] = ["Cz"]
    raw.annotations.append(1.0, 0.2, "blink", ch_names=[("EOG1",)])
    rec = Recording.from_mne(raw, id="x", entities={"subject": "01"}).validate()
    assert rec.data is not None and rec.data.dtype == np.float64
    assert rec.entities == {"subject": "01"}
    _assert_same_raw(raw, rec.to_mne())
    # And through JSON (as every writer stores it).
    again = Recording.from_dict(rec.to_dict(), data=rec.data)
    _assert_same_raw(raw, again.to_mne())


def test_round_trip_float32_tolerance() -> None:
    raw = simulate_raw(n_channels=8, duration=2.0, seed=1)
    rec = Recording.from_mne(raw, dtype=np.float32)
    assert rec.data is not None and rec.data.dtype == np.float32
    back = rec.to_mne()
    _assert_same_raw(raw, back, exact=False)


def test_float32_error_is_relative_to_magnitude_not_range() -> None:
    """What the README states: float32 rounds each value to within 2**-24 of its own magnitude, so a
    channel with a large DC offset loses far more of its (small) signal range than one without."""
    raw = simulate_raw(n_channels=8, duration=10.0, seed=1)
    raw._data[0] += 0.42  # a 0.42 V DC offset under a ~20 µV signal, as seen on a real file
    x = raw.get_data()
    err = np.abs(Recording.from_mne(raw, dtype=np.float32).to_mne().get_data() - x)
    nz = x != 0
    assert (err[nz] / np.abs(x[nz])).max() <= 2.0**-24
    ranges = np.ptp(x, axis=1)
    assert err[0].max() / ranges[0] > 1e-4  # offset channel: ~8e-4 of its range (README)
    assert (err[1:].max(axis=1) / ranges[1:]).max() < 1e-7  # no offset: ~3e-8 of the range


def test_round_trip_fif_file_with_first_samp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    raw = simulate_raw(n_channels=6, sfreq=200.0, duration=5.0, seed=2)
    cropped = raw.copy().crop(tmin=1.0)  # first_samp != 0
    path = tmp_path / "sub-01_eeg.fif"
    cropped.save(path, fmt="double", verbose="error")
    loaded = mne.io.read_raw_fif(path, preload=False, verbose="error")
    rec = Recording.from_mne(loaded)
    assert rec.id == "sub-01_eeg"
    assert rec.first_samp == loaded.first_samp > 0
    assert rec.provenance is not None and rec.provenance.source == str(path)
    _assert_same_raw(loaded, rec.to_mne())


def test_meg_channels_keep_coil_types() -> None:
    info = mne.create_info(["MEG 0111", "MEG 0112", "STI 014"], 100.0, ["mag", "grad", "stim"])
    raw = mne.io.RawArray(np.random.default_rng(0).normal(size=(3, 100)) * 1e-12, info, verbose="error")
    raw.set_meas_date(dt.datetime(2020, 5, 1, tzinfo=dt.UTC))
    rec = Recording.from_mne(raw)
    assert rec.units == ["T", "T/m", "V"]
    _assert_same_raw(raw, rec.to_mne())


def test_metadata_only_and_errors() -> None:
    raw = simulate_raw(n_channels=4, duration=1.0)
    rec = Recording.from_mne(raw)
    rec.data = None
    with pytest.raises(IncompatibleDataError, match="no data loaded"):
        rec.to_mne()
    from nb_core.mne_adapter import recording_from_mne

    meta = recording_from_mne(raw, load_data=False)
    assert meta.data is None and meta.n_times == raw.n_times
