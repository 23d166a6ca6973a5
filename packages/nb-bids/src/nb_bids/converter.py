"""``nb_bids.convert``: a BIDS dataset → a Hugging Face dataset directory (Parquet, no script).

Output (``out_dir``)::

    data/mri/<split>-<sub>[_<ses>].parquet     NIfTI images as datasets.Nifti (bytes embedded)
    data/eeg/<split>-<sub>[_<ses>].parquet     EEG/MEG/iEEG read by mne-bids, float32 segments
    data/files/<split>-<sub>[_<ses>].parquet   every other file, as bytes (sidecars, TSVs, raw EEG)
    README.md                                  ``configs:`` so load_dataset(out_dir) needs no script
    nb-bids-report.json                        counts, missing modalities, unreadable files
    nb-manifest.json                           layout "hf", every file with its sha256 (last)

Work fans out per subject/session through :func:`nb_core.executor.get_executor`; each unit's
shards are written under temporary names and renamed; a ledger keeps finished units, so a
re-run with ``resume=True`` keeps them. Memory is bounded by one session.

Example:
    >>> import tempfile, pathlib
    >>> from nb_bids.testing import make_bids_tree
    >>> src = make_bids_tree(tempfile.mkdtemp(), n_subjects=2, eeg=False, derivatives=False)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "hf"
    >>> report = convert(src, out, max_workers=0)
    >>> report["n_subjects"], sorted(report["configs"])
    (2, ['files', 'mri'])
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from nb_bids.carry import CARRIED_DIRS, carried_files
from nb_bids.discovery import index, index_report
from nb_bids.eeg_out import check_target, emit_eeg
from nb_bids.readers import EEG_DATATYPES, EEG_EXTENSIONS, NIFTI_EXTENSIONS, check_nifti, dumps, read_eeg
from nb_core.atomic import atomic_path, atomic_write_bytes, dumps_json, remove_path
from nb_core.errors import CorruptDataError, NBError, OutputExistsError, UserError

__all__ = ["ExpectationError", "convert", "parse_split"]

REPORT_NAME = "nb-bids-report.json"
_LEDGER = ".nb-bids-ledger"
#: Rows per Parquet row group in the MRI config (keeps streaming reads bounded).
ROW_GROUP_ROWS = 8


class ExpectationError(NBError, ValueError):
    """The dataset's counts differ from the ones the user expects (``expect=``)."""


def parse_split(spec: str | Mapping[str, float] | None) -> dict[str, float]:
    """``"train=0.8,test=0.2"`` → ``{"train": 0.8, "test": 0.2}`` (fractions must sum to 1).

    Example:
        >>> parse_split("train=0.8,test=0.2")
        {'train': 0.8, 'test': 0.2}
    """
    if spec is None:
        return {"train": 1.0}
    if isinstance(spec, str):
        out: dict[str, float] = {}
        for part in spec.split(","):
            name, sep, frac = part.strip().partition("=")
            try:
                value = float(frac)
            except ValueError:
                value = -1.0
            if not sep or not re.fullmatch(r"\w+", name) or value < 0:
                raise UserError(f"split {part!r}: write NAME=FRACTION, e.g. train=0.8,test=0.2")
            out[name] = value
    else:
        out = {str(k): float(v) for k, v in spec.items()}
    if not out or abs(sum(out.values()) - 1.0) > 1e-6:
        raise UserError(f"split fractions must sum to 1; got {out}")
    return out


def _assign(subjects: list[str], fractions: dict[str, float], seed: int) -> dict[str, str]:
    subs = sorted(subjects)
    random.Random(seed).shuffle(subs)
    out: dict[str, str] = {}
    names = list(fractions)
    counts = [round(fractions[n] * len(subs)) for n in names]
    # make the counts add up, never leaving a split with a positive fraction empty if possible
    while sum(counts) > len(subs):
        counts[counts.index(max(counts))] -= 1
    while sum(counts) < len(subs):
        counts[names.index(max(names, key=lambda n: fractions[n]))] += 1
    for i, n in enumerate(names):
        if counts[i] == 0 and fractions[n] > 0 and max(counts) > 1:
            counts[counts.index(max(counts))] -= 1
            counts[i] = 1
    pos = 0
    for n, c in zip(names, counts):
        for s in subs[pos : pos + c]:
            out[s] = n
        pos += c
    return out


def _assign_from_column(
    rows: list[dict[str, Any]], subjects: list[str], column: str, columns: list[str]
) -> tuple[dict[str, str], dict[str, float]]:
    if column not in columns:
        raise UserError(
            f"split_column {column!r} is not a column of the index; columns from participants.tsv "
            f"are named participant_<name>: {[c for c in columns if c.startswith('participant_')]}"
        )
    found: dict[str, set[str]] = {}
    for r in rows:
        if r.get("subject") and not r.get("derivative") and r.get(column) is not None:
            found.setdefault(r["subject"], set()).add(str(r[column]))
    assign: dict[str, str] = {}
    for sub in subjects:
        vals = found.get(sub, set())
        if len(vals) != 1:
            raise UserError(
                f"split_column {column!r}: subject sub-{sub} has {sorted(vals) or 'no value'}; "
                "every subject needs exactly one split name"
            )
        (v,) = vals
        if not re.fullmatch(r"\w+", v):
            raise UserError(f"split_column {column!r}: {v!r} (sub-{sub}) is not a valid split name (\\w+)")
        assign[sub] = v
    names = sorted(set(assign.values()))
    return assign, {n: sum(1 for v in assign.values() if v == n) / max(1, len(assign)) for n in names}


