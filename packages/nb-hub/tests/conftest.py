import os

# The emulator speaks Git LFS, not Xet: disable Xet before huggingface_hub is imported.
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("NB_PROGRESS", "0")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from nb_core import Manifest, ModalitySpec, RecordingEntry, Sample


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tf.addfile(info, io.BytesIO(data))


def build_shards_artifact(root: Path, *, n_train: int = 6, n_test: int = 2, per_shard: int = 3) -> Manifest:
    """A real nb-shards artifact (layout shards, written by ``nb_shards.ShardWriter``) of simulated
    EEG windows."""
    from nb_core.testing import simulate_windows
    from nb_shards import ShardWriter

    recordings, windows = simulate_windows(
        n_recordings=2, n_channels=4, sfreq=100.0, duration=6.0, window_size=100
    )
    rec_by_id = {r.id: r for r in recordings}
    samples = []
    for i, w in enumerate(windows[: n_train + n_test]):
        rec = rec_by_id[w.recording_id]
        x = np.asarray(rec.data[:, w.start : w.stop], dtype=np.float32)
        meta = {"target": int(w.target) if w.target is not None else 0, "recording": rec.id}
        samples.append(Sample(f"s{i:04d}", {"eeg": x}, meta))
    common = {
        "name": "sim-eeg-shards",
        "modalities": {
            "eeg": ModalitySpec(
                dtype="float32", shape=[4, 100], unit="V", sfreq=100.0, ch_names=list(recordings[0].ch_names)
            )
        },
        "recordings": [
            RecordingEntry(
                id=r.id,
                entities=dict(r.entities),
                n_times=r.n_times,
                sfreq=r.sfreq,
                n_channels=len(r.ch_names),
            )
            for r in recordings
        ],
        "license": "cc-by-4.0",
        "citation": "@misc{sim, title={Simulated EEG}}",
        "description": "MNE-simulated EEG windows for nb-hub tests.",
        "provenance": {
            "generator": "nb_core.testing.simulate_windows",
            "preprocessing": [{"name": "filter", "params": {"l_freq": 1.0}}],
        },
    }
    for split, chunk in (("train", samples[:n_train]), ("test", samples[n_train:])):
        with ShardWriter(root, max_count=per_shard, split=split, fsync=False, **common) as w:  # type: ignore[arg-type]
            for sample in chunk:
                w.write(sample)
    return Manifest.read(root)


def build_files_artifact(
    root: Path, *, n_files: int = 5, size: int = 2000, layout: str = "hdf5", folder: str = "data"
) -> Manifest:
    """An artifact of plain binary files (for limit and resume tests)."""
    rng = np.random.default_rng(0)
    (root / folder).mkdir(parents=True, exist_ok=True)
    m = Manifest(name="files", layout=layout, writer={"package": "nb-hub-tests", "version": "0"})
    for i in range(n_files):
        rel = f"{folder}/part-{i:03d}.bin"
        (root / rel).write_bytes(rng.integers(0, 255, size, dtype=np.uint8).tobytes())
        m.add_file(root, rel)
    m.write(root)
    return m


@pytest.fixture
def shards_artifact(tmp_path: Path) -> Path:
    root = tmp_path / "shards-artifact"
    build_shards_artifact(root)
    return root


@pytest.fixture
def files_artifact(tmp_path: Path) -> Path:
    root = tmp_path / "files-artifact"
    build_files_artifact(root)
    return root


@pytest.fixture(autouse=True)
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private huggingface_hub cache for the test."""
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def build_files():
    """The builder of plain-file artifacts, as a fixture (test modules cannot import conftest)."""
    return build_files_artifact


@pytest.fixture
def build_shards():
    return build_shards_artifact
