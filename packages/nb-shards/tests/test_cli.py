from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nb_core.cli import main


def test_write_inspect_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", np.ones((7, 2, 5), "float32"))
    assert (
        main(
            [
                "shards",
                "write",
                str(tmp_path / "x.npy"),
                "-o",
                str(tmp_path / "s"),
                "--max-count",
                "3",
                "--workers",
                "0",
            ]
        )
        == 0
    )
    assert "wrote {'train': 7} samples in 3 shards" in capsys.readouterr().out
    assert main(["shards", "inspect", str(tmp_path / "s"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_shards"] == 3 and info["modalities"]["eeg"]["shape"] == [2, 5]
    assert main(["shards", "verify", str(tmp_path / "s")]) == 0
    assert "ok: 3 shards, 7 samples" in capsys.readouterr().out
    # errors are one clear line and exit code 2
    (tmp_path / "s" / "train-000001.tar").write_bytes(b"broken")
    assert main(["shards", "verify", str(tmp_path / "s")]) == 2
    assert "nb: error:" in capsys.readouterr().err


def test_bench_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    code = main(
        [
            "shards",
            "bench",
            "--n-samples",
            "48",
            "--channels",
            "4",
            "--times",
            "50",
            "--shard-count",
            "16",
            "--batch-size",
            "8",
            "--workers",
            "1",
            "--worker-counts",
            "0,1",
            "--repeat",
            "2",
            "--dir",
            str(tmp_path),
            "--json",
            str(out),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    table = captured.out
    if importlib.util.find_spec("streaming") is None:  # a missing peer is skipped with one clear line
        assert "skipped: mosaicml-streaming is not installed" in captured.err
        assert "MosaicML" not in table
    assert (
        "| read: nb-shards ShardDataset, sequential |" in table and "write nb (fsync) / webdataset" in table
    )
    result = json.loads(out.read_text())
    rows = {r["name"]: r for r in result["rows"]}
    assert all(r["samples_per_s"] > 0 for r in rows.values())
    for nw in (0, 1):
        assert f"read: nb-shards ShardLoader, shuffled, workers {nw}" in rows
        assert f"read: nb-shards ShardLoader, shuffled, ~100 µs transform per sample, workers {nw}" in rows
        # litdata is in the bench extra; MosaicML streaming cannot be (see the README)
        assert f"read: litdata StreamingDataset + StreamingDataLoader, shuffled, workers {nw}" in rows
    assert "loader workers 1 / workers 0" in result["ratios"]
    assert "read floor: each array read into a batch (preadv, shuffled, no parsing)" in rows
    assert result["ratios"]["loader workers 0 / batch floor"] > 0
    # readers: two rounds, the median one per row with the range; writers once
    loader = rows["read: nb-shards ShardLoader, shuffled, workers 0"]
    assert loader["runs"] == 2 and loader["samples_per_s_min"] <= loader["samples_per_s"]
    assert loader["samples_per_s"] <= loader["samples_per_s_max"]
    assert "runs" not in rows["write: nb-shards ShardWriter (default: fsync each shard)"]
    assert result["config"]["repeat"] == 2 and "median of 2 rounds" in table
    per_round = result["ratio_rounds"]["loader workers 1 / workers 0"]
    assert len(per_round) == 2 and min(per_round) <= result["ratios"]["loader workers 1 / workers 0"] <= max(
        per_round
    )
    assert result["config"]["peers"]["litdata"]
    assert [p for p in tmp_path.iterdir() if p.name.startswith("nb-shards-bench")] == []


def test_bench_refuses_a_bad_repeat(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("webdataset")
    assert main(["shards", "bench", "--n-samples", "8", "--repeat", "0"]) == 2
    assert "repeat must be an integer of at least 1, got 0" in capsys.readouterr().err


def test_nb_executable_help() -> None:
    exe = Path(sys.executable).with_name("nb")
    env = {**os.environ, "NB_PROGRESS": "0"}
    expected = {
        # the commands, the shared options, and examples that are actual command lines
        ("shards",): ["write", "inspect", "verify", "bench", "  nb shards write sub-01.edf -o one/"],
        ("shards", "write"): [
            "-o OUT, --out OUT, --output OUT",
            "--overwrite",
            "\nexamples:\n  nb shards write sub-01.edf sub-02.edf -o shards/ --window 2.0",
        ],
        ("shards", "verify"): ["--no-decode", "\nexamples:\n  nb shards verify shards/"],
        ("shards", "bench"): ["--n-samples", "--json", "\nexamples:\n  nb shards bench --n-samples 200"],
    }
    for cmd, parts in expected.items():
        r = subprocess.run([str(exe), *cmd, "--help"], capture_output=True, text=True, env=env, check=True)
        for part in parts:
            assert part in r.stdout, (cmd, part)
