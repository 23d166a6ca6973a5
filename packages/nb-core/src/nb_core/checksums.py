"""sha256 helpers used by every writer and by every ``verify``.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

__all__ = ["CHUNK_SIZE", "HashingWriter", "sha256_bytes", "sha256_file", "sha256_stream"]

#: Bytes read at a time when hashing files (large enough to reach disk speed).
CHUNK_SIZE = 8 * 1024 * 1024


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    """Hex sha256 of a bytes-like object."""
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
    """Hex sha256 of a file, read in chunks (constant memory)."""
    with Path(path).open("rb", buffering=0) as f:
        return sha256_stream(f, chunk_size=chunk_size)[0]


class HashingWriter:
    """A binary file wrapper that hashes and counts what is written through it.

    Writers use it to get a file's sha256 without reading the file back.

    Example:
        >>> import io
        >>> w = HashingWriter(io.BytesIO())
        >>> _ = w.write(b"abc")
        >>> w.size, w.hexdigest()[:8]
        (3, 'ba7816bf')
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.size = 0
        self._h = hashlib.sha256()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._h.update(data)
        n = self.raw.write(data)
        self.size += len(memoryview(data).cast("B"))
        return n

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.raw.flush()

    def hexdigest(self) -> str:
        return self._h.hexdigest()
