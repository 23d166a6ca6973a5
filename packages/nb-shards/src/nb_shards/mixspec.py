"""The mixture spec: YAML (or a Python dict) → checked :class:`MixSpec`, errors naming line and field.

A spec is data, never code: YAML is read with ``yaml.safe_load`` (no tags that build objects), and
filters are mappings of comparisons (see `nb_shards.mixfilter`). Every error names the spec file,
the line and the field (``mix.yaml line 7: sources[0].weight: ...``).

Example:
    >>> spec = parse_spec_text('''
    ... seed: 0
    ... epoch: {samples: 100}
    ... sources:
    ...   - {path: shards/a, weight: 0.7, columns: {x: eeg}}
    ...   - {path: shards/b, weight: 0.3, columns: {x: eeg}}
    ... ''', where="mix.yaml")
    >>> [s.weight for s in spec.sources], spec.epoch
    ([0.7, 0.3], ('samples', 100))
    >>> parse_spec_text("sources: []", where="bad.yaml")
    Traceback (most recent call last):
    ...
    nb_core.errors.SchemaError: bad.yaml line 1: sources: must be a non-empty list of sources
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_core.errors import InputNotFoundError, SchemaError
from nb_core.validation import soft_import

__all__ = ["ColumnSpec", "MixSpec", "SourceSpec", "parse_spec", "parse_spec_text", "read_spec"]

#: Keys of a spec, of a source and of a long-form column.
SPEC_KEYS = ("seed", "epoch", "shuffle", "sources")
SOURCE_KEYS = ("path", "name", "weight", "filter", "columns", "split", "kind", "config", "window_size")
COLUMN_KEYS = ("field", "dtype", "shape")
KINDS = ("auto", "shards", "formats", "parquet")
#: Largest spec file read (bytes).
MAX_SPEC_BYTES = 1 << 20


class Lines:
    """Line numbers of the fields of a YAML document (``("sources", 0, "weight")`` → line)."""

    def __init__(self, where: str, lines: dict[tuple[Any, ...], int] | None = None) -> None:
        self.where = where
        self.lines = lines or {}

    def field(self, path: tuple[Any, ...]) -> str:
        """``where line N: dotted.path`` for the innermost known line of ``path``."""
        name = _dotted(path)
        for k in range(len(path), -1, -1):
            line = self.lines.get(path[:k])
            if line is not None:
                return f"{self.where} line {line}: {name}" if name else f"{self.where} line {line}"
        return f"{self.where}: {name}" if name else self.where

    def error(self, path: tuple[Any, ...], message: str) -> SchemaError:
        return SchemaError(message, field=self.field(path))


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


@dataclass
class ColumnSpec:
    """One model input: the source ``field`` (``eeg``, ``json.target``) and optional expectations."""

    field: str
    dtype: str | None = None
    shape: tuple[int | None, ...] | None = None


@dataclass
class SourceSpec:
    """One source of a mixture (see `parse_spec`)."""

    path: str
    weight: float
    name: str
    filter: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, ColumnSpec] | None = None
    split: str | None = None
    kind: str = "auto"
    config: str | None = None
    window_size: int | None = None
    index: int = 0


@dataclass
class MixSpec:
    """A checked mixture spec. ``epoch`` is ``("samples", N)``, ``("until", "largest")`` or
    ``("until", "smallest")``."""

    sources: list[SourceSpec]
    seed: int = 0
    epoch: tuple[str, Any] = ("until", "largest")
    shuffle: bool = True
    lines: Lines = field(default_factory=lambda: Lines("mixture spec"))
    base: Path | None = None


def _yaml_lines(text: str, where: str) -> tuple[Any, Lines]:
    """The document (``yaml.safe_load``) and the line of every mapping key and list item."""
    yaml = soft_import("yaml", "Reading mixture specs", extra="nb-shards")
    try:
        value = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SchemaError(f"not valid YAML ({problem}); fix the spec file", field=f"{where}{line}") from None
    except RecursionError:
        raise SchemaError("nested too deeply; not a mixture spec", field=where) from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _walk(node, (), lines, Lines(where, lines), set())
    return value, Lines(where, lines)


def _walk(
    node: Any, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], lk: Lines, done: set[int]
) -> None:
    """Record the line of every key and item (an aliased node once: ``*alias`` never multiplies the work)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in done:
        return
    done.add(id(node))
    if node.tag.endswith(":map"):
        seen: set[str] = set()
        for k, v in node.value:
            if not isinstance(k.value, str):
                continue
            if k.value in seen:
                raise SchemaError(
                    f"duplicate key {k.value[:60]!r}; keep one",
                    field=f"{lk.where} line {k.start_mark.line + 1}",
                )
            seen.add(k.value)
            lines[(*path, k.value)] = k.start_mark.line + 1
            _walk(v, (*path, k.value), lines, lk, done)
    elif node.tag.endswith(":seq"):
        for i, v in enumerate(node.value):
            _walk(v, (*path, i), lines, lk, done)


