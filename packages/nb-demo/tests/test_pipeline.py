"""`nb demo` end to end on a small dataset: every step runs for real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nb_core import Manifest
from nb_core.cli import main
from nb_core.errors import UserError
from nb_demo import run_demo


def test_run_demo_small(tmp_path: Path) -> None:
    lines: list[str] = []
    out = tmp_path / "demo"
    report = run_demo(
        out,
        n_subjects=3,
        n_test_subjects=1,
        duration=20.0,
        n_channels=8,
        epochs=2,
        format="parquet",
        say=lines.append,
    )
    names = [s.name for s in report.steps]
    assert names == ["simulate", "convert", "shard", "push", "pull", "load_dataset", "train"]
    assert report.facts["samples"]["train"] > report.facts["samples"]["test"] > 0
    train = report.facts["train"]
    assert train["test_samples"] == report.facts["samples"]["test"]
    assert train["train_samples"] == report.facts["samples"]["train"]
    assert len(train["test_accuracy"]) == 2 and all(0.0 <= a <= 1.0 for a in train["test_accuracy"])
    # What was pulled is byte-identical to what was sharded, and verifies.
    pulled = Manifest.read(out / "pulled")
    pulled.verify(out / "pulled")
    for f in Manifest.read(out / "eeg-shards").files:
        assert (out / "pulled" / f.path).read_bytes() == (out / "eeg-shards" / f.path).read_bytes()
    saved = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in saved["steps"]] == names
    assert any("read back identical" in line for line in lines)
    assert "train" in report.table()


def test_run_demo_without_training_replaces_output(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    report = run_demo(
        out,
        n_subjects=2,
        n_test_subjects=1,
        duration=10.0,
        n_channels=4,
        train=False,
        format="zarr",
        say=lambda s: None,
    )
    assert "train" not in [s.name for s in report.steps]
    assert not (out / "stale.txt").exists()
    with pytest.raises(UserError, match="n_test_subjects"):
        run_demo(out, n_subjects=2, n_test_subjects=2, say=lambda s: None)


def test_cli_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "nb demo --out /tmp/demo" in capsys.readouterr().out


def test_cli_runs(tmp_path: Path) -> None:
    out = tmp_path / "cli-demo"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "nb_core.cli",
            "demo",
            "--out",
            str(out),
            "--subjects",
            "2",
            "--test-subjects",
            "1",
            "--duration",
            "8",
            "--channels",
            "4",
            "--no-train",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "load_dataset" in res.stdout and (out / "report.json").exists()
