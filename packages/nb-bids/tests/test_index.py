"""nb_bids.index on generated trees and hostile ones."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest

import nb_bids
from nb_bids import NotBidsDatasetError, index, index_report, parse_name
from nb_bids.bidsschema import bids_schema


def _row(t, path):
    rows = t.filter(pc.equal(t["path"], path)).to_pylist()
    assert len(rows) == 1, path
    return rows[0]


def test_entities_come_from_the_schema_in_its_order():
    s = bids_schema()
    assert s.entity_keys[0] == "sub" and s.entity_keys.index("ses") < s.entity_keys.index("task")
    assert s.key_to_name["inv"] == "inversion" and "emg" in s.datatypes
    ents, suffix, ext, problems = parse_name("sub-01_ses-2_task-rest_acq-fast_run-01_echo-1_bold.nii.gz")
    assert ents == {"sub": "01", "ses": "2", "task": "rest", "acq": "fast", "run": "01", "echo": "1"}
    assert (suffix, ext, problems) == ("bold", ".nii.gz", [])
    assert parse_name("sub-01_run-x_bold.nii")[3] and parse_name("sub-01_bold_T1w.nii")[3]
    assert "out of the BIDS order" in parse_name("sub-01_run-1_task-a_bold.nii")[3][0]


def test_index_rows_entities_and_inherited_metadata(full_tree):
    t = index(full_tree)
    rep = index_report(t)
    assert rep["n_subjects"] == 2 and rep["n_sessions"] == 4 and rep["problems"] == []
    assert (
        rep["n_files"]
        == t.num_rows
        == sum(len(f) for _, _, f in os.walk(full_tree))
        - sum(len(f) for _, _, f in os.walk(full_tree / "derivatives"))
    )
    r1 = _row(t, "sub-01/ses-01/func/sub-01_ses-01_task-rest_run-1_bold.nii.gz")
    assert (r1["subject"], r1["session"], r1["task"], r1["run"], r1["datatype"], r1["suffix"]) == (
        "01",
        "01",
        "rest",
        "1",
        "func",
        "bold",
    )
    m1 = json.loads(r1["metadata"])
    # dataset level (RepetitionTime), session level overrides EchoTime, file level adds SliceTiming
    assert m1 == {
        "RepetitionTime": 2.0,
        "TaskName": "rest",
        "EchoTime": 0.035,
        "SliceTiming": [0.0, 0.5, 1.0],
    }
    m2 = json.loads(_row(t, "sub-01/ses-01/func/sub-01_ses-01_task-rest_run-2_bold.nii.gz")["metadata"])
    assert "SliceTiming" not in m2 and m2["EchoTime"] == 0.035
    dwi = _row(t, "sub-01/ses-01/dwi/sub-01_ses-01_dwi.nii.gz")
    assert json.loads(dwi["metadata"])["PhaseEncodingDirection"] == "j-"
    # participants / sessions / scans joined
    assert r1["participant_age"] is not None and r1["participant_group"] in ("control", "patient")
    assert r1["session_acq_time"] == "2020-01-01T10:00:00" and r1["scan_acq_time"].startswith("2020-01-01")
    eeg = t.filter(pc.equal(t["datatype"], "eeg")).to_pylist()
    assert {r["extension"] for r in eeg} >= {".vhdr", ".edf", ".tsv", ".json"}
    # the missing modality: sub-02 ses-02 has neither dwi nor eeg
    dts = {r["datatype"] for r in t.to_pylist() if r["subject"] == "02" and r["session"] == "02"}
    assert "dwi" not in dts and "eeg" not in dts and "anat" in dts


def test_derivatives_indexed_with_their_own_root(full_tree):
    t = index(full_tree, derivatives=True)
    d = t.filter(pc.equal(t["derivative"], "masks")).to_pylist()
    masks = [r for r in d if r["extension"] == ".nii.gz"]
    assert len(masks) == 4 and all(r["suffix"] == "mask" and r["description"] == "lesion" for r in masks)
    assert json.loads(masks[0]["metadata"]) == {"Type": "Lesion"}
    assert masks[0]["participant_age"] is not None  # joined from the raw dataset's participants.tsv


def test_cache_is_reused_and_notices_a_changed_file(mri_tree, copy_tree, tmp_path):
    root = copy_tree(mri_tree, tmp_path / "ds")
    t1 = index(root)
    t0 = time.perf_counter()
    t2 = index(root)
    assert time.perf_counter() - t0 < 2.0 and t2.equals(t1)
    side = root / "sub-01" / "ses-01" / "anat" / "sub-01_ses-01_T1w.json"
    side.write_text(json.dumps({"EchoTime": 0.5, "FlipAngle": 9}))
    os.utime(side, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    t3 = index(root)
    assert json.loads(_row(t3, "sub-01/ses-01/anat/sub-01_ses-01_T1w.nii.gz")["metadata"])["EchoTime"] == 0.5


def test_not_a_bids_root(tmp_path):
    with pytest.raises(NotBidsDatasetError, match="dataset_description.json"):
        index(tmp_path)
    with pytest.raises(NotBidsDatasetError, match="no such directory"):
        index(tmp_path / "missing")


def _problems(t):
    return {(p["path"], p["problem"]) for p in index_report(t)["problems"]}


def test_hostile_tree_is_indexed_and_reported(mri_tree, copy_tree, tmp_path):
    root = copy_tree(mri_tree, tmp_path / "ds")
    ses = root / "sub-01" / "ses-01"
    (ses / "anat" / "T1w_no_entities.nii.gz").write_bytes(b"")  # bad name
    (ses / "anat" / "sub-01_ses-01_blob-x_T1w.nii.gz").write_bytes(b"")  # unknown entity
    (ses / "weird").mkdir()
    (ses / "weird" / "sub-01_ses-01_strange.dat").write_bytes(b"x")  # unknown datatype + suffix
    (ses / "emg").mkdir()
    (ses / "emg" / "sub-01_ses-01_task-grip_emg.edf").write_bytes(b"")  # emg is a datatype
    (root / "sub-02" / "ses-01" / "sub-02_ses-01_scans.tsv").write_bytes(
        b"filename\tacq_time\nanat/x\t\xe9t\xe9\n"
    )
    # two sidecars at one level that both apply
    (ses / "anat" / "sub-01_T1w.json").write_text('{"FlipAngle": 7}')
    (ses / "anat" / "ses-01_T1w.json").write_text('{"FlipAngle": 8}')
    (ses / "anat" / "sub-01_ses-01_acq-x_T1w.json").write_bytes(b"")  # 0-byte JSON, applies to nothing
    os.symlink(root / "sub-01", ses / "loop")  # symlink loop
    os.symlink(root / "nowhere", ses / "broken.json")
    t = index(root, cache=False)
    probs = _problems(t)
    text = "\n".join(f"{a}: {b}" for a, b in probs)
    assert "sub-01/ses-01/anat/T1w_no_entities.nii.gz" in text
    assert "unknown entity 'blob'" in text
    assert "unknown datatype 'weird'" in text and "unknown suffix 'strange'" in text
    assert "emg/sub-01_ses-01_task-grip_emg.edf" not in text
    assert "not UTF-8" in text and "sub-02_ses-01_scans.tsv" in text
    assert "conflicting sidecars" in text
    assert "symlink loop" in text and "broken link" in text
    paths = set(t["path"].to_pylist())
    assert "sub-01/ses-01/weird/sub-01_ses-01_strange.dat" in paths  # indexed, not dropped
    assert "sub-01/ses-01/emg/sub-01_ses-01_task-grip_emg.edf" in paths


def test_template_and_unusual_datasets(tmp_path):
    root = tmp_path / "tpl"
    (root / "tpl-MNI152").mkdir(parents=True)
    (root / "dataset_description.json").write_text('{"Name": "t", "BIDSVersion": "1.10.0"}')
    (root / "tpl-MNI152" / "tpl-MNI152_res-1_T1w.nii.gz").write_bytes(b"\0" * 10)
    (root / "tpl-MNI152" / "tpl-MNI152_T1w.json").write_text('{"Resolution": "1mm"}')
    t = index(root, cache=False)
    row = _row(t, "tpl-MNI152/tpl-MNI152_res-1_T1w.nii.gz")
    assert row["template"] == "MNI152" and row["resolution"] == "1" and row["suffix"] == "T1w"
    assert json.loads(row["metadata"]) == {"Resolution": "1mm"}


def test_read_tsv_and_version():
    assert nb_bids.__version__
    assert isinstance(Path(nb_bids.__file__), Path)
