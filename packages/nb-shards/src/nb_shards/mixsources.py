"""The sources a mixture reads, and their per-sample metadata index (cached as a Parquet sidecar).

Three kinds of source, each giving samples as ``{"__key__", <array fields>, "json": {...}}``:

- ``shards``: an nb-shards artifact, a folder of WebDataset tars, or a URL (``hf://datasets/...``);
- ``formats``: an nb-formats artifact (HDF5, Zarr, NumPy+Parquet), its windows through
  ``nb_formats.open`` (``window_size`` windows the recordings at open time); the metadata is the
  window (``recording_id``, ``start``, ``stop``, ``target``) and the BIDS entities of the recording id;
- ``parquet``: a Parquet file or folder, e.g. a BIDS dataset converted by nb-bids (``config``
  picks ``data/<config>/``, default ``eeg``); list columns are arrays, other columns metadata.

The metadata index of a source (every sample's key and JSON fields, flattened to ``json.a.b``) is
built once by reading only the metadata (the JSON members of the shards, the scalar columns of
Parquet, the window table) and cached as ``<cache>/meta/<key>.parquet``, keyed by the sha256 of the
source's manifest (or of its files' names, sizes and times without one). :data:`SCANS` counts the
scans of this process, per source path.

Example:
    >>> import tempfile, numpy as np
    >>> from nb_shards.writer import ShardWriter
    >>> out = tempfile.mkdtemp()
    >>> with ShardWriter(out) as w:
    ...     for i in range(3):
    ...         w.write({"__key__": f"k{i}", "eeg.npy": np.zeros(2, "float32"), "json": {"subject": f"0{i}"}})
    >>> src = open_source(out, kind="auto")
    >>> keys, cols = metadata_index(src, cache_dir=tempfile.mkdtemp())
    >>> keys, cols["json.subject"]
    (['k0', 'k1', 'k2'], ['00', '01', '02'])
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.atomic import atomic_path
from nb_core.errors import CorruptDataError, InputNotFoundError, UserError
from nb_core.manifest import MANIFEST_NAME
from nb_core.validation import safe_key, soft_import
from nb_shards.decode import _sample_json
from nb_shards.source import ShardSource, default_cache_dir, resolve_source

__all__ = ["SCANS", "MixSource", "metadata_index", "open_source"]

#: Shards (files) of a source whose samples are shuffled together: a source reads from at most this
#: many (+1) at a time, as `ShardDataset` with its default ``shuffle_window``.
SHUFFLE_WINDOW = 4
#: Version of the metadata sidecar (part of its cache key).
META_VERSION = 1
#: Metadata scans done in this process, per source path (the cache makes the second one unneeded).
SCANS: Counter[str] = Counter()
_BIDS = re.compile(r"(?:^|_)(sub|ses|task|acq|run|rec|space|desc)-([A-Za-z0-9]+)")
_ENTITY = {"sub": "subject", "ses": "session"}


def _flatten(d: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(d, dict) and d:
        for k, v in d.items():
            _flatten(v, f"{prefix}.{k}", out)
    else:
        out[prefix] = d


def bids_entities(recording_id: str) -> dict[str, str]:
    """BIDS entities of an id like ``sub-01_ses-02_task-rest_run-1`` (``subject``, ``session``, ...)."""
    return {_ENTITY.get(k, k): v for k, v in _BIDS.findall(recording_id)}


class MixSource:
    """A source of a mixture: sized, with keys and metadata, read by row (sample number)."""

    kind = ""
    path = ""

    def __len__(self) -> int:
        raise NotImplementedError

    def fingerprint(self) -> str:
        """sha256 (hex) identifying the data: of the manifest, else of the files."""
        raise NotImplementedError

    def scan(self) -> tuple[list[str], list[dict[str, Any]]]:
        """Keys and metadata (the ``json`` dict) of every sample, reading no arrays."""
        raise NotImplementedError

    def read(self, row: int) -> dict[str, Any]:
        """Sample ``row``: ``{"__key__", <array fields>, "json": dict}``."""
        raise NotImplementedError

    def groups(self, rows: np.ndarray) -> np.ndarray | None:
        """The file (shard) of each row, for a shuffle that keeps reads local; `None`: any order is cheap."""
        return None


class ShardsMixSource(MixSource):
    """Samples of an nb-shards artifact or WebDataset tars (local or a URL)."""

    kind = "shards"

    def __init__(self, src: ShardSource, path: str) -> None:
        self.src = src
        self.path = path
        self._cum = np.cumsum([0, *src.counts()])

    def __len__(self) -> int:
        return int(self._cum[-1])

    def fingerprint(self) -> str:
        if self.src.manifest is not None:
            return hashlib.sha256(self.src.manifest.to_json().encode()).hexdigest()
        parts = []
        for s, n in zip(self.src.shards, self.src.counts()):
            st = os.stat(s.url) if not s.remote else None
            parts.append([s.url, n, st.st_size if st else None, st.st_mtime_ns if st else None])
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def scan(self) -> tuple[list[str], list[dict[str, Any]]]:
        keys: list[str] = []
        meta: list[dict[str, Any]] = []
        for i in range(len(self.src.shards)):
            buf, idx = self.src.read_shard(i)
            name = self.src.shards[i].url
            for key, members in zip(idx.keys, idx.members):
                keys.append(key)
                m = members.get("json")
                if m is None:
                    meta.append({})
                    continue
                off, size = m
                if off + size > len(buf):
                    raise CorruptDataError(f"{name}: truncated: {key}.json at byte offset {off}")
                md = _sample_json(buf[off : off + size], name, key, off)
                meta.append(md if isinstance(md, dict) else {"value": md})
        return keys, meta

    def groups(self, rows: np.ndarray) -> np.ndarray | None:
        return np.searchsorted(self._cum, rows, side="right") - 1

    def read(self, row: int) -> dict[str, Any]:
        shard = int(np.searchsorted(self._cum, row, side="right")) - 1
        return self.src.open(shard).sample(row - int(self._cum[shard]))


class FormatsMixSource(MixSource):
    """Windows of an nb-formats artifact (map-style, ``nb_formats.open``)."""

    kind = "formats"

    def __init__(self, path: str, window_size: int | None) -> None:
        nb_formats = soft_import("nb_formats", "Mixing nb-formats artifacts", extra="nb-shards[formats]")
        self.path = path
        self.window_size = window_size
        self.ds = nb_formats.open(path, window_size=window_size)
        self.modality = str(self.ds.info.get("modality", "eeg"))

    def __len__(self) -> int:
        return len(self.ds)

    def fingerprint(self) -> str:
        text = self.ds.manifest.to_json() + json.dumps({"window_size": self.window_size})
        return hashlib.sha256(text.encode()).hexdigest()

    def _meta(self, i: int) -> tuple[str, dict[str, Any]]:
        w = self.ds.window(i).to_dict()
        w["entities"] = bids_entities(w["recording_id"])
        key = f"{safe_key(w['recording_id'], replacement='-', default='item')}_{i:06d}"
        return key, w

    def scan(self) -> tuple[list[str], list[dict[str, Any]]]:
        out = [self._meta(i) for i in range(len(self.ds))]
        return [k for k, _ in out], [m for _, m in out]

    def read(self, row: int) -> dict[str, Any]:
        key, md = self._meta(row)
        return {"__key__": key, self.modality: self.ds.read(row), "json": md}


def _is_array_type(pa: Any, t: Any) -> bool:
    return bool(
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_struct(t)
    )


def _leaf_dtype(pa: Any, t: Any) -> Any:
    while pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        t = t.value_type
    try:
        return np.dtype(t.to_pandas_dtype())
    except (NotImplementedError, TypeError):
        return None


class ParquetMixSource(MixSource):
    """Rows of Parquet files (a file, a folder, or a converted dataset's ``data/<config>/``)."""

    kind = "parquet"

    def __init__(
        self,
        path: str,
        split: str | None,
        config: str | None,
        *,
        storage_options: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.pq = soft_import("pyarrow.parquet", "Mixing Parquet sources", extra="nb-shards")
        self.path = path
        self._split, self._config = split, config
        self._remote_id: str | None = None
        self.files: list[Path]
        self.root: Path
        if _is_remote(path):
            rel, self.files, self._remote_id = _fetch_parquet(
                path, split, config, storage_options or {}, cache_dir
            )
            self.root = self.files[0].parent
            self._stems = [r.rsplit("/", 1)[-1].removesuffix(".parquet") for r in rel]
        else:
            self.root, self.files = _parquet_files(Path(path), split, config)
            self._stems = [f.stem for f in self.files]
        self._rows = [self.pq.ParquetFile(f).metadata.num_rows for f in self.files]
        self._cum = np.cumsum([0, *self._rows])
        self._cached: tuple[int, int, Any] | None = None
        self._handles: dict[int, tuple[Any, np.ndarray]] | None = None

    def __getstate__(self) -> dict[str, Any]:  # no open files travel to worker processes
        d = self.__dict__.copy()
        d["_cached"] = d["_handles"] = None
        d["pq"] = None
        return d

    def __setstate__(self, d: dict[str, Any]) -> None:
        self.__dict__.update(d)
        self.pq = soft_import("pyarrow.parquet", "Mixing Parquet sources", extra="nb-shards")

    def __len__(self) -> int:
        return int(self._cum[-1])

    def fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps([self._split, self._config]).encode())
        if self._remote_id is not None:  # the manifest (or listing) of the remote files
            h.update(self._remote_id.encode())
            return h.hexdigest()
        mf = self.root / MANIFEST_NAME
        if mf.is_file():
            h.update(mf.read_bytes())
        for f in self.files:
            st = f.stat()
            h.update(json.dumps([f.relative_to(self.root).as_posix(), st.st_size, st.st_mtime_ns]).encode())
        return h.hexdigest()

    def _key(self, k: int, r: int, row: dict[str, Any]) -> str:
        for name in ("__key__", "key", "id"):
            v = row.get(name)
            if isinstance(v, str) and v:
                return v
        return f"{safe_key(self._stems[k], replacement='-')}_{r:06d}"

    def scan(self) -> tuple[list[str], list[dict[str, Any]]]:
        import pyarrow as pa

        keys: list[str] = []
        meta: list[dict[str, Any]] = []
        for k, f in enumerate(self.files):
            pf = self.pq.ParquetFile(f)
            cols = [fl.name for fl in pf.schema_arrow if not _is_array_type(pa, fl.type)]
            rows = pf.read(columns=cols).to_pylist()
            for r, row in enumerate(rows):
                keys.append(self._key(k, r, row))
                meta.append(row)
        return keys, meta

    def groups(self, rows: np.ndarray) -> np.ndarray | None:
        return np.searchsorted(self._cum, rows, side="right") - 1

    def _file(self, k: int) -> tuple[Any, np.ndarray]:
        """Parquet file ``k`` (opened once per process) and the first row of each of its row groups."""
        if self._handles is None:
            self._handles = {}
        got = self._handles.get(k)
        if got is None:
            pf = self.pq.ParquetFile(self.files[k])
            sizes = [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)]
            got = self._handles[k] = (pf, np.cumsum([0, *sizes]))
        return got

    def read(self, row: int) -> dict[str, Any]:
        import pyarrow as pa

        k = int(np.searchsorted(self._cum, row, side="right")) - 1
        r = row - int(self._cum[k])
        pf, starts = self._file(k)
        g = int(np.searchsorted(starts, r, side="right")) - 1
        if self._cached is None or self._cached[:2] != (k, g):
            self._cached = (k, g, pf.read_row_group(g))
        table = self._cached[2]
        out: dict[str, Any] = {}
        md: dict[str, Any] = {}
        for fl in table.schema:
            value = table.column(fl.name)[r - int(starts[g])].as_py()
            if (
                pa.types.is_list(fl.type)
                or pa.types.is_large_list(fl.type)
                or pa.types.is_fixed_size_list(fl.type)
            ):
                out[fl.name] = np.asarray(value, dtype=_leaf_dtype(pa, fl.type))
            elif _is_array_type(pa, fl.type):
                out[fl.name] = value
            else:
                md[fl.name] = value
        return {"__key__": self._key(k, r, md), **out, "json": md}


