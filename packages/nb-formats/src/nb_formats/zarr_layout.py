"""The Zarr v3 layout: a directory store ``data.zarr/`` or a zip store ``data.zarr.zip``.

Inside the store (a Zarr v3 group)::

    windows               float32 N×C×T, chunks (1, C, T), shards (S, C, T)   (materialized windows)
    recordings/000000     float32 C×T_j, chunks (C, chunk_samples), shards (C, k·chunk_samples)
    table/<column>        int64 window table columns (+ table/target), one chunk each
    meta_json             uint8: JSON of recordings, chunking, target kinds

Written with zarr-python and the Zarr v3 **sharding codec** (``sharding_indexed``,
index at the end of each shard, ``bytes`` + ``crc32c`` index codecs): chunks are
one window, or ``chunk_samples`` samples of all channels, and a shard file holds
up to :data:`SHARD_BYTES` (32 MiB) of windows — ``S`` windows — or
:data:`RECORDING_SHARD_BYTES` (8 MiB) of a recording. A store therefore has a few files instead of one
per window (faster to write, list and upload). Inner chunks are compressed
with the ``blosc`` (lz4 or zstd, byte shuffle), ``zstd`` or ``gzip`` codec.
Any Zarr v3 reader (``zarr.open``) reads the store.

The fast read path skips zarr's per-item machinery: a shard is memory-mapped
read-only (a directory store's shard file, or the zip file once, the member's
data offset taken from the central directory) and its index is decoded and
crc32c-checked once per shard per process; a chunk is then one slice of the
map decoded with numcodecs straight into the output array (uncompressed: one
copy). Stores without sharding (nb-formats 0.1.0 before sharding) are read per
chunk key.
"""

from __future__ import annotations

import math
import mmap
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.errors import CorruptDataError, UnsupportedFormatError
from nb_core.validation import load_json
from nb_formats._store import Signals, Sink, Store, _buffer, decode_meta, encode_meta
from nb_formats.codecs import decode_into, zarr_compressors
from nb_formats.resume import digest
from nb_formats.table import INT_COLUMNS, WindowTable

__all__ = ["DIR_STORE", "RECORDING_SHARD_BYTES", "SHARD_BYTES", "ZIP_STORE", "ZarrSink", "ZarrStore"]

#: Directory store name.
DIR_STORE = "data.zarr"
#: Zip store name.
ZIP_STORE = "data.zarr.zip"
#: Uncompressed bytes per shard (upper bound; at least one chunk): also the write buffer of windows.
SHARD_BYTES = 32 * 2**20
#: Uncompressed bytes per shard of a continuous recording: a recording is written one shard at a
#: time (whole shards only), so this bounds the write buffer of long recordings.
RECORDING_SHARD_BYTES = 8 * 2**20
#: Shards kept memory-mapped per process (least recently used are dropped).
MAX_MAPPED_SHARDS = 256
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header (30 bytes)
_MISSING = np.uint64(2**64 - 1)


