"""What the three layouts share: the writer (sink) and reader (store) interfaces.

A *sink* writes signals (per-recording 2-D arrays chunked along time, and/or a
3-D array of materialized windows, one window per chunk), then the window
table and a JSON metadata blob. A *store* reads them back: the blob and table
once at open, signals one chunk at a time, decoded straight into NumPy.

Stores keep no open file handle across ``fork``: every handle is tagged with
the process id that opened it and reopened in a new process.
"""

from __future__ import annotations

import os
import struct
import tokenize
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nb_core.atomic import dumps_json
from nb_core.errors import CorruptDataError
from nb_core.validation import load_json
from nb_formats.table import WindowTable

if TYPE_CHECKING:
    from nb_formats.resume import ResumeLedger

#: What h5py, zarr, numcodecs, zstd, zlib, zipfile, json and pyarrow raise on damaged or truncated
#: bytes (pyarrow's errors derive from these built-ins too). Readers turn them into a
#: ``CorruptDataError`` naming the file; nothing else is caught.
DAMAGE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    RuntimeError,  # numcodecs' Blosc/Zstd, h5py filters; RecursionError (deep JSON) is one
    ArithmeticError,
    MemoryError,  # a damaged size that asks for an absurd allocation
    struct.error,
    zlib.error,
    zipfile.BadZipFile,
    SyntaxError,  # a damaged .npy header (numpy parses it as a Python literal)
    tokenize.TokenError,
)

__all__ = [
    "BLOCK_BYTES",
    "DAMAGE_ERRORS",
    "DEFAULT_CACHE_BYTES",
    "ChunkCache",
    "Signals",
    "Sink",
    "Store",
    "decode_meta",
    "encode_meta",
    "read_time_slice",
]

#: Default budget of the decoded-chunk cache of a dataset (per process).
DEFAULT_CACHE_BYTES = 64 * 2**20
#: Bytes (as float64, what MNE's readers return) of one block of a recording read while writing.
BLOCK_BYTES = 4 * 2**20