def _pick_parquet(rel: list[str], split: str | None, config: str | None, *, where: str) -> list[str]:
    """The Parquet files (POSIX paths relative to the root) of a config and split: ``data/<config>/``
    when the folder has such configs (``eeg`` by default, as nb-bids writes), files named
    ``<split>-*.parquet`` or in a folder ``<split>`` (``train`` by default when there are some)."""
    files = sorted(r for r in rel if r.endswith(".parquet") and not r.rsplit("/", 1)[-1].startswith("."))
    configs = sorted({r.split("/")[1] for r in files if r.startswith("data/") and r.count("/") >= 2})
    if configs:
        cfg = config or ("eeg" if "eeg" in configs else configs[0] if len(configs) == 1 else None)
        if cfg not in configs:
            raise UserError(
                f"{where}: pick a config with 'config:' (one of {', '.join(configs)}); got {cfg!r}"
            )
        files = [r for r in files if r.startswith(f"data/{cfg}/")]
    names = [r.rsplit("/", 1)[-1] for r in files]
    if split is None and any(n.startswith("train-") for n in names):
        split = "train"
    if split is not None:
        files = [r for r, n in zip(files, names) if n.startswith(f"{split}-") or f"/{split}/" in f"/{r}"]
    if not files:
        raise InputNotFoundError(f"{where}: no Parquet files" + (f" of split {split!r}" if split else ""))
    return files


