"""A converted BIDS dataset pushed to nb-hub's Hub emulator and loaded back with plain datasets."""

from __future__ import annotations

import numpy as np
import pytest

from nb_bids import convert


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    cache = tmp_path / "hf-hub-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    return cache


def test_push_and_load_back(mri_tree, tmp_path, hf_cache, request):
    nb_hub = pytest.importorskip("nb_hub")
    datasets = pytest.importorskip("datasets")
    hub = request.getfixturevalue("hub_emulator")
    out = tmp_path / "hf"
    report = convert(mri_tree, out, split="train=0.5,test=0.5", seed=0, max_workers=0)
    pytest.importorskip("matplotlib")
    nb_hub.push(out, "me/bids-mri", endpoint=hub.endpoint)
    repo = hub.repo_files("me/bids-mri")
    card = repo["README.md"].decode()
    assert "config_name: mri" in card and "license: cc0-1.0" in card
    # nb-bids' registered layout gives the card its text, tags and preview (no BIDS code in nb-hub)
    assert "Converted from a BIDS dataset by nb-bids" in card and "- bids" in card
    assert repo["nb-preview.png"][:8] == b"\x89PNG\r\n\x1a\n" and "nb-preview.png" in card
    # dataset_description.json fields and the per-datatype counts are on the card
    assert "Ada Lovelace" in card and "doi:10.0000/nb-bids.example" in card and "| anat/T1w | 4 |" in card
    ds = datasets.load_dataset("me/bids-mri", "mri", cache_dir=str(tmp_path / "ds-cache"))
    assert {k: v.num_rows for k, v in ds.items()} == report["configs"]["mri"]
    row = next(r for r in ds["train"] if r["suffix"] == "T1w")
    nib = pytest.importorskip("nibabel")
    local = nib.load(mri_tree / row["path"])
    np.testing.assert_array_equal(np.asarray(row["nifti"].dataobj), np.asarray(local.dataobj))
    files = datasets.load_dataset("me/bids-mri", "files", split="train", cache_dir=str(tmp_path / "ds-cache"))
    assert "dataset_description.json" in set(files["path"])


def test_layout_preview_and_open(mri_tree, full_tree, tmp_path):
    pytest.importorskip("datasets")
    from nb_core.layouts import get_layout
    from nb_core.manifest import Manifest

    layout = get_layout("hf")
    mri = tmp_path / "mri"
    report = convert(mri_tree, mri, max_workers=0)
    arrays = layout.preview(mri, Manifest.read(mri))
    assert arrays["mri"].ndim in (3, 4) and arrays["mri"].size > 0
    ds = layout.open(mri, name="mri", split="train")
    assert ds.num_rows == report["configs"]["mri"]["train"] > 0
    eeg = tmp_path / "eeg"
    convert(full_tree, eeg, max_workers=0)
    sig = layout.preview(eeg, Manifest.read(eeg))["eeg"]
    assert sig.dtype == np.float32 and sig.ndim == 2 and sig.shape[0] > 1
