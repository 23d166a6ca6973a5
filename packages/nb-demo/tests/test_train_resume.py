"""The resume check has teeth, and the cache isolation restores what it changed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from nb_core.errors import IntegrityError
from nb_demo import run_demo
from nb_demo import train as train_mod
from nb_demo.isolation import caches_inside


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "demo"
    run_demo(
        out,
        n_subjects=3,
        n_test_subjects=1,
        duration=16.0,
        n_channels=4,
        train=False,
        bids=False,
        say=lambda line: None,
    )
    return out / "pulled"


def test_checkpoint_resume_matches_and_files_hold_no_pickle(shards: Path, tmp_path: Path) -> None:
    result = train_mod.train_and_evaluate(
        shards,
        shards,
        n_channels=4,
        n_classes=4,
        epochs=3,
        batch_size=8,
        checkpoint_dir=tmp_path / "ckpt",
        model_dir=tmp_path / "model",
    )
    r = result.resume
    assert (
        r["identical_losses"] and r["identical_weights"] and r["n_tensors_compared"] == 9
    )  # conv, batch norm (with running stats), linear
    assert result.steps_per_epoch >= 2 and r["checkpoint_step"] % result.steps_per_epoch != 0
    assert r["resumed_losses"] == result.losses[r["checkpoint_step"] :]
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["model.safetensors", "optimizer.safetensors", "trainer.json"]
    trainer = json.loads((tmp_path / "ckpt" / "trainer.json").read_text())
    assert trainer["step"] == r["checkpoint_step"] == len(trainer["losses"])
    assert trainer["loader"]["position"] > 0  # stopped inside an epoch
    for f in (tmp_path / "ckpt").glob("*.safetensors"):
        assert b"\x80\x04" not in f.read_bytes()[:16]  # not a pickle stream
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_a_resume_that_loses_state_is_caught(
    shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = train_mod.load_checkpoint

    def forgets_optimizer(run: Any, path: Any) -> None:
        real(run, path)
        run.opt.state.clear()  # Adam's moments lost: the resumed run drifts

    monkeypatch.setattr(train_mod, "load_checkpoint", forgets_optimizer)
    with pytest.raises(IntegrityError, match="does not match the uninterrupted run"):
        train_mod.train_and_evaluate(
            shards, shards, n_channels=4, n_classes=4, epochs=2, batch_size=8, checkpoint_dir=tmp_path / "c"
        )


def test_caches_inside_restores_environment_and_constants(tmp_path: Path) -> None:
    import huggingface_hub.constants as hc

    before_env = os.environ.get("HF_HOME")
    before_const = hc.HF_HUB_CACHE
    with caches_inside(tmp_path / "caches") as where:
        assert os.environ["HF_HOME"] == str(where["HF_HOME"])
        assert str(tmp_path.resolve() / "caches" / "huggingface" / "hub") == hc.HF_HUB_CACHE
        assert os.environ["MPLCONFIGDIR"].startswith(str(tmp_path.resolve()))
        if "datasets.config" in sys.modules:
            assert str(sys.modules["datasets.config"].HF_DATASETS_CACHE).startswith(str(tmp_path.resolve()))
    assert os.environ.get("HF_HOME") == before_env
    assert before_const == hc.HF_HUB_CACHE
