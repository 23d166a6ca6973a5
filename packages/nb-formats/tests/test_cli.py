"""The ``nb formats`` commands, in-process and once through the installed ``nb`` script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nb_formats
from nb_core.cli import main


def test_write_info_open_convert(tmp_path: Path, raws: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    fifs = []
    for k, r in enumerate(raws):
        fifs.append(str(tmp_path / f"sub-0{k}_raw.fif"))
        r.save(fifs[-1], verbose="error")
    out = tmp_path / "ds"
    assert main(["formats", "write", *fifs, str(out), "--format", "zarr", "--compression", "zstd"]) == 0
    assert main(["formats", "info", str(out), "--verify"]) == 0
    text = capsys.readouterr().out
    assert "layout zarr" in text and "verified" in text and "compression zstd" in text
    assert main(["formats", "open", str(out), "--window-size", "50", "--show", "2"]) == 0
    assert "[1] sub-00_raw" in capsys.readouterr().out
    args = ["formats", "open", str(out), "--window-size", "50", "--target-from", "annotations", "--show", "1"]
    assert main(args) == 0
    assert "classes: [" in capsys.readouterr().out
    assert main(["formats", "convert", str(out), str(tmp_path / "pq"), "--format", "parquet"]) == 0
    assert len(nb_formats.open(tmp_path / "pq")) == 2
    assert main(["formats", "info", str(tmp_path / "pq"), "--json"]) == 0
    assert '"layout": "parquet"' in capsys.readouterr().out


def test_errors_are_one_line(tmp_path: Path, windowed: Any, capsys: pytest.CaptureFixture[str]) -> None:
    out = nb_formats.write(windowed, tmp_path / "ds", format="hdf5")
    data = out / "data.h5"
    data.write_bytes(data.read_bytes()[:-100])
    assert main(["formats", "info", str(out), "--verify"]) == 2
    err = capsys.readouterr().err
    assert "data.h5" in err and "truncated" in err
    assert main(["formats", "convert", str(out), str(tmp_path / "z"), "--format", "zarr"]) == 2
    assert "data.h5" in capsys.readouterr().err  # a damaged source is named, nothing is written
    assert not (tmp_path / "z").exists()
    assert main(["formats", "convert", str(out), str(out), "--format", "zarr"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ("write", "open", "convert", "info", "bench"):
        with pytest.raises(SystemExit):
            main(["formats", cmd, "--help"])
        assert "examples:\n  nb formats " in capsys.readouterr().out


def test_bench_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "b.png"
    code = main(
        [
            "formats",
            "bench",
            "--n-windows",
            "12",
            "--channels",
            "3",
            "--times",
            "50",
            "--reads",
            "10",
            "--plot",
            str(png),
            "--json",
            str(tmp_path / "b.json"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    for row in (
        "memmap floor",
        "nb_formats hdf5 blosc-lz4",
        "naive h5py",
        "naive zarr",
        "naive Parquet",
        "MNE .fif",
    ):
        assert row in out
    assert png.stat().st_size > 1000


def test_nb_script(tmp_path: Path) -> None:
    nb = Path(sys.executable).with_name("nb")
    res = subprocess.run([str(nb), "formats", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "convert" in res.stdout and "bench" in res.stdout
