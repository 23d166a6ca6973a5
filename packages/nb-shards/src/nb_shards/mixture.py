"""``Mixture``: several sources, filtered, mapped to the model's inputs and mixed by weight, as
one deterministic, exactly resumable dataset (`ShardLoader` takes it, or its YAML spec, as a source).

An epoch is a global order of ``N`` samples: source ``i`` gets ``round(N·wᵢ)`` of them (exact
to one sample), spread evenly through the epoch with a random jitter (any stretch of the order
holds each source in proportion, to about two samples), and its kept samples in a new
permutation each pass. ``N``:

- ``epoch: {samples: N}``: ``N`` samples;
- ``epoch: {until: largest}`` (the default): until the source that lasts longest at its weight
  has given each of its samples once (the others repeat, reshuffled each pass);
- ``epoch: {until: smallest}``: until the first source is used up (no sample repeats).

The order depends only on the spec (seed, weights, filters) and the epoch, never on workers or
ranks: ranks and workers take their part of it as with `ShardDataset`, so `ShardLoader`'s state
(the epoch and a global position) resumes with other workers or another world size.

Example:
    >>> import tempfile, numpy as np
    >>> from nb_shards.writer import ShardWriter
    >>> root = tempfile.mkdtemp()
    >>> for name, n in (("a", 8), ("b", 8)):
    ...     with ShardWriter(f"{root}/{name}") as w:
    ...         for i in range(n):
    ...             w.write({"__key__": f"{name}{i}", "eeg.npy": np.full(3, i, "float32"),
    ...                      "json": {"subject": f"0{i % 4}", "target": i % 2}})
    >>> mix = Mixture({"seed": 0, "epoch": {"samples": 10}, "sources": [
    ...     {"path": f"{root}/a", "weight": 0.7, "filter": {"subject": {"in": ["01", "02"]}},
    ...      "columns": {"x": "eeg", "y": "json.target"}},
    ...     {"path": f"{root}/b", "weight": 0.3, "columns": {"x": "eeg", "y": "json.target"}}]},
    ...     cache_dir=tempfile.mkdtemp())
    >>> [(p["source"], p["kept"], p["per_epoch"]) for p in mix.plan()]
    [('a', 4, 7), ('b', 8, 3)]
    >>> s = next(iter(mix))
    >>> sorted(s), s["x"].shape
    (['__key__', '__source__', 'x', 'y'], (3,))
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.errors import IncompatibleDataError, SchemaError, UserError
from nb_core.validation import check_option
from nb_shards.dataset import RankedEpoch, collate
from nb_shards.mixfilter import compile_filter
from nb_shards.mixsources import SHUFFLE_WINDOW, MixSource, metadata_index, open_source
from nb_shards.mixspec import ColumnSpec, MixSpec, SourceSpec, parse_spec, read_spec

__all__ = ["Mixture", "as_mixture"]

_MISSING = object()
SPEC_SUFFIXES = (".yaml", ".yml")


def _get(sample: Mapping[str, Any], name: str) -> Any:
    """Field ``name`` of a sample: a member (``eeg``), a JSON path (``json.target``), or a bare
    JSON field (``target``)."""
    if name in sample:
        return sample[name]
    parts = name.split(".")
    if parts[0] == "json":
        parts = parts[1:]
    cur: Any = sample.get("json")
    for p in parts:
        if not isinstance(cur, Mapping) or p not in cur:
            return _MISSING
        cur = cur[p]
    return cur


def _describe(v: Any) -> tuple[str, str | None, tuple[int, ...] | None]:
    """(kind, dtype, shape) of a field's value, for the column checks."""
    if isinstance(v, np.ndarray):
        return "array", v.dtype.name, tuple(v.shape)
    if isinstance(v, bool):
        return "bool", None, None
    if isinstance(v, (int, float)):
        return "number", None, None
    if isinstance(v, str):
        return "string", None, None
    return type(v).__name__, None, None


@dataclass
class MixOrder:
    """Global order of an epoch: ``source[g]`` and ``row[g]`` (sample number in that source)."""

    source: list[int]
    row: list[int]

    def __len__(self) -> int:
        return len(self.source)


def _apportion(n: int, weights: np.ndarray, caps: np.ndarray | None) -> np.ndarray:
    """Integers summing to ``n`` (less when capped) in proportion to ``weights`` (largest remainder)."""
    exact = n * weights
    c = np.floor(exact).astype(np.int64)
    if caps is not None:
        c = np.minimum(c, caps)
    rest = n - int(c.sum())
    for i in np.argsort(-(exact - np.floor(exact)), kind="stable"):
        if rest <= 0:
            break
        if caps is None or c[i] < caps[i]:
            c[i] += 1
            rest -= 1
    return c


