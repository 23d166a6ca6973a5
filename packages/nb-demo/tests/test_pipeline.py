"""`nb demo` end to end on a small dataset: every step runs for real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nb_core.cli import main
from nb_core.errors import OutputExistsError, UserError
from nb_demo import run_demo
from nb_demo.pipeline import MARKER_NAME, DemoSkipWarning


def _tiny(out, **kw):
    return run_demo(
        out,
        n_subjects=2,
        n_test_subjects=1,
        duration=8.0,
        n_channels=4,
        train=False,
        bids=False,
        say=kw.pop("say", lambda s: None),
        **kw,
    )


def test_rerun_replaces_only_what_the_demo_wrote(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    report = _tiny(out, format="zarr")
    assert "train" not in [s.name for s in report.steps]
    marker = json.loads((out / MARKER_NAME).read_text())
    assert "eeg-zarr" in marker["entries"] and "report.json" in marker["entries"]
    assert all((out / n).exists() for n in ("eeg-hdf5", "eeg-zarr", "eeg-parquet", "report.html"))
    # an entry an older demo wrote (listed in its marker) goes; a file the user added stays
    (out / "datasets-cache").mkdir()
    marker["entries"].append("datasets-cache")
    (out / MARKER_NAME).write_text(json.dumps(marker))
    (out / "my-notes.txt").write_text("mine")
    _tiny(out, format="parquet")  # a re-run needs no --overwrite: the marker says it is ours
    assert (out / "my-notes.txt").read_text() == "mine"
    assert not (out / "datasets-cache").exists()
    with pytest.raises(UserError, match="n_test_subjects"):
        run_demo(out, n_subjects=2, n_test_subjects=2, say=lambda s: None)
    with pytest.raises(UserError, match="format must be one of"):
        run_demo(out, format="csv", say=lambda s: None)


def test_a_folder_the_demo_did_not_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "analysis.py").write_text("print('precious')")
    (project / "eeg-shards").mkdir()
    (project / "eeg-shards" / "mine.tar").write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        _tiny(project)
    assert (project / "analysis.py").is_file() and (project / "eeg-shards" / "mine.tar").is_file()
    assert sorted(p.name for p in project.iterdir()) == ["analysis.py", "eeg-shards"]
    # `nb demo --out .` in a project folder: one line, nothing deleted
    monkeypatch.chdir(project)
    assert main(["demo", "--out", ".", "--subjects", "2", "--test-subjects", "1", "--no-train"]) == 2
    assert sorted(p.name for p in project.iterdir()) == ["analysis.py", "eeg-shards"]
    # a demo-named entry that is not the demo's is refused even in a marked folder
    (project / MARKER_NAME).write_text(json.dumps({"entries": ["report.json"]}))
    with pytest.raises(OutputExistsError, match="eeg-shards"):
        _tiny(project)
    (project / MARKER_NAME).unlink()
    # --overwrite: the demo's entries are written, nothing else is touched
    _tiny(project, overwrite=True)
    assert (project / "analysis.py").read_text() == "print('precious')"
    assert not (project / "eeg-shards" / "mine.tar").exists()  # replaced, as --overwrite asked
    assert (project / "report.json").is_file() and (project / MARKER_NAME).is_file()


def test_a_file_as_out_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        _tiny(f, overwrite=True)
    assert f.read_text() == "x"


def test_missing_datasets_is_reported_not_skipped_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    lines: list[str] = []
    with pytest.warns(DemoSkipWarning, match=r"nb-hub\[datasets\]"):
        report = _tiny(tmp_path / "demo", say=lines.append)
    assert "load_dataset" not in [s.name for s in report.steps]
    assert any("load_dataset" in s and "datasets" in s for s in report.skipped)
    assert any(line.strip().startswith("skipped: load_dataset") for line in lines)
    assert "skipped: load_dataset" in report.table()
    saved = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert saved["skipped"] == report.skipped


def test_missing_matplotlib_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.warns(DemoSkipWarning, match=r"nb-hub\[plot\]"):
        report = _tiny(tmp_path / "demo")
    assert any("preview image" in s for s in report.skipped)


def test_cli_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "nb demo --out demo-zarr --format zarr" in capsys.readouterr().out


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
            "--no-bids",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "load_dataset" in res.stdout and (out / "report.json").exists()
    assert f"nb shards inspect {out / 'eeg-shards'}" in res.stdout
    assert "http://127.0.0.1" not in res.stdout
