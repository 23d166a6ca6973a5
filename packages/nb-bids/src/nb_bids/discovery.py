"""``nb_bids.index``: one row per file of a BIDS dataset, with entities and inherited metadata.

The scan runs in threads (one task per top-level directory); entity names, order and value
formats come from the official BIDS schema (:mod:`nb_bids.bidsschema`). Every JSON sidecar that
applies to a file by the BIDS inheritance principle (same suffix, entities a subset of the file's,
in the file's directory or above) is merged from the top level down, the more specific file
winning. ``participants.tsv``, ``sessions.tsv`` and ``scans.tsv`` are joined as
``participant_*``, ``session_*`` and ``scan_*`` columns.

Nothing is fatal but a missing root: names that break BIDS, unknown suffixes or datatypes,
invalid JSON, non-UTF-8 TSV, conflicting sidecars, broken links and symlink loops are indexed
(where they are files) and reported in the ``problems`` column and in :func:`index_report`.

Example:
    >>> from nb_bids.testing import make_bids_tree
    >>> import tempfile
    >>> root = make_bids_tree(tempfile.mkdtemp(), n_subjects=2, eeg=False)
    >>> t = index(root, cache=False)
    >>> row = [r for r in t.to_pylist() if r["suffix"] == "bold" and r["extension"] == ".nii.gz"][0]
    >>> row["subject"], row["task"], json.loads(row["metadata"])["RepetitionTime"]
    ('01', 'rest', 2.0)
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import hashlib
import itertools
import json
import os
import re
import stat as stat_mod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq

from nb_bids.bidsschema import bids_schema
from nb_core.atomic import atomic_path
from nb_core.errors import NBError, UserError
from nb_core.gcpause import gc_paused

__all__ = [
    "NotBidsDatasetError",
    "index",
    "index_report",
    "parse_name",
    "read_tsv",
]

#: Top-level directories the scan skips (the BIDS ``.bidsignore``-style defaults of pybids).
SKIP_DIRS = frozenset({"code", "sourcedata", "stimuli", "models", "derivatives"})
#: Top-level files that are BIDS files without entities.
TOP_LEVEL_FILES = frozenset(
    {
        "dataset_description.json",
        "README",
        "README.md",
        "README.rst",
        "README.txt",
        "CHANGES",
        "LICENSE",
        "CITATION.cff",
        "participants.tsv",
        "participants.json",
        "samples.tsv",
        "samples.json",
        "genetic_info.json",
        ".bidsignore",
    }
)
_REPORT_KEY = b"nb_bids.report"
_CACHE_VERSION = "1"


class NotBidsDatasetError(NBError, FileNotFoundError):
    """The directory is not a BIDS dataset (missing, or no ``dataset_description.json``)."""


@dataclass(slots=True)
class _Entry:
    rel: str  # POSIX path relative to the dataset root
    size: int
    mtime_ns: int
    derivative: str | None = None
    is_dir: bool = False


@dataclass
class _Scan:
    entries: list[_Entry] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)


# -- names ------------------------------------------------------------------------------------------


_VALID: set[tuple[str, str]] = set()  # (key, value) pairs already checked against the schema


def parse_name(name: str) -> tuple[dict[str, str], str | None, str, list[str]]:
    """Split a BIDS file name into entities (short keys), suffix, extension and problems.

    Unknown entity keys are kept (and reported); nothing raises.

    Example:
        >>> parse_name("sub-01_ses-1_task-rest_run-2_bold.nii.gz")
        ({'sub': '01', 'ses': '1', 'task': 'rest', 'run': '2'}, 'bold', '.nii.gz', [])
        >>> parse_name("sub-01_foo-x_T1w.nii")[3]
        ["unknown entity 'foo'"]
    """
    # Names repeat across subjects and sessions: the part after sub-X[_ses-Y] is parsed once,
    # and each sub-X[_ses-Y] prefix is checked once.
    if name[:4] == "sub-":
        head, sep, rest = name.partition("_")
        ses = None
        if sep and rest[:4] == "ses-":
            ses, sep, rest = rest.partition("_")
        if sep and "-" not in rest.partition(".")[0].rpartition("_")[2] and not _EARLY.search(rest):
            ents, suffix, ext, probs = _parse_rest(rest)
            out, head_probs = _parse_head(head, ses)
            out = {**out, **ents}
            return out, suffix, ext, [*head_probs, *probs]
    return _parse_full(name)


@functools.lru_cache(maxsize=65536)
def _parse_head(head: str, ses: str | None) -> tuple[dict[str, str], tuple[str, ...]]:
    out = {"sub": head[4:]}
    if ses is not None:
        out["ses"] = ses[4:]
    problems = []
    patterns = bids_schema().patterns
    for k, v in out.items():
        if not v or not patterns[k].fullmatch(v):
            problems.append(f"entity {k}-{v}: value does not match the BIDS format")
    return out, tuple(problems)


_EARLY = re.compile(r"(^|_)(sub|ses|tpl)-")


@functools.lru_cache(maxsize=65536)
def _parse_rest(rest: str) -> tuple[dict[str, str], str | None, str, tuple[str, ...]]:
    ents, suffix, ext, probs = _parse_full(rest)
    return ents, suffix, ext, tuple(probs)


def _parse_full(name: str) -> tuple[dict[str, str], str | None, str, list[str]]:
    """Parse a whole name (see :func:`parse_name`)."""
    s = bids_schema()
    stem, dot, rest = name.partition(".")
    ext = "." + rest if dot else ""
    parts = stem.split("_")
    problems: list[str] = []
    suffix: str | None = parts.pop()
    if not suffix or "-" in suffix:
        # e.g. "sub-01" alone: no suffix.
        parts.append(suffix or "")
        suffix = None
        problems.append("no suffix (BIDS names end with _<suffix>.<extension>)")
    ents: dict[str, str] = {}
    last_pos = -1
    positions = s.positions
    for part in parts:
        key, sep, value = part.partition("-")
        if key in ents or not sep or not key or not value:
            problems.append(
                f"entity {key!r} repeated" if key in ents else f"{part!r} is not a key-value entity"
            )
            continue
        ents[key] = value
        pos = positions.get(key)
        if pos is None:
            problems.append(f"unknown entity {key!r}")
            continue
        if (key, value) not in _VALID:
            pattern = s.patterns[key]
            if not pattern.fullmatch(value):
                problems.append(
                    f"entity {key}-{value}: value does not match the BIDS format {pattern.pattern!r}"
                )
            elif len(_VALID) < 1_000_000:
                _VALID.add((key, value))
        if pos < last_pos:
            problems.append(f"entity {key!r} out of the BIDS order")
        else:
            last_pos = pos
    return ents, suffix, ext, problems


# -- scanning ---------------------------------------------------------------------------------------


def _walk(
    directory: str,
    rel: str,
    out: _Scan,
    derivative: str | None,
    ancestors: frozenset[tuple[int, int]],
) -> None:
    try:
        it = os.scandir(directory)
    except OSError as err:
        out.problems.append({"path": rel or ".", "problem": f"cannot list directory: {err.strerror}"})
        return
    with it:
        entries = sorted(it, key=lambda e: e.name)  # problems in a stable order
    for e in entries:
        name = e.name
        if name.startswith("."):
            continue
        r = f"{rel}/{name}" if rel else name
        try:
            st = e.stat()  # follows links
        except OSError as err:
            out.problems.append({"path": r, "problem": f"cannot stat (broken link?): {err.strerror}"})
            continue
        if stat_mod.S_ISDIR(st.st_mode):
            if _is_dir_data(name):
                out.entries.append(
                    _Entry(r, _dir_size(e.path), st.st_mtime_ns, derivative=derivative, is_dir=True)
                )
                continue
            key = (st.st_dev, st.st_ino)
            if key in ancestors:
                out.problems.append({"path": r, "problem": "symlink loop (directory links to its ancestor)"})
                continue
            _walk(e.path, r, out, derivative, ancestors | {key})
        elif stat_mod.S_ISREG(st.st_mode):
            out.entries.append(_Entry(r, st.st_size, st.st_mtime_ns, derivative=derivative))


def _is_dir_data(name: str) -> bool:
    stem, dot, rest = name.partition(".")
    return bool(dot) and "_" in stem and ("." + rest + "/") in bids_schema().extensions


def _dir_size(path: str) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(dirpath, f)).st_size
    return total


def _scan_top(
    directory: Path, rel: str, derivative: str | None, out: _Scan, jobs: list[tuple[str, str, str | None]]
) -> None:
    """The files of a dataset root into ``out``; its subdirectories (but the skipped ones) into ``jobs``."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as err:
        out.problems.append({"path": rel or ".", "problem": f"cannot list directory: {err.strerror}"})
        return
    for e in entries:
        if e.name.startswith("."):
            continue
        r = f"{rel}/{e.name}" if rel else e.name
        try:
            st = e.stat()
        except OSError as err:
            out.problems.append({"path": r, "problem": f"cannot stat (broken link?): {err.strerror}"})
            continue
        if stat_mod.S_ISDIR(st.st_mode):
            if e.name not in SKIP_DIRS:
                jobs.append((e.path, r, derivative))
        elif stat_mod.S_ISREG(st.st_mode):
            out.entries.append(_Entry(r, st.st_size, st.st_mtime_ns, derivative=derivative))


