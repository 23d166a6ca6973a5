"""Shared fixtures: samples cut from MNE-simulated EEG (nb_core.testing) and shard writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nb_core import Sample
from nb_core.testing import simulate_windows
from nb_shards import ShardWriter


@pytest.fixture(scope="session")
def eeg_samples() -> list[Sample]:
    """120 windows of 4-channel simulated EEG (float32, 4×50) with targets and window metadata."""
    recs, windows = simulate_windows(n_recordings=3, n_channels=4, sfreq=100.0, duration=20.0, window_size=50)
    by_id = {r.id: r for r in recs}
    out = []
    for i, w in enumerate(windows):
        rec = by_id[w.recording_id]
        assert rec.data is not None
        x = np.ascontiguousarray(rec.data[:, w.start : w.stop], dtype=np.float32)
        out.append(Sample(f"w{i:05d}", {"eeg": x}, {"target": w.target, "window": w.to_dict()}))
    return out


def write_shards(out: Path, samples: list[Sample], **kw: object) -> Path:
    with ShardWriter(out, **kw) as w:  # type: ignore[arg-type]
        for s in samples:
            w.write(s)
    return out


@pytest.fixture
def write() -> object:
    """``write(out, samples, **ShardWriter options) -> out``."""
    return write_shards


@pytest.fixture
def shards(tmp_path: Path, eeg_samples: list[Sample]) -> Path:
    """120 samples in uneven shards of at most 25 (25, 25, 25, 25, 20)."""
    return write_shards(tmp_path / "ds", eeg_samples, max_count=25)