class Mixture(RankedEpoch):
    """Samples of several sources, filtered, mapped and mixed by weight (see the module doc).

    Args:
        spec: a YAML spec file (``mix.yaml``), or the spec as a dict (or a parsed `MixSpec`)::

            seed: 0
            epoch: {samples: 2000}          # or {until: largest} / {until: smallest}
            sources:
              - path: shards/a              # nb-shards artifact, hf://datasets/org/name,
                weight: 0.7                 # nb-formats artifact or Parquet
                filter: {subject: {in: ["01", "02"]}, target: {ge: 1}}
                columns: {x: eeg, y: json.target}
              - path: shards/b
                weight: 0.3
                columns: {x: eeg, y: json.target}

            A source may also have ``name`` (default: the last part of the path; it is
            ``__source__``), ``split``, ``kind`` (``auto``, ``shards``, ``formats``, ``parquet``),
            ``config`` (a converted BIDS dataset's ``data/<config>``, default ``eeg``) and
            ``window_size`` (nb-formats: window the recordings now). A column may be given long:
            ``{field: eeg, dtype: float32, shape: [2, null]}``. ``shuffle: false`` keeps each
            source's order. Relative paths are relative to the spec file.
        cache_dir: the cache of remote shards; the metadata index lies in its ``meta/`` folder.
        storage_options (`dict`, *optional*): fsspec options for URLs (``{"endpoint": ...}``).
        rank, world_size, uneven, batch_size, drop_last, decode, collate_fn, epoch, start: as for
            `ShardDataset` (``decode`` is ``"numpy"`` or ``"torch"``).

    Raises:
        SchemaError: a bad spec (file, line and field named), or a filter or column field that a
            source does not have.
        IncompatibleDataError: two sources whose mapped columns differ in kind, dtype or shape, or a
            column that does not match its declared dtype/shape.
        UserError: a filter that keeps no sample of a source, or bad options.

    Example:
        >>> import tempfile, numpy as np
        >>> from nb_shards.writer import ShardWriter
        >>> root = tempfile.mkdtemp()
        >>> for name in ("a", "b"):
        ...     with ShardWriter(f"{root}/{name}") as w:
        ...         for i in range(6):
        ...             w.write({"__key__": f"{name}{i}", "eeg.npy": np.zeros(4, "float32"),
        ...                      "json": {"subject": f"0{i % 3}", "target": i % 2}})
        >>> with open(f"{root}/mix.yaml", "w") as f:
        ...     _ = f.write("seed: 0\\nepoch: {samples: 10}\\nsources:\\n"
        ...                 "  - {path: a, weight: 0.7, filter: {subject: '01'}, columns: {x: eeg}}\\n"
        ...                 "  - {path: b, weight: 0.3, columns: {x: eeg}}\\n")
        >>> mix = Mixture(f"{root}/mix.yaml", cache_dir=f"{root}/cache", batch_size=5)
        >>> [(p["kept"], p["per_epoch"]) for p in mix.plan()], mix.inputs
        ([(2, 7), (6, 3)], {'x': 'float32 [4]'})
        >>> [sorted(set(b["__source__"])) for b in mix]
        [['a', 'b'], ['a', 'b']]
    """

    shuffle_window = 1

    def __init__(
        self,
        spec: str | os.PathLike[str] | Mapping[str, Any] | MixSpec,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        storage_options: dict[str, Any] | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        uneven: str = "pad",
        batch_size: int | None = None,
        drop_last: bool = False,
        decode: str = "numpy",
        collate_fn: Callable[[list[dict[str, Any]]], Any] | None = None,
        epoch: int = 0,
        start: int = 0,
    ) -> None:
        if isinstance(spec, MixSpec):
            self.spec = spec
        elif isinstance(spec, Mapping):
            self.spec = parse_spec(spec)
        else:
            self.spec = read_spec(spec)
        self.seed, self.shuffle = self.spec.seed, self.spec.shuffle
        self.cache_dir, self.storage_options = cache_dir, storage_options
        self.configure(
            rank=rank,
            world_size=world_size,
            uneven=uneven,
            batch_size=batch_size,
            drop_last=drop_last,
            decode=decode,
            collate_fn=collate_fn,
            epoch=epoch,
            start=start,
        )
        self.skipped = 0
        self.sources: list[MixSource] = []
        self.rows: list[np.ndarray] = []
        self.n_total: list[int] = []
        for s in self.spec.sources:
            src, rows = self._open(s)
            self.sources.append(src)
            self.rows.append(rows)
            self.n_total.append(len(src))
        self.groups = [src.groups(rows) for src, rows in zip(self.sources, self.rows)]
        self.inputs: dict[str, str] = {}
        self.columns = self._check_columns()
        self.weights = np.array([s.weight for s in self.spec.sources]) / sum(
            s.weight for s in self.spec.sources
        )
        self.counts = self._epoch_counts()
        self._order: tuple[int, MixOrder] | None = None
        self._fingerprint: str | None = None

    # -- building -----------------------------------------------------------------------------------
    def _path(self, s: SourceSpec) -> str:
        if "://" in s.path or self.spec.base is None or Path(s.path).is_absolute():
            return s.path
        return str(self.spec.base / s.path)

    def _open(self, s: SourceSpec) -> tuple[MixSource, np.ndarray]:
        src = open_source(
            self._path(s),
            kind=s.kind,
            split=s.split,
            config=s.config,
            window_size=s.window_size,
            storage_options=self.storage_options,
            cache_dir=self.cache_dir,
        )
        _, cols = metadata_index(src, cache_dir=self.cache_dir)
        where = self.spec.lines.field(("sources", s.index, "filter"))
        rows = (
            np.flatnonzero(compile_filter(s.filter, cols, where=where)) if s.filter else np.arange(len(src))
        )
        if len(rows) == 0:
            raise UserError(
                f"{where}: the filter keeps no sample of {s.path!r} (it has {len(src)}); "
                "check the values with `nb shards mix SPEC --dry-run`"
            )
        return src, rows

    def _check_columns(self) -> dict[str, dict[str, ColumnSpec]] | None:
        specs = self.spec.sources
        mapped = [s.columns for s in specs]
        if all(c is None for c in mapped):
            return None
        lk = self.spec.lines
        ref_names = None
        ref: dict[str, tuple[str, tuple[str, str | None, tuple[int, ...] | None]]] = {}
        for s, cols, src, rows in zip(specs, mapped, self.sources, self.rows):
            at = ("sources", s.index, "columns")
            if cols is None:
                raise lk.error(at, "missing: when one source maps columns, every source must")
            if ref_names is None:
                ref_names = list(cols)
            elif sorted(cols) != sorted(ref_names):
                raise lk.error(
                    at, f"maps {sorted(cols)}, the first source {sorted(ref_names)}; map the same inputs"
                )
            sample = src.read(int(rows[0]))
            for name, c in cols.items():
                desc = self._column_desc(sample, c, (*at, name), s)
                if name not in ref:
                    ref[name] = (s.name, desc)
                elif ref[name][1] != desc:
                    other, d0 = ref[name]
                    raise IncompatibleDataError(
                        f"{lk.field((*at, name))}: input {name!r} is {_fmt(desc)} in source {s.name!r} but "
                        f"{_fmt(d0)} in source {other!r}; map fields that agree (or convert one source)"
                    )
        #: What each input is (``{"x": "float32 [4, 50]", "y": "a number"}``; ``*``: a free axis).
        self.inputs = {name: _fmt(desc) for name, (_, desc) in ref.items()}
        return {s.name: dict(s.columns or {}) for s in specs}

    def _column_desc(
        self, sample: Mapping[str, Any], c: ColumnSpec, at: tuple[Any, ...], s: SourceSpec
    ) -> tuple[str, str | None, tuple[int, ...] | None]:
        v = _get(sample, c.field)
        lk = self.spec.lines
        if v is _MISSING:
            fields = [k for k in sample if k not in ("json", "__key__")] + [
                f"json.{k}" for k in sample.get("json") or {}
            ]
            raise SchemaError(
                f"source {s.name!r} has no field {c.field!r}; its fields: {', '.join(fields[:30])}",
                field=lk.field(at),
            )
        desc = _describe(v)
        if c.dtype is not None and desc[1] != c.dtype:
            raise IncompatibleDataError(
                f"{lk.field(at)}: source {s.name!r} gives {_fmt(desc)}, not {c.dtype}"
            )
        if c.shape is not None and (
            desc[2] is None
            or len(desc[2]) != len(c.shape)
            or any(e is not None and e != d for e, d in zip(c.shape, desc[2]))
        ):
            raise IncompatibleDataError(
                f"{lk.field(at)}: source {s.name!r} gives {_fmt(desc)}, not shape {list(c.shape)}"
            )
        if c.shape is not None and desc[2] is not None:  # free axes may differ between sources
            desc = (desc[0], desc[1], tuple(d if e is not None else -1 for e, d in zip(c.shape, desc[2])))
        return desc

    def _epoch_counts(self) -> np.ndarray:
        kept = np.array([len(r) for r in self.rows], dtype=np.int64)
        how, value = self.spec.epoch
        caps = None
        if how == "samples":
            n = int(value)
        elif value == "largest":
            n = max(math.ceil(k / w - 1e-9) for k, w in zip(kept.tolist(), self.weights.tolist()))
        else:
            n = max(1, min(math.floor(k / w + 1e-9) for k, w in zip(kept.tolist(), self.weights.tolist())))
            caps = kept
        return _apportion(n, self.weights, caps)

    # -- the dataset protocol of ShardLoader --------------------------------------------------------
    def configure(
        self,
        *,
        rank: int | None = None,
        world_size: int | None = None,
        uneven: str = "pad",
        batch_size: int | None = None,
        drop_last: bool = False,
        decode: str = "numpy",
        collate_fn: Callable[[list[dict[str, Any]]], Any] | None = None,
        epoch: int = 0,
        start: int = 0,
    ) -> Mixture:
        """Set how this process reads the mixture (rank, batches, decoding); returns ``self``.

        Raises:
            UserError: bad options.
        """
        check_option(uneven, ("pad", "drop"), name="uneven")
        check_option(decode, ("numpy", "torch"), name="decode")
        if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
            raise UserError(f"batch_size must be a positive integer; got {batch_size!r}")
        if world_size is not None and (world_size < 1 or rank is None or not 0 <= rank < world_size):
            raise UserError(f"rank must be in [0, world_size); got rank={rank}, world_size={world_size}")
        self.rank, self.world_size, self.uneven = rank, world_size, uneven
        self.batch_size, self.drop_last, self.decode = batch_size, drop_last, decode
        self.collate_fn, self.epoch, self.start = collate_fn, int(epoch), int(start)
        return self

    def configured(self, **options: Any) -> Mixture:
        """A copy of this mixture with other read options (see :meth:`configure`); sources are shared."""
        return copy.copy(self).configure(**options)

    @property
    def source(self) -> Mixture:
        """The mixture itself (`ShardLoader` asks its dataset's source for :meth:`fingerprint`)."""
        return self

    def fingerprint(self) -> str:
        """Identifies the sources (their data), filters, weights and epoch, to check a resume state."""
        if self._fingerprint is None:
            self._fingerprint = self._make_fingerprint()
        return self._fingerprint

    def _make_fingerprint(self) -> str:
        text = json.dumps(
            [
                self.spec.epoch,
                self.counts.tolist(),
                [
                    [s.name, src.fingerprint(), s.filter, len(r)]
                    for s, src, r in zip(self.spec.sources, self.sources, self.rows)
                ],
            ],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def n_samples(self) -> int:
        """Samples in an epoch (all ranks)."""
        return int(self.counts.sum())

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (the same on every rank)."""
        self.epoch = int(epoch)

    def order(self) -> MixOrder:
        """The global order of the current epoch."""
        if self._order is None or self._order[0] != self.epoch:
            self._order = (self.epoch, self._make_order(self.epoch))
        return self._order[1]

    def _make_order(self, epoch: int) -> MixOrder:
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.seed >> 32, int(epoch), 0])
        # Stratified: the k-th sample of a source that gets c lands uniformly within slot [k, k+1)/c
        # of the epoch. Any stretch of the order then holds each source in proportion (to about
        # two samples), and the jitter keeps a rank's every-W-th sample from falling in step with
        # the sources (a regular a,b,a,b would give rank 0 of 2 only a).
        keys = np.concatenate([(np.arange(c) + rng.random(c)) / c for c in self.counts.tolist() if c])
        which = np.concatenate([np.full(c, i, np.int64) for i, c in enumerate(self.counts.tolist()) if c])
        src = which[np.argsort(keys, kind="stable")]
        row = np.empty(len(src), np.int64)
        for i, c in enumerate(self.counts.tolist()):
            if c:
                row[src == i] = self._source_rows(i, int(c), epoch)
        return MixOrder(src.tolist(), row.tolist())

    def _source_rows(self, i: int, c: int, epoch: int) -> np.ndarray:
        """The first ``c`` rows of source ``i`` in passes over its kept rows; each pass shuffled as
        `ShardDataset` shuffles: files in a random order, rows mixed within windows of
        `SHUFFLE_WINDOW` files (reads stay local; a few files open per source)."""
        rows = self.rows[i]
        passes = []
        for p in range(-(-c // len(rows))):
            if not self.shuffle:
                passes.append(rows)
                continue
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.seed >> 32, int(epoch), i + 1, p])
            groups = self.groups[i]
            if groups is None:
                passes.append(rows[rng.permutation(len(rows))])
                continue
            rank = np.empty(int(groups.max()) + 1, np.int64)
            rank[rng.permutation(len(rank))] = np.arange(len(rank))
            window = rank[groups] // SHUFFLE_WINDOW
            passes.append(rows[np.lexsort((rng.random(len(rows)), window))])
        return np.concatenate(passes)[:c]

    # -- reading ------------------------------------------------------------------------------------
    def sample(self, i: int, row: int) -> dict[str, Any]:
        """Row ``row`` of source ``i``, mapped: the inputs, ``__key__`` and ``__source__``."""
        s = self.sources[i].read(row)
        name = self.spec.sources[i].name
        out: dict[str, Any] = {"__key__": s["__key__"], "__source__": name}
        if self.columns is None:
            out.update((k, v) for k, v in s.items() if k != "__key__")
            return out
        for col, c in self.columns[name].items():
            out[col] = _get(s, c.field)
        return out

    def _batch(self, samples: list[dict[str, Any]]) -> Any:
        if self.collate_fn is not None:
            return self.collate_fn(samples)
        torch = self.decode == "torch"
        b = collate(samples, to_torch=torch)
        for name, v in b.items():
            if name.startswith("__") or not isinstance(v, list) or not v:
                continue
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                arr = np.asarray(v)
                b[name] = _as_torch(arr) if torch else arr
        return b

    def _one(self, order: MixOrder, g: int) -> Any:
        s = self.sample(order.source[g], order.row[g])
        return _torch_sample(s) if self.decode == "torch" else s

    def _read(self, order: MixOrder, gs: list[int]) -> Any:
        return self._batch([self.sample(order.source[g], order.row[g]) for g in gs])

    # -- the plan -----------------------------------------------------------------------------------
    def plan(self) -> list[dict[str, Any]]:
        """Per source: path, kind, samples before/after the filter, weight, samples per epoch, share of
        an epoch, passes over its kept samples per epoch, and the mapped columns."""
        out = []
        n = max(1, self.n_samples)
        for s, src, rows, c in zip(self.spec.sources, self.sources, self.rows, self.counts.tolist()):
            out.append(
                {
                    "source": s.name,
                    "path": s.path,
                    "kind": src.kind,
                    "total": len(src),
                    "kept": len(rows),
                    "weight": s.weight,
                    "per_epoch": c,
                    "share": c / n,
                    "passes": c / len(rows),
                    "columns": {k: v.field for k, v in (s.columns or {}).items()},
                }
            )
        return out

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self.spec.sources)
        return f"Mixture([{names}], epoch={self.n_samples} samples, seed={self.seed})"


def _as_torch(arr: np.ndarray) -> Any:
    from nb_core.validation import soft_import

    return soft_import("torch", "decode='torch'").from_numpy(arr)


def _torch_sample(s: dict[str, Any]) -> dict[str, Any]:
    return {k: _as_torch(np.array(v)) if isinstance(v, np.ndarray) else v for k, v in s.items()}


def _fmt(desc: tuple[str, str | None, tuple[int, ...] | None]) -> str:
    kind, dtype, shape = desc
    if kind != "array":
        return f"a {kind}"
    dims = ", ".join("*" if d == -1 else str(d) for d in (shape or ()))
    return f"{dtype} [{dims}]"


def as_mixture(
    source: Any,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Mixture | None:
    """``source`` as a `Mixture` when it is one or names a spec file (``*.yaml``/``*.yml``), else `None`."""
    if isinstance(source, Mixture):
        return source
    if isinstance(source, (str, os.PathLike)) and os.fspath(source).lower().endswith(SPEC_SUFFIXES):
        return Mixture(source, cache_dir=cache_dir, storage_options=storage_options)
    return None
