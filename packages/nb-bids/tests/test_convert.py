"""nb_bids.convert → datasets.load_dataset, export round trip, splits, resume and bad inputs."""

from __future__ import annotations

import csv
import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import nb_bids
from nb_bids import ExpectationError, convert, export
from nb_core import Manifest
from nb_core.errors import CorruptDataError, OutputExistsError, UserError


def _load(out: Path, *args, **kw):
    datasets = pytest.importorskip("datasets")
    return datasets.load_dataset(str(out), *args, cache_dir=str(out.parent / "hf-cache"), **kw)


@pytest.fixture(scope="module")
def converted(full_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("conv") / "hf"
    report = convert(full_tree, out, derivatives=True, split="train=0.5,test=0.5", seed=3, max_workers=0)
    return out, report


def test_file_rows_load_with_datasets_and_streaming(converted, full_tree):
    out, report = converted
    m = Manifest.read(out)
    assert m.layout == "hf" and m.writer["package"] == "nb-bids"
    m.verify(out)  # every file listed with its sha256
    assert {f.path for f in m.files} == {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and p.name not in ("README.md", "nb-manifest.json")
    }
    ds = _load(out)
    assert set(ds) == {"train", "test"}
    train_subs = set(ds["train"]["subject"])
    assert train_subs.isdisjoint(set(ds["test"]["subject"]))
    assert report["splits"]["train"] == sorted(train_subs)
    row = next(r for r in ds["train"] if r["suffix"] == "bold" and r["run"] == "1")
    src = full_tree / row["path"]
    img = row["nifti"]
    assert img.shape == (8, 8, 6, 3)
    nib = pytest.importorskip("nibabel")
    np.testing.assert_array_equal(np.asarray(img.dataobj), np.asarray(nib.load(src).dataobj))
    meta = json.loads(row["metadata"])
    assert meta["SliceTiming"] == [0.0, 0.5, 1.0] and meta["EchoTime"] == 0.035
    assert json.loads(row["events"])[0]["trial_type"] == "go"
    dwi = next(r for r in ds["train"] if r["suffix"] == "dwi")
    assert dwi["bval"].split() == ["0", "1000", "1000", "1000"] and len(dwi["bvec"].splitlines()) == 3
    mask = next(r for r in ds["train"] if r["derivative"] == "masks")
    assert (
        mask["source_path"].endswith("_T1w.nii.gz")
        and mask["source_path"].split("/")[:2] == mask["path"].split("/")[2:4]
    )
    streamed = next(iter(_load(out, "mri", split="test", streaming=True)))
    assert streamed["path"] in set(ds["test"]["path"])


def test_eeg_rows_are_float32_with_channels_and_events(converted, full_tree):
    out, _ = converted
    eeg = _load(out, "eeg")
    rows = [r for s in eeg.values() for r in s.with_format("numpy")]
    assert {Path(str(r["path"])).suffix for r in rows} == {".vhdr", ".edf"}  # two mne-bids formats
    r = next(x for x in rows if str(x["path"]).endswith(".vhdr"))
    assert r["signal"].dtype == np.float32 and r["signal"].shape == (8, 400)
    assert (
        list(r["ch_names"])[:2] == ["Fp1", "Fp2"]
        and set(r["ch_types"]) == {"eeg"}
        and set(r["units"]) == {"V"}
    )
    assert r["sfreq"] == 100.0 and json.loads(str(r["events"]))
    chans = json.loads(str(r["channels_tsv"]))
    assert [c["name"] for c in chans] == list(r["ch_names"])
    assert json.loads(str(r["electrodes_tsv"]))
    mne_bids = pytest.importorskip("mne_bids")
    bp = mne_bids.get_bids_path_from_fname(full_tree / str(r["path"]))
    bp.update(root=full_tree)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # participants.tsv columns MNE has no field for
        raw = mne_bids.read_raw_bids(bp, verbose=False)
    np.testing.assert_allclose(r["signal"], raw.get_data().astype(np.float32), rtol=1e-6)


def test_report_counts_missing_modalities(converted):
    out, report = converted
    assert report == json.loads((out / "nb-bids-report.json").read_text())
    assert report["n_subjects"] == 2 and report["n_sessions"] == 4
    assert report["missing_datatypes"] == {"sub-02_ses-02": ["dwi", "eeg"]}
    assert report["unreadable"] == [] and report["files_per_datatype_suffix"]["anat/T1w"] == 4


def _same_tree(a: Path, b: Path, *, derivatives: bool = True) -> None:
    fa = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    if not derivatives:
        fa = [f for f in fa if not f.startswith("derivatives/")]
    fb = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert fa == fb
    for rel in fa:
        x, y = (a / rel).read_bytes(), (b / rel).read_bytes()
        if rel.endswith(".json") and x.strip():
            assert json.loads(x) == json.loads(y), rel
        elif rel.endswith(".tsv"):
            rx = list(csv.reader(x.decode().splitlines(), delimiter="\t"))
            ry = list(csv.reader(y.decode().splitlines(), delimiter="\t"))
            assert rx == ry, rel
        assert x == y, rel  # every file is even byte-identical


def test_export_round_trip_is_lossless(converted, full_tree, tmp_path):
    out, _ = converted
    n = export(out, tmp_path / "back")
    _same_tree(full_tree, tmp_path / "back")
    assert n == sum(1 for p in full_tree.rglob("*") if p.is_file())
    with pytest.raises(OutputExistsError):
        export(out, tmp_path / "back")


def test_session_rows_and_session_round_trip(mri_tree, tmp_path):
    out = tmp_path / "hf"
    report = convert(mri_tree, out, rows="session", derivatives=True, max_workers=0)
    ds = _load(out, "mri", split="train")
    assert ds.num_rows == 4 == report["configs"]["mri"]["train"]
    row = ds[0]
    assert row["T1w"].shape == (8, 8, 6) and len(row["bold"]) == 2  # two runs → a list of images
    assert row["bold_path"][0].endswith("run-1_bold.nii.gz") and row["masks_lesion_mask"] is not None
    assert json.loads(row["T1w_metadata"])["FlipAngle"] == 9
    export(out, tmp_path / "back")
    _same_tree(mri_tree, tmp_path / "back")


def test_splits_by_subject_are_seeded_and_disjoint(mri_tree, tmp_path):
    r1 = convert(mri_tree, tmp_path / "a", split="train=0.5,test=0.5", seed=1, max_workers=0)
    r2 = convert(mri_tree, tmp_path / "b", split={"train": 0.5, "test": 0.5}, seed=1, max_workers=0)
    assert r1["splits"] == r2["splits"] and len(r1["splits"]["train"]) == 2
    assert not set(r1["splits"]["train"]) & set(r1["splits"]["test"])
    with pytest.raises(UserError, match="sum to 1"):
        convert(mri_tree, tmp_path / "c", split="train=0.5,test=0.2")
    with pytest.raises(UserError, match="NAME=FRACTION"):
        convert(mri_tree, tmp_path / "c", split="train:0.5")


def test_bad_data_files_are_reported_not_fatal(mri_tree, copy_tree, tmp_path):
    root = copy_tree(mri_tree, tmp_path / "ds")
    anat = root / "sub-01" / "ses-01" / "anat"
    (anat / "sub-01_ses-01_T1w.nii.gz").write_bytes(b"")  # 0-byte placeholder
    bold = root / "sub-02" / "ses-01" / "func" / "sub-02_ses-01_task-rest_run-1_bold.nii.gz"
    bold.write_bytes(bold.read_bytes()[:-200])  # truncated gzip
    dwi = root / "sub-03" / "ses-01" / "dwi" / "sub-03_ses-01_dwi.nii.gz"
    raw = gzip.decompress(dwi.read_bytes())
    dwi.write_bytes(gzip.compress(raw[: len(raw) // 2]))  # valid gzip, image cut in half
    (anat / "sub-01_ses-01_blob-x_T2w.nii").write_bytes(b"")  # bad name
    report = convert(root, tmp_path / "hf", max_workers=0)
    reasons = {u["path"]: u["reason"] for u in report["unreadable"]}
    assert reasons["sub-01/ses-01/anat/sub-01_ses-01_T1w.nii.gz"] == "0-byte file"
    assert "truncated" in reasons[bold.relative_to(root).as_posix()]
    assert "truncated" in reasons[dwi.relative_to(root).as_posix()]
    assert any("unknown entity 'blob'" in p["problem"] for p in report["problems"])
    paths = set(_load(tmp_path / "hf", "mri", split="train")["path"])
    assert "sub-01/ses-01/anat/sub-01_ses-01_T1w.nii.gz" not in paths and len(paths) > 10
    # the unreadable files are still kept as bytes: the export gives back the same tree
    export(tmp_path / "hf", tmp_path / "back")
    _same_tree(root, tmp_path / "back", derivatives=False)
    with pytest.raises(CorruptDataError, match="strict"):
        convert(root, tmp_path / "hf2", strict=True, max_workers=0)
    assert not (tmp_path / "hf2" / "nb-manifest.json").exists()


def test_expect_counts(mri_tree, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"n_subjects": 4, "files_per_datatype_suffix": {"anat/T1w": 4}}))
    convert(mri_tree, tmp_path / "ok", expect=good, max_workers=0)
    with pytest.raises(ExpectationError, match=r"n_subjects: expected 5, found 4"):
        convert(mri_tree, tmp_path / "bad", expect={"n_subjects": 5}, max_workers=0)
    assert not (tmp_path / "bad").exists()


def test_output_exists_and_not_bids(mri_tree, tmp_path):
    out = tmp_path / "hf"
    convert(mri_tree, out, max_workers=0)
    with pytest.raises(OutputExistsError, match="overwrite"):
        convert(mri_tree, out, max_workers=0)
    convert(mri_tree, out, overwrite=True, max_workers=0)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    with pytest.raises(OutputExistsError, match="resume"):
        convert(mri_tree, tmp_path / "other", max_workers=0)
    with pytest.raises(nb_bids.NotBidsDatasetError):
        convert(tmp_path / "other", tmp_path / "o2", max_workers=0)


def test_resume_keeps_finished_units(mri_tree, tmp_path, monkeypatch):
    import nb_bids.converter as conv

    real = conv._write_parquet
    calls = {"n": 0}

    class Interrupted(BaseException):
        pass

    def flaky(path, *a, **kw):
        calls["n"] += 1
        if "sub-03" in str(path):
            raise Interrupted()
        return real(path, *a, **kw)

    out = tmp_path / "hf"
    monkeypatch.setattr(conv, "_write_parquet", flaky)
    with pytest.raises(Interrupted):
        convert(mri_tree, out, max_workers=0)
    assert not (out / "nb-manifest.json").exists()
    done = sorted(p for p in out.rglob("*.parquet"))
    assert done and not any(p.name.startswith(".nb-tmp") for p in out.rglob("*"))
    stamps = {p: p.stat().st_mtime_ns for p in done}
    monkeypatch.setattr(conv, "_write_parquet", real)
    report = convert(mri_tree, out, resume=True, max_workers=0)
    assert report["resumed_units"] >= 2
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # finished shards kept
    Manifest.read(out).verify(out)
    assert _load(out, "mri", split="train").num_rows == report["configs"]["mri"]["train"]


def test_unreadable_eeg_is_reported(full_tree, copy_tree, tmp_path):
    root = copy_tree(full_tree, tmp_path / "ds")
    for p in root.rglob("*_eeg.vhdr"):
        p.write_text("this is not a BrainVision header\n")
    report = convert(root, tmp_path / "hf", max_workers=0)
    bad = [u for u in report["unreadable"] if u["path"].endswith(".vhdr")]
    assert bad and all("unreadable recording" in u["reason"] for u in bad)
    assert report["configs"]["eeg"]  # the EDF recording still converted
    assert (tmp_path / "hf" / "nb-manifest.json").exists()


def test_every_datatype_is_indexed_converted_and_exported(tmp_path):
    from nb_bids import index, index_report
    from nb_bids.testing import make_bids_tree

    root = make_bids_tree(tmp_path / "ds", n_subjects=2, eeg=False, derivatives=False, all_datatypes=True)
    rep = index_report(index(root, cache=False))
    assert rep["problems"] == []
    got = {k.split("/")[0] for k in rep["files_per_datatype_suffix"]}
    assert got >= {
        "anat",
        "func",
        "dwi",
        "fmap",
        "perf",
        "pet",
        "ieeg",
        "meg",
        "beh",
        "motion",
        "nirs",
        "micr",
        "emg",
    }
    report = convert(root, tmp_path / "hf", max_workers=0)
    reasons = {u["path"].split("/")[2]: u["reason"] for u in report["unreadable"]}
    assert reasons == {"meg": "0-byte file", "nirs": "0-byte file"}  # placeholders: reported, kept
    mri = _load(tmp_path / "hf", "mri", split="train")
    assert {"fmap", "perf", "pet", "anat", "func", "dwi"} <= set(mri["datatype"])
    pet = next(r for r in mri if r["datatype"] == "pet")
    assert pet["tracer"] == "FDG" and json.loads(pet["metadata"])["TracerName"] == "FDG"
    ieeg = _load(tmp_path / "hf", "eeg", split="train").with_format("numpy")[0]
    assert ieeg["datatype"] == "ieeg" and set(ieeg["ch_types"]) == {"seeg"} and ieeg["sfreq"] == 200.0
    export(tmp_path / "hf", tmp_path / "back")
    _same_tree(root, tmp_path / "back")


def test_split_from_a_column(mri_tree, tmp_path):
    from nb_bids import index

    groups = {r["subject"]: r["participant_group"] for r in index(mri_tree).to_pylist() if r["subject"]}
    report = convert(mri_tree, tmp_path / "hf", split_column="participant_group", max_workers=0)
    for name, subs in report["splits"].items():
        assert all(groups[s] == name for s in subs)
    assert sorted(s for v in report["splits"].values() for s in v) == sorted(groups)
    with pytest.raises(UserError, match="participant_"):
        convert(mri_tree, tmp_path / "x", split_column="group", max_workers=0)


def test_empty_descriptions_and_template_datasets(tmp_path):
    from nb_core.testing import write_nifti

    root = tmp_path / "tpl"
    write_nifti(root / "tpl-MNI152" / "tpl-MNI152_res-1_T1w.nii.gz", (6, 6, 4))
    (root / "tpl-MNI152" / "tpl-MNI152_res-1_T1w.json").write_text('{"Resolution": "1mm"}')
    (root / "dataset_description.json").write_bytes(b"")  # 0-byte, as in some example datasets
    (root / "derivatives" / "x").mkdir(parents=True)
    (root / "derivatives" / "x" / "dataset_description.json").write_bytes(b"")
    report = convert(root, tmp_path / "hf", derivatives=True, max_workers=0)
    assert report["unreadable"] == [] and report["configs"]["mri"] == {"train": 1}
    row = _load(tmp_path / "hf", "mri", split="train")[0]
    assert row["template"] == "MNI152" and row["resolution"] == "1" and row["nifti"].shape == (6, 6, 4)
    export(tmp_path / "hf", tmp_path / "back")
    _same_tree(root, tmp_path / "back")


def test_process_pool_gives_the_same_files_as_inline(mri_tree, tmp_path):
    convert(mri_tree, tmp_path / "a", max_workers=0)
    convert(mri_tree, tmp_path / "b", max_workers=2)
    fa = {(f.path, f.sha256) for f in Manifest.read(tmp_path / "a").files}
    fb = {(f.path, f.sha256) for f in Manifest.read(tmp_path / "b").files}
    assert fa == fb and len(fa) > 4


def test_resume_with_other_options_leaves_no_stale_shards(mri_tree, tmp_path, monkeypatch):
    import nb_bids.converter as conv

    out = tmp_path / "hf"
    convert(mri_tree, out, split="train=0.5,test=0.5", seed=1, max_workers=0)
    (out / "nb-manifest.json").unlink()  # as if interrupted before the manifest
    report = convert(mri_tree, out, resume=True, max_workers=0)  # now everything in train
    assert report["configs"]["mri"] == {"train": 15}  # 4 T1w, 8 bold, 3 dwi (sub-04 has none)
    assert not list((out / "data").rglob("test-*"))
    Manifest.read(out).verify(out)
    assert _load(out, "mri", split="train").num_rows == 15
    assert conv.REPORT_NAME in {f.path for f in Manifest.read(out).files}


def test_code_sourcedata_stimuli_are_carried_and_exported(mri_tree, copy_tree, tmp_path, capsys):
    src = copy_tree(mri_tree, tmp_path / "ds")
    (src / "code").mkdir()
    (src / "code" / "convert.py").write_text("print('dcm2niix')\n")
    dcm = src / "sourcedata" / "sub-01" / "dicom"
    dcm.mkdir(parents=True)
    (dcm / "IM0001.dcm").write_bytes(bytes(range(256)) * 4)
    (dcm / "notes without naming rules.txt").write_bytes(b"\xff\xfe not utf-8")
    (src / "sourcedata" / "README").write_text("raw data\n")
    (src / "stimuli").mkdir()
    (src / "stimuli" / "face01.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    out = tmp_path / "hf"
    report = convert(src, out, max_workers=0)
    assert report["carried"] == {"code": 1, "sourcedata": 3, "stimuli": 1}
    assert report["problems"] == []  # the free folders are not held to BIDS naming
    files = {f.path for f in Manifest.read(out).files}
    assert "data/files/train-_sourcedata-sub-01.parquet" in files  # a unit per first-level subfolder
    nb_bids.verify(out)
    export(out, tmp_path / "back")
    _same_tree(src, tmp_path / "back", derivatives=False)  # byte for byte, the free folders included
    # left out on request: reported, and the CLI warns
    from nb_core.cli import main

    assert main(["bids", "convert", str(src), str(tmp_path / "b"), "--workers", "0", "--carry", "code"]) == 0
    assert "warning: sourcedata/ is not carried" in capsys.readouterr().out
    rep = json.loads((tmp_path / "b" / "nb-bids-report.json").read_text())
    assert rep["carried"] == {"code": 1, "sourcedata": "not carried", "stimuli": "not carried"}
    with pytest.raises(UserError, match="cannot be carried"):
        convert(src, tmp_path / "c", carry=("derivatives",), max_workers=0)