def _features(kind: str, columns: dict[str, str]) -> Any:
    """A ``datasets.Features`` from column kinds (string/int/float/nifti/list kinds)."""
    from nb_core.validation import soft_import

    ds = soft_import("datasets", "Converting BIDS to a Hugging Face dataset", extra="nb-bids[datasets]")
    Features, List, Nifti, Value = ds.Features, ds.List, ds.Nifti, ds.Value

    def one(k: str) -> Any:
        return {
            "string": Value("string"),
            "int": Value("int64"),
            "float": Value("float64"),
            "binary": Value("binary"),
            "nifti": Nifti(),
            "nifti_list": List(Nifti()),
            "string_list": List(Value("string")),
            "signal": List(List(Value("float32"))),
        }[k]

    return Features({name: one(k) for name, k in columns.items()})


def _arrow(kind: str, values: list[Any]) -> pa.Array:
    if kind == "string":
        return pa.array(values, pa.string())
    if kind == "int":
        return pa.array(values, pa.int64())
    if kind == "float":
        return pa.array(values, pa.float64())
    if kind == "binary":
        return pa.array(values, pa.binary())
    nifti = pa.struct({"bytes": pa.binary(), "path": pa.string()})
    if kind == "nifti":
        return pa.array(values, nifti)
    if kind == "nifti_list":
        return pa.array(values, pa.list_(nifti))
    if kind == "string_list":
        return pa.array(values, pa.list_(pa.string()))
    if kind == "signal":
        import numpy as np

        outer_offsets = [0]
        inner_offsets = [0]
        flat = []
        for v in values:
            arr = np.asarray(v, dtype=np.float32)
            for ch in arr:
                flat.append(ch)
                inner_offsets.append(inner_offsets[-1] + ch.shape[0])
            outer_offsets.append(outer_offsets[-1] + arr.shape[0])
        vals = pa.array(np.concatenate(flat) if flat else np.zeros(0, np.float32), pa.float32())
        inner = pa.ListArray.from_arrays(pa.array(inner_offsets, pa.int32()), vals)
        return pa.ListArray.from_arrays(pa.array(outer_offsets, pa.int32()), inner)
    raise AssertionError(kind)


def _hf_metadata(kinds: dict[str, str]) -> dict[bytes, bytes]:
    """The Parquet schema metadata through which ``datasets`` knows the features (Nifti, lists)."""
    meta = _features("", kinds).arrow_schema.metadata
    return {bytes(k): bytes(v) for k, v in meta.items()}


def _write_parquet(
    path: Path,
    kinds: dict[str, str],
    rows: list[dict[str, Any]],
    rg: int,
    compression: str = "zstd",
    hf_meta: dict[bytes, bytes] | None = None,
) -> None:
    arrays = [_arrow(k, [r.get(c) for r in rows]) for c, k in kinds.items()]
    table = pa.Table.from_arrays(arrays, names=list(kinds))
    table = table.replace_schema_metadata(hf_meta if hf_meta is not None else _hf_metadata(kinds))
    with atomic_path(path, fsync=False) as tmp:
        pq.write_table(table, tmp, row_group_size=rg, compression=compression)


# -- planning ---------------------------------------------------------------------------------------


def _unit_of(row: Mapping[str, Any]) -> str:
    sub, ses = row.get("subject"), row.get("session")
    if not sub:
        return "_root"
    return f"sub-{sub}" + (f"_ses-{ses}" if ses else "")


def _is_nifti(row: Mapping[str, Any]) -> bool:
    return (row.get("extension") or "") in NIFTI_EXTENSIONS and row.get("suffix") is not None


def _is_eeg(row: Mapping[str, Any]) -> bool:
    return row.get("datatype") in EEG_DATATYPES and (row.get("extension") or "") in EEG_EXTENSIONS


def _key(row: Mapping[str, Any]) -> str:
    key = str(row["suffix"])
    if row.get("derivative"):
        desc = row.get("description")
        key = f"{row['derivative']}_{desc + '_' if desc else ''}{key}"
    return re.sub(r"\W", "_", key)


