"""End to end: real artifacts (nb-shards, nb-formats, hand-written WebDataset) pushed to the
emulator and read back with nb_hub.open, nb-shards over hf:// and plain datasets.load_dataset."""

from __future__ import annotations

import numpy as np
import pytest

import nb_hub
from nb_core import Manifest
from nb_core.testing import simulate_windows

#: These tests push artifacts made without a license; the warning that says so is tested in
#: test_push_exact.py.
pytestmark = pytest.mark.filterwarnings("ignore::nb_hub.push.NoLicenseWarning")


def test_load_dataset_on_pushed_webdataset(hub_emulator, shards_artifact, tmp_path):
    datasets = pytest.importorskip("datasets")
    nb_hub.push(shards_artifact, "me/wds", endpoint=hub_emulator.endpoint)
    ds = datasets.load_dataset("me/wds", cache_dir=str(tmp_path / "ds-cache"))
    assert ds["train"].num_rows == 6 and ds["test"].num_rows == 2
    row = ds["train"][0]
    eeg = np.asarray(row["eeg.npy"], dtype=np.float32)
    assert eeg.shape == (4, 100)
    # a plain datasets read never used anything but the Hub API + resolve
    assert {c.endpoint for c in hub_emulator.calls()} <= {
        "create-repo",
        "refs",
        "tree",
        "preupload",
        "lfs-batch",
        "lfs-upload",
        "lfs-verify",
        "commit",
        "validate-yaml",
        "repo-info",
        "resolve",
        "paths-info",
        "revision",
        "commits",
    }


@pytest.fixture
def real_shards(tmp_path):
    nb_shards = pytest.importorskip("nb_shards")
    recordings, windows = simulate_windows(
        n_recordings=2, n_channels=4, sfreq=100.0, duration=4.0, window_size=100
    )
    out = tmp_path / "real-shards"
    rec = {r.id: r for r in recordings}
    for split, ws in (("train", windows[:6]), ("test", windows[6:8])):
        with nb_shards.ShardWriter(out, max_count=3, split=split) as w:
            for i, win in enumerate(ws):
                x = np.asarray(rec[win.recording_id].data[:, win.start : win.stop], dtype=np.float32)
                w.write(
                    {"__key__": f"{split}{i:03d}", "eeg.npy": x, "json": {"target": int(win.target or 0)}}
                )
    return out


def test_nb_shards_artifact_roundtrip_and_hf_streaming(hub_emulator, real_shards, tmp_path):
    nb_shards = pytest.importorskip("nb_shards")
    nb_hub.push(real_shards, "me/real-shards", endpoint=hub_emulator.endpoint)
    m = Manifest.read(real_shards)
    out = nb_hub.pull("me/real-shards", endpoint=hub_emulator.endpoint, local_dir=tmp_path / "pulled")
    for f in m.files:
        assert (out / f.path).read_bytes() == (real_shards / f.path).read_bytes()
    local = [s["__key__"] for s in nb_shards.ShardDataset(str(real_shards), split="train")]
    hub_emulator.clear_log()
    ds = nb_hub.open(
        "me/real-shards", split="train", endpoint=hub_emulator.endpoint, cache_dir=tmp_path / "shard-cache"
    )
    streamed = list(ds)
    assert [s["__key__"] for s in streamed] == local
    reference = list(nb_shards.ShardDataset(str(real_shards), split="train"))
    for got_s, ref_s in zip(streamed, reference, strict=True):
        for k, v in ref_s.items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(got_s[k], v)
    got = {c.path.rsplit("/", 1)[-1] for c in hub_emulator.calls("resolve", method="GET")}
    assert not any(name.startswith("test-") for name in got)  # only the train split was read


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_nb_formats_layouts_roundtrip(hub_emulator, tmp_path, fmt):
    nb_formats = pytest.importorskip("nb_formats")
    data = simulate_windows(n_recordings=2, n_channels=4, sfreq=100.0, duration=3.0, window_size=100)
    path = tmp_path / f"art-{fmt}"
    nb_formats.write(data, path, format=fmt)
    root = Manifest.read(path)  # the artifact directory has the manifest
    nb_hub.push(path, f"me/{fmt}", endpoint=hub_emulator.endpoint)
    out = nb_hub.pull(f"me/{fmt}", endpoint=hub_emulator.endpoint, local_dir=tmp_path / f"back-{fmt}")
    for f in root.files:
        assert (out / f.path).read_bytes() == (path / f.path).read_bytes(), f.path
    ds = nb_hub.open(f"me/{fmt}", endpoint=hub_emulator.endpoint, local_dir=tmp_path / f"open-{fmt}")
    local = nb_formats.open(path)
    assert len(ds) == len(local)
    np.testing.assert_array_equal(ds[1][0], local[1][0])


def test_load_dataset_on_parquet_metadata_tables(hub_emulator, tmp_path):
    nb_formats = pytest.importorskip("nb_formats")
    datasets = pytest.importorskip("datasets")
    data = simulate_windows(n_recordings=2, n_channels=4, sfreq=100.0, duration=3.0, window_size=100)
    path = tmp_path / "pq"
    nb_formats.write(data, path, format="parquet")
    m = Manifest.read(path)
    nb_hub.push(path, "me/pq", endpoint=hub_emulator.endpoint)
    card = hub_emulator.repo_files("me/pq")["README.md"].decode()
    assert "config_name: windows" in card
    ds = datasets.load_dataset("me/pq", "windows", split="train", cache_dir=str(tmp_path / "ds-cache"))
    assert ds.num_rows == m.n_samples or ds.num_rows == len(data[1])