def _per_shard(chunk_nbytes: int, n_chunks: int, limit: int | None = None) -> int:
    """Chunks per shard along the sharded axis: as many as fit ``limit`` (default :data:`SHARD_BYTES`;
    ≥ 1, ≤ n_chunks)."""
    return max(1, min(n_chunks, (SHARD_BYTES if limit is None else limit) // max(1, chunk_nbytes)))


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
        resuming = self.ledger is not None and self.ledger.resuming and self.path.is_dir()
        if resuming:  # keep finished arrays and shards; drop zarr's temporaries of a killed write
            for p in self.path.rglob("*.partial"):
                p.unlink()
        self.g = zarr.open_group(self.store, mode="a" if resuming else "w", zarr_format=3)
        self.compressors = zarr_compressors(self.compression)
        self._recs: Any = None
        self.windows: Any = None
        self._buf: np.ndarray | None = None  # one shard of windows, written when full
        self._buf_start = 0
        self._buf_fill = 0

    def _array(
        self, group: Any, name: str, shape: tuple[int, ...], chunks: tuple[int, ...], shards: tuple[int, ...]
    ) -> Any:
        return group.create_array(
            name,
            shape=shape,
            chunks=chunks,
            shards=shards,
            dtype=self.dtype,
            compressors=self.compressors,
            fill_value=0,
            config={"write_empty_chunks": True},
            overwrite=True,  # a resumed write replaces a half-written array
        )

    def begin_windows(self, n: int, c: int, t: int) -> None:
        s = _per_shard(c * t * self.dtype.itemsize, n)
        self._buf = np.empty((s, c, t), dtype=self.dtype)
        led = self.ledger
        dig = digest([n, c, t, s, self.dtype.str, self.compression])
        if led is not None and led.done("windows", 0, dig) and "windows" in self.g:
            self.windows = self.g["windows"]
            return
        self.windows = self._array(self.g, "windows", (n, c, t), (1, c, t), (s, c, t))
        if led is not None:
            led.forget("window-shard")
            led.add("windows", 0, dig, [])

    def write_windows(self, start: int, block: np.ndarray) -> None:
        # Whole shards only: a partial shard write would make zarr read-modify-write it (and a zip
        # store would get a duplicate member). Windows arrive in order.
        assert self._buf is not None
        pos = 0
        while pos < len(block):
            take = min(len(self._buf) - self._buf_fill, len(block) - pos)
            self._buf[self._buf_fill : self._buf_fill + take] = block[pos : pos + take]
            self._buf_fill += take
            pos += take
            if self._buf_fill == len(self._buf):
                self._flush_windows()

    def _flush_windows(self) -> None:
        if self._buf is None or not self._buf_fill:
            return
        a, m = self._buf_start, self._buf_fill
        led = self.ledger
        k = a // len(self._buf)
        dig = digest(self._buf[:m]) if led is not None else ""
        if led is None or not led.done("window-shard", k, dig):
            self.windows[a : a + m] = self._buf[:m]
            if led is not None:
                led.add("window-shard", k, dig, [self.path / f"windows/c/{k}/0/0"])
        self._buf_start += m
        self._buf_fill = 0

    def write_recording(self, j: int, signals: Signals, chunk_samples: int) -> None:
        if self._recs is None:
            self._recs = self.g.require_group("recordings")
        c, t = signals.n_channels, signals.n_times
        k = _per_shard(
            c * chunk_samples * self.dtype.itemsize, math.ceil(t / chunk_samples), RECORDING_SHARD_BYTES
        )
        # Whole shards per block: a partial shard write would make zarr read-modify-write it (and a
        # zip store would get a duplicate member). A block is one shard (RECORDING_SHARD_BYTES),
        # filled from reads of about BLOCK_BYTES each.
        length = k * chunk_samples
        dig = signals.digest(length, self.dtype, chunk_samples) if self.ledger is not None else ""
        if self.ledger is not None and self.ledger.done("recording", j, dig) and f"{j:06d}" in self._recs:
            return  # finished before an interruption: kept
        arr = self._array(self._recs, f"{j:06d}", (c, t), (c, chunk_samples), (c, length))
        for a, blk in signals.blocks(length, self.dtype):
            arr[:, a : a + blk.shape[1]] = blk
        if self.ledger is not None:
            d = self.path / "recordings" / f"{j:06d}"
            self.ledger.add("recording", j, dig, [p for p in d.rglob("*") if p.is_file()])

    def finish(self, meta: dict[str, Any], table: WindowTable | None) -> list[str]:
        self._flush_windows()
        self._buf = None

        def small(group: Any, name: str, data: np.ndarray) -> None:
            group.create_array(name, data=data, chunks=(max(1, len(data)),), overwrite=True)

        if table is not None:
            tg = self.g.require_group("table")
            for k in INT_COLUMNS:
                small(tg, k, table.columns[k])
            if table.target_values is not None:
                small(tg, "target", table.target_values)
        small(self.g, "meta_json", np.frombuffer(encode_meta(meta), dtype=np.uint8))
        self.store.close()
        if self.zip_store:
            return [ZIP_STORE]
        return sorted(p.relative_to(self.root).as_posix() for p in self.path.rglob("*") if p.is_file())


class _Layout:
    """What the fast path needs from an array's ``zarr.json``."""

    def __init__(self, name: str, doc: dict[str, Any], where: str) -> None:
        try:
            self.shape = tuple(int(v) for v in doc["shape"])
            grid = tuple(int(v) for v in doc["chunk_grid"]["configuration"]["chunk_shape"])
            enc = doc.get("chunk_key_encoding", {})
            sep = enc.get("configuration", {}).get("separator", "/")
            self.prefix = f"{name}/c{sep}" if enc.get("name", "default") == "default" else f"{name}/"
            self.sep = sep
            codecs = doc["codecs"]
            self.fill = float(doc.get("fill_value") or 0)
        except (KeyError, TypeError, ValueError) as err:
            raise CorruptDataError(f"{where}: unreadable zarr.json ({err})") from None
        self.sharded = bool(codecs) and codecs[0].get("name") == "sharding_indexed"
        if self.sharded:
            cfg = codecs[0]["configuration"]
            self.chunk = tuple(int(v) for v in cfg["chunk_shape"])
            self.per_shard = tuple(g // c for g, c in zip(grid, self.chunk, strict=True))
            icodecs = [c.get("name") for c in cfg.get("index_codecs", [])]
            endian = cfg["index_codecs"][0].get("configuration", {}).get("endian", "little")
            if icodecs != ["bytes", "crc32c"] or endian != "little":
                raise UnsupportedFormatError(
                    f"{where}: shard index codecs {icodecs} ({endian}) are not bytes(little)+crc32c"
                )
            self.index_at_end = cfg.get("index_location", "end") == "end"
            self.index_nbytes = 16 * math.prod(self.per_shard) + 4
        else:
            self.chunk = grid
            self.per_shard = tuple(1 for _ in grid)
        # C-order strides of a chunk's position inside its shard (the index is a C-order array)
        self.strides = tuple(math.prod(self.per_shard[k + 1 :]) for k in range(len(self.per_shard)))

    def key(self, coords: tuple[int, ...]) -> str:
        return self.prefix + self.sep.join(str(c) for c in coords)


class ZarrStore(Store):
    def __init__(self, root: Path, info: dict[str, Any]) -> None:
        super().__init__(root, info)
        self.zip = bool(info.get("zip_store"))
        self.path = root / (ZIP_STORE if self.zip else DIR_STORE)
        self._zmm: np.ndarray | None = None  # the zip file, mapped
        self._members: dict[str, tuple[int, int, int]] | None = None  # name -> (header offset, size, method)
        self._layouts: dict[str, _Layout] = {}
        # (array, shard coords) -> (shard bytes as a uint8 view of a map, chunk offsets, chunk sizes),
        # offsets/sizes as Python lists in C order of the chunk's position in the shard (-1: empty)
        self._shards: OrderedDict[tuple[str, tuple[int, ...]], tuple[np.ndarray, list[int], list[int]]] = (
            OrderedDict()
        )

    def _drop_handles(self) -> None:
        # Maps are never closed explicitly (NumPy views may exist); dropping them unmaps.
        self._zmm = None
        self._members = None
        self._layouts = {}
        self._shards = OrderedDict()

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

    # -- raw bytes: (uint8 array over a map) -----------------------------------------------------
    def _zip_member(self, key: str) -> np.ndarray | None:
        if self._zmm is None:
            try:
                with zipfile.ZipFile(self.path) as zf:
                    self._members = {
                        i.filename: (i.header_offset, i.compress_size, i.compress_type) for i in zf.infolist()
                    }
                with open(self.path, "rb") as fh:
                    self._zmm = np.frombuffer(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ), np.uint8)
            except (zipfile.BadZipFile, ValueError, OSError) as err:
                raise CorruptDataError(f"{self.path}: not a readable zip file ({err})") from None
        assert self._members is not None
        m = self._members.get(key)
        if m is None:
            return None
        off, size, method = m
        if method != zipfile.ZIP_STORED:  # pragma: no cover - zarr's ZipStore writes stored members
            with zipfile.ZipFile(self.path) as zf:
                return np.frombuffer(zf.read(key), np.uint8)
        zmm = self._zmm
        hdr = zmm[off : off + _LOCAL_HEADER.size].tobytes()
        if len(hdr) != _LOCAL_HEADER.size or hdr[:4] != b"PK\x03\x04":
            raise CorruptDataError(f"{self.path}: bad zip local header for {key!r}")
        fields = _LOCAL_HEADER.unpack(hdr)
        data_off = off + _LOCAL_HEADER.size + fields[-2] + fields[-1]
        if data_off + size > len(zmm):
            raise CorruptDataError(f"{self.path}: member {key!r} is truncated")
        return zmm[data_off : data_off + size]

    def _object(self, key: str, *, small: bool) -> np.ndarray | None:
        """The bytes of store key ``key``: mapped (shards) or read (``small``: zarr.json, unsharded chunks)."""
        if self.zip:
            return self._zip_member(key)
        p = self.path / key
        try:
            if small:
                return np.frombuffer(p.read_bytes(), np.uint8)
            with open(p, "rb") as fh:
                return np.frombuffer(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ), np.uint8)
        except FileNotFoundError:
            return None
        except ValueError:  # mmap of an empty file
            return np.zeros(0, np.uint8)

    def _layout(self, name: str) -> _Layout:
        lay = self._layouts.get(name)
        if lay is None:
            raw = self._object(f"{name}/zarr.json", small=True)
            if raw is None:
                raise CorruptDataError(f"{self.path}/{name}/zarr.json: missing")
            doc = load_json(raw.tobytes(), where=f"{self.path}/{name}/zarr.json")
            if not isinstance(doc, dict):
                raise CorruptDataError(f"{self.path}/{name}/zarr.json: not a JSON object")
            lay = _Layout(name, doc, f"{self.path}/{name}")
            self._layouts[name] = lay
        return lay

    def _shard(self, name: str, shard: tuple[int, ...]) -> tuple[np.ndarray, list[int], list[int]]:
        """Map shard ``shard`` of array ``name`` and decode its index (once per process)."""
        lay = self._layout(name)
        key = lay.key(shard)
        where = f"{self.path}/{key}"
        buf = self._object(key, small=False)
        if buf is None:  # every shard is written (write_empty_chunks): a missing one is damage
            raise CorruptDataError(f"{where}: shard is missing (the store is incomplete or damaged)")
        n = lay.index_nbytes
        if len(buf) < n:
            raise CorruptDataError(f"{where}: shard of {len(buf)} bytes is shorter than its index; truncated")
        raw = buf[len(buf) - n :] if lay.index_at_end else buf[:n]
        import google_crc32c

        if np.uint32(google_crc32c.value(raw[:-4].tobytes())).tobytes() != raw[-4:].tobytes():
            raise CorruptDataError(
                f"{where}: shard index checksum (crc32c) does not match; truncated or damaged"
            )
        index = raw[:-4].view("<u8").reshape(-1, 2)
        used = index[:, 0] != _MISSING
        if used.any() and int((index[used, 0] + index[used, 1]).max()) > len(buf):
            raise CorruptDataError(f"{where}: shard index points past the shard's end; truncated or damaged")
        offs = np.where(used, index[:, 0], 0).astype(np.int64)
        offs[~used] = -1
        hit = (buf, offs.tolist(), index[:, 1].astype(np.int64).tolist())
        self._shards[(name, shard)] = hit
        if len(self._shards) > MAX_MAPPED_SHARDS:
            self._shards.popitem(last=False)
        return hit

    def _read_chunk(
        self, name: str, coords: tuple[int, ...], shape: tuple[int, int], out: np.ndarray | None = None
    ) -> np.ndarray:
        """Chunk ``coords`` of array ``name`` as a new C-contiguous array of ``shape``."""
        lay = self._layouts.get(name) or self._layout(name)
        if not lay.sharded:
            key = lay.key(coords)
            raw = self._object(key, small=True)
            if raw is None:  # every chunk is written (write_empty_chunks): a missing one is damage
                raise CorruptDataError(
                    f"{self.path}/{key}: chunk is missing (the store is incomplete or damaged)"
                )
            out = _buffer(out, shape, self.dtype)
            decode_into(self.compression, raw, out, where=f"{self.path}/{key}")
            return out
        ps = lay.per_shard
        shard = tuple([c // p for c, p in zip(coords, ps)])
        hit = self._shards.get((name, shard))
        if hit is None:
            hit = self._shard(name, shard)
        buf, offs, sizes = hit
        pos = 0
        for c, p, st in zip(coords, ps, lay.strides):
            pos += (c % p) * st
        off, size = offs[pos], sizes[pos]
        if off < 0:  # an empty inner chunk holds the fill value
            return np.full(shape, lay.fill, dtype=self.dtype)
        if self.compression == "none":
            nbytes = shape[0] * shape[1] * self.dtype.itemsize
            if size != nbytes:
                raise CorruptDataError(
                    f"{self.path}/{lay.key(shard)} chunk {coords}: has {size} bytes, expected {nbytes}"
                )
            dst = _buffer(out, shape, self.dtype)
            np.copyto(dst, buf[off : off + size].view(self.dtype).reshape(shape))
            return dst
        out = _buffer(out, shape, self.dtype)
        decode_into(
            self.compression,
            buf[off : off + size],
            out,
            where=f"{self.path}/{lay.key(shard)} chunk {coords}",
        )
        return out

    def read_window(self, i: int, c: int, t: int) -> np.ndarray:
        self._check_pid()
        return self._read_chunk("windows", (i, 0, 0), (c, t))

    def read_chunk(self, j: int, k: int, c: int, tc: int, out: np.ndarray | None = None) -> np.ndarray:
        self._check_pid()
        return self._read_chunk(f"recordings/{j:06d}", (0, k), (c, tc), out)
