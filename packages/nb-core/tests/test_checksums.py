from __future__ import annotations

import hashlib
import io
from pathlib import Path

from nb_core.checksums import HashingWriter, sha256_bytes, sha256_file, sha256_stream


def test_sha256_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 50_000  # larger than one chunk
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(p) == expected
    assert sha256_file(p, chunk_size=1000) == expected
    assert sha256_bytes(data) == expected
    assert sha256_stream(io.BytesIO(data)) == (expected, len(data))


def test_hashing_writer() -> None:
    buf = io.BytesIO()
    w = HashingWriter(buf)
    w.write(b"abc")
    w.write(memoryview(b"def"))
    assert w.size == 6 == w.tell()
    assert w.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()
    assert buf.getvalue() == b"abcdef"