def _default_scan_workers() -> int:
    """Scanning threads: one (no pool) on a machine with two CPUs or fewer, where threads only add
    hand-offs of the interpreter lock; else four per CPU (stat calls release the lock)."""
    n = os.cpu_count() or 1
    return 1 if n <= 2 else min(32, n * 4)


def _scan(
    root: Path, *, derivatives: bool, max_workers: int | None
) -> tuple[_Scan, list[tuple[str, str | None]]]:
    """Scan ``root``; return the entries and the dataset roots ``[(rel_prefix, derivative_name)]``."""
    out = _Scan()
    roots: list[tuple[str, str | None]] = [("", None)]
    jobs: list[tuple[str, str, str | None]] = []  # (abs dir, rel, derivative)
    _scan_top(root, "", None, out, jobs)
    if derivatives and (root / "derivatives").is_dir():
        for d in sorted(os.scandir(root / "derivatives"), key=lambda e: e.name):
            if d.name.startswith(".") or not d.is_dir():
                continue
            rel = f"derivatives/{d.name}"
            roots.append((rel, d.name))
            _scan_top(Path(d.path), rel, d.name, out, jobs)
    parts: list[_Scan] = []
    workers = max_workers if max_workers is not None else _default_scan_workers()
    with contextlib.ExitStack() as stack:
        ex = stack.enter_context(cf.ThreadPoolExecutor(max_workers=workers)) if workers > 1 else None
        futs = []
        for path, rel, der in jobs:
            sub = _Scan()
            parts.append(sub)
            st = os.stat(path)
            args = (path, rel, sub, der, frozenset({(st.st_dev, st.st_ino)}))
            if ex is None:
                _walk(*args)
            else:
                futs.append(ex.submit(_walk, *args))
        for f in futs:
            f.result()
    for p in parts:
        out.entries.extend(p.entries)
        out.problems.extend(p.problems)
    out.entries.sort(key=lambda e: e.rel)
    return out, roots