def parse_spec_text(text: str, *, where: str = "mixture spec", base: Path | None = None) -> MixSpec:
    """Parse a YAML spec.

    Raises:
        SchemaError: not YAML, or not a valid spec (file, line and field named).
    """
    value, lines = _yaml_lines(text, where)
    return parse_spec(value, lines=lines, base=base)


def read_spec(path: str | os.PathLike[str]) -> MixSpec:
    """Read a YAML spec file; relative source paths are relative to the file's folder.

    Raises:
        InputNotFoundError: no such file.
        SchemaError: not a valid spec.
    """
    p = Path(path)
    try:
        data = p.read_bytes()[: MAX_SPEC_BYTES + 1]
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise InputNotFoundError(f"{p}: no such mixture spec file") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SchemaError(f"larger than {MAX_SPEC_BYTES} bytes; not a mixture spec", field=str(p))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SchemaError("not UTF-8 text; not a mixture spec", field=str(p)) from None
    return parse_spec_text(text, where=str(p), base=p.resolve().parent)


def parse_spec(value: Any, *, lines: Lines | None = None, base: Path | None = None) -> MixSpec:
    """Check a spec given as Python data (the structure of the YAML form).

    Raises:
        SchemaError: what is wrong, with the field (and line, from YAML).
    """
    lk = lines or Lines("mixture spec")
    if not isinstance(value, Mapping):
        raise lk.error((), "a mixture spec must be a mapping with 'sources' (and 'seed', 'epoch')")
    _unknown(value, SPEC_KEYS, (), lk)
    seed = value.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise lk.error(("seed",), f"must be a non-negative integer; got {seed!r}")
    shuffle = value.get("shuffle", True)
    if not isinstance(shuffle, bool):
        raise lk.error(("shuffle",), f"must be true or false; got {shuffle!r}")
    raw = value.get("sources")
    if not isinstance(raw, list) or not raw:
        raise lk.error(("sources",), "must be a non-empty list of sources")
    sources = [_source(s, i, lk) for i, s in enumerate(raw)]
    names = [s.name for s in sources]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise lk.error(("sources", i, "name"), f"two sources are named {n!r}; give them distinct names")
    return MixSpec(
        sources, seed=seed, epoch=_epoch(value.get("epoch"), lk), shuffle=shuffle, lines=lk, base=base
    )


def _unknown(d: Mapping[Any, Any], allowed: tuple[str, ...], path: tuple[Any, ...], lk: Lines) -> None:
    for k in d:
        if k not in allowed:
            raise lk.error((*path, k), f"unknown key {str(k)[:60]!r}; expected one of {', '.join(allowed)}")


