"""Dataset cards: Hub-valid YAML, body contents, preserved user text, preview image."""

from __future__ import annotations

import subprocess
import sys

import pytest
from huggingface_hub import DatasetCard

from nb_core import Manifest
from nb_hub import card
from nb_hub.card import BEGIN_MARKER, END_MARKER, size_category
from nb_hub.preview import render_preview
from nb_hub.testing import validate_card_metadata


def test_card_metadata_and_body(shards_artifact):
    m = Manifest.read(shards_artifact)
    c = card(m, repo_id="me/eeg", preview="nb-preview.png")
    text = str(c)
    assert validate_card_metadata(text, "dataset") == ([], [])
    parsed = DatasetCard(text)
    assert parsed.data.license == "cc-by-4.0"
    assert {"eeg", "neuroscience", "webdataset"} <= set(parsed.data.tags)
    assert parsed.data.size_categories == ["n<1K"] and parsed.data.task_categories == ["other"]
    assert parsed.data.configs == m.extra["hf_configs"]
    body = parsed.text
    for needle in (
        "## Modalities",
        "| `eeg` | float32 | 4×100 | V | 100 Hz | 4 |",
        m.modalities["eeg"].ch_names[0],
        "2 recordings",
        "| train | 6 |",
        "![A few seconds",
        'load_dataset("me/eeg")',
        "Preprocessing history",
        "`filter`",
        "@misc{sim",
        "MNE-simulated EEG",
    ):
        assert needle in body, needle


def test_card_merge_is_idempotent_and_keeps_user_text(shards_artifact):
    m = Manifest.read(shards_artifact)
    first = str(card(m))
    edited = first.replace(BEGIN_MARKER, "Intro by the curator.\n\n" + BEGIN_MARKER) + "\nMy notes.\n"
    edited = edited.replace("pretty_name:", "language:\n- en\npretty_name:")
    again = str(card(m, existing=edited))
    assert again == str(card(m, existing=again))  # stable
    assert "Intro by the curator." in again and "My notes." in again
    assert DatasetCard(again).data.language == ["en"]
    assert again.count(BEGIN_MARKER) == 1 and again.count(END_MARKER) == 1
    hand = "---\nlicense: mit\n---\n# Hand-written card\n"
    merged = str(card(Manifest(name="x", layout="hdf5"), existing=hand))
    assert "# Hand-written card" in merged and DatasetCard(merged).data.license == "mit"


def test_size_categories():
    assert size_category(0) == "n<1K" and size_category(5_000) == "1K<n<10K"
    assert size_category(2_000_000) == "1M<n<10M"


def test_preview_png(shards_artifact, tmp_path):
    out = render_preview(shards_artifact, tmp_path / "p.png")
    assert out is not None and out.read_bytes().startswith(b"\x89PNG")
    again = render_preview(shards_artifact, tmp_path / "q.png")
    assert again is not None and again.read_bytes() == out.read_bytes()  # deterministic: no re-upload


def test_import_is_light():
    code = (
        "import sys, nb_hub, nb_hub.testing; "
        "print([m for m in ('torch', 'datasets', 'mne', 'huggingface_hub', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_card_names_the_writer_only_when_the_manifest_has_one():
    bare = str(card(Manifest(name="x", layout="shards")))
    assert "(layout `shards`): 0 data files" in bare and "written by" not in bare
    m = Manifest(name="x", layout="shards", writer={"package": "nb-shards", "version": "0.1.0"})
    assert "(layout `shards`, written by nb-shards 0.1.0): 0 data files" in str(card(m))


def test_card_yaml_has_no_anchors(tmp_path):
    """Configs that share their feature lists are written out in full (no ``&id001`` / ``*id001``)."""
    import numpy as np
    import yaml

    nb_formats = pytest.importorskip("nb_formats")
    m = nb_formats.write((np.zeros((4, 2, 10), "float32"), [0, 1, 0, 1]), tmp_path / "ds", sfreq=100.0)
    text = str(card(m, repo_id="me/ds"))
    assert "&id" not in text and "*id" not in text
    configs = yaml.safe_load(text.split("---\n")[1])["configs"]
    assert (
        len(configs) == 2 and configs[0]["features"] == configs[1]["features"][: len(configs[0]["features"])]
    )
