"""The NumPy+Parquet layout: memory-mappable ``.npy`` signals and Parquet metadata tables.

Files in the artifact directory::

    recordings/000000.npy   float32 C×T_j per recording (uncompressed, np.load(mmap_mode="r"))
    windows.npy             float32 N×C×T materialized windows (when the input was arrays/epochs)
    windows.parquet         one row per window: recording_id, recording_index, start, stop,
                            i_window_in_trial, i_start_in_trial, i_stop_in_trial, target[, extra]
    recordings.parquet      one row per recording: id, n_times, sfreq, n_channels, path,
                            one column per BIDS entity, and meta_json (Recording.to_dict())
    meta.json               the same metadata blob the other layouts keep inside their file

Signals are never compressed here (that is what makes them mappable); the
``compression`` option chooses the Parquet codec of the tables. The two tables
load with ``datasets.load_dataset("parquet", ...)`` and pandas; the manifest
lists them in ``extra["hf_configs"]``. ``.npy`` files are read with
``allow_pickle=False``.
"""

from __future__ import annotations

import json
import tokenize
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.errors import CorruptDataError, UnsafeContentError
from nb_formats._store import DAMAGE_ERRORS, Signals, Sink, Store, decode_meta, encode_meta
from nb_formats.table import INT_COLUMNS, WindowTable

__all__ = ["META_FILE", "RECORDINGS_TABLE", "WINDOWS_TABLE", "ParquetSink", "ParquetStore"]

META_FILE = "meta.json"
WINDOWS_TABLE = "windows.parquet"
RECORDINGS_TABLE = "recordings.parquet"
WINDOWS_NPY = "windows.npy"


def _rec_path(j: int) -> str:
    return f"recordings/{j:06d}.npy"


def _load_npy(path: Path) -> np.ndarray:
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            reader = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            _, _, dtype = reader(fh)
        if dtype.hasobject:
            raise UnsafeContentError(f"{path}: the .npy holds Python objects (it asks for pickle); refused")
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise UnsafeContentError(f"{path}: the .npy asks for pickle; refused") from None
        raise CorruptDataError(f"{path}: not a readable .npy file ({err}); truncated or damaged?") from None
    except FileNotFoundError:
        raise CorruptDataError(f"{path}: listed by the artifact but missing") from None
    except (SyntaxError, tokenize.TokenError, EOFError) as err:  # numpy parses the header as a literal
        raise CorruptDataError(
            f"{path}: not a readable .npy file (header: {type(err).__name__}: {err}); truncated or damaged?"
        ) from None


