from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

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


class _Trickle(io.BytesIO):
    """An unbuffered-file stand-in that accepts at most 5 bytes a call (partial writes)."""

    def write(self, b) -> int:  # type: ignore[no-untyped-def,override]
        return super().write(bytes(memoryview(b).cast("B")[:5]))


def test_hashing_writer_threaded_and_partial_writes() -> None:
    big = np.arange(100_000, dtype=np.float32)  # 400 kB: hashed on the helper thread
    bufs = [b"head", memoryview(big), b"tail"]
    expected = hashlib.sha256(b"head" + big.tobytes() + b"tail").hexdigest()
    for threaded in (False, True):
        buf = io.BytesIO()
        with HashingWriter(buf, threaded=threaded) as w:
            assert w.write_all(bufs) == 8 + big.nbytes
        assert w.hexdigest() == expected and w.size == 8 + big.nbytes
        assert buf.getvalue() == b"head" + big.tobytes() + b"tail"
    trickle = _Trickle()
    w = HashingWriter(trickle)
    w.write(b"0123456789abc")
    assert trickle.getvalue() == b"0123456789abc"