class Signals:
    """A recording's signals (C×T), read block by block while writing, never whole.

    ``read(start, stop)`` returns samples ``start:stop`` of every channel (any float dtype, e.g.
    ``raw.get_data(start=, stop=)``); :meth:`blocks` converts each block to the storage dtype and
    runs ``check(block, start)`` on it (the non-finite check).

    Example:
        >>> sig = Signals(lambda a, b: np.ones((2, b - a)), 2, 5)
        >>> [(a, b.shape) for a, b in sig.blocks(2, np.dtype("float32"))]
        [(0, (2, 2)), (2, (2, 2)), (4, (2, 1))]
    """

    def __init__(
        self,
        read: Callable[[int, int], np.ndarray],
        n_channels: int,
        n_times: int,
        *,
        check: Callable[[np.ndarray, int], None] | None = None,
        where: str = "recording",
    ) -> None:
        self.read = read
        self.n_channels = n_channels
        self.n_times = n_times
        self.check = check
        self.where = where

    def block_samples(self, chunk_samples: int) -> int:
        """A block length: a multiple of ``chunk_samples`` of about :data:`BLOCK_BYTES`."""
        per_chunk = max(1, self.n_channels * chunk_samples * 8)
        return max(1, BLOCK_BYTES // per_chunk) * chunk_samples

    def blocks(
        self, length: int, dtype: np.dtype[Any], *, check: bool = True
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, block)`` for consecutive blocks of ``length`` samples, in ``dtype`` (C-contiguous)."""
        from nb_core.errors import IncompatibleDataError

        step = max(1, BLOCK_BYTES // max(1, self.n_channels * 8))  # samples per read

        def part(a: int, b: int) -> np.ndarray:
            got = np.asarray(self.read(a, b))
            if got.shape != (self.n_channels, b - a):
                raise IncompatibleDataError(
                    f"{self.where}: samples {a}:{b} came back with shape {got.shape}, expected "
                    f"{(self.n_channels, b - a)}"
                )
            return got

        for a in range(0, self.n_times, length):
            b = min(self.n_times, a + length)
            if b - a <= step:
                blk = np.ascontiguousarray(part(a, b), dtype=dtype)
            else:  # a long block (a Zarr shard) is filled from reads of about BLOCK_BYTES
                blk = np.empty((self.n_channels, b - a), dtype=dtype)
                for s in range(a, b, step):
                    e = min(b, s + step)
                    blk[:, s - a : e - a] = part(s, e)
            if check and self.check is not None:
                self.check(blk, a)
            yield a, blk

    def digest(self, length: int, dtype: np.dtype[Any], *extra: Any) -> str:
        """A digest of the signals as stored (one extra pass over the input; resumable writes only)."""
        import hashlib
        import json as _json

        h = hashlib.blake2b(digest_size=16)
        h.update(f"{dtype.str}{(self.n_channels, self.n_times)}{_json.dumps(extra, default=str)}".encode())
        for _, blk in self.blocks(length, dtype, check=False):
            h.update(blk.data)
        return h.hexdigest()


def encode_meta(meta: dict[str, Any]) -> bytes:
    """The metadata blob as canonical JSON bytes."""
    return dumps_json(meta, indent=None).encode("utf-8")


def decode_meta(raw: bytes, *, where: str) -> dict[str, Any]:
    """Parse the metadata blob; damaged JSON is a :class:`CorruptDataError` naming ``where``."""
    out = load_json(raw, where=f"{where}: metadata")
    if not isinstance(out, dict) or "recordings" not in out:
        raise CorruptDataError(f"{where}: metadata blob has no 'recordings' list")
    return out


class Sink(ABC):
    """Writes one artifact's data files into ``root`` (a temporary directory)."""

    def __init__(
        self,
        root: Path,
        *,
        compression: str,
        dtype: np.dtype[Any],
        zip_store: bool = False,
        ledger: ResumeLedger | None = None,
    ) -> None:
        self.root = root
        self.compression = compression
        self.dtype = dtype
        self.zip_store = zip_store
        #: Set for a resumable write: finished pieces are recorded, and kept when resuming.
        self.ledger = ledger

    @abstractmethod
    def begin_windows(self, n: int, c: int, t: int) -> None:
        """Create the N×C×T materialized window array (one window per chunk)."""

    @abstractmethod
    def write_windows(self, start: int, block: np.ndarray) -> None:
        """Write windows ``start .. start+len(block)``."""

    @abstractmethod
    def write_recording(self, j: int, signals: Signals, chunk_samples: int) -> None:
        """Write recording ``j``'s signals block by block (see :class:`Signals`)."""

    @abstractmethod
    def finish(self, meta: dict[str, Any], table: WindowTable | None) -> list[str]:
        """Write the table and the metadata blob, close everything; return data files (relative)."""


class Store(ABC):
    """Reads one artifact lazily; file handles are per process."""

    def __init__(self, root: Path, info: dict[str, Any]) -> None:
        self.root = root
        self.info = info
        self.compression: str = info["compression"]
        self.dtype = np.dtype(info["dtype"])
        self._pid = -1

    def _check_pid(self) -> bool:
        """True if handles were opened by this process (reset them otherwise)."""
        if self._pid != os.getpid():
            self._drop_handles()
            self._pid = os.getpid()
            return False
        return True

    @abstractmethod
    def _drop_handles(self) -> None:
        """Forget (without closing shared state of a parent process) any open handle."""

    @abstractmethod
    def load(self) -> tuple[dict[str, Any], WindowTable | None]:
        """Read the metadata blob and the window table."""

    @abstractmethod
    def read_window(self, i: int, c: int, t: int) -> np.ndarray:
        """Materialized window ``i`` (C×T, a new writable array)."""

    @abstractmethod
    def read_chunk(self, j: int, k: int, c: int, tc: int, out: np.ndarray | None = None) -> np.ndarray:
        """Chunk ``k`` (C×tc, full size) of recording ``j`` (decoded into ``out`` when it fits)."""

    def read_slice(
        self, j: int, start: int, stop: int, c: int, tc: int, cache: ChunkCache | None
    ) -> np.ndarray:
        """Samples ``start:stop`` of recording ``j`` (C×(stop-start), a new array)."""

        def get(k: int) -> np.ndarray:
            if cache is None:
                return self.read_chunk(j, k, c, tc)
            return cache.get((j, k), lambda buf: self.read_chunk(j, k, c, tc, buf))

        if start % tc == 0 and stop - start == tc:  # aligned window: one chunk, decoded fresh
            hit = None if cache is None else cache.peek((j, start // tc))
            return self.read_chunk(j, start // tc, c, tc) if hit is None else hit.copy()
        return read_time_slice(get, tc, start, stop, c, self.dtype)

    def close(self) -> None:
        """Close handles opened by this process."""
        self._drop_handles()


def _buffer(out: np.ndarray | None, shape: tuple[int, int], dtype: np.dtype[Any]) -> np.ndarray:
    """``out`` when it is a reusable buffer of ``shape`` and ``dtype``, else a new array."""
    if out is not None and out.shape == shape and out.dtype == dtype and out.flags.c_contiguous:
        return out
    return np.empty(shape, dtype=dtype)


def read_time_slice(
    get_chunk: Callable[[int], np.ndarray], tc: int, start: int, stop: int, c: int, dtype: np.dtype[Any]
) -> np.ndarray:
    """Assemble ``[:, start:stop]`` from time chunks of ``tc`` samples."""
    out = np.empty((c, stop - start), dtype=dtype)
    if stop <= start:
        return out
    for k in range(start // tc, (stop - 1) // tc + 1):
        chunk = get_chunk(k)
        cs = k * tc
        a, b = max(start, cs), min(stop, cs + tc)
        out[:, a - start : b - start] = chunk[:, a - cs : b - cs]
    return out


class ChunkCache:
    """An LRU of decoded chunks, for windows that overlap or straddle chunk edges.

    Bounded by a number of chunks (``max_items``) or by their decoded size (``max_bytes``), or both.
    Aligned windows (one whole chunk each) bypass it: caching them would only cost memory for
    random access.

    Example:
        >>> c = ChunkCache(None, max_bytes=16)
        >>> _ = c.get((0, 0), lambda buf: np.zeros(2)); _ = c.get((0, 1), lambda buf: np.zeros(2))
        >>> _ = c.get((0, 2), lambda buf: np.zeros(2)); len(c), c.nbytes
        (1, 16)
    """

    def __init__(self, max_items: int | None = 8, *, max_bytes: int | None = None) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._d: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._spare: list[np.ndarray] = []  # evicted chunks, reused as decode buffers

    def __len__(self) -> int:
        return len(self._d)

    def peek(self, key: tuple[int, int]) -> np.ndarray | None:
        """The cached chunk ``key`` or `None` (without inserting anything)."""
        return self._d.get(key)

    def get(self, key: tuple[int, int], make: Callable[[np.ndarray | None], np.ndarray]) -> np.ndarray:
        """The chunk ``key``, decoded by ``make(buffer)`` on a miss.

        ``buffer`` is an evicted chunk (or `None`) that ``make`` may decode into: recycling
        evicted arrays instead of freeing and allocating one per miss keeps random reads of a
        dataset larger than the cache from paying for fresh memory pages on every miss.
        """
        hit = self._d.get(key)
        if hit is not None:
            self._d.move_to_end(key)
            return hit
        val = make(self._spare.pop() if self._spare else None)
        self._d[key] = val
        self.nbytes += val.nbytes
        while len(self._d) > 1 and (
            (self.max_items is not None and len(self._d) > self.max_items)
            or (self.max_bytes is not None and self.nbytes > self.max_bytes)
        ):
            old = self._d.popitem(last=False)[1]
            self.nbytes -= old.nbytes
            if len(self._spare) < 2:
                self._spare.append(old)
        return val

    def clear(self) -> None:
        self._d.clear()
        self._spare.clear()
        self.nbytes = 0