# -- TSV / JSON -------------------------------------------------------------------------------------


def read_tsv(
    path: str | os.PathLike[str], problems: list[dict[str, str]] | None = None
) -> list[dict[str, Any]]:
    """Read a BIDS TSV file as a list of dicts (``n/a`` → `None`, values as strings).

    Text that is not UTF-8 is read as Latin-1 and reported in ``problems`` (when given).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "participants.tsv"
        >>> _ = p.write_text("participant_id\\tage\\nsub-01\\t31\\nsub-02\\tn/a\\n")
        >>> read_tsv(p)
        [{'participant_id': 'sub-01', 'age': '31'}, {'participant_id': 'sub-02', 'age': None}]
    """
    return _tsv_rows(Path(path).read_bytes(), str(path), problems)


def _tsv_rows(raw: bytes, where: str, problems: list[dict[str, str]] | None) -> list[dict[str, Any]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        if problems is not None:
            problems.append({"path": where, "problem": f"not UTF-8 text (byte {err.start}); read as Latin-1"})
        text = raw.decode("latin-1")
    lines = [ln for ln in text.replace("\r", "").split("\n") if ln.strip()]
    if not lines:
        return []
    header = lines[0].split("\t")
    rows = []
    for ln in lines[1:]:
        vals = ln.split("\t")
        if len(vals) < len(header):
            rows.append(
                {h: (None if i >= len(vals) or vals[i] == "n/a" else vals[i]) for i, h in enumerate(header)}
            )
        else:
            rows.append({h: (None if v == "n/a" else v) for h, v in zip(header, vals)})
    return rows


def _read_bytes(path: str) -> bytes:
    """The whole file (``os.open``/``os.read``: cheaper than a buffered ``open`` for small files)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        # 64 KiB reads: a larger buffer is allocated with mmap (and page-faulted) on every call
        chunks = []
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                break
            chunks.append(b)
            if len(b) < 1 << 16:
                break
        return b"".join(chunks)
    finally:
        os.close(fd)


def _load_json(path: str, rel: str, problems: list[dict[str, str]]) -> dict[str, Any]:
    try:
        raw = _read_bytes(path)
        obj = json.loads(raw.decode("utf-8-sig")) if raw else None
    except (OSError, ValueError) as err:
        problems.append({"path": rel, "problem": f"invalid JSON sidecar ({err}); ignored"})
        return {}
    if obj is None:
        problems.append({"path": rel, "problem": "invalid JSON sidecar (empty file); ignored"})
        return {}
    if not isinstance(obj, dict):
        problems.append({"path": rel, "problem": "JSON sidecar is not an object; ignored"})
        return {}
    return obj


# -- the index --------------------------------------------------------------------------------------


def _signature(scan: _Scan, derivatives: bool) -> str:
    h = hashlib.sha256(f"{_CACHE_VERSION}|{derivatives}|{bids_schema().schema_version}".encode())
    for e in scan.entries:
        h.update(f"{e.rel}\0{e.size}\0{e.mtime_ns}\n".encode())
    return h.hexdigest()


def _cache_file(root: Path, cache: bool | str | os.PathLike[str]) -> Path | None:
    if cache is False:
        return None
    if cache is True:
        base = Path(os.environ.get("NB_BIDS_CACHE") or Path.home() / ".cache" / "nb-bids")
    else:
        base = Path(cache)
    return base / (hashlib.sha256(str(root).encode()).hexdigest()[:24] + ".parquet")


def index(
    root: str | os.PathLike[str],
    *,
    derivatives: bool = False,
    cache: bool | str | os.PathLike[str] = True,
    engine: str = "nb",
    max_workers: int | None = None,
) -> pa.Table:
    """Index a BIDS dataset: one row per file with entities, datatype, suffix, metadata.

    Args:
        root (`str` or `os.PathLike`): the dataset directory (with ``dataset_description.json``).
        derivatives (`bool`, *optional*, defaults to `False`): also index ``derivatives/*``
            (each pipeline is its own inheritance root; its name is in the ``derivative`` column).
        cache (`bool` or path, *optional*, defaults to `True`): reuse the previous index when no
            file's size or mtime changed. `True` keeps it under ``$NB_BIDS_CACHE`` or
            ``~/.cache/nb-bids``; a path keeps it there; `False` never caches.
        engine (`str`, *optional*, defaults to ``"nb"``): ``"pybids"`` builds the same table
            through ``bids.BIDSLayout`` (slow; for comparison).
        max_workers (`int`, *optional*): scanning threads.

    Returns:
        `pyarrow.Table`: columns ``path``, one per schema entity (``subject``, ``session``,
        ``task``, ``acquisition``, ``run``... as strings), ``datatype``, ``suffix``,
        ``extension``, ``size``, ``derivative``, ``metadata`` (merged sidecars, JSON text),
        ``participant_*``/``session_*``/``scan_*`` and ``problems``. :func:`index_report`
        gives the summary and every problem.

    Raises:
        NotBidsDatasetError: ``root`` is missing or has no ``dataset_description.json``.

    Example:
        >>> from nb_bids.testing import make_bids_tree
        >>> import tempfile
        >>> t = index(make_bids_tree(tempfile.mkdtemp(), n_subjects=1, eeg=False), cache=False)
        >>> sorted(set(t["datatype"].drop_null().to_pylist()))
        ['anat', 'dwi', 'func']
    """
    base = Path(root).absolute()
    if not base.is_dir():
        raise NotBidsDatasetError(f"{base}: no such directory; give the root of a BIDS dataset")
    if not (base / "dataset_description.json").is_file():
        raise NotBidsDatasetError(
            f"{base}: no dataset_description.json; this is not the root of a BIDS dataset "
            "(give the directory that holds dataset_description.json)"
        )
    if engine == "pybids":
        from nb_bids.pybids_engine import index_pybids

        return index_pybids(base, derivatives=derivatives)
    if engine != "nb":
        raise UserError(f"engine must be 'nb' or 'pybids'; got {engine!r}")
    scan, roots = _scan(base, derivatives=derivatives, max_workers=max_workers)
    cfile = _cache_file(base, cache)
    if cfile is None:
        return _build_no_gc(base, scan, roots)
    sig = _signature(scan, derivatives)
    if cfile.is_file():
        try:
            cached = pq.read_table(cfile)
            meta = cached.schema.metadata or {}
            if meta.get(b"nb_bids.signature") == sig.encode():
                return cached
        except (OSError, pa.ArrowInvalid):
            pass
    table = _build_no_gc(base, scan, roots)
    meta = dict(table.schema.metadata or {})
    meta[b"nb_bids.signature"] = sig.encode()
    table = table.replace_schema_metadata(meta)
    try:
        with atomic_path(cfile, fsync=False) as tmp:
            pq.write_table(table, tmp)
    except OSError:
        pass  # a cache that cannot be written only costs speed
    return table


def _dataset_root(rel: str, roots: list[tuple[str, str | None]]) -> str:
    best = ""
    for r, _ in roots:
        if r and (rel == r or rel.startswith(r + "/")) and len(r) > len(best):
            best = r
    return best


_Parsed = tuple[_Entry, str, dict[str, str], str | None, str, list[str], str | None]
_Sidecars = dict[tuple[str, str], list[tuple[frozenset[tuple[str, str]], str]]]


def _parse_one(e: _Entry, droot: str, datatypes: frozenset[str], suffixes: frozenset[str]) -> _Parsed:
    """Entities, suffix, extension, problems and datatype of one file."""
    inner = e.rel[len(droot) + 1 :] if droot else e.rel
    parts = inner.split("/")
    name = parts[-1]
    if len(parts) == 1 and name in TOP_LEVEL_FILES:
        return (e, droot, {}, None, "", [], None)
    ents, suffix, ext, probs = parse_name(name)
    if e.is_dir:
        ext += "/"
    datatype: str | None = None
    top = parts[0]
    in_sub = top[:4] == "sub-"
    if len(parts) >= 3 and in_sub and parts[-2][:4] not in ("sub-", "ses-"):
        datatype = parts[-2]
        if datatype not in datatypes:
            probs.append(f"unknown datatype {datatype!r}")
    elif top == "phenotype":
        datatype = "phenotype"
    if in_sub and ents.get("sub", top[4:]) != top[4:]:
        probs.append(f"sub-{ents.get('sub')} in the name but the file is under {top}/")
    if len(parts) >= 3 and parts[1][:4] == "ses-" and ents.get("ses", parts[1][4:]) != parts[1][4:]:
        probs.append(f"ses-{ents.get('ses')} in the name but the file is under {parts[1]}/")
    if suffix is not None and suffix not in suffixes:
        probs.append(f"unknown suffix {suffix!r}")
    return (e, droot, ents, suffix, ext, probs, datatype)


def _parse_entries(scan: _Scan, roots: list[tuple[str, str | None]]) -> tuple[list[_Parsed], _Sidecars]:
    """Every entry parsed, and the JSON sidecars by (directory, suffix)."""
    s = bids_schema()
    sidecars: _Sidecars = {}
    parsed: list[_Parsed] = []
    multi_root = len(roots) > 1
    for e in scan.entries:
        droot = _dataset_root(e.rel, roots) if multi_root and e.derivative else ""
        p = _parse_one(e, droot, s.datatypes, s.suffixes)
        if p[3] is not None and p[4] == ".json":
            d = e.rel.rpartition("/")[0]
            sidecars.setdefault((d, p[3]), []).append((frozenset(p[2].items()), e.rel))
        parsed.append(p)
    return parsed, sidecars


#: ``json.dumps(obj, sort_keys=True, ensure_ascii=False)`` without a new encoder per call.
_ENCODE = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode


class _Metadata:
    """Merged sidecar metadata (JSON text) per file, with every sidecar read and parsed once."""

    def __init__(self, base: Path, sidecars: _Sidecars, problems: list[dict[str, str]]) -> None:
        self.base = str(base)
        self.sidecars = sidecars
        self.problems = problems
        self.json_cache: dict[str, dict[str, Any]] = {}
        self.text_cache: dict[tuple[str, ...], str] = {}
        self.chains: dict[tuple[str, str], list[str]] = {}

    def load(self, rel: str) -> dict[str, Any]:
        obj = self.json_cache.get(rel)
        if obj is None:
            obj = self.json_cache[rel] = _load_json(f"{self.base}/{rel}", rel, self.problems)
        return obj

    def text(self, rel: str, droot: str, suffix: str, ents: dict[str, str], probs: list[str]) -> str | None:
        d = rel.rpartition("/")[0]
        chain = self.chains.get((d, droot))
        if chain is None:
            chain = self.chains[(d, droot)] = _chain(d, droot)
        applicable, conflict = _applicable(chain, suffix, ents, self.sidecars)
        if conflict:
            probs.append(conflict)
        if not applicable:
            return None
        text = self.text_cache.get(applicable)
        if text is None:
            if len(applicable) == 1:
                merged = self.load(applicable[0])
            else:
                merged = {}
                for r in applicable:
                    merged.update(self.load(r))
            text = self.text_cache[applicable] = _ENCODE(merged)
        return text


class _Columns:
    """The index's columns, filled row by row."""

    def __init__(self, n: int, entity_names: tuple[str, ...], key_to_name: dict[str, str]) -> None:
        self.n = n
        names = ["path", *entity_names, "datatype", "suffix", "extension", "size", "derivative", "metadata"]
        self.cols: dict[str, list[Any]] = {c: [None] * n for c in names}
        self.ent_cols = {k: self.cols[v] for k, v in key_to_name.items()}
        self.extra: dict[str, list[Any]] = {}
        self.problems: list[Any] = [None] * n

    def put_all(self, prefix: str, j: int, values: dict[str, Any]) -> None:
        extra = self.extra
        for k, v in values.items():
            col = extra.get(prefix + k)
            if col is None:
                col = extra[prefix + k] = [None] * self.n
            col[j] = v

    def table(self) -> pa.Table:
        cols = dict(self.cols)
        for k in sorted(self.extra):
            cols[k] = self.extra[k]
        cols["problems"] = self.problems
        arrays = [pa.array(v, type=pa.int64() if c == "size" else pa.string()) for c, v in cols.items()]
        return pa.Table.from_arrays(arrays, names=list(cols))


def _build_no_gc(base: Path, scan: _Scan, roots: list[tuple[str, str | None]]) -> pa.Table:
    """:func:`_build` with the cyclic garbage collector paused: the index makes a few hundred
    thousand small dicts, lists and tuples and no reference cycles, and the collector's passes over
    them (and over whatever else the process holds) cost time for nothing."""
    with gc_paused():
        return _build(base, scan, roots)


def _build(base: Path, scan: _Scan, roots: list[tuple[str, str | None]]) -> pa.Table:
    s = bids_schema()
    problems = list(scan.problems)
    parsed, sidecars = _parse_entries(scan, roots)
    meta = _Metadata(base, sidecars, problems)
    joins = _tables(base, scan, roots, problems)
    participants, sessions, scans = joins["participants"], joins["sessions"], joins["scans"]
    cols = _Columns(len(parsed), s.entity_names, s.key_to_name)
    c = cols.cols
    c_path, c_dt, c_suffix, c_ext, c_size, c_der, c_meta = (
        c[k] for k in ("path", "datatype", "suffix", "extension", "size", "derivative", "metadata")
    )
    ent_cols = cols.ent_cols
    subjects: set[str] = set()
    sess_seen: set[tuple[str, str]] = set()
    per: dict[str, int] = {}
    for j, (e, droot, ents, suffix, ext, probs, datatype) in enumerate(parsed):
        c_path[j] = e.rel
        c_dt[j] = datatype
        c_suffix[j] = suffix
        c_ext[j] = ext or None
        c_size[j] = e.size
        c_der[j] = e.derivative
        for k, v in ents.items():
            col = ent_cols.get(k)
            if col is not None:
                col[j] = v
        if suffix is not None and ext != ".json":
            if e.derivative is None:
                key = f"{datatype or '-'}/{suffix}"
                per[key] = per.get(key, 0) + 1
            c_meta[j] = meta.text(e.rel, droot, suffix, ents, probs)
        sub = ents.get("sub")
        if sub is not None:
            ses = ents.get("ses")
            if e.derivative is None:
                subjects.add(sub)
                if ses is not None:
                    sess_seen.add((sub, ses))
            _join_subject(cols, j, droot, sub, ses, participants, sessions)
        sc = scans.get(e.rel)
        if sc:
            cols.put_all("scan_", j, sc)
        if probs:
            cols.problems[j] = "; ".join(probs)
            problems.extend({"path": e.rel, "problem": p} for p in probs)
    report = {
        "root": str(base),
        "bids_version": s.bids_version,
        "n_files": len(parsed),
        "n_subjects": len(subjects),
        "n_sessions": len(sess_seen),
        "files_per_datatype_suffix": dict(sorted(per.items())),
        "problems": _unique(problems),
    }
    table = cols.table()
    return table.replace_schema_metadata({_REPORT_KEY: json.dumps(report, sort_keys=True).encode()})


def _join_subject(
    cols: _Columns,
    j: int,
    droot: str,
    sub: str,
    ses: str | None,
    participants: dict[Any, dict[str, Any]],
    sessions: dict[Any, dict[str, Any]],
) -> None:
    """``participants.tsv`` and ``sessions.tsv`` columns of row ``j`` (the derivative's own first)."""
    part = participants.get((droot, sub)) or participants.get(("", sub))
    if part:
        cols.put_all("participant_", j, part)
    if ses is not None:
        srow = sessions.get((droot, sub, ses)) or sessions.get(("", sub, ses))
        if srow:
            cols.put_all("session_", j, srow)


def _unique(problems: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: set[tuple[str, str]] = set()
    uniq = []
    for p in problems:
        pk = (p["path"], p["problem"])
        if pk not in seen:
            seen.add(pk)
            uniq.append(p)
    return uniq


def _chain(d: str, droot: str) -> list[str]:
    """The directories from the dataset root ``droot`` down to ``d``."""
    chain = [droot]
    if d != droot:
        inner = d[len(droot) + 1 :] if droot else d
        acc = droot
        for part in inner.split("/"):
            acc = f"{acc}/{part}" if acc else part
            chain.append(acc)
    return chain


def _applicable(
    chain: list[str],
    suffix: str,
    ents: dict[str, str],
    sidecars: dict[tuple[str, str], list[tuple[frozenset[tuple[str, str]], str]]],
) -> tuple[tuple[str, ...], str | None]:
    """The sidecars that apply (top level first, fewer entities first at one level) and a conflict."""
    out: list[str] = []
    conflict = None
    items = ents.items()
    for level in chain:
        cands = sidecars.get((level, suffix))
        if not cands:
            continue
        hits = [c for c in cands if c[0] <= items]
        if not hits:
            continue
        if len(hits) > 1:
            hits.sort(key=lambda c: (len(c[0]), c[1]))
            for a, b in itertools.pairwise(hits):
                if len(a[0]) == len(b[0]):
                    conflict = (
                        f"conflicting sidecars at one level: {a[1]} and {b[1]} both apply "
                        f"(merged in name order, the later wins)"
                    )
        out.extend(c[1] for c in hits)
    return tuple(out), conflict


def _tables(
    base: Path, scan: _Scan, roots: list[tuple[str, str | None]], problems: list[dict[str, str]]
) -> dict[str, dict[Any, dict[str, Any]]]:
    out: dict[str, dict[Any, dict[str, Any]]] = {"participants": {}, "sessions": {}, "scans": {}}
    for e in scan.entries:
        name = e.rel.rsplit("/", 1)[-1]
        if not name.endswith(".tsv"):
            continue
        droot = _dataset_root(e.rel, roots)
        inner = e.rel[len(droot) + 1 :] if droot else e.rel
        parts = inner.split("/")
        if inner == "participants.tsv":
            for r in _safe_tsv(base / e.rel, e.rel, problems):
                pid = r.pop("participant_id", None)
                if pid:
                    out["participants"][(droot, pid.removeprefix("sub-"))] = r
        elif name.endswith("_sessions.tsv") and len(parts) == 2 and parts[0].startswith("sub-"):
            sub = parts[0][4:]
            for r in _safe_tsv(base / e.rel, e.rel, problems):
                sid = r.pop("session_id", None)
                if sid:
                    out["sessions"][(droot, sub, sid.removeprefix("ses-"))] = r
        elif name.endswith("_scans.tsv") and parts[0].startswith("sub-"):
            d = e.rel.rsplit("/", 1)[0]
            for r in _safe_tsv(base / e.rel, e.rel, problems):
                fn = r.pop("filename", None)
                if fn:
                    out["scans"][f"{d}/{fn}"] = r
    return out


def _safe_tsv(path: Path, rel: str, problems: list[dict[str, str]]) -> list[dict[str, Any]]:
    mine: list[dict[str, str]] = []
    try:
        rows = _tsv_rows(_read_bytes(str(path)), str(path), mine)
    except OSError as err:
        problems.append({"path": rel, "problem": f"cannot read: {err.strerror}"})
        return []
    problems.extend({"path": rel, "problem": m["problem"]} for m in mine)
    return rows


def index_report(table: pa.Table) -> dict[str, Any]:
    """The summary stored with an index: counts, BIDS version and every problem found.

    Example:
        >>> from nb_bids.testing import make_bids_tree
        >>> import tempfile
        >>> t = index(make_bids_tree(tempfile.mkdtemp(), n_subjects=2, eeg=False), cache=False)
        >>> r = index_report(t)
        >>> r["n_subjects"], r["problems"]
        (2, [])
    """
    meta = table.schema.metadata or {}
    if _REPORT_KEY not in meta:
        raise UserError("this table has no nb-bids report (it was not made by nb_bids.index)")
    out: dict[str, Any] = json.loads(meta[_REPORT_KEY])
    return out