class ParquetSink(Sink):
    def __init__(self, root: Path, **kw: Any) -> None:
        super().__init__(root, **kw)
        self.files: list[str] = []
        self._windows: Any = None
        self.codec = None if self.compression == "none" else self.compression

    def begin_windows(self, n: int, c: int, t: int) -> None:
        self._windows = np.lib.format.open_memmap(
            self.root / WINDOWS_NPY, mode="w+", dtype=self.dtype, shape=(n, c, t)
        )
        self.files.append(WINDOWS_NPY)

    def write_windows(self, start: int, block: np.ndarray) -> None:
        assert self._windows is not None
        self._windows[start : start + len(block)] = block

    def write_recording(self, j: int, signals: Signals, chunk_samples: int) -> None:
        rel = _rec_path(j)
        self.files.append(rel)
        length = signals.block_samples(chunk_samples)
        dig = signals.digest(length, self.dtype) if self.ledger is not None else ""
        if self.ledger is not None and self.ledger.done("recording", j, dig) and (self.root / rel).is_file():
            return  # finished before an interruption: kept
        (self.root / "recordings").mkdir(exist_ok=True)
        shape = (signals.n_channels, signals.n_times)
        out = np.lib.format.open_memmap(self.root / rel, mode="w+", dtype=self.dtype, shape=shape)
        try:
            for a, blk in signals.blocks(length, self.dtype):
                out[:, a : a + blk.shape[1]] = blk
            out.flush()
        finally:
            del out
        if self.ledger is not None:
            self.ledger.add("recording", j, dig, [self.root / rel])

    def finish(self, meta: dict[str, Any], table: WindowTable | None) -> list[str]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._windows is not None:
            self._windows.flush()
            del self._windows
            self._windows = None
        recs = meta["recordings"]
        if table is not None:
            ids = [r["id"] for r in recs]
            ri = table.columns["recording_index"]
            cols: dict[str, Any] = {
                "recording_id": pa.array([ids[k] if k >= 0 else None for k in ri.tolist()], type=pa.string())
            }
            for k in INT_COLUMNS:
                cols[k] = pa.array(table.columns[k], type=pa.int64())
            if table.target_kind in ("int", "float"):
                cols["target"] = pa.array(table.target_values)
            elif table.target_kind in ("str", "json") and table.target_values is not None:
                cats = table.target_categories
                cols["target"] = pa.array([cats[c] for c in table.target_values.tolist()], type=pa.string())
            if table.extra is not None:
                cols["extra"] = pa.array(
                    [json.dumps(e, sort_keys=True) for e in table.extra], type=pa.string()
                )
            pq.write_table(pa.table(cols), self.root / WINDOWS_TABLE, compression=self.codec or "none")
            self.files.append(WINDOWS_TABLE)
        if recs:
            keys = sorted({k for r in recs for k in r.get("entities", {})})
            rcols: dict[str, Any] = {
                "id": pa.array([r["id"] for r in recs], type=pa.string()),
                "n_times": pa.array([r["n_times"] for r in recs], type=pa.int64()),
                "sfreq": pa.array([r["sfreq"] for r in recs], type=pa.float64()),
                "n_channels": pa.array([len(r["channels"]) for r in recs], type=pa.int64()),
                "path": pa.array(
                    [_rec_path(j) if meta["chunks"][j] else None for j in range(len(recs))], type=pa.string()
                ),
            }
            for k in keys:
                if k not in rcols:
                    rcols[k] = pa.array([r.get("entities", {}).get(k) for r in recs], type=pa.string())
            rcols["meta_json"] = pa.array([json.dumps(r, sort_keys=True) for r in recs], type=pa.string())
            pq.write_table(pa.table(rcols), self.root / RECORDINGS_TABLE, compression=self.codec or "none")
            self.files.append(RECORDINGS_TABLE)
        (self.root / META_FILE).write_bytes(encode_meta(meta))
        self.files.append(META_FILE)
        return sorted(self.files)


class ParquetStore(Store):
    def __init__(self, root: Path, info: dict[str, Any]) -> None:
        super().__init__(root, info)
        self._maps: dict[str, np.ndarray] = {}

    def _drop_handles(self) -> None:
        self._maps = {}

    def _map(self, rel: str) -> np.ndarray:
        self._check_pid()
        mm = self._maps.get(rel)
        if mm is None:
            # A plain ndarray over the map: indexing an np.memmap subclass costs more than the copy.
            mm = _load_npy(self.root / rel).view(np.ndarray)
            self._maps[rel] = mm
        return mm

    def load(self) -> tuple[dict[str, Any], WindowTable | None]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        mpath = self.root / META_FILE
        try:
            meta = decode_meta(mpath.read_bytes(), where=str(mpath))
        except FileNotFoundError:
            raise CorruptDataError(f"{mpath}: missing") from None
        tpath = self.root / WINDOWS_TABLE
        if not tpath.exists():
            return meta, None
        try:
            t = pq.read_table(tpath)
        except (
            *DAMAGE_ERRORS,
            pa.ArrowException,
        ) as err:  # ArrowInvalid is a ValueError, ArrowIOError an OSError
            raise CorruptDataError(f"{tpath}: cannot read the Parquet table ({err})") from None
        cols = {k: t.column(k).to_numpy() for k in INT_COLUMNS if k in t.column_names}
        tmeta = meta.get("table", {})
        kind = tmeta.get("target_kind", "none")
        tv: np.ndarray | None = None
        if kind in ("int", "float"):
            tv = t.column("target").to_numpy()
        elif kind in ("str", "json"):
            index = {c: i for i, c in enumerate(tmeta.get("target_categories", []))}
            tv = np.asarray([index[v] for v in t.column("target").to_pylist()], dtype=np.int32)
        return meta, WindowTable.from_parts(cols, tv, tmeta)

    def read_window(self, i: int, c: int, t: int) -> np.ndarray:
        return np.array(self._map(WINDOWS_NPY)[i])

    def read_chunk(self, j: int, k: int, c: int, tc: int, out: np.ndarray | None = None) -> np.ndarray:
        return self.read_slice(j, k * tc, (k + 1) * tc, c, tc, None)

    def read_slice(self, j: int, start: int, stop: int, c: int, tc: int, cache: Any) -> np.ndarray:
        return np.array(self._map(_rec_path(j))[:, start:stop])
