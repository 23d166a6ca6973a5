"""The Zarr v3 layout: a directory store ``data.zarr/`` or a zip store ``data.zarr.zip``.

Inside the store (a Zarr v3 group)::

    windows               float32 N×C×T, chunks (1, C, T)        (materialized windows)
    recordings/000000     float32 C×T_j, chunks (C, chunk_samples) (continuous signals)
    table/<column>        int64 window table columns (+ table/target)
    meta_json             uint8: JSON of recordings, chunking, target kinds

Written with zarr-python (any Zarr v3 reader opens it; chunk keys use the
default ``c/i/j/k`` encoding). Chunks are one window, or ``chunk_samples``
samples of all channels, compressed with the ``blosc`` (lz4 or zstd, byte
shuffle), ``zstd`` or ``gzip`` codec. The fast read path skips zarr's per-item
machinery: it reads the chunk key's bytes (one small file, or one zip member
whose offset is taken from the central directory once) and decodes them with
numcodecs directly into the output array.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.errors import CorruptDataError
from nb_formats._store import Sink, Store, decode_meta, encode_meta
from nb_formats.codecs import decode_into, zarr_compressors
from nb_formats.table import INT_COLUMNS, WindowTable

__all__ = ["DIR_STORE", "ZIP_STORE", "ZarrSink", "ZarrStore"]

#: Directory store name.
DIR_STORE = "data.zarr"
#: Zip store name.
ZIP_STORE = "data.zarr.zip"
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header (30 bytes)


class ZarrSink(Sink):
    def __init__(self, root: Path, **kw: Any) -> None:
        super().__init__(root, **kw)
        import zarr

        self.path = root / (ZIP_STORE if self.zip_store else DIR_STORE)
        self.store: Any = (
            zarr.storage.ZipStore(self.path, mode="w")
            if self.zip_store
            else zarr.storage.LocalStore(self.path)
        )
        self.g = zarr.open_group(self.store, mode="w", zarr_format=3)
        self.compressors = zarr_compressors(self.compression)
        self._recs: Any = None

    def _array(self, group: Any, name: str, shape: tuple[int, ...], chunks: tuple[int, ...]) -> Any:
        return group.create_array(
            name,
            shape=shape,
            chunks=chunks,
            dtype=self.dtype,
            compressors=self.compressors,
            fill_value=0,
            config={"write_empty_chunks": True},
        )

    def begin_windows(self, n: int, c: int, t: int) -> None:
        self.windows = self._array(self.g, "windows", (n, c, t), (1, c, t))

    def write_windows(self, start: int, block: np.ndarray) -> None:
        self.windows[start : start + len(block)] = block

    def write_recording(self, j: int, data: np.ndarray, chunk_samples: int) -> None:
        if self._recs is None:
            self._recs = self.g.require_group("recordings")
        arr = self._array(self._recs, f"{j:06d}", data.shape, (data.shape[0], chunk_samples))
        arr[...] = data

    def finish(self, meta: dict[str, Any], table: WindowTable | None) -> list[str]:
        if table is not None:
            tg = self.g.require_group("table")
            for k in INT_COLUMNS:
                tg.create_array(k, data=table.columns[k])
            if table.target_values is not None:
                tg.create_array("target", data=table.target_values)
        self.g.create_array("meta_json", data=np.frombuffer(encode_meta(meta), dtype=np.uint8))
        self.store.close()
        if self.zip_store:
            return [ZIP_STORE]
        return sorted(p.relative_to(self.root).as_posix() for p in self.path.rglob("*") if p.is_file())


class ZarrStore(Store):
    def __init__(self, root: Path, info: dict[str, Any]) -> None:
        super().__init__(root, info)
        self.zip = bool(info.get("zip_store"))
        self.path = root / (ZIP_STORE if self.zip else DIR_STORE)
        self._fd: int | None = None
        self._members: dict[str, tuple[int, int, int]] | None = None  # name -> (header offset, size, method)
        self._data_off: dict[str, int] = {}

    def _drop_handles(self) -> None:
        if self._pid == os.getpid() and self._fd is not None:
            os.close(self._fd)
        self._fd = None

    def load(self) -> tuple[dict[str, Any], WindowTable | None]:
        import zarr

        if not self.path.exists():
            raise CorruptDataError(f"{self.path}: the Zarr store is missing")
        try:
            store: Any = (
                zarr.storage.ZipStore(self.path, mode="r")
                if self.zip
                else zarr.storage.LocalStore(self.path, read_only=True)
            )
            g: Any = zarr.open_group(store, mode="r")
            meta = decode_meta(np.asarray(g["meta_json"][...]).tobytes(), where=f"{self.path}/meta_json")
            table = None
            if "table" in g:
                tg: Any = g["table"]
                cols = {k: np.asarray(tg[k][...]) for k in INT_COLUMNS}
                tv = np.asarray(tg["target"][...]) if "target" in tg else None
                table = WindowTable.from_parts(cols, tv, meta.get("table", {}))
            store.close()
        except (KeyError, FileNotFoundError, zipfile.BadZipFile, ValueError) as err:
            raise CorruptDataError(f"{self.path}: cannot read the Zarr metadata ({err})") from None
        return meta, table

    # -- raw chunk bytes ------------------------------------------------------------------------
    def _zip_bytes(self, key: str) -> bytes | None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        if self._members is None:
            try:
                with zipfile.ZipFile(self.path) as zf:
                    self._members = {
                        i.filename: (i.header_offset, i.compress_size, i.compress_type) for i in zf.infolist()
                    }
            except zipfile.BadZipFile as err:
                raise CorruptDataError(f"{self.path}: not a readable zip file ({err})") from None
        m = self._members.get(key)
        if m is None:
            return None
        off, size, method = m
        if method != zipfile.ZIP_STORED:  # pragma: no cover - zarr's ZipStore writes stored members
            with zipfile.ZipFile(self.path) as zf:
                return zf.read(key)
        data_off = self._data_off.get(key)
        if data_off is None:
            hdr = os.pread(self._fd, _LOCAL_HEADER.size, off)
            if len(hdr) != _LOCAL_HEADER.size or hdr[:4] != b"PK\x03\x04":
                raise CorruptDataError(f"{self.path}: bad zip local header for {key!r}")
            fields = _LOCAL_HEADER.unpack(hdr)
            data_off = off + _LOCAL_HEADER.size + fields[-2] + fields[-1]
            self._data_off[key] = data_off
        raw = os.pread(self._fd, size, data_off)
        if len(raw) != size:
            raise CorruptDataError(f"{self.path}: member {key!r} is truncated")
        return raw

    def _bytes(self, key: str) -> bytes | None:
        if self.zip:
            return self._zip_bytes(key)
        try:
            with open(self.path / key, "rb", buffering=0) as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def _read_chunk(self, key: str, out: np.ndarray) -> np.ndarray:
        if self.compression == "none" and not self.zip:
            # Uncompressed: read straight into the output (one copy from the page cache).
            try:
                with open(self.path / key, "rb", buffering=0) as fh:
                    buf: Any = out.reshape(-1).view(np.uint8)
                    got = fh.readinto(buf)
                    extra = fh.read(1)
            except FileNotFoundError:
                raise CorruptDataError(
                    f"{self.path}/{key}: chunk is missing (the store is incomplete or damaged)"
                ) from None
            if got != out.nbytes or extra:
                raise CorruptDataError(f"{self.path}/{key}: chunk has the wrong size (truncated or damaged)")
            return out
        raw = self._bytes(key)
        if raw is None:  # every chunk is written (write_empty_chunks): a missing one is damage
            raise CorruptDataError(
                f"{self.path}/{key}: chunk is missing (the store is incomplete or damaged)"
            )
        decode_into(self.compression, raw, out, where=f"{self.path}/{key}")
        return out

    def read_window(self, i: int, c: int, t: int) -> np.ndarray:
        self._check_pid()
        return self._read_chunk(f"windows/c/{i}/0/0", np.empty((c, t), dtype=self.dtype))

    def read_chunk(self, j: int, k: int, c: int, tc: int) -> np.ndarray:
        self._check_pid()
        return self._read_chunk(f"recordings/{j:06d}/c/0/{k}", np.empty((c, tc), dtype=self.dtype))