def _parquet_files(p: Path, split: str | None, config: str | None) -> tuple[Path, list[Path]]:
    if p.is_file():
        return p.parent, [p]
    if not p.is_dir():
        raise InputNotFoundError(f"{p}: no such Parquet file or folder")
    rel = [f.relative_to(p).as_posix() for f in p.rglob("*.parquet") if f.is_file()]
    return p, [p / r for r in _pick_parquet(rel, split, config, where=str(p))]


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _remote_manifest(url: str, storage_options: dict[str, Any]) -> Any:
    """The parsed ``nb-manifest.json`` at ``url`` (`None` when there is none)."""
    from nb_core.manifest import Manifest
    from nb_shards.cache import remote_errors, url_to_fs

    murl = url.rstrip("/") + "/" + MANIFEST_NAME
    fs, p = url_to_fs(murl, storage_options)
    try:
        with remote_errors(murl, "read the manifest"):
            text = fs.cat_file(p)
    except FileNotFoundError:
        return None
    return Manifest.from_json(text, source=murl)


def _fetch_parquet(
    url: str,
    split: str | None,
    config: str | None,
    storage_options: dict[str, Any],
    cache_dir: str | os.PathLike[str] | None,
) -> tuple[list[str], list[Path], str]:
    """Download (once, into the shard cache; sha256 checked against the manifest) the Parquet files
    of a remote dataset; returns their relative and local paths, and what identifies them."""
    from nb_shards.cache import ShardCache, remote_errors, url_to_fs

    base = url.rstrip("/")
    manifest = _remote_manifest(base, storage_options)
    if manifest is not None:
        entries = {f.path: (f.sha256, f.size) for f in manifest.files}
        ident = hashlib.sha256(manifest.to_json().encode()).hexdigest()
    else:
        fs, root = url_to_fs(base, storage_options)
        with remote_errors(base, "list the Parquet files"):
            found = fs.find(root, detail=True)
        entries = {k[len(root) :].lstrip("/"): (None, v.get("size")) for k, v in found.items()}
        ident = hashlib.sha256(json.dumps(sorted(entries.items())).encode()).hexdigest()
    picked = _pick_parquet(list(entries), split, config, where=base)
    cache = ShardCache(cache_dir or default_cache_dir())
    files = [
        cache.fetch(f"{base}/{r}", storage_options=storage_options, sha256=entries[r][0], size=entries[r][1])
        for r in picked
    ]
    return picked, files, ident


