"""``nb bids ...`` through nb-core's entry point: output, one-line errors, --help examples."""

from __future__ import annotations

import json

import pytest

from nb_core.cli import main


def test_index_convert_export_cli(mri_tree, tmp_path, capsys):
    assert main(["bids", "index", str(mri_tree), "-o", str(tmp_path / "i.parquet")]) == 0
    assert "4 subjects" in capsys.readouterr().out
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "i.parquet").num_rows > 20
    assert main(["bids", "index", str(mri_tree), "--json", "--derivatives"]) == 0
    assert json.loads(capsys.readouterr().out)["n_subjects"] == 4
    out = tmp_path / "hf"
    code = main(
        ["bids", "convert", str(mri_tree), "-o", str(out), "--split", "train=0.5,test=0.5", "--workers", "0"]
    )
    assert code == 0 and "mri:" in capsys.readouterr().out
    assert main(["bids", "inspect", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_subjects"] == 4 and sum(info["configs"]["mri"].values()) == 15
    assert main(["bids", "verify", str(out)]) == 0
    assert "checksums verified" in capsys.readouterr().out
    shard = next((out / "data" / "mri").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-10])
    assert main(["bids", "verify", str(out)]) == 2
    assert "nb: error: " in capsys.readouterr().err
    assert main(["bids", "export", str(out), str(tmp_path / "back"), "--overwrite"]) == 2
    capsys.readouterr()
    out = tmp_path / "hf2"
    # the older positional form still works
    assert main(["bids", "convert", str(mri_tree), str(out), "--workers", "0"]) == 0
    assert main(["bids", "export", str(out), str(tmp_path / "back")]) == 0
    assert (tmp_path / "back" / "dataset_description.json").read_bytes() == (
        mri_tree / "dataset_description.json"
    ).read_bytes()


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["bids", "index", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nb: error: ") and "dataset_description.json" in err and err.count("\n") == 1
    assert main(["bids", "convert", str(tmp_path), str(tmp_path / "o"), "--split", "x"]) == 2
    assert "NAME=FRACTION" in capsys.readouterr().err


def test_output_options(mri_tree, tmp_path, capsys):
    """-o/--output is the output; index --out and convert's positional OUT keep working."""
    import pyarrow.parquet as pq

    assert main(["bids", "index", str(mri_tree), "--output", str(tmp_path / "a.parquet")]) == 0
    assert main(["bids", "index", str(mri_tree), "--out", str(tmp_path / "b.parquet")]) == 0
    assert "`nb bids index --out` is deprecated; use -o/--output" in capsys.readouterr().err
    assert pq.read_table(tmp_path / "a.parquet").equals(pq.read_table(tmp_path / "b.parquet"))
    both = ["bids", "index", str(mri_tree), "-o", str(tmp_path / "c.parquet"), "--out", str(tmp_path / "d")]
    assert main(both) == 2
    err = capsys.readouterr().err
    assert err.startswith("nb: error: ") and "pass only -o/--output" in err and err.count("\n") == 1
    assert not (tmp_path / "c.parquet").exists()
    # convert: neither form, or two different directories, is a one-line error naming -o/--output
    assert main(["bids", "convert", str(mri_tree), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nb: error: ") and "-o/--output" in err and err.count("\n") == 1
    two = ["bids", "convert", str(mri_tree), str(tmp_path / "x"), "-o", str(tmp_path / "y")]
    assert main(two) == 2
    assert "-o/--output" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    # the same directory given both ways is fine
    same = [
        "bids",
        "convert",
        str(mri_tree),
        str(tmp_path / "z"),
        "-o",
        str(tmp_path / "z"),
        "--workers",
        "0",
    ]
    assert main(same) == 0
    assert f"wrote {tmp_path / 'z'}" in capsys.readouterr().out


@pytest.mark.parametrize("cmd", ["index", "convert", "export", "inspect", "verify", "bench"])
def test_help_ends_with_examples(cmd, capsys):
    with pytest.raises(SystemExit):
        main(["bids", cmd, "--help"])
    text = capsys.readouterr().out
    assert f"examples:\n  nb bids {cmd}" in text