def _epoch(v: Any, lk: Lines) -> tuple[str, Any]:
    if v is None:
        return ("until", "largest")
    if not isinstance(v, Mapping) or len(v) != 1:
        raise lk.error(("epoch",), "must be {samples: N}, {until: largest} or {until: smallest}")
    _unknown(v, ("samples", "until"), ("epoch",), lk)
    if "samples" in v:
        n = v["samples"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 2**40:
            raise lk.error(("epoch", "samples"), f"must be a positive integer; got {n!r}")
        return ("samples", n)
    until = v["until"]
    if until not in ("largest", "smallest"):
        raise lk.error(("epoch", "until"), f"must be largest or smallest; got {str(until)[:40]!r}")
    return ("until", until)


def _source(s: Any, i: int, lk: Lines) -> SourceSpec:
    at = ("sources", i)
    if not isinstance(s, Mapping):
        raise lk.error(at, "a source must be a mapping with 'path' (and 'weight', 'filter', 'columns')")
    _unknown(s, SOURCE_KEYS, at, lk)
    path = s.get("path")
    if not isinstance(path, str) or not path.strip():
        raise lk.error((*at, "path"), f"must be a path or URL; got {str(path)[:60]!r}")
    weight = s.get("weight", 1.0)
    if (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or not math.isfinite(weight)
        or weight <= 0
    ):
        raise lk.error((*at, "weight"), f"must be a positive number; got {str(weight)[:40]!r}")
    name = s.get("name", _default_name(path))
    if not isinstance(name, str) or not name:
        raise lk.error((*at, "name"), f"must be a non-empty string; got {name!r}")
    kind = s.get("kind", "auto")
    if kind not in KINDS:
        raise lk.error((*at, "kind"), f"must be one of {', '.join(KINDS)}; got {str(kind)[:40]!r}")
    for key in ("split", "config"):
        if s.get(key) is not None and not isinstance(s[key], str):
            raise lk.error((*at, key), f"must be a string; got {s[key]!r}")
    ws = s.get("window_size")
    if ws is not None and (isinstance(ws, bool) or not isinstance(ws, int) or ws < 1):
        raise lk.error((*at, "window_size"), f"must be a positive integer (samples); got {ws!r}")
    from nb_shards.mixfilter import check_filter

    flt = s.get("filter") or {}
    check_filter(flt, lambda p, m: lk.error((*at, "filter", *p), m))
    return SourceSpec(
        path=path,
        weight=float(weight),
        name=name,
        filter=dict(flt),
        columns=_columns(s.get("columns"), (*at, "columns"), lk),
        split=s.get("split"),
        kind=kind,
        config=s.get("config"),
        window_size=ws,
        index=i,
    )


def _default_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or path


def _columns(v: Any, at: tuple[Any, ...], lk: Lines) -> dict[str, ColumnSpec] | None:
    if v is None:
        return None
    if not isinstance(v, Mapping) or not v:
        raise lk.error(at, "must map model inputs to source fields, e.g. {x: eeg, y: json.target}")
    out = {}
    for name, c in v.items():
        if not isinstance(name, str) or not name or name.startswith("__"):
            raise lk.error(
                (*at, name), f"an input name must be a string not starting with '__'; got {name!r}"
            )
        if isinstance(c, str) and c:
            out[name] = ColumnSpec(c)
            continue
        if not isinstance(c, Mapping):
            raise lk.error(
                (*at, name), f"must be a field name or {{field, dtype, shape}}; got {str(c)[:60]!r}"
            )
        _unknown(c, COLUMN_KEYS, (*at, name), lk)
        out[name] = _long_column(c, (*at, name), lk)
    return out


def _long_column(c: Mapping[str, Any], at: tuple[Any, ...], lk: Lines) -> ColumnSpec:
    f = c.get("field")
    if not isinstance(f, str) or not f:
        raise lk.error((*at, "field"), f"must be a source field name; got {f!r}")
    dtype = c.get("dtype")
    if dtype is not None:
        import numpy as np

        try:
            dtype = np.dtype(dtype).name if isinstance(dtype, str) else None
        except TypeError:
            dtype = None
        if dtype is None:
            raise lk.error(
                (*at, "dtype"), f"must be a NumPy dtype name (float32, int64...); got {c['dtype']!r}"
            )
    shape = c.get("shape")
    if shape is not None:
        if not isinstance(shape, list) or any(
            d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 0) for d in shape
        ):
            raise lk.error((*at, "shape"), f"must be a list of sizes (null for any); got {str(shape)[:60]!r}")
        shape = tuple(shape)
    return ColumnSpec(f, dtype, shape)
