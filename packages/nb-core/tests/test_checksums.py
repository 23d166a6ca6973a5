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


def test_threaded_hash_reads_back_a_readable_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Over a file opened ``w+b`` the helper hashes what is in the file, at most MAX_LAG behind."""
    monkeypatch.setattr(HashingWriter, "MAX_LAG", 300_000)  # (the waiting path, with small data)
    rng = np.random.default_rng(0)
    chunks = [rng.bytes(int(n)) for n in rng.integers(1, 200_000, size=40)]
    with (tmp_path / "f.bin").open("w+b", buffering=0) as raw:
        raw.write(b"prefix")  # the hash covers what is written through the writer, from here
        with HashingWriter(raw, threaded=True) as w:
            assert w._back is not None  # the read-back helper
            for i, c in enumerate(chunks):
                big = bytearray(c)
                w.write_all([b"%d" % i, big])
                big[:] = b"\0" * len(big)  # the caller reuses its buffer at once
            digest = w.hexdigest()
    expected = hashlib.sha256(b"".join(b"%d" % i + c for i, c in enumerate(chunks))).hexdigest()
    assert digest == expected
    assert w.size == sum(len(c) + len(b"%d" % i) for i, c in enumerate(chunks))


def test_threaded_hash_of_a_write_only_file_hashes_the_buffers(tmp_path: Path) -> None:
    with (tmp_path / "f.bin").open("wb", buffering=0) as raw, HashingWriter(raw, threaded=True) as w:
        assert w._back is None
        w.write_all([b"x" * 100_000])
        assert w.hexdigest() == hashlib.sha256(b"x" * 100_000).hexdigest()


def test_threaded_hash_reports_a_file_cut_short_under_it(tmp_path: Path) -> None:
    import os

    import pytest

    with (tmp_path / "f.bin").open("w+b", buffering=0) as raw:
        w = HashingWriter(raw, threaded=True)
        assert w._back is not None
        with w._back.cv:  # (holds the helper before it reads: the cut is certain to come first)
            w.write(b"y" * 10_000)
            os.ftruncate(raw.fileno(), 100)
        with pytest.raises(OSError, match="could not read back"):
            w.hexdigest()
        w.close()
