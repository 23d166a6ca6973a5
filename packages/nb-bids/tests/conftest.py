"""Shared generated BIDS trees (made once per session; tests copy them before changing anything)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("NB_PROGRESS", "0")

import shutil
from pathlib import Path

import pytest

from nb_bids.testing import make_bids_tree


@pytest.fixture(autouse=True)
def _bids_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NB_BIDS_CACHE", str(tmp_path / "nb-bids-cache"))


@pytest.fixture(scope="session")
def full_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 subjects × 2 sessions: anat, func, dwi, EEG (BrainVision + EDF), derivatives, a missing dwi/eeg."""
    return make_bids_tree(tmp_path_factory.mktemp("full") / "ds", n_subjects=2, sessions=("01", "02"))


@pytest.fixture(scope="session")
def mri_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 subjects, 1 session, MRI only (fast to convert)."""
    return make_bids_tree(tmp_path_factory.mktemp("mri") / "ds", n_subjects=4, eeg=False)


@pytest.fixture
def copy_tree():
    def copy(src: Path, dst: Path) -> Path:
        shutil.copytree(src, dst, symlinks=True)
        return dst

    return copy
