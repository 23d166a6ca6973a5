"""HubMixin: push_to_hub / from_pretrained for a braindecode-style dataset class."""

from __future__ import annotations

import numpy as np
import pytest

from nb_core import Manifest, ModalitySpec
from nb_core.errors import OutputExistsError
from nb_core.testing import simulate_windows
from nb_hub import HubMixin

#: These tests push artifacts made without a license; the warning that says so is tested in
#: test_push_exact.py.
pytestmark = pytest.mark.filterwarnings("ignore::nb_hub.push.NoLicenseWarning")


class WindowsDataset(HubMixin):
    """A tiny braindecode-style windows dataset: X (n, C, T) and y."""

    def __init__(self, X: np.ndarray, y: np.ndarray, sfreq: float) -> None:
        self.X, self.y, self.sfreq = X, y, sfreq

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int):
        return self.X[i], self.y[i]

    def _save_artifact(self, path):
        np.save(path / "X.npy", self.X, allow_pickle=False)
        np.save(path / "y.npy", self.y, allow_pickle=False)
        m = Manifest(
            name="windows",
            layout="hf",
            writer={"package": "test", "version": "0"},
            modalities={
                "eeg": ModalitySpec(dtype=str(self.X.dtype), shape=list(self.X.shape[1:]), sfreq=self.sfreq)
            },
            splits={"train": len(self.X)},
        )
        m.add_file(path, "X.npy")
        m.add_file(path, "y.npy")
        m.write(path)

    @classmethod
    def _from_artifact(cls, path, **kwargs):
        m = Manifest.read(path)
        return cls(
            np.load(path / "X.npy", allow_pickle=False),
            np.load(path / "y.npy", allow_pickle=False),
            m.modalities["eeg"].sfreq,
        )


def _dataset() -> WindowsDataset:
    recs, wins = simulate_windows(n_recordings=1, n_channels=3, sfreq=100.0, duration=2.0, window_size=50)
    X = np.stack([recs[0].data[:, w.start : w.stop] for w in wins]).astype(np.float32)
    return WindowsDataset(X, np.array([int(w.target or 0) for w in wins]), 100.0)


def test_push_to_hub_and_from_pretrained(hub_emulator, tmp_path):
    ds = _dataset()
    url = ds.push_to_hub("me/mixin", endpoint=hub_emulator.endpoint)
    assert "/commit/" in url
    back = WindowsDataset.from_pretrained(
        "me/mixin", endpoint=hub_emulator.endpoint, local_dir=tmp_path / "m"
    )
    np.testing.assert_array_equal(back.X, ds.X)
    np.testing.assert_array_equal(back.y, ds.y)
    assert back.sfreq == 100.0 and len(back) == len(ds)


def test_save_pretrained_local(tmp_path):
    ds = _dataset()
    out = ds.save_pretrained(tmp_path / "local")
    assert WindowsDataset.from_pretrained(out).X.shape == ds.X.shape
    with pytest.raises(OutputExistsError):
        ds.save_pretrained(tmp_path / "local")


def test_missing_methods_are_explained():
    class Bare(HubMixin):
        pass

    with pytest.raises(NotImplementedError, match="_save_artifact"):
        Bare().push_to_hub("me/x")
