"""``to="shards"`` / ``to="formats"``: EEG as nb-shards or nb-formats, same samples, entities kept;
and the Dask ``scheduler=`` option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import nb_bids
from nb_bids import convert
from nb_bids.testing import make_bids_tree
from nb_core import Manifest
from nb_core.cli import main
from nb_core.errors import UserError

ENTITIES = ("subject", "session", "task", "run")


@pytest.fixture(scope="module")
def eeg_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 subjects, EEG only (BrainVision and EDF), one T1w each for the other configs."""
    return make_bids_tree(
        tmp_path_factory.mktemp("eeg") / "ds",
        n_subjects=2,
        func=False,
        dwi=False,
        derivatives=False,
        missing_modality=False,
    )


@pytest.fixture(scope="module")
def reference(eeg_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], dict]:
    """The default conversion's EEG rows, by (path, segment)."""
    out = tmp_path_factory.mktemp("ref") / "hf"
    convert(eeg_tree, out, split="train=0.5,test=0.5", segment_seconds=1.5, max_workers=0)
    rows = {}
    for f in sorted((out / "data" / "eeg").glob("*.parquet")):
        for r in pq.read_table(f).to_pylist():
            r["signal"] = np.asarray(r["signal"], dtype=np.float32)
            rows[(r["path"], r["segment"])] = r
    assert len({p for p, _ in rows}) == 2 and len(rows) == 6  # 2 recordings × 3 segments of 1.5 s
    return rows


def _common_checks(out: Path, eeg_tree: Path, tmp: Path) -> dict:
    m = Manifest.read(out)
    m.verify(out)  # the EEG artifact's files are listed with their sha256 too
    assert any(f.path.startswith("eeg/") for f in m.files)
    assert not (out / "data" / "eeg").exists()  # the Parquet segments are gone
    rows = nb_bids.verify(out)
    assert "eeg" not in rows and rows["mri"] == 2
    # the export still gives the original recordings back, byte for byte
    nb_bids.export(out, tmp / "back")
    for p in eeg_tree.rglob("*_eeg.*"):
        rel = p.relative_to(eeg_tree)
        assert (tmp / "back" / rel).read_bytes() == p.read_bytes(), rel
    return json.loads((out / "nb-bids-report.json").read_text())


def test_to_shards_holds_the_same_segments_with_entities(eeg_tree, reference, tmp_path):
    nb_shards = pytest.importorskip("nb_shards")
    out = tmp_path / "out"
    report = convert(
        eeg_tree, out, to="shards", split="train=0.5,test=0.5", segment_seconds=1.5, max_workers=0
    )
    assert report["eeg"]["to"] == "shards" and sum(report["eeg"]["rows"].values()) == 6
    assert "eeg" not in report["configs"]
    seen = set()
    for split in ("train", "test"):
        for s in nb_shards.ShardDataset(out / "eeg", split=split):
            meta = s["json"]
            ref = reference[(meta["path"], meta["segment"])]
            np.testing.assert_array_equal(s["eeg"], ref["signal"])
            assert s["eeg"].dtype == np.float32
            for k in (*ENTITIES, "datatype", "suffix", "sfreq", "ch_names", "units", "start_sample"):
                assert meta[k] == ref[k], k
            assert meta["events"] == json.loads(ref["events"])
            assert meta["channels_tsv"][0]["name"] == "Fp1"
            assert split in report["splits"] and meta["subject"] in report["splits"][split]
            seen.add((meta["path"], meta["segment"]))
    assert seen == set(reference)
    nb_shards.verify(out / "eeg")
    _common_checks(out, eeg_tree, tmp_path)


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_to_formats_holds_the_same_recordings_with_entities(eeg_tree, reference, tmp_path, fmt):
    nb_formats = pytest.importorskip("nb_formats")
    out = tmp_path / "out"
    report = convert(
        eeg_tree,
        out,
        to="formats",
        format=fmt,
        split="train=0.5,test=0.5",
        segment_seconds=1.5,
        max_workers=0,
    )
    assert report["eeg"] == {"to": "formats", "format": fmt, "path": "eeg", "rows": {"test": 1, "train": 1}}
    paths = set()
    for split in ("train", "test"):
        ds = nb_formats.open(out / "eeg" / split, verify=True)
        assert ds.manifest.layout == fmt
        for j in range(len(ds.manifest.recordings)):
            rec = ds.recording(j)
            path = rec.extra["path"]
            segs = [reference[(path, k)] for k in range(3)]
            np.testing.assert_array_equal(rec.data, np.concatenate([r["signal"] for r in segs], axis=1))
            assert rec.sfreq == 100.0 and [c.name for c in rec.channels] == segs[0]["ch_names"]
            assert rec.entities == {k: segs[0][k] for k in ENTITIES}
            assert [a.description for a in rec.annotations] == [
                e["description"] for e in json.loads(segs[0]["events"])
            ]
            assert rec.extra["channels_tsv"][0]["name"] == "Fp1" and rec.extra["suffix"] == "eeg"
            paths.add(path)
    assert paths == {p for p, _ in reference}
    _common_checks(out, eeg_tree, tmp_path)


def test_target_options_are_checked(eeg_tree, tmp_path, capsys):
    with pytest.raises(UserError, match="hdf5, zarr, parquet"):
        convert(eeg_tree, tmp_path / "a", to="formats", max_workers=0)
    with pytest.raises(UserError, match="needs to='formats'"):
        convert(eeg_tree, tmp_path / "a", format="zarr", max_workers=0)
    with pytest.raises(UserError, match="to must be one of"):
        convert(eeg_tree, tmp_path / "a", to="tar", max_workers=0)
    assert not (tmp_path / "a").exists()
    code = main(
        ["bids", "convert", str(eeg_tree), str(tmp_path / "b"), "--to", "formats", "--format", "zarr"]
    )
    assert code == 0 and "EEG: 2 recordings in eeg/" in capsys.readouterr().out
    assert main(["bids", "convert", str(eeg_tree), str(tmp_path / "c"), "--to", "formats"]) == 2
    assert capsys.readouterr().err.startswith("nb: error: format must be one of")


def test_resume_after_an_interrupted_shards_write(eeg_tree, tmp_path, monkeypatch):
    pytest.importorskip("nb_shards")
    import nb_bids.eeg_out as eeg_out

    out = tmp_path / "out"

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(eeg_out, "_write_shards", boom)
    with pytest.raises(KeyboardInterrupt):
        convert(eeg_tree, out, to="shards", max_workers=0)
    assert not (out / "nb-manifest.json").exists()
    monkeypatch.undo()
    report = convert(eeg_tree, out, to="shards", max_workers=0, resume=True)
    assert report["resumed_units"] == len(list(eeg_tree.glob("sub-*"))) * 2 + 1  # subject, session, root
    assert report["eeg"]["rows"] == {"train": 2}  # 4 s per recording, one 60 s segment each
    nb_bids.verify(out)


def test_dask_scheduler_gives_the_same_files(eeg_tree, tmp_path):
    distributed = pytest.importorskip("distributed")
    ref = tmp_path / "inline"
    convert(eeg_tree, ref, max_workers=0)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        out = tmp_path / "dask"
        report = convert(eeg_tree, out, scheduler=cluster.scheduler_address)
    assert report["configs"]["eeg"] == {"train": 2}
    digests = {f.path: f.sha256 for f in Manifest.read(ref).files if f.path.startswith("data/")}
    assert digests and digests == {
        f.path: f.sha256 for f in Manifest.read(out).files if f.path.startswith("data/")
    }