def _signature(rows: list[dict[str, Any]], options: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    for r in rows:
        h.update(f"{r['path']}\0{r['size']}\0{r.get('mtime', '')}\n".encode())
    return h.hexdigest()


def convert(
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    rows: str = "file",
    derivatives: bool = False,
    split: str | Mapping[str, float] | None = None,
    split_column: str | None = None,
    seed: int = 0,
    segment_seconds: float = 60.0,
    expect: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    strict: bool = False,
    overwrite: bool = False,
    resume: bool = False,
    max_workers: int | None = None,
    scheduler: str | None = None,
    name: str | None = None,
    to: str = "hf",
    format: str | None = None,
    carry: Sequence[str] = CARRIED_DIRS,
) -> dict[str, Any]:
    """Convert a BIDS dataset into a directory that ``datasets.load_dataset`` reads with no script.

    Args:
        root: the BIDS dataset (with ``dataset_description.json``).
        out_dir: the output directory (must not exist unless ``overwrite``/``resume``).
        rows: ``"file"`` (one MRI row per NIfTI, entities as columns) or ``"session"`` (one row
            per subject-session, one column per suffix, a list where a session has several).
        derivatives: also convert ``derivatives/*``; derivative NIfTIs are joined to their source
            (``source_path`` column in file rows, ``<pipeline>_<desc>_<suffix>`` columns in
            session rows).
        split: ``"train=0.8,test=0.2"`` (or a dict): subjects drawn into splits with ``seed``;
            a subject is never in two splits. Default: everything in ``train``.
        split_column: take each subject's split from this index column instead (e.g.
            ``participant_split`` from a ``split`` column of ``participants.tsv``); values must be
            word characters; a subject with two values, or none, is an error.
        seed: seed of the subject split.
        segment_seconds: EEG rows hold at most this many seconds (all channels).
        expect: counts that must hold (a dict or a JSON file): any of ``n_subjects``,
            ``n_sessions``, ``n_files``, ``files_per_datatype_suffix``; checked before writing.
        strict: fail on any naming problem or unreadable file instead of reporting it.
        overwrite: replace an existing ``out_dir``.
        resume: continue an interrupted conversion into ``out_dir``, keeping finished units.
        max_workers: local processes (0: inline); ``scheduler``: a Dask scheduler address.
        name: dataset name (default: ``Name`` of ``dataset_description.json``).
        to: where EEG/MEG/iEEG recordings go: ``"hf"`` (the ``eeg`` Parquet config),
            ``"shards"`` (an nb-shards artifact in ``eeg/``: one sample per segment, entities in
            its JSON; ``pip install "nb-bids[shards]"``) or ``"formats"`` (an nb-formats
            artifact per split in ``eeg/<split>/``: one recording per BIDS recording, entities
            in ``Recording.entities``; ``pip install "nb-bids[formats]"``).
        format: with ``to="formats"``: ``"hdf5"``, ``"zarr"`` or ``"parquet"``.
        carry: the top-level folders that BIDS leaves to the user (``code``, ``sourcedata``,
            ``stimuli``; also ``models``) kept file by file in the ``files`` config, so that
            ``export`` gives them back; default all three of the specification. The index does
            not look into them. A folder present but not carried is listed under
            ``carried[folder] = "not carried"`` in the report (and printed by the CLI).

    Returns:
        The validation report (also written as ``nb-bids-report.json``): counts of subjects,
        sessions and files per datatype/suffix, missing modalities per session, unreadable
        files with reasons, naming problems, rows per config and split.

    Example:
        >>> import tempfile, pathlib
        >>> from nb_bids.testing import make_bids_tree
        >>> src = make_bids_tree(
        ...     tempfile.mkdtemp(), n_subjects=1, sessions=None, eeg=False, func=False, dwi=False,
        ...     derivatives=False, missing_modality=False,
        ... )
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "hf"
        >>> report = convert(src, out, max_workers=0)
        >>> report["n_subjects"], report["configs"]["mri"]  # one T1w row
        (1, {'train': 1})

    Raises:
        OutputExistsError: ``out_dir`` exists and neither ``overwrite`` nor ``resume`` is set.
        ExpectationError: counts differ from ``expect``.
        CorruptDataError: ``strict`` and a file could not be read.
    """
    _check_options(rows, segment_seconds, split, split_column)
    check_target(to, format)
    fractions = parse_split(split)
    src = Path(root).absolute()
    out = Path(out_dir)
    table = index(src, derivatives=derivatives)
    rep = index_report(table)
    if strict and rep["problems"]:
        p = rep["problems"][0]
        raise CorruptDataError(
            f"{src / p['path']}: {p['problem']} ({len(rep['problems'])} problems; strict=True stops here; "
            "run without strict to convert and get them all in the report)"
        )
    _check_expect(expect, rep)
    # Missing optional dependencies fail here, before anything is written.
    from nb_core.validation import soft_import

    soft_import("datasets", "Converting BIDS to a Hugging Face dataset", extra="nb-bids[datasets]")
    eeg_types = {d for d in table["datatype"].to_pylist() if d in EEG_DATATYPES}
    if eeg_types:
        soft_import("mne_bids", "Reading EEG/MEG/iEEG recordings", extra="nb-bids[mne]")
    _prepare_out(out, overwrite=overwrite, resume=resume)
    all_rows = table.to_pylist()
    subjects = sorted({r["subject"] for r in all_rows if r.get("subject") and not r.get("derivative")})
    if split_column is not None:
        assign, fractions = _assign_from_column(all_rows, subjects, split_column, table.column_names)
    else:
        assign = _assign(subjects, fractions, seed)
    units: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(all_rows, key=lambda r: (r.get("derivative") is not None, r["path"])):
        units.setdefault(_unit_of(r), []).append(r)
    carried_units, carried = carried_files(src, carry)
    units.update(carried_units)
    options = {"rows": rows, "segment_seconds": segment_seconds, "derivatives": derivatives}
    tasks = _plan(table, src, out, units, assign, next(iter(fractions)), options)
    from nb_core.executor import get_executor

    with get_executor(scheduler=scheduler, max_workers=max_workers) as ex:
        futs = [ex.submit(_run_unit, t) for t in tasks]
        results = [f.result() for f in futs]
    report = _report(rep, results, units, fractions, assign)
    report["carried"] = carried
    if strict and report["unreadable"]:
        u = report["unreadable"][0]
        raise CorruptDataError(
            f"{src / u['path']}: {u['reason']} ({len(report['unreadable'])} unreadable files; strict=True)"
        )
    desc = _read_description(src)
    title = name or str(desc.get("Name") or src.name)
    extra_files: list[str] = []
    if to != "hf":
        ent_cols = tasks[0]["ent_cols"] if tasks else []
        emitted = emit_eeg(
            out, results, to=to, fmt=format, ent_cols=ent_cols, name=title, datatypes=eeg_types
        )
        extra_files = emitted.pop("files")
        report["eeg"] = emitted
        report["configs"].pop("eeg", None)
        for res in results:
            res["shards"] = [s for s in res["shards"] if not s.startswith("data/eeg/")]
    _finish(out, src, report, results, desc, title, {**options, "to": to, "format": format}, extra_files)
    return report


def _plan(
    table: pa.Table,
    src: Path,
    out: Path,
    units: dict[str, list[dict[str, Any]]],
    assign: dict[str, str],
    first_split: str,
    options: dict[str, Any],
) -> list[dict[str, Any]]:
    """One task per unit (subject or subject-session), with what its worker needs."""
    ent_cols = [
        c
        for c in table.column_names[1 : table.column_names.index("datatype")]
        if table[c].null_count < table.num_rows
    ]
    extra_cols = [c for c in table.column_names if c.startswith(("participant_", "session_", "scan_"))]
    session_kinds = _session_kinds(units) if options["rows"] == "session" else {}
    tasks = []
    for unit, urows in sorted(units.items()):
        sub = urows[0].get("subject")
        sp = assign.get(sub, first_split) if sub else first_split
        tasks.append(
            {
                "root": str(src),
                "out": str(out),
                "unit": unit,
                "split": sp,
                "rows": urows,
                "mode": options["rows"],
                "ent_cols": ent_cols,
                "extra_cols": extra_cols,
                "session_kinds": session_kinds,
                "segment_seconds": options["segment_seconds"],
                "signature": _signature(urows, {**options, "split": sp, "ents": ent_cols}),
            }
        )
    # Features are computed once here, so that workers never import `datasets`.
    if tasks:
        hf_meta = {
            "mri": _hf_metadata(_mri_kinds(tasks[0])),
            "eeg": _hf_metadata(_eeg_kinds(tasks[0])),
            "files": _hf_metadata(FILES_KINDS),
        }
        for t in tasks:
            t["hf_meta"] = hf_meta
    return tasks


def _check_options(rows: str, segment_seconds: float, split: Any, split_column: str | None) -> None:
    if rows not in ("file", "session"):
        raise UserError(f"rows must be 'file' or 'session'; got {rows!r}")
    if segment_seconds <= 0:
        raise UserError(f"segment_seconds must be positive; got {segment_seconds}")
    if split is not None and split_column is not None:
        raise UserError("give split= or split_column=, not both")


def _check_expect(expect: Any, rep: dict[str, Any]) -> None:
    if expect is None:
        return
    if not isinstance(expect, Mapping):
        p = Path(expect)
        try:
            expect = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UserError(f"{p}: cannot read the expected counts ({err}); give a JSON object") from None
        if not isinstance(expect, Mapping):
            raise UserError(f"{p}: expected counts must be a JSON object")
    diffs = []
    for k, v in expect.items():
        if k not in ("n_subjects", "n_sessions", "n_files", "files_per_datatype_suffix"):
            raise UserError(
                f"expected count {k!r} is unknown; use n_subjects, n_sessions, n_files, files_per_datatype_suffix"
            )
        got = rep[k]
        if isinstance(v, Mapping):
            for kk, vv in v.items():
                if got.get(kk, 0) != vv:
                    diffs.append(f"{k}[{kk}]: expected {vv}, found {got.get(kk, 0)}")
        elif got != v:
            diffs.append(f"{k}: expected {v}, found {got}")
    if diffs:
        raise ExpectationError(
            "the dataset's counts differ from the expected ones: "
            + "; ".join(diffs)
            + " (nothing was written)"
        )


def _prepare_out(out: Path, *, overwrite: bool, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a directory; choose another output path")
    if out.is_dir() and any(out.iterdir()):
        if (out / "nb-manifest.json").exists() and not overwrite:
            raise OutputExistsError(
                f"{out} already holds a converted dataset; pass overwrite=True (--overwrite)"
            )
        if overwrite:
            remove_path(out)
        elif not resume:
            raise OutputExistsError(
                f"{out} exists and is not empty (an interrupted conversion?); pass resume=True (--resume) to "
                "continue it or overwrite=True (--overwrite) to start again"
            )
    (out / _LEDGER).mkdir(parents=True, exist_ok=True)


def _read_description(src: Path) -> dict[str, Any]:
    try:
        d = json.loads((src / "dataset_description.json").read_bytes())
    except (OSError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def _session_kinds(units: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Session-layout MRI column → "nifti" or "nifti_list" (several in one session somewhere)."""
    count: dict[str, int] = {}
    for urows in units.values():
        local: dict[str, int] = {}
        for r in urows:
            if _is_nifti(r):
                local[_key(r)] = local.get(_key(r), 0) + 1
        for k, n in local.items():
            count[k] = max(count.get(k, 0), n)
    return {k: ("nifti_list" if n > 1 else "nifti") for k, n in sorted(count.items())}


# -- one unit (subject or subject-session) --------------------------------------------------------


def _resumed(out: Path, ledger: Path, signature: str) -> dict[str, Any] | None:
    """The ledger entry of a unit finished earlier with the same inputs and options, if any."""
    if not ledger.is_file():
        return None
    try:
        prev = json.loads(ledger.read_text(encoding="utf-8"))
        if prev.get("signature") == signature and all((out / s).is_file() for s in prev["shards"]):
            prev["resumed"] = True
            return dict(prev)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # an unreadable ledger entry: the unit is converted again
    return None


def _classify(
    root: Path, rows: list[dict[str, Any]], unreadable: list[dict[str, str]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The unit's readable NIfTI rows and its EEG/MEG/iEEG rows (bad NIfTIs go to ``unreadable``)."""
    nifti_rows: list[dict[str, Any]] = []
    eeg_rows: list[dict[str, Any]] = []
    for r in rows:
        if _is_nifti(r):
            why = check_nifti(root / r["path"])
            if why:
                unreadable.append({"path": r["path"], "reason": why})
            else:
                nifti_rows.append(r)
        elif _is_eeg(r):
            eeg_rows.append(r)
    return nifti_rows, eeg_rows


#: What mne / mne-bids raise on a bad or unsupported recording (they use many exception types).
_EEG_ERRORS = (
    ValueError,
    RuntimeError,
    OSError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    EOFError,
    ZeroDivisionError,
    OverflowError,
    struct.error,
    zlib.error,
    SystemExit,
)


def _eeg_segments(
    root: Path,
    eeg_rows: list[dict[str, Any]],
    by_path: dict[str, dict[str, Any]],
    t: dict[str, Any],
    unreadable: list[dict[str, str]],
) -> list[dict[str, Any]]:
    seg_rows: list[dict[str, Any]] = []
    for r in eeg_rows:
        if r["size"] == 0:
            unreadable.append({"path": r["path"], "reason": "0-byte file"})
            continue
        try:
            seg_rows.extend(_eeg_rows(root, r, by_path, t))
        except _EEG_ERRORS as err:
            unreadable.append(
                {"path": r["path"], "reason": f"unreadable recording: {type(err).__name__}: {err}"}
            )
    return seg_rows


def _file_rows(
    root: Path, rows: list[dict[str, Any]], embedded: set[str], unreadable: list[dict[str, str]], unit: str
) -> list[dict[str, Any]]:
    """Every file of the unit that is not embedded as an image, as bytes (directories file by file)."""
    file_rows: list[dict[str, Any]] = []
    for r in rows:
        if r["path"] in embedded:
            continue
        p = root / r["path"]
        try:
            if p.is_dir():
                for f in sorted(p.rglob("*")):
                    if f.is_file():
                        file_rows.append({"path": f.relative_to(root).as_posix(), "data": f.read_bytes()})
                continue
            file_rows.append({"path": r["path"], "data": p.read_bytes()})
        except OSError as err:
            unreadable.append({"path": r["path"], "reason": f"cannot read: {err.strerror}"})
    for fr in file_rows:
        fr["size"] = len(fr["data"])
        fr["unit"] = unit
    return file_rows


def _run_unit(t: dict[str, Any]) -> dict[str, Any]:
    out = Path(t["out"])
    ledger = out / _LEDGER / f"{t['unit']}.json"
    prev = _resumed(out, ledger, t["signature"])
    if prev is not None:
        return prev
    root = Path(t["root"])
    rows: list[dict[str, Any]] = t["rows"]
    unreadable: list[dict[str, str]] = []
    by_path = {r["path"]: r for r in rows}
    nifti_rows, eeg_rows = _classify(root, rows, unreadable)
    shards: list[str] = []
    counts: dict[str, int] = {}
    unit, sp = t["unit"], t["split"]
    if nifti_rows:
        if t["mode"] == "file":
            mri_rows, kinds = _mri_file_rows(root, nifti_rows, by_path, t)
        else:
            mri_rows, kinds = _mri_session_rows(root, nifti_rows, rows, t)
        rel = f"data/mri/{sp}-{unit}.parquet"
        # NIfTI bytes are stored as they are (.nii.gz is compressed already): no Parquet compression
        _write_parquet(
            out / rel, kinds, mri_rows, ROW_GROUP_ROWS, compression="none", hf_meta=t["hf_meta"]["mri"]
        )
        shards.append(rel)
        counts["mri"] = len(mri_rows)
    seg_rows = _eeg_segments(root, eeg_rows, by_path, t, unreadable)
    if seg_rows:
        rel = f"data/eeg/{sp}-{unit}.parquet"
        _write_parquet(out / rel, _eeg_kinds(t), seg_rows, 1, hf_meta=t["hf_meta"]["eeg"])
        shards.append(rel)
        counts["eeg"] = len(seg_rows)
    file_rows = _file_rows(root, rows, {r["path"] for r in nifti_rows}, unreadable, unit)
    if file_rows:
        rel = f"data/files/{sp}-{unit}.parquet"
        _write_parquet(out / rel, FILES_KINDS, file_rows, 64, hf_meta=t["hf_meta"]["files"])
        shards.append(rel)
        counts["files"] = len(file_rows)
    result = {
        "unit": unit,
        "split": sp,
        "signature": t["signature"],
        "shards": shards,
        "counts": counts,
        "unreadable": unreadable,
        "recordings": [
            {"id": r["path"], "entities": {k: r[k] for k in t["ent_cols"] if r.get(k)}} for r in eeg_rows
        ],
    }
    atomic_write_bytes(ledger, dumps_json(result).encode(), overwrite=True)
    return result


FILES_KINDS = {"path": "string", "unit": "string", "size": "int", "data": "binary"}


def _mri_kinds(t: dict[str, Any]) -> dict[str, str]:
    """Columns of the ``mri`` config (the same in every shard of a conversion)."""
    if t["mode"] == "session":
        kinds = {"unit": "string", "subject": "string", "session": "string"}
        kinds.update({c: "string" for c in t["extra_cols"] if not c.startswith("scan_")})
        for k, kind in t["session_kinds"].items():
            kinds[k] = kind
            kinds[f"{k}_path"] = "string_list" if kind == "nifti_list" else "string"
            kinds[f"{k}_metadata"] = "string_list" if kind == "nifti_list" else "string"
        return kinds
    kinds = _base_cols(t)
    kinds.update(
        {
            "nifti": "nifti",
            "metadata": "string",
            "bval": "string",
            "bvec": "string",
            "events": "string",
            "source_path": "string",
        }
    )
    kinds.update({c: "string" for c in t["extra_cols"]})
    return kinds


def _base_cols(t: dict[str, Any]) -> dict[str, str]:
    kinds = {"path": "string"}
    kinds.update({c: "string" for c in t["ent_cols"]})
    kinds.update({"datatype": "string", "suffix": "string", "extension": "string", "derivative": "string"})
    return kinds


def _sibling(by_path: dict[str, dict[str, Any]], path: str, old_ext: str, new: str) -> str | None:
    cand = path[: -len(old_ext)] + new
    return cand if cand in by_path else None


def _text(root: Path, rel: str | None) -> str | None:
    if rel is None:
        return None
    return (root / rel).read_bytes().decode("utf-8", errors="replace")


def _mri_file_rows(
    root: Path, nrows: list[dict[str, Any]], by_path: dict[str, dict[str, Any]], t: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    kinds = _mri_kinds(t)
    raw = [r for r in nrows if not r.get("derivative")]
    out = []
    for r in nrows:
        ext = r["extension"]
        row = {k: r.get(k) for k in kinds if k in r}
        row["nifti"] = {"bytes": (root / r["path"]).read_bytes(), "path": r["path"]}
        row["bval"] = _text(root, _sibling(by_path, r["path"], ext, ".bval"))
        row["bvec"] = _text(root, _sibling(by_path, r["path"], ext, ".bvec"))
        ev = _events_path(by_path, r)
        row["events"] = dumps(_tsv_rows(root, ev)) if ev else None
        row["source_path"] = _source(r, raw) if r.get("derivative") else None
        out.append(row)
    return out, kinds


def _events_path(by_path: dict[str, dict[str, Any]], r: dict[str, Any]) -> str | None:
    stem = r["path"][: -len(r["extension"])]
    cand = stem[: -len(r["suffix"])] + "events.tsv"
    return cand if cand in by_path else None


def _tsv_rows(root: Path, rel: str) -> list[dict[str, Any]]:
    from nb_bids.discovery import read_tsv

    return read_tsv(root / rel)


_DERIV_ONLY = {
    "space",
    "description",
    "resolution",
    "density",
    "label",
    "segmentation",
    "hemisphere",
    "atlas",
}


def _source(d: dict[str, Any], raw: list[dict[str, Any]]) -> str | None:
    """The raw file a derivative comes from: same datatype, its entities within the derivative's."""
    from nb_bids.bidsschema import bids_schema

    names = [n for n in bids_schema().entity_names if n not in _DERIV_ONLY]
    dents = {n: d.get(n) for n in names if d.get(n)}
    best = None
    for r in raw:
        if r.get("datatype") != d.get("datatype"):
            continue
        rents = {n: r.get(n) for n in names if r.get(n)}
        if rents.items() <= dents.items() and (best is None or len(rents) > best[0]):
            best = (len(rents), r["path"])
    return best[1] if best else None


def _mri_session_rows(
    root: Path, nrows: list[dict[str, Any]], rows: list[dict[str, Any]], t: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    kinds = _mri_kinds(t)
    first = nrows[0]
    row: dict[str, Any] = {
        "unit": t["unit"],
        "subject": first.get("subject"),
        "session": first.get("session"),
    }
    for c in t["extra_cols"]:
        if not c.startswith("scan_"):
            row[c] = next((r.get(c) for r in rows if r.get(c) is not None), None)
    for r in sorted(nrows, key=lambda r: r["path"]):
        k = _key(r)
        img = {"bytes": (root / r["path"]).read_bytes(), "path": r["path"]}
        if t["session_kinds"][k] == "nifti_list":
            row.setdefault(k, []).append(img)
            row.setdefault(f"{k}_path", []).append(r["path"])
            row.setdefault(f"{k}_metadata", []).append(r.get("metadata"))
        else:
            row[k], row[f"{k}_path"], row[f"{k}_metadata"] = img, r["path"], r.get("metadata")
    return [row], kinds


def _eeg_kinds(t: dict[str, Any]) -> dict[str, str]:
    kinds = _base_cols(t)
    kinds.update(
        {
            "segment": "int",
            "start_sample": "int",
            "n_times": "int",
            "sfreq": "float",
            "signal": "signal",
            "ch_names": "string_list",
            "ch_types": "string_list",
            "units": "string_list",
            "events": "string",
            "channels_tsv": "string",
            "events_tsv": "string",
            "electrodes_tsv": "string",
            "metadata": "string",
        }
    )
    kinds.update({c: "string" for c in t["extra_cols"]})
    return kinds


def _eeg_rows(
    root: Path, r: dict[str, Any], by_path: dict[str, dict[str, Any]], t: dict[str, Any]
) -> list[dict[str, Any]]:
    droot = root / "derivatives" / r["derivative"] if r.get("derivative") else root
    rel = r["path"][len(f"derivatives/{r['derivative']}/") :] if r.get("derivative") else r["path"]
    rec = read_eeg(droot, rel.rstrip("/"))
    stem = r["path"][: -len(r["extension"])]
    base_stem = stem[: -len(r["suffix"])]
    chan = base_stem + "channels.tsv"
    ev = base_stem + "events.tsv"
    d = r["path"].rsplit("/", 1)[0]
    elec = next((p for p in sorted(by_path) if p.startswith(d + "/") and p.endswith("_electrodes.tsv")), None)
    common = {k: r.get(k) for k in _base_cols(t)}
    common.update({c: r.get(c) for c in t["extra_cols"]})
    common.update(
        {
            "sfreq": rec["sfreq"],
            "ch_names": rec["ch_names"],
            "ch_types": rec["ch_types"],
            "units": rec["units"],
            "events": dumps(rec["events"]),
            "channels_tsv": dumps(_tsv_rows(root, chan)) if chan in by_path else None,
            "events_tsv": dumps(_tsv_rows(root, ev)) if ev in by_path else None,
            "electrodes_tsv": dumps(_tsv_rows(root, elec)) if elec else None,
            "metadata": r.get("metadata"),
        }
    )
    data = rec["data"]
    step = max(1, round(t["segment_seconds"] * rec["sfreq"]))
    out = []
    for i, start in enumerate(range(0, max(1, data.shape[1]), step)):
        seg = data[:, start : start + step]
        out.append({**common, "segment": i, "start_sample": start, "n_times": seg.shape[1], "signal": seg})
    return out


# -- finishing ---------------------------------------------------------------------------------------


def _report(
    rep: dict[str, Any],
    results: list[dict[str, Any]],
    units: dict[str, list[dict[str, Any]]],
    fractions: dict[str, float],
    assign: dict[str, str],
) -> dict[str, Any]:
    per_unit: dict[str, set[str]] = {}
    all_dt: set[str] = set()
    for unit, urows in units.items():
        if unit == "_root":
            continue
        dts = {r["datatype"] for r in urows if r.get("datatype") and not r.get("derivative")}
        if dts:
            per_unit[unit] = dts
            all_dt |= dts
    missing = {u: sorted(all_dt - d) for u, d in sorted(per_unit.items()) if all_dt - d}
    rows_per: dict[str, dict[str, int]] = {}
    for res in results:
        for cfg, n in res["counts"].items():
            rows_per.setdefault(cfg, {}).setdefault(res["split"], 0)
            rows_per[cfg][res["split"]] += n
    return {
        "n_subjects": rep["n_subjects"],
        "n_sessions": rep["n_sessions"],
        "n_files": rep["n_files"],
        "bids_version": rep["bids_version"],
        "files_per_datatype_suffix": rep["files_per_datatype_suffix"],
        "missing_datatypes": missing,
        "unreadable": sorted((u for r in results for u in r["unreadable"]), key=lambda u: u["path"]),
        "problems": rep["problems"],
        "splits": {s: sorted(k for k, v in assign.items() if v == s) for s in fractions},
        "configs": rows_per,
        "resumed_units": sum(1 for r in results if r.get("resumed")),
    }


def hf_configs(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The README ``configs:`` list for a conversion report (default: mri, else eeg)."""
    configs = []
    names = [c for c in ("mri", "eeg", "files") if c in report["configs"]]
    for i, cfg in enumerate(names):
        entry: dict[str, Any] = {
            "config_name": cfg,
            "data_files": [
                {"split": sp, "path": f"data/{cfg}/{sp}-*.parquet"} for sp in sorted(report["configs"][cfg])
            ],
        }
        if i == 0:
            entry["default"] = True
        configs.append(entry)
    return configs


def _finish(
    out: Path,
    src: Path,
    report: dict[str, Any],
    results: list[dict[str, Any]],
    desc: dict[str, Any],
    title: str,
    options: dict[str, Any],
    extra_files: list[str],
) -> None:
    """Write the report and the card, drop what this run did not write, write the manifest last."""
    from nb_bids import __version__
    from nb_core.checksums import sha256_file
    from nb_core.manifest import FileEntry, Manifest, RecordingEntry

    configs = hf_configs(report)
    atomic_write_bytes(out / REPORT_NAME, dumps_json(report).encode("utf-8"))
    _write_card(out, report, desc, title, configs)
    lic = desc.get("License")
    m = Manifest(
        name=title,
        layout="hf",
        writer={"package": "nb-bids", "version": __version__},
        recordings=[
            RecordingEntry(id=r["id"], entities=r["entities"]) for res in results for r in res["recordings"]
        ],
        splits=dict(report["configs"].get(configs[0]["config_name"], {})) if configs else {},
        provenance={"source": str(src), "bids_version": report["bids_version"], "options": options},
        license=_spdx(lic) if isinstance(lic, str) and lic else None,
        citation=str(desc["DatasetDOI"]) if desc.get("DatasetDOI") else None,
        description=_card_text(title, desc, report),
        extra={"hf_configs": configs, "nb_bids": {"rows": options["rows"], "dataset_description": desc}},
    )
    for rel in [*(rel for res in results for rel in res["shards"]), *extra_files]:
        m.add_entry(FileEntry(rel, (out / rel).stat().st_size, sha256_file(out / rel)))
    m.add_file(out, REPORT_NAME)
    # A resumed conversion whose options changed leaves shards of the old plan: they would still
    # match the card's globs, so everything under data/ that this conversion did not write goes
    # (with to="shards"/"formats" also the EEG Parquet segments, now in eeg/).
    written = {rel for res in results for rel in res["shards"]}
    for p in sorted((out / "data").rglob("*"), reverse=True) if (out / "data").is_dir() else []:
        rel = p.relative_to(out).as_posix()
        if p.is_file() and rel not in written:
            p.unlink()
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    if options.get("to", "hf") == "hf":
        remove_path(out / "eeg")  # EEG of an earlier, resumed attempt with another target
    remove_path(out / _LEDGER)
    m.write(out)


def _write_card(
    out: Path, report: dict[str, Any], desc: dict[str, Any], title: str, configs: list[dict[str, Any]]
) -> None:
    import yaml

    from nb_bids import __version__

    card: dict[str, Any] = {"configs": configs}
    lic = desc.get("License")
    if isinstance(lic, str) and lic:
        card = {"license": _spdx(lic), **card}
    body = [
        "---",
        yaml.safe_dump(card, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {title}",
        "",
        f"Converted from BIDS {report['bids_version']} by nb-bids {__version__}: "
        f"{report['n_subjects']} subjects, {report['n_sessions']} sessions, {report['n_files']} files.",
        "",
    ]
    authors = desc.get("Authors")
    if isinstance(authors, list) and authors:
        body += ["Authors: " + ", ".join(str(a) for a in authors), ""]
    if desc.get("DatasetDOI"):
        body += [f"DOI: {desc['DatasetDOI']}", ""]
    body += ["| datatype/suffix | files |", "|---|---|"]
    body += [f"| {k} | {v} |" for k, v in report["files_per_datatype_suffix"].items()]
    atomic_write_bytes(out / "README.md", ("\n".join(body) + "\n").encode("utf-8"))


def _card_text(title: str, desc: dict[str, Any], report: dict[str, Any]) -> str:
    """What the Hub card says about the dataset: dataset_description.json fields and counts."""
    lines = [
        f'BIDS dataset "{title}" (BIDS {desc.get("BIDSVersion", "?")}), converted by nb-bids: '
        f"{report['n_subjects']} subjects, {report['n_sessions']} sessions, {report['n_files']} files.",
        "",
    ]
    for key, label in (
        ("Authors", "Authors"),
        ("License", "License"),
        ("DatasetDOI", "DOI"),
        ("HowToAcknowledge", "How to acknowledge"),
        ("Funding", "Funding"),
        ("ReferencesAndLinks", "References"),
    ):
        v = desc.get(key)
        if isinstance(v, list) and v:
            lines.append(f"- {label}: " + "; ".join(str(x) for x in v))
        elif isinstance(v, str) and v:
            lines.append(f"- {label}: {v}")
    lines += ["", "| datatype/suffix | files |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report["files_per_datatype_suffix"].items()]
    if report["missing_datatypes"]:
        lines += [
            "",
            "Sessions with missing datatypes: "
            + "; ".join(f"{u} ({', '.join(d)})" for u, d in report["missing_datatypes"].items()),
        ]
    return "\n".join(lines)


def _spdx(lic: str) -> str:
    low = lic.strip().lower()
    known = {"cc0": "cc0-1.0", "cc0-1.0": "cc0-1.0", "pddl": "pddl", "cc-by-4.0": "cc-by-4.0"}
    return known.get(low, low if re.fullmatch(r"[a-z0-9.\-]+", low) else "other")
