"""Shared small datasets (MNE-simulated, deterministic) for the nb-formats tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nb_core.testing import simulate_raw, simulate_recordings, simulate_windows


@pytest.fixture(scope="session")
def raws() -> list[Any]:
    return [simulate_raw(n_channels=6, sfreq=100.0, duration=3.0, seed=s) for s in (1, 2)]


@pytest.fixture(scope="session")
def recordings() -> list[Any]:
    return simulate_recordings(2, n_channels=5, sfreq=100.0, duration=3.0, seed=3)


@pytest.fixture(scope="session")
def windowed() -> tuple[list[Any], list[Any]]:
    return simulate_windows(2, n_channels=5, sfreq=100.0, duration=3.0, window_size=50, seed=4)


class FakeWindowsDataset:
    """Stand-in for braindecode's EEGWindowsDataset (.raw + .metadata) or WindowsDataset (.windows)."""

    def __init__(self, raw: Any = None, windows: Any = None, metadata: Any = None, description: Any = None):
        self.raw = raw
        self.windows = windows
        self.metadata = metadata
        self.description = description


class FakeConcat:
    """Stand-in for braindecode's BaseConcatDataset: ``.datasets``."""

    def __init__(self, datasets: list[Any]):
        self.datasets = datasets


def bd_metadata(n_times: int, size: int, stride: int, target_base: int = 0) -> Any:
    import pandas as pd

    starts = np.arange(0, n_times - size + 1, stride)
    return pd.DataFrame(
        {
            "i_window_in_trial": np.arange(len(starts)),
            "i_start_in_trial": starts,
            "i_stop_in_trial": starts + size,
            "target": (np.arange(len(starts)) + target_base) % 3,
        }
    )


@pytest.fixture(scope="session")
def braindecode_raw(raws: list[Any]) -> FakeConcat:
    import pandas as pd

    return FakeConcat(
        [
            FakeWindowsDataset(
                raw=r,
                metadata=bd_metadata(r.n_times, 60, 40, k),
                description=pd.Series({"subject": k + 1, "session": "0", "run": "1"}),
            )
            for k, r in enumerate(raws)
        ]
    )


@pytest.fixture(scope="session")
def braindecode_epochs(raws: list[Any]) -> FakeConcat:
    import mne

    out = []
    for k, r in enumerate(raws):
        md = bd_metadata(r.n_times, 50, 50, k)
        events = np.column_stack([md["i_start_in_trial"], np.zeros(len(md), int), md["target"] + 1])
        ep = mne.Epochs(
            r, events, tmin=0, tmax=0.49, baseline=None, preload=True, metadata=md, verbose="error"
        )
        out.append(FakeWindowsDataset(windows=ep, description={"subject": str(k + 1)}))
    return FakeConcat(out)
