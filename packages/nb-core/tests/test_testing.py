"""The offline data generators: realistic, deterministic, fast."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from nb_core.testing import (
    MONTAGE,
    make_nifti,
    simulate_raw,
    simulate_recordings,
    simulate_windows,
    write_nifti,
)


@pytest.mark.parametrize(("n_channels", "sfreq"), [(4, 100.0), (21, 250.0), (64, 512.0)])
def test_simulate_raw_shapes_and_metadata(n_channels: int, sfreq: float) -> None:
    raw = simulate_raw(n_channels=n_channels, sfreq=sfreq, duration=3.0, seed=5)
    assert raw.info["nchan"] == n_channels
    assert raw.n_times == int(3.0 * sfreq)
    montage = raw.get_montage()
    assert montage is not None and montage.ch_names == raw.ch_names
    pos = montage.get_positions()["ch_pos"]
    assert all(np.isfinite(pos[ch]).all() and np.linalg.norm(pos[ch]) > 0.05 for ch in raw.ch_names)
    assert len(raw.info["dig"]) == n_channels + 3  # electrodes + fiducials
    assert len(raw.annotations) >= 1
    assert raw.annotations.orig_time == raw.info["meas_date"]
    data = raw.get_data()
    assert np.isfinite(data).all()
    assert 1e-7 < data.std() < 1e-4  # volts, EEG-like amplitudes


def test_simulate_raw_is_deterministic_and_seeded() -> None:
    a = simulate_raw(n_channels=8, duration=2.0, seed=7)
    b = simulate_raw(n_channels=8, duration=2.0, seed=7)
    c = simulate_raw(n_channels=8, duration=2.0, seed=8)
    np.testing.assert_array_equal(a.get_data(), b.get_data())
    assert not np.array_equal(a.get_data(), c.get_data())
    assert MONTAGE == "colin27_1020"


def test_simulate_windows_targets() -> None:
    recs, wins = simulate_windows(
        n_recordings=2, n_channels=4, sfreq=100.0, duration=5.0, window_size=100, stride=50, target="str"
    )
    assert [r.entities["subject"] for r in recs] == ["01", "02"]
    assert recs[0].data is not None and recs[0].data.dtype == np.float32
    per_rec = (500 - 100) // 50 + 1
    assert len(wins) == 2 * per_rec
    assert all(isinstance(w.target, str) for w in wins)
    assert wins[1].start == 50 and wins[1].i_window_in_trial == 1
    assert {w.recording_id for w in wins} == {r.id for r in recs}
    assert recs[0].history[0].name == "simulate"
    _, fw = simulate_windows(n_recordings=1, n_channels=2, duration=2.0, window_size=100, target="float")
    assert all(isinstance(w.target, float) for w in fw)


def test_simulate_recordings_validate() -> None:
    for rec in simulate_recordings(n_recordings=2, n_channels=4, duration=1.0):
        rec.validate()


@pytest.mark.parametrize("shape", [(8, 8, 6), (8, 8, 6, 5)])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti(tmp_path: Path, shape: tuple[int, ...], suffix: str) -> None:
    path = write_nifti(tmp_path / f"sub-01_bold{suffix}", shape, seed=1)
    img = nib.load(path)
    assert img.shape == shape
    assert img.header.get_zooms()[:3] == (2.0, 2.0, 2.5)
    if len(shape) == 4:
        assert img.header.get_zooms()[3] == 2.0
    np.testing.assert_array_equal(np.asarray(img.dataobj), np.asarray(make_nifti(shape, seed=1).dataobj))
    assert isinstance(make_nifti(shape, nifti2=True), nib.Nifti2Image)
    with pytest.raises(ValueError, match="3-D or 4-D"):
        make_nifti((4, 4))


def test_simulate_raw_prints_nothing_at_mne_s_default_log_level(capfd: pytest.CaptureFixture[str]) -> None:
    """Doctests read standard output: MNE's "No average EEG reference" advice must not reach it."""
    import warnings

    mne = pytest.importorskip("mne")
    before = mne.set_log_level("INFO", return_old_level=True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            simulate_raw(n_channels=4, duration=1.0)
            simulate_recordings(1, n_channels=4, duration=1.0)
    finally:
        mne.set_log_level(before)
    out, err = capfd.readouterr()
    assert out == ""
    assert "average EEG reference" not in err
    assert not [w for w in caught if "average EEG reference" in str(w.message)]

    # Not even when the caller asks for MNE's log and has a log handler of its own (MNE then
    # prints warnings through its logger too): the condition is gone, not just silenced.
    with mne.utils.catch_logging(verbose="warning") as log:
        simulate_raw(n_channels=4, duration=1.0, verbose="warning")
    assert "average EEG reference" not in log.getvalue()
