"""Schema objects: JSON round trip, validation with field names, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nb_core import Annotation, Channel, DigPoint, ProcessingStep, Provenance, Recording, Sample, Window
from nb_core.errors import IncompatibleDataError, NBError, NonFiniteDataError, SchemaError


def _rec(**kw) -> Recording:  # type: ignore[no-untyped-def]
    args = dict(
        id="sub-01_run-1",
        sfreq=250.0,
        channels=[Channel("Fp1", loc=[0.1, 0.2, 0.3] + [None] * 9), Channel("Cz"), Channel("ΣEOG", "eog")],
        data=np.arange(3 * 500, dtype=np.float64).reshape(3, 500) * 1e-6,
        meas_date="2024-01-01T09:00:00+00:00",
        annotations=[Annotation(1.0, 0.5, "left_hand"), Annotation(2.0, 0.0, "blink", ["ΣEOG"])],
        annotations_orig_time="2024-01-01T09:00:00+00:00",
        dig=[DigPoint("cardinal", 1, [0.0, 0.1, 0.0]), DigPoint("eeg", 1, [0.01, 0.02, 0.03])],
        bads=["Cz"],
        description="résumé — ünïcødé",
        subject_info={"his_id": "sub-01", "sex": 1, "birthday": "1990-01-01"},
        line_freq=50.0,
        entities={"subject": "01", "run": "1"},
        provenance=Provenance("a.fif", "0" * 64, "fif"),
        history=[ProcessingStep("filter", {"l_freq": 1.0, "h_freq": 40.0}, "mne 1.13")],
        extra={"note": [1, 2.5, None]},
    )
    args.update(kw)
    return Recording(**args)  # type: ignore[arg-type]


def test_recording_round_trip() -> None:
    rec = _rec().validate()
    d = rec.to_dict()
    assert "data" not in d
    back = Recording.from_dict(d, data=rec.data)
    assert back.to_dict() == d
    assert back.ch_names == ["Fp1", "Cz", "ΣEOG"]
    assert back.channels[0].loc is not None and back.channels[0].loc[3] is None
    assert back.n_times == 500
    assert back.duration == 2.0
    assert back.history[0].params == {"l_freq": 1.0, "h_freq": 40.0}


def test_channel_loc_nan_becomes_null() -> None:
    ch = Channel("Cz", loc=[float("nan")] * 12)
    assert ch.to_dict()["loc"] == [None] * 12


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("sfreq"), "sfreq: is required"),
        (lambda d: d.update(sfreq=-1), "sfreq: must be > 0"),
        (lambda d: d.update(sfreq="250"), "sfreq: must be a number"),
        (lambda d: d.update(n_times=2.5), "n_times: must be an integer"),
        (lambda d: d["channels"].append(dict(d["channels"][0])), "duplicate channel names"),
        (lambda d: d["channels"][1].update(type=7), "channels[1].type"),
        (lambda d: d["annotations"][0].update(onset=None), "annotations[0].onset: is required"),
        (lambda d: d.update(bads=["Oz"]), "not in the channel list"),
        (lambda d: d["entities"].update(run=1), "entities.run"),
        (lambda d: d["dig"][0].update(r=[0, 0]), "dig[0].r"),
        (lambda d: d["history"][0].update(params=[1]), "history[0].params: must be an object"),
        (lambda d: d.update(colour="red"), "unknown field(s) 'colour'"),
    ],
)
def test_recording_bad_metadata(mutate, field) -> None:  # type: ignore[no-untyped-def]
    d = _rec().to_dict()
    mutate(d)
    with pytest.raises(SchemaError) as info:
        Recording.from_dict(d)
    assert field in str(info.value)
    assert "sub-01_run-1" in str(info.value)  # the recording is named


def test_recording_non_finite_metadata_and_data() -> None:
    d = _rec().to_dict()
    d["line_freq"] = float("inf")
    with pytest.raises(NonFiniteDataError, match="line_freq"):
        Recording.from_dict(d)
    data = _rec().data
    assert data is not None
    data[1, 42] = np.nan
    with pytest.raises(NonFiniteDataError, match=r"channel 'Cz', sample 42"):
        _rec(data=data).validate()
    _rec(data=data).validate(allow_nonfinite=True)
    with pytest.raises(NonFiniteDataError, match="extra.x"):
        _rec(extra={"x": float("nan")}).to_dict()


def test_recording_shape_errors() -> None:
    with pytest.raises(IncompatibleDataError, match="2-D"):
        _rec(data=np.zeros(10))
    with pytest.raises(IncompatibleDataError, match="3 channels are described"):
        _rec(data=np.zeros((2, 10))).validate()
    with pytest.raises(IncompatibleDataError, match="n_times=5"):
        _rec(n_times=5)
    with pytest.raises(SchemaError, match="needs data or n_times"):
        Recording(id="x", sfreq=1.0, channels=[])


def test_window_round_trip_and_targets() -> None:
    for target in (3, 0.25, "left_hand", None, np.int64(2)):
        w = Window("rec", 100, 350, target=target, i_window_in_trial=2)
        back = Window.from_dict(w.to_dict())
        assert back.target == target
        assert back.size == 250
        assert (back.i_start_in_trial, back.i_stop_in_trial) == (100, 350)
    with pytest.raises(SchemaError, match="stop .* must be greater"):
        Window.from_dict({"recording_id": "r", "start": 5, "stop": 5})
    with pytest.raises(SchemaError, match="target must be"):
        Window.from_dict({"recording_id": "r", "start": 0, "stop": 5, "target": [1]})
    with pytest.raises(SchemaError, match="window.start: must be >= 0"):
        Window.from_dict({"recording_id": "r", "start": -1, "stop": 5})


def test_sample_validation() -> None:
    s = Sample(
        "sub-01_w0", {"eeg": np.zeros((2, 4), np.float32), "label": np.array(1)}, {"t": np.float32(1.5)}
    )
    assert s.validate().metadata == {"t": 1.5}
    for key in ["", "a.b", "../x", "/abs", "a\x00b", 5]:
        with pytest.raises(SchemaError, match="key"):
            Sample(key, {}).validate()  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="modality name"):
        Sample("k", {"EEG": np.zeros(2)}).validate()
    with pytest.raises(SchemaError, match="without pickle"):
        Sample("k", {"eeg": np.array([{}, 1], dtype=object)}).validate()
    with pytest.raises(SchemaError, match="numpy array"):
        Sample("k", {"eeg": [1, 2]}).validate()  # type: ignore[dict-item]
    with pytest.raises(NonFiniteDataError, match="metadata.score"):
        Sample("k", {}, {"score": float("nan")}).validate()
    with pytest.raises(NonFiniteDataError):
        Sample("k", {"eeg": np.array([np.inf])}).validate(allow_nonfinite=False)
    with pytest.raises(SchemaError, match="keys must be strings"):
        Sample("k", {}, {1: "x"}).validate()  # type: ignore[dict-item]
    # Unicode keys are fine (they are file names in shards).
    assert Sample("sujet-é_01", {}).validate().key == "sujet-é_01"


def test_errors_are_builtin_too() -> None:
    with pytest.raises(ValueError):
        Window.from_dict({})
    with pytest.raises(NBError):
        Window.from_dict({})
