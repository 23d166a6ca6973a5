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
    assert main(["formats", "write", *fifs, "-o", str(out), "--format", "zarr", "--compression", "zstd"]) == 0
    assert main(["formats", "inspect", str(out), "--verify"]) == 0
    text = capsys.readouterr().out
    assert "layout zarr" in text and "verified" in text and "compression zstd" in text
    assert main(["formats", "open", str(out), "--window-size", "50", "--show", "2"]) == 0
    assert "[1] sub-00_raw" in capsys.readouterr().out
    args = ["formats", "open", str(out), "--window-size", "50", "--target-from", "annotations", "--show", "1"]
    assert main(args) == 0
    assert "classes: [" in capsys.readouterr().out
    assert main(["formats", "convert", str(out), "-o", str(tmp_path / "pq"), "--format", "parquet"]) == 0
    assert len(nb_formats.open(tmp_path / "pq")) == 2
    assert main(["formats", "inspect", str(tmp_path / "pq"), "--json"]) == 0
    assert '"layout": "parquet"' in capsys.readouterr().out


def test_errors_are_one_line(tmp_path: Path, windowed: Any, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="hdf5")
    data = out / "data.h5"
    data.write_bytes(data.read_bytes()[:-100])
    assert main(["formats", "verify", str(out)]) == 2
    err = capsys.readouterr().err
    assert "data.h5" in err and "truncated" in err
    assert main(["formats", "convert", str(out), "-o", str(tmp_path / "z"), "--format", "zarr"]) == 2
    assert "data.h5" in capsys.readouterr().err  # a damaged source is named, nothing is written
    assert not (tmp_path / "z").exists()
    assert main(["formats", "convert", str(out), "-o", str(out), "--format", "zarr"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ("write", "open", "convert", "verify", "inspect", "bench"):
        with pytest.raises(SystemExit):
            main(["formats", cmd, "--help"])
        assert "examples:\n  nb formats " in capsys.readouterr().out


def test_bench_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "b.png"
    argv = "formats bench --n-samples 12 --channels 3 --times 50 --reads 10 --defaults-only"
    argv += " --stream-seconds 2 --stream-channels 3"
    code = main([*argv.split(), "--plot", str(png), "--json", str(tmp_path / "b.json")])
    assert code == 0
    out = capsys.readouterr().out
    for row in (
        "memmap floor",
        "nb_formats hdf5 blosc-lz4",
        "naive h5py",
        "naive zarr",
        "naive Parquet",
        "MNE .fif",
        "straddle chunks",
        "nb_formats zarr blosc-lz4 |",
        "streaming write",
        "| nb_formats parquet | 2 s |",
    ):
        assert row in out
    assert "hdf5 gzip" not in out and "zarr zstd" not in out  # --defaults-only: default codecs only
    rows = __import__("json").loads((tmp_path / "b.json").read_text())
    assert {r["name"] for r in rows["rows"]} >= {
        "nb_formats hdf5 blosc-lz4",
        "nb_formats parquet npy (uncompressed)",
    }
    assert all(r["random_ms"] > 0 for r in rows["rows"])
    assert png.stat().st_size > 1000


def test_nb_script(tmp_path: Path) -> None:
    nb = Path(sys.executable).with_name("nb")
    res = subprocess.run([str(nb), "formats", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "convert" in res.stdout and "bench" in res.stdout


def test_write_input_errors_are_one_line(
    tmp_path: Path, raws: list[Any], windowed: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    fif = tmp_path / "sub-01_raw.fif"
    raws[0].save(fif, verbose="error")
    out = str(tmp_path / "out")
    cases = [
        ([str(tmp_path / "missing.edf"), "-o", out], "missing.edf: no such file"),
        ([str(tmp_path / "notes.docx"), "-o", out], "notes.docx: not a recording MNE reads"),
    ]
    (tmp_path / "notes.docx").write_text("hello")
    art = tmp_path / "art"
    nb_formats.write(windowed, art, format="hdf5")
    cases.append(([str(art), "-o", out], "a neurobridge artifact, not a recording; .*nb formats convert"))
    (tmp_path / "broken.edf").write_bytes(b"0       not an edf header" * 20)
    cases.append(([str(tmp_path / "broken.edf"), "-o", out], "broken.edf: cannot be read"))
    for argv, pattern in cases:
        assert main(["formats", "write", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("nb: error: "), err
        assert __import__("re").search(pattern, err), err
        assert not Path(out).exists()
    assert main(["formats", "write", str(fif), "-o", str(art)]) == 2
    err = capsys.readouterr().err
    assert "pass --overwrite" in err and "overwrite=True" not in err
    assert main(["formats", "convert", str(art), "-o", str(art), "--format", "zarr"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["formats", "write", str(fif), "-o", out, "--format", "hdf5", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "--resume needs --format parquet" in err and "resume=True" not in err
    assert main(["formats", "open", str(art), "--window-size", "100000"]) == 2
    assert "--window-size 100000 is longer than every recording" in capsys.readouterr().err


def test_reader_options_from_the_command_line(tmp_path: Path, raws: list[Any]) -> None:
    fif = tmp_path / "sub-01_raw.fif"
    raws[0].save(fif, verbose="error")
    argv = ["formats", "write", str(fif), "-o", str(tmp_path / "a"), "--allow-maxshield"]
    assert main([*argv, "--reader-option", "on_split_missing=warn"]) == 0
    assert len(nb_formats.open(tmp_path / "a")) == 1
    assert main([*argv, "--reader-option", "no_such_option=1", "--overwrite"]) == 2
    assert main([*argv, "--reader-option", "novalue"]) == 2


def test_every_help_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shlex

    from nb_core.testing import simulate_raw

    monkeypatch.chdir(tmp_path)
    for k in (1, 2):
        simulate_raw(n_channels=4, sfreq=250.0, duration=12.0, seed=k).save(
            f"sub-0{k}_raw.fif", verbose="error"
        )
    examples: list[str] = []
    for cmd in ([], ["write"], ["open"], ["convert"], ["verify"], ["inspect"], ["bench"]):
        with pytest.raises(SystemExit):
            main(["formats", *cmd, "--help"])
        text = capsys.readouterr().out.split("examples:", 1)[1]
        examples += [ln.strip() for ln in text.splitlines() if ln.strip().startswith("nb formats ")]
    assert len(examples) >= 9
    order = sorted(examples, key=lambda e: ("write" not in e, "bench" in e))  # writes first
    for ex in order:
        assert main(shlex.split(ex)[1:]) == 0, ex
