"""sha256 helpers used by every writer and by every ``verify``.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
from pathlib import Path
from typing import BinaryIO

__all__ = ["CHUNK_SIZE", "HashingWriter", "sha256_bytes", "sha256_file", "sha256_stream"]

#: Bytes read at a time when hashing files (large enough to reach disk speed).
CHUNK_SIZE = 8 * 1024 * 1024


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    """Hex sha256 of a bytes-like object.

    Example:
        >>> sha256_bytes(b"abc")[:16]
        'ba7816bf8f01cfea'
    """
    return hashlib.sha256(data).hexdigest()


def sha256_stream(stream: BinaryIO, *, chunk_size: int = CHUNK_SIZE) -> tuple[str, int]:
    """Hex sha256 and byte count of everything left in a binary stream."""
    h = hashlib.sha256()
    n = 0
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    while True:
        got = stream.readinto(view)  # type: ignore[attr-defined]
        if not got:
            break
        h.update(view[:got])
        n += got
    return h.hexdigest(), n


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = CHUNK_SIZE) -> str:
    """Hex sha256 of a file, read in chunks (constant memory).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
        >>> _ = p.write_bytes(b"abc")
        >>> sha256_file(p) == sha256_bytes(b"abc")
        True
    """
    with Path(path).open("rb", buffering=0) as f:
        return sha256_stream(f, chunk_size=chunk_size)[0]


class HashingWriter:
    """A binary file wrapper that hashes and counts what is written through it.

    Writers use it to get a file's sha256 without reading the file back. With
    ``threaded=True`` the hash of each large :meth:`write_all` call is computed on a
    helper thread while the same buffers are written (``hashlib`` and file writes both
    release the GIL), so hashing costs almost no wall time; no copy is made, and the
    caller may reuse its buffers as soon as the call returns. Partial writes of
    unbuffered files are completed.

    Args:
        raw (`BinaryIO`): the file to write to.
        threaded (`bool`, *optional*, defaults to `False`): hash on a helper thread
            (call :meth:`close` or use the writer as a context manager to stop it).

    Example:
        >>> import io
        >>> w = HashingWriter(io.BytesIO())
        >>> _ = w.write(b"abc")
        >>> w.size, w.hexdigest()[:8]
        (3, 'ba7816bf')
    """

    #: Calls smaller than this are hashed inline (a thread hand-off costs more).
    THREAD_MIN_BYTES = 64 * 1024

    def __init__(self, raw: BinaryIO, *, threaded: bool = False) -> None:
        self.raw = raw
        self.size = 0
        self._h = hashlib.sha256()
        self._ex = cf.ThreadPoolExecutor(1, thread_name_prefix="nb-sha256") if threaded else None

    def _update(self, views: list[memoryview]) -> None:
        for v in views:
            self._h.update(v)

    def _write_fully(self, view: memoryview) -> None:
        while view.nbytes:
            n = self.raw.write(view)
            if n is None:  # non-blocking raw streams are not supported
                raise OSError("the underlying file would block")
            view = view[n:]

    def write_all(self, buffers: list[bytes | bytearray | memoryview]) -> int:
        """Write several buffers in order (one hash hand-off); return the bytes written."""
        views = [memoryview(b).cast("B") for b in buffers]
        nbytes = sum(v.nbytes for v in views)
        fut = self._ex.submit(self._update, views) if self._ex and nbytes >= self.THREAD_MIN_BYTES else None
        try:
            for v in views:
                self._write_fully(v)
        finally:
            if fut is None:
                self._update(views)
            else:
                fut.result()
        self.size += nbytes
        return nbytes

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return self.write_all([data])

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.raw.flush()

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def close(self) -> None:
        """Stop the hashing thread (the underlying file stays open)."""
        if self._ex is not None:
            self._ex.shutdown(wait=True)
            self._ex = None

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
