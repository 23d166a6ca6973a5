#!/usr/bin/env python3
"""Publish many datasets to the Hugging Face Hub from one YAML spec.

``python scripts/publish.py SPEC.yaml`` converts every dataset the spec lists (EEG/MEG files to
WebDataset shards or an HDF5/Zarr/Parquet artifact, a BIDS tree to a Parquet dataset, or an
existing artifact as it is), checks its counts against the spec's expectations, pushes it with
its dataset card, and records each dataset's status in a state file, so that a rerun skips what
is done and retries what failed. It uses only the public APIs of the neurobridge packages
(``nb_shards.write``, ``nb_formats.write``/``convert``, ``nb_bids.convert``, ``nb_hub.push``,
``nb_core``'s manifest, executor and atomic writes). See ``scripts/README.md``.

Example:
    >>> import tempfile, pathlib
    >>> spec = pathlib.Path(tempfile.mkdtemp()) / "publish.yaml"
    >>> _ = spec.write_text("datasets:\\n  - {name: a, repo: me/a, layout: artifact, source: a/}\\n")
    >>> [d.name for d in load_spec(spec).datasets]
    ['a']
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import dataclasses
import fcntl
import glob
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from nb_core import Manifest, atomic_write_json, get_executor, sha256_file
from nb_core.errors import CorruptDataError, InputNotFoundError, NBError, UserError
from nb_core.manifest import MANIFEST_NAME
from nb_core.validation import load_json, soft_import

#: Version of the state file this script writes (and of what an entry's hash covers).
STATE_VERSION = 1
#: Layouts a dataset can be published in.
LAYOUTS = ("shards", "hdf5", "zarr", "parquet", "bids-parquet", "artifact")
FORMATS_LAYOUTS = ("hdf5", "zarr", "parquet")

# Value kinds of the spec's typed fields: name -> (check, what the user is told it must be).
_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number >= 0"),
    "posint": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a whole number > 0"),
    "number": (
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0,
        "a number > 0",
    ),
    "str|null": (lambda v: v is None or (isinstance(v, str) and bool(v.strip())), "a string or null"),
}

#: Options each layout passes to its writer (``options:`` in the spec), with their kinds.
OPTIONS: dict[str, dict[str, str]] = {
    "shards": {
        "window": "number",
        "stride": "number",
        "max_count": "posint",
        "max_bytes": "posint",
        "compression": "str|null",
        "modality": "str",
        "target_from": "one of annotations",
        "items_per_task": "posint",
    },
    "hdf5": {"compression": "str", "dtype": "one of float32, float64", "chunk_samples": "posint"},
    "zarr": {
        "compression": "str",
        "dtype": "one of float32, float64",
        "chunk_samples": "posint",
        "zip_store": "bool",
    },
    "parquet": {"compression": "str", "dtype": "one of float32, float64", "chunk_samples": "posint"},
    "bids-parquet": {
        "rows": "one of file, session",
        "derivatives": "bool",
        "split_column": "str",
        "seed": "int",
        "segment_seconds": "number",
        "strict": "bool",
        "to": "one of hf, shards, formats",
        "format": "one of hdf5, zarr, parquet",
    },
    "artifact": {},
}
#: Counts ``expect:`` can hold, and the layouts that know them.
EXPECT_KEYS: dict[str, tuple[str, ...]] = {
    "samples": LAYOUTS,
    "recordings": LAYOUTS,
    "splits": LAYOUTS,
    "n_subjects": ("bids-parquet",),
    "n_sessions": ("bids-parquet",),
    "n_files": ("bids-parquet",),
}
#: Dataset-card fields (``card:``).
CARD_KEYS = ("pretty_name", "license", "citation", "description")
#: Fields of a dataset entry (``defaults:`` may hold all but ``name``).
DATASET_KEYS = (
    "name",
    "repo",
    "layout",
    "source",
    "splits",
    "options",
    "expect",
    "card",
    "revision",
    "private",
    "commit_message",
)
#: Mappings that ``defaults:`` merges key by key (a dataset's own keys win).
MERGED_KEYS = ("options", "expect", "card")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_SPLIT = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
#: Tags of the collections safe loading builds (other tags would be ignored by the reader).
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
#: YAML nodes a spec may expand to (aliases included): a guard against alias bombs.
MAX_NODES = 100_000


class SpecError(UserError):
    """The spec cannot be used as written; the message starts with ``file:line: field:``."""


# -- the spec --------------------------------------------------------------------------------------
@dataclass
class Node:
    """A value of the spec with the line it was written on and its dotted path."""

    value: Any  # scalars as YAML gives them; dict[str, Node] for mappings; list[Node] for lists
    line: int
    path: str


@dataclass
class Dataset:
    """One dataset of the spec, with ``defaults`` merged in."""

    index: int
    name: str
    repo: str
    layout: str
    sources: dict[str, list[str]]  # split -> source patterns (one "train" split without `splits:`)
    fractions: dict[str, float] | None  # bids-parquet: subject fractions per split
    options: dict[str, Any]
    expect: dict[str, Any]
    card: dict[str, str]
    revision: str | None
    private: bool | None
    commit_message: str | None
    line: int

    def entry(self) -> dict[str, Any]:
        """The entry as plain JSON (what its hash covers, with the sources' fingerprint)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("index", "line")}


@dataclass
class Spec:
    path: Path
    datasets: list[Dataset] = field(default_factory=list)


class _Reader:
    """Turns composed YAML nodes into `Node`s: lines kept, duplicates and alias bombs refused."""

    def __init__(self, path: Path, loader: yaml.SafeLoader) -> None:
        self.path = path
        self.loader = loader
        self.count = 0

    def fail(self, line: int, where: str, message: str) -> SpecError:
        return SpecError(
            f"{self.path}:{line}: {where}: {message}" if where else f"{self.path}:{line}: {message}"
        )

    def convert(self, ynode: yaml.Node, path: str, line: int, stack: tuple[int, ...] = ()) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(line, path, f"the spec expands to more than {MAX_NODES} values (aliases?)")
        if id(ynode) in stack:
            raise self.fail(line, path, "an alias refers to itself")
        stack = (*stack, id(ynode))
        if not isinstance(ynode, yaml.ScalarNode) and ynode.tag not in _PLAIN_TAGS:
            raise self.fail(line, path, f"invalid YAML: tag {ynode.tag!r} is not allowed (safe loading)")
        if isinstance(ynode, yaml.MappingNode):
            return Node(self._mapping(ynode, path, stack), line, path)
        if isinstance(ynode, yaml.SequenceNode):
            items = [
                self.convert(v, f"{path}[{i}]", v.start_mark.line + 1, stack)
                for i, v in enumerate(ynode.value)
            ]
            return Node(items, line, path)
        return Node(self.loader.construct_object(ynode), line, path)

    def _mapping(self, ynode: yaml.MappingNode, path: str, stack: tuple[int, ...]) -> dict[str, Node]:
        seen: dict[Any, int] = {}
        for k, _ in ynode.value:
            if k.tag == "tag:yaml.org,2002:merge" or not isinstance(k, yaml.ScalarNode):
                continue
            key = self.loader.construct_object(k)
            if key in seen:
                raise self.fail(
                    k.start_mark.line + 1, _join(path, str(key)), f"given twice (first on line {seen[key]})"
                )
            seen[key] = k.start_mark.line + 1
        self.loader.flatten_mapping(ynode)  # YAML merge keys (`<<: *defaults`)
        out: dict[str, Node] = {}
        for k, v in ynode.value:
            key = self.loader.construct_object(k) if isinstance(k, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise self.fail(k.start_mark.line + 1, path, f"keys must be strings; got {key!r}")
            out[key] = self.convert(v, _join(path, key), k.start_mark.line + 1, stack)
        return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def read_nodes(path: Path) -> Node:
    """The spec file as a `Node` tree (YAML safe loading: tags that build objects are refused)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InputNotFoundError(f"{path}: no such spec file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory; give the spec's YAML file") from None
    except UnicodeDecodeError as err:
        raise SpecError(f"{path}: not UTF-8 text (byte {err.start}); save the spec as UTF-8") from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise SpecError(f"{path}:1: the spec is empty; it needs a `datasets:` list")
        return _Reader(path, loader).convert(root, "", root.start_mark.line + 1)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(str(err.problem or err.context or "invalid YAML").split())
        raise SpecError(f"{path}:{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: invalid YAML: {' '.join(str(err).split())}") from None
    finally:
        loader.dispose()


class _Checker:
    """Checks the `Node` tree of a spec; every error names the file, the line and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dataset: Node | None = None  # the dataset being checked

    def fail(self, node: Node, message: str) -> SpecError:
        where = f"{node.path}: " if node.path else ""
        if self.dataset is not None and node.path.startswith("defaults"):
            message += f" (merged into {self.dataset.path}, line {self.dataset.line})"
        return SpecError(f"{self.path}:{node.line}: {where}{message}")

    def mapping(self, node: Node, allowed: Sequence[str] | None = None) -> dict[str, Node]:
        if not isinstance(node.value, dict):
            raise self.fail(node, f"must be a mapping (key: value); got {_kind(node.value)}")
        for key, child in node.value.items():
            if allowed is not None and key not in allowed:
                raise self.fail(child, f"unknown field; expected one of: {', '.join(allowed)}")
        return node.value

    def value(self, node: Node, kind: str) -> Any:
        if kind.startswith("one of "):  # "one of a, b": a fixed set of words
            words = kind[len("one of ") :].split(", ")
            if node.value not in words:
                raise self.fail(node, f"must be {kind}; got {_show(node.value)}")
            return node.value
        check, what = _KINDS[kind]
        if not check(node.value):
            raise self.fail(node, f"must be {what}; got {_show(node.value)}")
        return node.value

    def sources(self, node: Node) -> list[str]:
        items = node.value if isinstance(node.value, list) else [node]
        if not items:
            raise self.fail(node, "must name at least one source")
        return [self.value(item, "str") for item in items]


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, dict | list) else _kind(value)
    return text if len(text) <= 80 else text[:77] + "..."


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read and check a publishing spec.

    Raises:
        SpecError: the spec is not valid YAML or breaks a rule; the message names the line and field.
        InputNotFoundError: there is no such file.
    """
    spec_path = Path(path)
    root = read_nodes(spec_path)
    c = _Checker(spec_path)
    top = c.mapping(root, ("defaults", "datasets"))
    defaults = (
        c.mapping(top["defaults"], [k for k in DATASET_KEYS if k != "name"]) if "defaults" in top else {}
    )
    for key in MERGED_KEYS:
        if key in defaults:
            c.mapping(defaults[key])
    if "datasets" not in top:
        raise c.fail(root, "missing field `datasets` (the list of datasets to publish)")
    items = top["datasets"]
    if not isinstance(items.value, list) or not items.value:
        raise c.fail(items, f"must be a non-empty list of datasets; got {_show(items.value)}")
    spec = Spec(spec_path)
    names: dict[str, Node] = {}
    repos: dict[tuple[str, str], Node] = {}
    for i, item in enumerate(items.value):
        own = c.mapping(item, DATASET_KEYS)
        c.dataset = item
        ds = _dataset(c, i, item, _merge(defaults, own))
        if ds.name in names:
            raise c.fail(
                own["name"], f"dataset name {ds.name!r} is used twice (also line {names[ds.name].line})"
            )
        names[ds.name] = own["name"]
        target = (ds.repo, ds.revision or "main")
        if target in repos:
            other = repos[target]
            raise c.fail(
                own.get("repo") or defaults["repo"],
                f"{ds.repo}@{target[1]} is also the target of {other.path} (line {other.line})",
            )
        repos[target] = item
        spec.datasets.append(ds)
    return spec


def _merge(defaults: dict[str, Node], own: dict[str, Node]) -> dict[str, Node]:
    merged = {**defaults, **own}
    for key in MERGED_KEYS:
        if key in defaults and key in own and isinstance(own[key].value, dict):
            merged[key] = Node({**defaults[key].value, **own[key].value}, own[key].line, own[key].path)
    return merged


def _dataset(c: _Checker, index: int, item: Node, entry: dict[str, Node]) -> Dataset:
    for key in ("name", "repo", "layout"):
        if key not in entry:
            raise c.fail(item, f"missing field `{key}`")
    name = c.value(entry["name"], "str")
    if not _NAME.fullmatch(name):
        raise c.fail(entry["name"], f"{name!r}: use letters, digits, '.', '_' or '-' (at most 96)")
    layout = c.value(entry["layout"], "str")
    if layout not in LAYOUTS:
        raise c.fail(entry["layout"], f"unknown layout {layout!r}; use one of: {', '.join(LAYOUTS)}")
    sources, fractions = _sources(c, item, entry, layout)
    return Dataset(
        index=index,
        name=name,
        repo=_repo(c, entry["repo"], name),
        layout=layout,
        sources=sources,
        fractions=fractions,
        options=_options(c, entry.get("options"), layout),
        expect=_expect(c, entry.get("expect"), layout),
        card=_card(c, entry.get("card")),
        revision=c.value(entry["revision"], "str") if "revision" in entry else None,
        private=c.value(entry["private"], "bool") if "private" in entry else None,
        commit_message=c.value(entry["commit_message"], "str") if "commit_message" in entry else None,
        line=item.line,
    )


def _repo(c: _Checker, node: Node, name: str) -> str:
    repo = c.value(node, "str").replace("{name}", name)
    parts = repo.split("/")
    if len(parts) != 2 or not all(_REPO_PART.fullmatch(p) and "--" not in p and ".." not in p for p in parts):
        raise c.fail(
            node, f"{repo!r} is not a repo id; write NAMESPACE/NAME (`{{name}}` is the dataset's name)"
        )
    return repo


def _sources(
    c: _Checker, item: Node, entry: dict[str, Node], layout: str
) -> tuple[dict[str, list[str]], dict[str, float] | None]:
    splits = entry.get("splits")
    if layout == "bids-parquet":
        if "source" not in entry:
            raise c.fail(item, "missing field `source` (the BIDS root)")
        if isinstance(entry["source"].value, list):
            raise c.fail(entry["source"], "a bids-parquet dataset has one BIDS root; give it as a string")
        return {"train": c.sources(entry["source"])}, _fractions(c, splits) if splits else None
    if splits is not None and layout != "shards":
        raise c.fail(splits, f"layout {layout} holds one split; give `source` (or use layout shards)")
    if splits is not None:
        if "source" in entry:
            raise c.fail(entry["source"], "give `source` or `splits` (split: sources), not both")
        by_split = c.mapping(splits)
        if not by_split:
            raise c.fail(splits, "must name at least one split")
        for key, node in by_split.items():
            if not _SPLIT.fullmatch(key):
                raise c.fail(node, "split names are a letter then letters, digits or '_'")
        return {key: c.sources(node) for key, node in by_split.items()}, None
    if "source" not in entry:
        raise c.fail(item, "missing field `source` (files, a glob, or a list of them)")
    return {"train": c.sources(entry["source"])}, None


def _fractions(c: _Checker, node: Node) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, child in c.mapping(node).items():
        if not _SPLIT.fullmatch(key):
            raise c.fail(child, "split names are a letter then letters, digits or '_'")
        value = c.value(child, "number")
        if value > 1:
            raise c.fail(child, f"a bids-parquet split is a fraction of the subjects (0 to 1); got {value}")
        out[key] = float(value)
    if abs(sum(out.values()) - 1.0) > 1e-6:
        raise c.fail(node, f"the fractions must sum to 1; they sum to {sum(out.values()):g}")
    return out


def _options(c: _Checker, node: Node | None, layout: str) -> dict[str, Any]:
    if node is None:
        return {}
    allowed = OPTIONS[layout]
    out: dict[str, Any] = {}
    for key, child in c.mapping(node).items():
        if key not in allowed:
            known = ", ".join(allowed) or "none"
            raise c.fail(child, f"not an option of layout {layout} (options: {known})")
        out[key] = c.value(child, allowed[key])
    return out


def _expect(c: _Checker, node: Node | None, layout: str) -> dict[str, Any]:
    if node is None:
        return {}
    out: dict[str, Any] = {}
    for key, child in c.mapping(node, list(EXPECT_KEYS)).items():
        if layout not in EXPECT_KEYS[key]:
            raise c.fail(child, f"layout {layout} has no {key} count; use samples, recordings or splits")
        if key == "splits":
            counts = c.mapping(child)
            for split, count in counts.items():
                if not _SPLIT.fullmatch(split):
                    raise c.fail(count, "split names are a letter then letters, digits or '_'")
            out[key] = {split: c.value(count, "int") for split, count in counts.items()}
        else:
            out[key] = c.value(child, "int")
    return out


def _card(c: _Checker, node: Node | None) -> dict[str, str]:
    if node is None:
        return {}
    return {key: c.value(child, "str") for key, child in c.mapping(node, CARD_KEYS).items()}


# -- sources and the state file --------------------------------------------------------------------
def resolve_sources(ds: Dataset, base: Path) -> dict[str, list[Path]]:
    """The files and folders each split's sources name (globs expanded, relative to ``base``).

    Raises:
        InputNotFoundError: a source names nothing.
    """
    out: dict[str, list[Path]] = {}
    for split, patterns in ds.sources.items():
        found: list[Path] = []
        for pattern in patterns:
            full = Path(os.path.expanduser(pattern))
            full = full if full.is_absolute() else base / full
            if glob.has_magic(pattern):
                matches = [Path(p) for p in sorted(glob.glob(str(full), recursive=True))]
                if not matches:
                    raise InputNotFoundError(f"source {pattern!r} of dataset {ds.name!r} matches no file")
            elif full.exists():
                matches = [full]
            else:
                raise InputNotFoundError(f"source {pattern!r} of dataset {ds.name!r}: no such file or folder")
            found += [m for m in matches if m not in found]
        out[split] = found
    return out


def fingerprint(paths: dict[str, list[Path]], base: Path) -> list[list[Any]]:
    """Path (relative to ``base``, the spec's folder), size and modification time of every source
    file (folders walked): a changed source changes the dataset's hash, so it is published again."""
    out: list[list[Any]] = []
    for split, items in paths.items():
        for p in items:
            files = [p] if not p.is_dir() else sorted(q for q in p.rglob("*") if q.is_file())
            for f in files:
                st = f.stat()
                out.append([split, os.path.relpath(f, base), st.st_size, st.st_mtime_ns])
    return out


def entry_hash(ds: Dataset, sources: dict[str, list[Path]], base: Path, endpoint: str) -> str:
    """sha256 of what a dataset's publication depends on: its spec entry, its sources' fingerprint
    and the Hub endpoint."""
    blob = json.dumps(
        {
            "v": STATE_VERSION,
            "entry": ds.entry(),
            "sources": fingerprint(sources, base),
            "endpoint": endpoint,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def manifest_sha(artifact: Path) -> str | None:
    """sha256 of an artifact's ``nb-manifest.json`` (which lists every file's sha256), or None."""
    mpath = artifact / MANIFEST_NAME
    return sha256_file(mpath) if mpath.is_file() else None


def read_state(path: Path) -> dict[str, Any]:
    """The state file (``{}`` when there is none).

    Raises:
        CorruptDataError: it is not a state file this script wrote.
    """
    if not path.exists():
        return {"version": STATE_VERSION, "datasets": {}}
    state = load_json(path.read_bytes(), where=str(path))
    if (
        not isinstance(state, dict)
        or state.get("version") != STATE_VERSION
        or not isinstance(state.get("datasets"), dict)
        or not all(_valid_record(v) for v in state["datasets"].values())
    ):
        raise CorruptDataError(
            f"{path}: not a publish state file (version {STATE_VERSION}); move it away to publish "
            "everything again, or pass --state with another path"
        )
    return state


def _valid_record(rec: Any) -> bool:
    counters = ("conversions", "pushes")
    return isinstance(rec, dict) and all(isinstance(rec.get(k, 0), int) for k in counters)


@contextlib.contextmanager
def state_lock(path: Path) -> Iterator[None]:
    """Hold ``STATE.lock`` so that two runs never publish from one state file at once."""
    lock = path.with_name(path.name + ".lock")
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{path}: another publish run is using this state file; wait for it") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# -- conversion (runs in a worker: a local process or a Dask worker) ----------------------------------
def convert_task(task: dict[str, Any]) -> dict[str, Any]:
    """Convert one dataset into ``task["out"]`` (written beside it, renamed when complete) and
    apply its card fields to the manifest. Every failure is returned, not raised, so that it
    crosses process and Dask boundaries as text."""
    start = time.perf_counter()
    out = Path(task["out"])
    tmp = out.with_name(f".tmp-{out.name}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        report = CONVERTERS[task["layout"]](task, tmp)
        _apply_card(tmp, task["card"])
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except Exception as err:  # noqa: BLE001 - one dataset's failure must not stop the others
        shutil.rmtree(tmp, ignore_errors=True)
        detail = traceback.format_exc() if os.environ.get("NB_DEBUG") else None
        return {"error": _one_line(err), "traceback": detail, "seconds": time.perf_counter() - start}
    m = Manifest.read(out)
    counts: dict[str, Any] = {
        "samples": m.n_samples,
        "recordings": len(m.recordings),
        "splits": dict(m.splits),
    }
    counts.update({k: report[k] for k in ("n_subjects", "n_sessions", "n_files") if k in report})
    return {
        "manifest_sha256": manifest_sha(out),
        "counts": counts,
        "seconds": time.perf_counter() - start,
    }


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if isinstance(err, NBError) else f"{type(err).__name__}: {text}"


def _one_source(task: dict[str, Any], what: str) -> Path:
    paths = task["sources"]["train"]
    if len(paths) != 1:
        raise UserError(f"layout {task['layout']} takes one source, {what}; the source names {len(paths)}")
    return Path(paths[0])


def _convert_shards(task: dict[str, Any], tmp: Path) -> dict[str, Any]:
    import nb_shards

    for split, paths in task["sources"].items():
        nb_shards.write(
            paths, tmp, split=split, name=task["name"], max_workers=0, show_progress=False, **task["options"]
        )
    return {}


def _convert_formats(task: dict[str, Any], tmp: Path) -> dict[str, Any]:
    import nb_formats
    from nb_core.mne_adapter import read_raw

    paths = [Path(p) for p in task["sources"]["train"]]
    artifacts = [p for p in paths if (p / MANIFEST_NAME).is_file()]
    if artifacts:
        if len(paths) != 1:
            raise UserError(f"{task['name']}: an artifact is converted alone; give it as the only source")
        nb_formats.convert(paths[0], tmp, format=task["layout"], show_progress=False, **task["options"])
    else:
        raws = (read_raw(p) for p in paths)  # one recording open at a time
        nb_formats.write(
            raws, tmp, format=task["layout"], name=task["name"], show_progress=False, **task["options"]
        )
    return {}


def _convert_bids(task: dict[str, Any], tmp: Path) -> dict[str, Any]:
    import nb_bids

    root = _one_source(task, "a BIDS root")
    bids_expect = {k: v for k, v in task["expect"].items() if k in ("n_subjects", "n_sessions", "n_files")}
    return nb_bids.convert(
        root,
        tmp,
        split=task["fractions"],
        expect=bids_expect or None,  # checked before anything is written
        max_workers=0,
        **task["options"],
    )


def _copy_artifact(task: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """An existing artifact, published as it is: its listed files hard-linked (copied where links
    cannot be made) so that the card fields change this copy's manifest, never the original's."""
    src = _one_source(task, "an artifact")
    m = Manifest.read(src)
    m.verify(src, checksums=False)
    for f in m.files:
        dst = tmp / f.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src / f.path, dst)
        except OSError:
            shutil.copy2(src / f.path, dst)
    m.write(tmp)
    return {}


CONVERTERS: dict[str, Callable[[dict[str, Any], Path], dict[str, Any]]] = {
    "shards": _convert_shards,
    "hdf5": _convert_formats,
    "zarr": _convert_formats,
    "parquet": _convert_formats,
    "bids-parquet": _convert_bids,
    "artifact": _copy_artifact,
}


def _apply_card(artifact: Path, card: dict[str, str]) -> None:
    """Write the spec's card fields into the manifest (nb-hub builds the card from it)."""
    if not card:
        return
    m = Manifest.read(artifact)
    m.name = card.get("pretty_name", m.name)
    m.license = card.get("license", m.license)
    m.citation = card.get("citation", m.citation)
    m.description = card.get("description", m.description)
    m.write(artifact)


# -- checks and pushes (main process) -----------------------------------------------------------------
def check_counts(expect: dict[str, Any], counts: dict[str, Any]) -> list[str]:
    """What differs between the spec's ``expect`` and the converted artifact's counts."""
    problems = []
    for key, want in expect.items():
        got = counts.get(key)
        if got != want:
            problems.append(f"{key}: expected {_counts_text(want)}, got {_counts_text(got)}")
    return problems


def _counts_text(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(value.items())) + "}"
    return "unknown" if value is None else str(value)


@dataclass
class Item:
    """A dataset of this run: its plan, then its outcome."""

    ds: Dataset
    action: str  # "publish" | "skip" | "fail"
    reason: str
    hash: str | None = None
    paths: dict[str, list[Path]] | None = None
    status: str = ""  # "pushed" | "up to date" | "skipped" | "FAILED"
    detail: str = ""
    samples: int | None = None


@dataclass
class Options:
    spec: Spec
    state_path: Path
    work_dir: Path
    endpoint: str | None
    jobs: int | None
    scheduler: str | None
    preview: bool
    force: bool
    out: TextIO


def plan(opts: Options, state: dict[str, Any], only: Sequence[str] = ()) -> list[Item]:
    """What a run would do for each dataset: publish (convert, check, push), push (a failed push
    of an artifact converted and checked before), skip, or fail."""
    base = opts.spec.path.parent
    endpoint = opts.endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    items = []
    for ds in opts.spec.datasets:
        if only and ds.name not in only:
            continue
        try:
            paths = resolve_sources(ds, base)
            h = entry_hash(ds, paths, base, endpoint)
        except (NBError, OSError) as err:  # a source that names nothing, or cannot be read
            items.append(Item(ds, "fail", _one_line(err)))
            continue
        rec = state["datasets"].get(ds.name)
        action, reason = _decide(opts, ds, h, rec)
        items.append(Item(ds, action, reason, h, paths))
    return items


def _decide(opts: Options, ds: Dataset, h: str, rec: dict[str, Any] | None) -> tuple[str, str]:
    if opts.force:
        return "publish", "forced"
    if rec is None:
        return "publish", "new"
    if rec.get("status") != "done":
        error = str(rec.get("error", ""))
        error = error if len(error) <= 160 else error[:157] + "..."
        if (
            rec.get("stage") == "push"
            and rec.get("entry_hash") == h
            and manifest_sha(opts.work_dir / ds.name) == rec.get("manifest_sha256")
        ):
            return "push", f"retry the push (converted and checked before): {error}"
        return "publish", f"retry: failed at {rec.get('stage', '?')}: {error}"
    if rec.get("entry_hash") != h:
        return "publish", "the spec entry, its sources or the endpoint changed"
    sha = manifest_sha(opts.work_dir / ds.name)
    if sha is None:
        return "publish", "done, but the converted artifact is gone: convert again, push only if it differs"
    if sha != rec.get("manifest_sha256"):
        return "publish", "the converted artifact changed since it was pushed"
    return "skip", f"done (manifest {sha[:12]}, pushed {rec.get('updated', '?')})"


def print_plan(items: list[Item], opts: Options) -> None:
    out = opts.out
    print(f"plan for {opts.spec.path} (state {opts.state_path}, work {opts.work_dir}):", file=out)
    width = max(len(it.ds.name) for it in items)
    for it in items:
        ds = it.ds
        target = f"{ds.repo}@{ds.revision or 'main'}" + (" (private)" if ds.private else "")
        if it.action == "publish":
            n = sum(len(v) for v in (it.paths or {}).values())
            what = f"convert {n} source{'s' * (n != 1)} to {ds.layout}, check, push to {target} [{it.reason}]"
        elif it.action == "push":
            what = f"push to {target} [{it.reason}]"
        elif it.action == "skip":
            what = f"skip: {it.reason}"
        else:
            what = f"would fail: {it.reason}"
        print(f"  {ds.name:<{width}}  {what}", file=out)
    counts = {a: sum(it.action == a for it in items) for a in ("publish", "push", "skip", "fail")}
    print(
        f"{counts['publish']} to publish, {counts['push']} to push again, {counts['skip']} to skip, "
        f"{counts['fail']} failing",
        file=out,
    )


@contextlib.contextmanager
def executor(jobs: int | None, scheduler: str | None, n_tasks: int) -> Iterator[cf.Executor]:
    """A local process pool (``jobs``; 0 runs inline), a Dask cluster at ``scheduler``, or a local
    Dask cluster of threads or processes (``scheduler="threads"|"processes"``)."""
    if scheduler in ("threads", "processes"):
        distributed = soft_import("distributed", f"--scheduler {scheduler}", extra="nb-core[dask]")
        workers = max(1, min(jobs or os.cpu_count() or 1, n_tasks))
        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=scheduler == "processes",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client.get_executor()
        return
    if not scheduler and jobs != 0:
        jobs = max(1, min(jobs or os.cpu_count() or 1, n_tasks))
    with get_executor(scheduler=scheduler, max_workers=jobs) as ex:
        yield ex


def run(opts: Options, items: list[Item], state: dict[str, Any]) -> None:
    """Convert (in parallel), check and push every planned dataset; record each outcome."""
    todo = [it for it in items if it.action == "publish"]
    for it in items:
        if it.action == "skip":
            it.status, it.detail = "skipped", it.reason
            it.samples = state["datasets"][it.ds.name].get("counts", {}).get("samples")
            _say(opts, it, f"skipped: {it.reason}")
        elif it.action == "fail":
            _record_failure(opts, state, it, "source", it.reason)
        elif it.action == "push":
            rec = state["datasets"][it.ds.name]
            it.samples = rec.get("counts", {}).get("samples")
            _push(opts, state, it, rec["manifest_sha256"], rec.get("counts", {}))
    if not todo:
        return
    opts.work_dir.mkdir(parents=True, exist_ok=True)
    with executor(opts.jobs, opts.scheduler, len(todo)) as ex:
        futures: dict[cf.Future[dict[str, Any]], Item] = {}
        for it in todo:
            _say(opts, it, f"converting {it.ds.layout} ({it.reason})")
            futures[ex.submit(convert_task, _task(opts, it))] = it
        for fut in cf.as_completed(futures):
            it = futures[fut]
            try:
                result = fut.result()
            except Exception as err:  # noqa: BLE001 - a worker that died (killed, Dask lost it)
                result = {"error": f"the conversion did not finish: {_one_line(err)}"}
            _finish(opts, state, it, result)


def _task(opts: Options, it: Item) -> dict[str, Any]:
    ds = it.ds
    return {
        "name": ds.name,
        "layout": ds.layout,
        "sources": {k: [str(p) for p in v] for k, v in (it.paths or {}).items()},
        "fractions": ds.fractions,
        "options": ds.options,
        "expect": ds.expect,
        "card": ds.card,
        "out": str((opts.work_dir / ds.name).absolute()),
    }


def _finish(opts: Options, state: dict[str, Any], it: Item, result: dict[str, Any]) -> None:
    rec = state["datasets"].setdefault(it.ds.name, {})
    rec["conversions"] = rec.get("conversions", 0) + 1
    if "error" in result:
        if result.get("traceback"):
            print(result["traceback"], file=sys.stderr)
        _record_failure(opts, state, it, "convert", result["error"])
        return
    counts = result["counts"]
    it.samples = counts.get("samples")
    splits = ", ".join(f"{k}={v}" for k, v in sorted(counts["splits"].items()))
    _say(opts, it, f"converted in {result['seconds']:.1f} s: {counts['samples']} samples ({splits})")
    problems = check_counts(it.ds.expect, counts)
    if problems:
        _record_failure(opts, state, it, "validate", "; ".join(problems), counts=counts)
        return
    sha = result["manifest_sha256"]
    if (
        not opts.force
        and rec.get("status") == "done"
        and rec.get("manifest_sha256") == sha
        and (rec.get("entry_hash") == it.hash)
    ):
        it.status, it.detail = "up to date", "converted again: the same artifact as pushed"
        _save(opts, state)
        _say(opts, it, it.detail)
        return
    _push(opts, state, it, sha, counts)


def _push(opts: Options, state: dict[str, Any], it: Item, sha: str, counts: dict[str, Any]) -> None:
    import nb_hub

    ds = it.ds
    target = f"{ds.repo}@{ds.revision or 'main'}"
    _say(opts, it, f"pushing to {target}")
    rec = state["datasets"][ds.name]
    rec["pushes"] = rec.get("pushes", 0) + 1
    try:
        with warnings.catch_warnings(record=True) as caught:  # the filters in force still apply
            url = nb_hub.push(
                opts.work_dir / ds.name,
                ds.repo,
                private=ds.private,
                revision=ds.revision,
                commit_message=ds.commit_message
                or f"Publish {ds.name} ({ds.layout}) with scripts/publish.py",
                token=os.environ.get("HF_TOKEN") or None,
                endpoint=opts.endpoint,
                preview=opts.preview,
                show_progress=False,
            )
    except Exception as err:  # noqa: BLE001 - one dataset's failure must not stop the others
        if os.environ.get("NB_DEBUG"):
            traceback.print_exc()
        _record_failure(opts, state, it, "push", _one_line(err), counts=counts)
        return
    for w in caught:
        if issubclass(w.category, DeprecationWarning | PendingDeprecationWarning):
            continue  # about the libraries' own code, not the dataset
        text = " ".join(str(w.message).split())
        if type(w.message).__name__ == "NoLicenseWarning":
            text = "the card says 'license: unknown': set card.license for this dataset in the spec"
        _say(opts, it, f"warning: {text}")
    rec.update(
        status="done",
        stage="push",
        error=None,
        entry_hash=it.hash,
        manifest_sha256=sha,
        repo=ds.repo,
        revision=ds.revision,
        url=url,
        counts=counts,
        updated=_now(),
    )
    _save(opts, state)
    it.status, it.detail = "pushed", url
    _say(opts, it, f"pushed: {url}")


def _record_failure(
    opts: Options,
    state: dict[str, Any],
    it: Item,
    stage: str,
    error: str,
    counts: dict[str, Any] | None = None,
) -> None:
    rec = state["datasets"].setdefault(it.ds.name, {})
    error = error if len(error) <= 2000 else error[:1997] + "..."
    rec.update(status="failed", stage=stage, error=error, entry_hash=it.hash, repo=it.ds.repo, updated=_now())
    if counts is not None:
        rec["counts"] = counts
    rec["manifest_sha256"] = manifest_sha(opts.work_dir / it.ds.name) if stage == "push" else None
    _save(opts, state)
    it.status, it.detail = "FAILED", f"{stage}: {error}"
    _say(opts, it, f"FAILED at {stage}: {error}")


def _save(opts: Options, state: dict[str, Any]) -> None:
    opts.state_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(opts.state_path, state)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _say(opts: Options, it: Item, text: str) -> None:
    n = len(opts.spec.datasets)
    print(f"[{it.ds.index + 1}/{n}] {it.ds.name}: {text}", file=opts.out, flush=True)


def summary(items: list[Item], out: TextIO) -> None:
    """The table printed at the end of a run."""
    rows = [("dataset", "layout", "status", "samples", "repo", "detail")]
    for it in items:
        samples = "-" if it.samples is None else str(it.samples)
        rows.append((it.ds.name, it.ds.layout, it.status, samples, it.ds.repo, it.detail))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print("", file=out)
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[5], file=out)
    failed = sum(it.status == "FAILED" for it in items)
    done = sum(it.status in ("pushed", "up to date", "skipped") for it in items)
    print(f"\n{done} of {len(items)} published, {failed} failed", file=out)


# -- command line -------------------------------------------------------------------------------------
EPILOG = """\
examples:
  python scripts/publish.py publish.yaml --dry-run                # print the plan; change nothing
  python scripts/publish.py publish.yaml --jobs 2                 # convert 2 datasets at a time, push
  python scripts/publish.py publish.yaml --only rest-hdf5 --force --jobs 0    # redo one, in this process
  python scripts/publish.py publish.yaml --scheduler threads --state runs/publish.state.json --only rest-windows  # Dask

The Hub is HF_ENDPOINT (or --endpoint) and the token HF_TOKEN (or `hf auth login`). Exit status:
0 when every dataset is published, 1 when some failed (the others still proceed), 2 for a bad
spec or command line. See scripts/README.md for the spec.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="publish.py",
        description="Convert, check and push every dataset of a YAML spec to the Hugging Face Hub;\n"
        "a rerun skips what is done and retries what failed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", help="the spec (YAML)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="datasets converted at once (default: CPUs; 0: inline)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="convert on Dask: a scheduler address (tcp://host:8786), or threads / processes for a "
        "local Dask cluster (needs dask[distributed])",
    )
    p.add_argument(
        "--state", metavar="PATH", help="state file (default: SPEC's name + .state.json beside it)"
    )
    p.add_argument(
        "--work-dir", metavar="DIR", help="where converted artifacts are kept (default: SPEC's name + .work)"
    )
    p.add_argument("--endpoint", metavar="URL", help="Hub URL (default: HF_ENDPOINT or huggingface.co)")
    p.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="publish only this dataset (repeatable)"
    )
    p.add_argument("--force", action="store_true", help="convert and push again even what is done")
    p.add_argument("--no-preview", action="store_true", help="push cards without a preview image")
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit status (0 all published, 1 some failed, 2 bad input)."""
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    try:
        spec = load_spec(args.spec)
        unknown = [n for n in args.only if n not in {d.name for d in spec.datasets}]
        if unknown:
            raise UserError(f"--only {unknown[0]}: no dataset of that name in {spec.path}")
        if args.jobs is not None and args.jobs < 0:
            raise UserError(f"--jobs must be 0 or more; got {args.jobs}")
        stem = spec.path.with_suffix("")
        opts = Options(
            spec=spec,
            state_path=Path(args.state) if args.state else stem.with_name(stem.name + ".state.json"),
            work_dir=Path(args.work_dir) if args.work_dir else stem.with_name(stem.name + ".work"),
            endpoint=args.endpoint,
            jobs=args.jobs,
            scheduler=args.scheduler,
            preview=not args.no_preview,
            force=args.force,
            out=out,
        )
        if args.dry_run:
            print_plan(plan(opts, read_state(opts.state_path), args.only), opts)
            return 0
        opts.state_path.parent.mkdir(parents=True, exist_ok=True)
        with state_lock(opts.state_path):  # read, plan and run under the lock
            state = read_state(opts.state_path)
            items = plan(opts, state, args.only)
            run(opts, items, state)
    except (NBError, OSError) as err:  # a bad spec or command line; a state file that cannot be written
        if os.environ.get("NB_DEBUG"):
            raise
        print(f"publish: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("publish: interrupted; the state file keeps what finished: run again to go on", file=sys.stderr)
        return 130
    summary(items, out)
    return 1 if any(it.status == "FAILED" for it in items) else 0


if __name__ == "__main__":
    sys.exit(main())
