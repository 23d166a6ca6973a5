"""The demo's dataset: motor-imagery-like EEG whose classes a small network can tell apart.

Built on :func:`nb_core.testing.simulate_raw` (MNE-simulated EEG on the ``colin27_1020``
montage, with coloured sensor noise from ``mne.simulation``). Each event adds a burst of a
class-specific rhythm (8, 13, 20 or 30 Hz) over a class-specific group of channels for one
second, so the classes are learnable but not trivial under the noise.

Example:
    >>> recs, wins = make_dataset(n_subjects=2, duration=20.0, n_channels=8)
    >>> len(recs), sorted({w.target for w in wins}) <= [0, 1, 2, 3]
    (2, True)
"""

from __future__ import annotations

import mne
import numpy as np

from nb_core import Recording, Window
from nb_core.mne_adapter import recording_from_mne
from nb_core.schema import ProcessingStep
from nb_core.testing import simulate_raw

__all__ = ["CLASSES", "make_dataset"]

#: Class names, in target order.
CLASSES = ("left_hand", "right_hand", "feet", "tongue")
_FREQS = (8.0, 13.0, 20.0, 30.0)


def make_dataset(
    n_subjects: int = 6,
    *,
    duration: float = 60.0,
    sfreq: float = 128.0,
    n_channels: int = 21,
    window_seconds: float = 1.0,
    seed: int = 0,
) -> tuple[list[Recording], list[Window]]:
    """Simulated recordings (one per subject) and one labelled window per event.

    Returns:
        `tuple[list[Recording], list[Window]]`: float32 recordings with BIDS entities and a
        preprocessing history; windows with integer targets (indices into :data:`CLASSES`).
    """
    win = round(window_seconds * sfreq)
    n_events = max(1, int(duration / (window_seconds * 1.5)) - 1)
    recordings, windows = [], []
    for s in range(n_subjects):
        sub = f"{s + 1:02d}"
        raw = simulate_raw(n_channels, sfreq, duration, seed=seed + s, n_events=n_events, subject=sub)
        # Re-label events in order, then add each class's burst.
        rng = np.random.default_rng(seed * 1000 + s)
        labels = rng.integers(len(CLASSES), size=len(raw.annotations))
        onsets = np.arange(len(labels)) * window_seconds * 1.5 + 0.25
        raw.set_annotations(None)
        data = raw.get_data()
        t = np.arange(win) / sfreq
        groups = np.array_split(np.arange(n_channels), len(CLASSES))
        for onset, label in zip(onsets, labels, strict=True):
            i0 = int(onset * sfreq)
            if i0 + win > data.shape[1]:
                break
            burst = 6e-6 * np.sin(2 * np.pi * _FREQS[label] * t + rng.uniform(0, 2 * np.pi))
            data[groups[label], i0 : i0 + win] += burst * np.hanning(win)
        raw = mne.io.RawArray(data, raw.info, verbose="error")  # same Info, signals with the bursts
        raw.set_annotations(
            mne.Annotations(
                onsets,
                np.full(len(onsets), window_seconds),
                [CLASSES[k] for k in labels],
                orig_time=raw.info["meas_date"],
            )
        )
        rid = f"sub-{sub}_task-motorimagery_run-1"
        rec = recording_from_mne(
            raw, id=rid, entities={"subject": sub, "task": "motorimagery", "run": "1"}, dtype=np.float32
        )
        rec.history.append(
            ProcessingStep(
                "add_class_bursts", {"freqs_hz": list(_FREQS), "amplitude_v": 6e-6}, software="nb_demo"
            )
        )
        recordings.append(rec)
        for i, (onset, label) in enumerate(zip(onsets, labels, strict=True)):
            i0 = int(onset * sfreq)
            if i0 + win <= (rec.n_times or 0):
                windows.append(
                    Window(
                        rid,
                        i0,
                        i0 + win,
                        target=int(label),
                        i_window_in_trial=0,
                        i_start_in_trial=i0,
                        i_stop_in_trial=i0 + win,
                        extra={"event": i},
                    )
                )
    return recordings, windows