def _looks_formats(p: Path) -> bool:
    try:
        m = json.loads((p / MANIFEST_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(m, dict) and m.get("layout") in ("hdf5", "zarr", "parquet")


def open_source(
    path: str,
    *,
    kind: str = "auto",
    split: str | None = None,
    config: str | None = None,
    window_size: int | None = None,
    storage_options: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> MixSource:
    """Open a mixture source; ``kind="auto"`` tells them apart by the manifest's layout and file names.

    Raises:
        ManifestNotFoundError, InputNotFoundError: nothing readable at ``path``.
        UserError: options that do not fit the source.
    """
    p = Path(path)
    if kind == "auto":
        if _is_remote(path):
            m = _remote_manifest(path, storage_options or {})
            kind = "parquet" if m is not None and m.layout == "hf" else "shards"
        elif _looks_formats(p):
            kind = "formats"
        elif path.endswith(".parquet") or (
            p.is_dir() and not any(p.glob("*.tar*")) and any(p.rglob("*.parquet"))
        ):
            kind = "parquet"
        else:
            kind = "shards"
    if kind == "formats":
        return FormatsMixSource(path, window_size)
    if window_size is not None:
        raise UserError(f"{path}: window_size applies to nb-formats artifacts only")
    if kind == "parquet":
        return ParquetMixSource(path, split, config, storage_options=storage_options, cache_dir=cache_dir)
    src = resolve_source(
        path, split=split, storage_options=storage_options, cache_dir=cache_dir, max_open=SHUFFLE_WINDOW + 1
    )
    return ShardsMixSource(src, path)


# -- the metadata index and its cache ------------------------------------------------------------------


def _encode(values: list[Any]) -> tuple[Any, bool]:
    """A Parquet column for ``values``: native when they are scalars of one kind, else JSON text."""
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if len(kinds) <= 1 and kinds <= {str, int, float, bool}:
        try:
            return pa.array(values), False
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return pa.array([json.dumps(v, sort_keys=True, allow_nan=True) for v in values], pa.string()), True


def _cache_path(src: MixSource, cache_dir: str | os.PathLike[str] | None) -> Path:
    key = hashlib.sha256(f"{META_VERSION}|{src.kind}|{src.fingerprint()}".encode()).hexdigest()[:32]
    return Path(cache_dir or default_cache_dir()) / "meta" / f"{key}.parquet"


def _read_sidecar(path: Path) -> tuple[list[str], dict[str, list[Any]]] | None:
    pq = soft_import("pyarrow.parquet", "The mixture metadata cache", extra="nb-shards")
    try:
        table = pq.ParquetFile(path).read()  # (not read_table: it imports pyarrow.dataset and pandas)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # damaged: rebuilt
        return None
    cols: dict[str, list[Any]] = {}
    keys: list[str] = []
    try:
        for fl in table.schema:
            values = table.column(fl.name).to_pylist()
            if fl.name == "__key__":
                keys = values
            elif fl.metadata and fl.metadata.get(b"nb") == b"json":
                cols[fl.name] = [json.loads(v) for v in values]
            else:
                cols[fl.name] = values
    except (TypeError, ValueError):  # damaged (or not ours): rebuilt
        return None
    return keys, cols


def _write_sidecar(path: Path, keys: list[str], cols: dict[str, list[Any]]) -> None:
    import pyarrow as pa

    pq = soft_import("pyarrow.parquet", "The mixture metadata cache", extra="nb-shards")
    fields, arrays = [pa.field("__key__", pa.string())], [pa.array(keys, pa.string())]
    for name, values in cols.items():
        arr, is_json = _encode(values)
        fields.append(pa.field(name, arr.type, metadata={"nb": "json"} if is_json else None))
        arrays.append(arr)
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    try:
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
    except OSError:  # a read-only cache: the index is rebuilt next time
        return


def metadata_index(
    src: MixSource, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[list[str], dict[str, list[Any]]]:
    """Keys and metadata columns (``json.<field>``, nested fields dotted) of every sample of ``src``,
    from the cache when it has them, else by one scan (then cached).

    Raises:
        NBError: the source cannot be read.
    """
    path = _cache_path(src, cache_dir)
    got = _read_sidecar(path)
    if got is not None and len(got[0]) == len(src):
        return got
    SCANS[src.path] += 1
    keys, meta = src.scan()
    flat: list[dict[str, Any]] = []
    for md in meta:
        row: dict[str, Any] = {}
        _flatten(md, "json", row)
        flat.append(row)
    names = sorted({k for row in flat for k in row if k != "json"})
    cols = {n: [row.get(n) for row in flat] for n in names}
    _write_sidecar(path, keys, cols)
    return keys, cols
