"""Annotation onsets survive from_mne/to_mne exactly, and annotation_spans agrees with MNE's events,
for every combination of meas_date set/None x first_samp 0/non-0 x orig_time set/None."""

from __future__ import annotations

import datetime as dt
import itertools

import mne
import numpy as np
import pytest

from nb_core import Recording, annotation_spans
from nb_core.errors import IncompatibleDataError, SchemaError

_MEAS = dt.datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)
_SFREQ = 250.0
_N = 2500  # 10 s


def _raw(meas_set: bool, first_samp: int, orig_set: bool) -> mne.io.RawArray:
    """A Raw built as real readers do; meas_date=None with orig_time set is made the way cropped
    real files get it: annotations set against a date, then ``set_meas_date(None)``."""
    info = mne.create_info(["Cz", "Pz", "STI"], _SFREQ, ["eeg", "eeg", "stim"])
    data = np.random.default_rng(first_samp).normal(size=(3, _N)) * 1e-6
    raw = mne.io.RawArray(data, info, first_samp=first_samp, verbose="error")
    raw.set_meas_date(_MEAS)
    # Onsets relative to the first stored sample; with orig_time set, shift to orig_time's clock.
    rel = np.array([0.0, 0.5, 1.2344, 3.0, 7.996, 9.9])
    orig = _MEAS - dt.timedelta(seconds=2.5) if orig_set else None
    onset = rel + (first_samp / _SFREQ + 2.5 if orig_set else 0.0)
    raw.set_annotations(
        mne.Annotations(
            onset, [0.1, 0.0, 0.5, 1.0, 0.004, 0.05], ["a", "b", "a", "c", "b", "a"], orig_time=orig
        )
    )
    if not meas_set:
        raw.set_meas_date(None)
    return raw


def _events(raw: mne.io.BaseRaw) -> np.ndarray:
    return mne.events_from_annotations(raw, event_id={"a": 1, "b": 2, "c": 3}, verbose="error")[0]


COMBOS = list(itertools.product([True, False], [0, 1234], [True, False]))


@pytest.mark.parametrize(("meas_set", "first_samp", "orig_set"), COMBOS)
def test_round_trips_keep_onsets_and_events(meas_set: bool, first_samp: int, orig_set: bool) -> None:
    raw = _raw(meas_set, first_samp, orig_set)
    events = _events(raw)
    assert len(events) == 6
    # events_from_annotations gives samples counted like first_samp: stored sample 0 = first_samp.
    np.testing.assert_array_equal(events[:, 0] - first_samp, [0, 125, 309, 750, 1999, 2475])
    current: mne.io.BaseRaw = raw
    for _ in range(2):  # twice, and once through JSON as every writer stores it
        rec = Recording.from_mne(current)
        rec = Recording.from_dict(rec.to_dict(), data=rec.data)
        spans = annotation_spans(rec)
        assert [s[0] for s in spans] == (events[:, 0] - first_samp).tolist()
        assert spans == annotation_spans(rec.to_dict())
        current = rec.to_mne()
        np.testing.assert_array_equal(current.annotations.onset, raw.annotations.onset)  # exact
        np.testing.assert_array_equal(current.annotations.duration, raw.annotations.duration)
        assert current.annotations.orig_time == raw.annotations.orig_time
        assert current.info["meas_date"] == raw.info["meas_date"]
        np.testing.assert_array_equal(_events(current), events)


def test_spans_durations_and_order() -> None:
    rec = {
        "sfreq": 100.0,
        "first_samp": 0,
        "annotations": [
            {"onset": 2.0, "duration": 0.0, "description": "z"},
            {"onset": 1.0, "duration": 0.25, "description": "y"},
        ],
    }
    assert annotation_spans(rec) == [(100, 125, "y"), (200, 201, "z")]


def test_orig_time_without_meas_date_is_refused() -> None:
    rec = Recording.from_mne(_raw(True, 0, True))
    rec.meas_date = None
    with pytest.raises(SchemaError, match="annotations_orig_time is set but meas_date is not"):
        annotation_spans(rec)
    with pytest.raises(IncompatibleDataError, match="cannot be placed"):
        rec.to_mne()


def test_orig_time_other_than_meas_date_is_converted() -> None:
    """A Recording written by hand may give onsets on another clock; MNE's rule applies."""
    raw = _raw(True, 100, True)
    rec = Recording.from_mne(raw)
    shifted = dt.datetime.fromisoformat(rec.annotations_orig_time or "") - dt.timedelta(seconds=10)
    rec.annotations_orig_time = shifted.isoformat()
    for a in rec.annotations:
        a.onset += 10.0
    back = rec.to_mne()
    np.testing.assert_allclose(back.annotations.onset, raw.annotations.onset, atol=1e-9)
    np.testing.assert_array_equal(_events(back), _events(raw))
    assert [s[0] for s in annotation_spans(rec)] == (_events(raw)[:, 0] - 100).tolist()


def test_annotation_extras_are_kept() -> None:
    raw = _raw(True, 0, False)
    ann = raw.annotations.copy()
    if not hasattr(ann, "extras"):
        pytest.skip("this MNE has no Annotations.extras")
    raw.set_annotations(
        mne.Annotations(ann.onset, ann.duration, ann.description, extras=[{"score": i} for i in range(6)])
    )
    back = Recording.from_mne(raw).to_mne()
    assert [dict(e or {}) for e in back.annotations.extras] == [{"score": i} for i in range(6)]
