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
import stat
import threading
from pathlib import Path
from typing import Any, BinaryIO

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

    Writers use it to get a file's sha256 without a separate pass over the file. With
    ``threaded=True`` the hash is computed on a helper thread (``hashlib`` and file I/O both
    release the GIL), so hashing costs almost no wall time:

    - over a file opened for reading too (``"w+b"``), the helper reads back what was written
      (from the page cache, with ``pread``) and hashes it, up to :attr:`MAX_LAG` bytes behind
      the writes: a call returns as soon as its bytes are written and never waits for the hash
      of its own bytes; the digest is that of the bytes in the file;
    - over anything else, each large :meth:`write_all` call hashes its buffers on the helper
      while writing them, and returns when both are done.

    Either way no copy of the caller's buffers is kept: they may be reused as soon as the call
    returns. Partial writes of unbuffered files are completed.

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
    #: How far (bytes) the read-back hash may fall behind the writes before a write waits.
    MAX_LAG = 64 * 1024 * 1024

    def __init__(self, raw: BinaryIO, *, threaded: bool = False) -> None:
        self.raw = raw
        self.size = 0
        self._h = hashlib.sha256()
        self._ex: cf.ThreadPoolExecutor | None = None
        self._back: _ReadBack | None = None
        if threaded:
            fd = _readable_fd(raw)
            if fd is not None:
                self._back = _ReadBack(fd, raw.tell(), self._h, self.MAX_LAG)
            else:
                self._ex = cf.ThreadPoolExecutor(1, thread_name_prefix="nb-sha256")

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
        if self._back is not None:
            for v in views:
                self._write_fully(v)
            self.size += nbytes
            self._back.written(nbytes)
            return nbytes
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
        """Hex sha256 of everything written so far (waits for the helper to catch up).

        Raises:
            OSError: the helper could not read back what was written.
        """
        if self._back is not None:
            self._back.drain()
        return self._h.hexdigest()

    def close(self) -> None:
        """Stop the hashing thread (the underlying file stays open)."""
        if self._ex is not None:
            self._ex.shutdown(wait=True)
            self._ex = None
        if self._back is not None:
            self._back.stop()

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _readable_fd(raw: BinaryIO) -> int | None:
    """The descriptor of a regular file that ``raw`` can also be read from, else `None`."""
    try:
        if not (raw.readable() and raw.seekable()):
            return None
        fd = raw.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) and hasattr(os, "preadv") else None
    except (OSError, ValueError, AttributeError):  # (io.UnsupportedOperation is an OSError)
        return None


class _ReadBack:
    """The helper thread of a read-back `HashingWriter`: hashes the file from ``start`` up to the
    bytes written so far, reading them back with ``pread``."""

    CHUNK = 1 << 20

    def __init__(self, fd: int, start: int, h: Any, max_lag: int) -> None:
        self.fd, self.h, self.max_lag = fd, h, max_lag
        self.hashed = self.target = start
        self.error: BaseException | None = None
        self.stopping = False
        self.cv = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="nb-sha256", daemon=True)
        self.thread.start()

    def written(self, n: int) -> None:
        """``n`` more bytes are in the file: hash them; wait while the hash is too far behind."""
        with self.cv:
            self.target += n
            self.cv.notify_all()
            while self.target - self.hashed > self.max_lag and self.error is None:
                self.cv.wait()
            self._raise()

    def drain(self) -> None:
        with self.cv:
            while self.hashed < self.target and self.error is None:
                self.cv.wait()
            self._raise()

    def stop(self) -> None:
        with self.cv:
            self.stopping = True
            self.cv.notify_all()
        self.thread.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise OSError(f"could not read back the bytes written to hash them: {self.error}")

    def _run(self) -> None:
        failure: BaseException = RuntimeError("the hashing thread stopped unexpectedly")
        try:
            self._loop()
            return
        except OSError as err:
            failure = err
        finally:  # (whatever stopped the loop, a waiting writer is woken and told)
            with self.cv:
                if self.hashed < self.target or not self.stopping:
                    self.error = failure
                self.cv.notify_all()

    def _loop(self) -> None:
        buf = memoryview(bytearray(self.CHUNK))
        while True:
            with self.cv:
                while self.hashed >= self.target and not self.stopping:
                    self.cv.wait()
                if self.hashed >= self.target:
                    return
                pos, end = self.hashed, self.target
            while pos < end:
                got = os.preadv(self.fd, [buf[: min(self.CHUNK, end - pos)]], pos)
                if got <= 0:
                    raise OSError(f"the file ends at byte {pos}, {end - pos} bytes before what was written")
                self.h.update(buf[:got])
                pos += got
                with self.cv:
                    self.hashed = pos
                    self.cv.notify_all()
