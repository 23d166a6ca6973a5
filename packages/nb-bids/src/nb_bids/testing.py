"""Realistic generated BIDS datasets for tests, examples and benchmarks.

:func:`make_bids_tree` writes a small but complete dataset: NIfTI anat/func/dwi (nibabel, with
``.bval``/``.bvec``), EEG written by ``mne_bids.write_raw_bids`` from
:func:`nb_core.testing.simulate_raw` (BrainVision and EDF), JSON sidecars at three inheritance
levels (dataset, session, file), ``participants.tsv``, ``sessions.tsv``, ``scans.tsv``,
``events.tsv``, a derivative pipeline (lesion masks) and one session with a missing modality.

Example:
    >>> import tempfile
    >>> root = make_bids_tree(tempfile.mkdtemp(), n_subjects=1, eeg=False)
    >>> sorted(p.name for p in (root / "sub-01" / "ses-01").iterdir())[:2]
    ['anat', 'dwi']
"""

from __future__ import annotations

import json
import os
import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["make_bids_tree", "make_flat_tree"]


def _json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _tsv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join("n/a" if v is None else str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_bids_tree(
    root: str | os.PathLike[str],
    *,
    n_subjects: int = 2,
    sessions: Sequence[str] | None = ("01",),
    anat: bool = True,
    func: bool = True,
    dwi: bool = True,
    eeg: bool = True,
    derivatives: bool = True,
    missing_modality: bool = True,
    eeg_formats: Sequence[str] = ("BrainVision", "EDF"),
    shape: tuple[int, int, int] = (8, 8, 6),
    n_volumes: int = 3,
    eeg_duration: float = 4.0,
    all_datatypes: bool = False,
    seed: int = 0,
) -> Path:
    """Write a BIDS dataset under ``root`` (created if needed); return ``root`` as a `Path`.

    Args:
        root: directory to write into.
        n_subjects: subjects ``sub-01``, ``sub-02``...
        sessions: session labels, or `None` for a dataset without sessions.
        anat, func, dwi, eeg: which datatypes to write (``T1w``; two ``bold`` runs with
            ``events.tsv``; ``dwi`` with ``.bval``/``.bvec``; EEG via mne-bids).
        derivatives: a ``derivatives/masks`` pipeline with one lesion mask per T1w.
        missing_modality: the last session of the last subject has no ``dwi`` (and no EEG).
        eeg_formats: mne-bids formats, cycled over subjects.
        shape: NIfTI volume shape; ``n_volumes`` time points for bold.
        eeg_duration: seconds of simulated EEG.
        all_datatypes: also give the first session of ``sub-01`` fmap, perf, pet (small NIfTI),
            ieeg (mne-bids, sEEG), beh, motion (TSV), and nirs, meg, micr, emg as the 0-byte
            or tiny placeholders that real example datasets ship.
        seed: everything derives from it.

    Example:
        >>> import tempfile
        >>> r = make_bids_tree(tempfile.mkdtemp(), n_subjects=1, sessions=None, eeg=False)
        >>> (r / "sub-01" / "anat" / "sub-01_T1w.nii.gz").is_file()
        True
    """
    from nb_core.testing import write_nifti

    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    subjects = [f"{i + 1:02d}" for i in range(n_subjects)]
    ses_list: list[str | None] = list(sessions) if sessions else [None]
    if eeg:
        _write_eeg(base, subjects, ses_list, eeg_formats, eeg_duration, seed, missing_modality)
    _json(
        base / "dataset_description.json",
        {
            "Name": "nb-bids generated dataset",
            "BIDSVersion": "1.10.0",
            "DatasetType": "raw",
            "License": "CC0-1.0",
            "Authors": ["Ada Lovelace", "Alan Turing"],
            "DatasetDOI": "doi:10.0000/nb-bids.example",
            "ReferencesAndLinks": ["https://bids.neuroimaging.io"],
        },
    )
    (base / "README").write_text("A generated BIDS dataset (nb_bids.testing.make_bids_tree).\n")
    _tsv(
        base / "participants.tsv",
        ["participant_id", "age", "sex", "group"],
        [
            [f"sub-{s}", 20 + rng.randrange(40), rng.choice("MF"), rng.choice(["control", "patient"])]
            for s in subjects
        ],
    )
    _json(
        base / "participants.json",
        {"age": {"Description": "age in years", "Units": "year"}, "group": {"Description": "study arm"}},
    )
    if func:
        _json(base / "task-rest_bold.json", {"RepetitionTime": 2.0, "TaskName": "rest", "EchoTime": 0.03})
    if dwi:
        _json(base / "dwi.json", {"PhaseEncodingDirection": "j-", "TotalReadoutTime": 0.05})
    k = 0
    for si, sub in enumerate(subjects):
        if sessions:
            _tsv(
                base / f"sub-{sub}" / f"sub-{sub}_sessions.tsv",
                ["session_id", "acq_time", "scanner"],
                [[f"ses-{s}", f"2020-01-{j + 1:02d}T10:00:00", "3T"] for j, s in enumerate(sessions)],
            )
        for ji, ses in enumerate(ses_list):
            k += 1
            last = missing_modality and si == n_subjects - 1 and ji == len(ses_list) - 1 and n_subjects > 1
            sdir = base / f"sub-{sub}" / (f"ses-{ses}" if ses else "")
            pre = f"sub-{sub}" + (f"_ses-{ses}" if ses else "")
            _write_session_mri(
                sdir,
                pre,
                ses,
                k,
                anat=anat,
                func=func,
                dwi=dwi and not last,
                shape=shape,
                n_volumes=n_volumes,
                seed=seed,
            )
            if derivatives and anat:
                ddir = base / "derivatives" / "masks" / f"sub-{sub}" / (f"ses-{ses}" if ses else "") / "anat"
                write_nifti(ddir / f"{pre}_space-orig_desc-lesion_mask.nii.gz", shape, dtype=np.uint8, seed=k)
                _json(ddir / f"{pre}_space-orig_desc-lesion_mask.json", {"Type": "Lesion"})
            if all_datatypes and si == 0 and ji == 0:
                _write_more_datatypes(base, sdir, pre, sub, ses, shape, seed, eeg_duration)
            _write_scans(sdir, pre, rng)
    if derivatives and anat:
        _json(
            base / "derivatives" / "masks" / "dataset_description.json",
            {
                "Name": "lesion masks",
                "BIDSVersion": "1.10.0",
                "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "manual"}],
            },
        )
    return base


def _write_session_mri(
    sdir: Path,
    pre: str,
    ses: str | None,
    k: int,
    *,
    anat: bool,
    func: bool,
    dwi: bool,
    shape: tuple[int, int, int],
    n_volumes: int,
    seed: int,
) -> None:
    """One session's T1w, two bold runs (events, session- and file-level sidecars) and dwi."""
    from nb_core.testing import write_nifti

    if anat:
        write_nifti(sdir / "anat" / f"{pre}_T1w.nii.gz", shape, seed=seed + k)
        _json(sdir / "anat" / f"{pre}_T1w.json", {"EchoTime": 0.0029, "FlipAngle": 9})
    if func:
        if ses:
            # session-level sidecar: overrides the dataset-level EchoTime
            _json(sdir / f"{pre}_task-rest_bold.json", {"EchoTime": 0.035})
        for run in (1, 2):
            p = sdir / "func" / f"{pre}_task-rest_run-{run}_bold.nii.gz"
            write_nifti(p, (*shape, n_volumes), seed=seed + 100 * k + run)
            _tsv(
                sdir / "func" / f"{pre}_task-rest_run-{run}_events.tsv",
                ["onset", "duration", "trial_type"],
                [[1.0, 0.5, "go"], [3.0, 0.5, "stop"]],
            )
        _json(sdir / "func" / f"{pre}_task-rest_run-1_bold.json", {"SliceTiming": [0.0, 0.5, 1.0]})
    if dwi:
        p = sdir / "dwi" / f"{pre}_dwi.nii.gz"
        write_nifti(p, (*shape, 4), seed=seed + 1000 + k)
        (sdir / "dwi" / f"{pre}_dwi.bval").write_text("0 1000 1000 1000\n")
        vec = np.round(np.random.default_rng(seed + k).normal(size=(3, 4)), 4)
        (sdir / "dwi" / f"{pre}_dwi.bvec").write_text(
            "\n".join(" ".join(str(v) for v in row) for row in vec) + "\n"
        )
        _json(sdir / "dwi" / f"{pre}_dwi.json", {"EchoTime": 0.08})


def _write_more_datatypes(
    base: Path,
    sdir: Path,
    pre: str,
    sub: str,
    ses: str | None,
    shape: tuple[int, int, int],
    seed: int,
    duration: float,
) -> None:
    from nb_core.testing import write_nifti

    write_nifti(sdir / "fmap" / f"{pre}_phasediff.nii.gz", shape, seed=seed + 7)
    write_nifti(sdir / "fmap" / f"{pre}_magnitude1.nii.gz", shape, seed=seed + 8)
    bold = f"bids::sub-{sub}/" + (f"ses-{ses}/" if ses else "") + f"func/{pre}_task-rest_run-1_bold.nii.gz"
    _json(
        sdir / "fmap" / f"{pre}_phasediff.json",
        {"EchoTime1": 0.004, "EchoTime2": 0.006, "IntendedFor": [bold]},
    )
    write_nifti(sdir / "perf" / f"{pre}_asl.nii.gz", (*shape, 4), seed=seed + 9)
    _json(sdir / "perf" / f"{pre}_asl.json", {"ArterialSpinLabelingType": "PCASL", "M0Type": "Estimate"})
    _tsv(sdir / "perf" / f"{pre}_aslcontext.tsv", ["volume_type"], [["control"], ["label"]] * 2)
    write_nifti(sdir / "pet" / f"{pre}_trc-FDG_pet.nii.gz", (*shape, 2), seed=seed + 10)
    _json(sdir / "pet" / f"{pre}_trc-FDG_pet.json", {"TracerName": "FDG", "FrameDuration": [60, 60]})
    _tsv(
        sdir / "pet" / f"{pre}_trc-FDG_recording-manual_blood.tsv",
        ["time", "plasma_radioactivity"],
        [[0, 1.5]],
    )
    _tsv(sdir / "beh" / f"{pre}_task-rest_beh.tsv", ["onset", "response"], [[0.5, "left"]])
    _json(sdir / "beh" / f"{pre}_task-rest_beh.json", {"TaskName": "rest"})
    _tsv(sdir / "motion" / f"{pre}_task-rest_tracksys-imu_motion.tsv", ["x", "y"], [[0.1, 0.2], [0.2, 0.3]])
    _tsv(sdir / "motion" / f"{pre}_task-rest_tracksys-imu_channels.tsv", ["name", "type"], [["x", "ACCEL"]])
    _json(sdir / "motion" / f"{pre}_task-rest_tracksys-imu_motion.json", {"SamplingFrequency": 100})
    for d, name in (
        ("nirs", f"{pre}_task-rest_nirs.snirf"),
        ("meg", f"{pre}_task-rest_meg.fif"),
        ("emg", f"{pre}_task-grip_emg.edf"),
    ):
        (sdir / d).mkdir(parents=True, exist_ok=True)
        (sdir / d / name).write_bytes(b"")  # 0-byte placeholders, as in the BIDS example datasets
    (sdir / "micr").mkdir(parents=True, exist_ok=True)
    (sdir / "micr" / f"{pre}_sample-A_BF.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    _json(sdir / "micr" / f"{pre}_sample-A_BF.json", {"PixelSize": [1, 1], "PixelSizeUnits": "um"})
    import mne_bids

    from nb_core.testing import simulate_raw

    raw = simulate_raw(n_channels=6, sfreq=200.0, duration=duration, seed=seed + 11, subject=sub)
    raw.set_montage(None)
    raw.set_channel_types({ch: "seeg" for ch in raw.ch_names})
    raw.info["line_freq"] = 50.0
    path = mne_bids.BIDSPath(subject=sub, session=ses, task="rest", run=1, datatype="ieeg", root=base)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dataset_description.json exists already: kept as is
        mne_bids.write_raw_bids(
            raw, path, format="BrainVision", allow_preload=True, overwrite=True, verbose=False
        )


def _write_scans(sdir: Path, pre: str, rng: random.Random) -> None:
    rows = []
    for d in sorted(p for p in sdir.iterdir() if p.is_dir()):
        for f in sorted(d.iterdir()):
            if f.name.endswith((".nii.gz", ".vhdr", ".edf")):
                rows.append([f"{d.name}/{f.name}", f"2020-01-01T10:{rng.randrange(60):02d}:00"])
    if rows:
        _tsv(sdir / f"{pre}_scans.tsv", ["filename", "acq_time"], rows)


def _write_eeg(
    base: Path,
    subjects: list[str],
    ses_list: list[str | None],
    formats: Sequence[str],
    duration: float,
    seed: int,
    missing_modality: bool,
) -> None:
    import mne_bids

    from nb_core.testing import simulate_raw

    for si, sub in enumerate(subjects):
        for ji, ses in enumerate(ses_list):
            if missing_modality and si == len(subjects) - 1 and ji == len(ses_list) - 1 and len(subjects) > 1:
                continue
            raw = simulate_raw(n_channels=8, sfreq=100.0, duration=duration, seed=seed + si, subject=sub)
            raw.info["line_freq"] = 50.0
            path = mne_bids.BIDSPath(subject=sub, session=ses, task="rest", run=1, datatype="eeg", root=base)
            mne_bids.write_raw_bids(
                raw,
                path,
                format=formats[si % len(formats)],
                allow_preload=True,
                overwrite=True,
                verbose=False,
            )


def make_flat_tree(root: str | os.PathLike[str], n_files: int, *, seed: int = 0) -> Path:
    """A large synthetic BIDS tree for benchmarks: ``n_files`` files (tiny data, real sidecars).

    Per subject and session: a T1w, four bold runs and a dwi, each with its JSON sidecar, plus
    events, sessions and scans TSVs and dataset-level sidecars. Data files are small placeholders
    (indexing does not read them).

    Example:
        >>> import tempfile
        >>> r = make_flat_tree(tempfile.mkdtemp(), 200)
        >>> sum(len(f) for _, _, f in os.walk(r)) >= 200
        True
    """
    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    _json(base / "dataset_description.json", {"Name": "bench", "BIDSVersion": "1.10.0"})
    _json(base / "task-rest_bold.json", {"RepetitionTime": 2.0, "TaskName": "rest"})
    per_session = 20
    n_sessions = max(1, n_files // per_session)
    subs = max(1, int(n_sessions**0.5))
    sess = max(1, -(-n_sessions // subs))
    rows = []
    for i in range(subs):
        sub = f"{i + 1:04d}"
        rows.append([f"sub-{sub}", 20 + (i + seed) % 50])
        for j in range(sess):
            ses = f"{j + 1:02d}"
            sdir = base / f"sub-{sub}" / f"ses-{ses}"
            pre = f"sub-{sub}_ses-{ses}"
            files: list[tuple[str, str]] = [("anat", f"{pre}_T1w"), ("dwi", f"{pre}_dwi")]
            files += [("func", f"{pre}_task-rest_run-{r}_bold") for r in range(1, 5)]
            for d in ("anat", "func", "dwi"):
                (sdir / d).mkdir(parents=True, exist_ok=True)
            scans = []
            for d, stem in files:
                (sdir / d / f"{stem}.nii.gz").write_bytes(b"\0" * 64)
                _json(sdir / d / f"{stem}.json", {"EchoTime": 0.03, "Seed": seed, "Stem": stem})
                scans.append([f"{d}/{stem}.nii.gz", "2020-01-01T10:00:00"])
                if d == "func":
                    _tsv(sdir / d / f"{stem[:-5]}_events.tsv", ["onset", "duration"], [[1.0, 0.5]])
            (sdir / "dwi" / f"{pre}_dwi.bval").write_text("0 1000\n")
            (sdir / "dwi" / f"{pre}_dwi.bvec").write_text("0 1\n0 0\n0 0\n")
            _tsv(sdir / f"{pre}_scans.tsv", ["filename", "acq_time"], scans)
        _tsv(
            base / f"sub-{sub}" / f"sub-{sub}_sessions.tsv",
            ["session_id"],
            [[f"ses-{j + 1:02d}"] for j in range(sess)],
        )
    _tsv(base / "participants.tsv", ["participant_id", "age"], rows)
    return base
