"""The hand-built headers are byte-for-byte what the standard writers produce: tar member
headers and whole shards against `tarfile`, ``.npy`` headers against `np.save`."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from nb_shards import ShardWriter
from nb_shards.npy import npy_header
from nb_shards.tarformat import header_size, member_header


def _tarfile_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


@pytest.mark.parametrize(
    "name",
    [
        "k.json",
        "sub-01_w000001.eeg.npy",
        "a" * 95 + ".json",  # 100 characters: no longer fits the ustar name field
        "d/" * 60 + "key.eeg.npy",  # a long path
        "sujet-é_w1.eeg.npy",  # non-ASCII: a pax path record
        "日本語.json",
    ],
)
@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 123_456_789, 8 << 30, (8 << 30) - 1])
def test_member_header_is_tarfiles(name: str, size: int) -> None:
    ours = member_header(name, size)
    assert ours == _tarfile_header(name, size)
    assert header_size(name, size) == len(ours) and len(ours) % 512 == 0


def test_whole_shard_is_what_tarfile_writes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 3, 7)).astype("float32")
    samples = [
        {"__key__": "a", "eeg.npy": x[0], "json": {"y": 1}},
        {"__key__": "b" * 120, "eeg.npy": x[1], "txt": "hé", "json": {}},  # a pax header for the name
        {"__key__": "sujet-é", "eeg.npy": x[2], "cls": 3, "json": {"z": [1, 2]}},  # non-ASCII name
    ]
    with ShardWriter(tmp_path / "s") as w:
        for s in samples:
            w.write(s)
    ours = (tmp_path / "s" / "train-000000.tar").read_bytes()
    # the same members, in the same order, written by tarfile
    with tarfile.open(tmp_path / "s" / "train-000000.tar") as tf:
        members = tf.getmembers()
    ref = io.BytesIO()
    with tarfile.open(fileobj=ref, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info in members:
            data = ours[info.offset_data : info.offset_data + info.size]
            new = tarfile.TarInfo(info.name)
            new.size, new.mtime, new.mode, new.uid, new.gid = info.size, 0, 0o644, 0, 0
            new.uname = new.gname = ""
            tf.addfile(new, io.BytesIO(data))
    assert ours == ref.getvalue()


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((2, 3), "float32"),
        np.arange(7, dtype="<f8"),
        np.arange(7, dtype=">i2"),
        np.zeros((), "int64"),
        np.zeros((0,), "uint8"),
        np.zeros((0, 5), "float16"),
        np.ones((4, 1, 2), bool),
        np.zeros(3, "complex64"),
        np.zeros(2, "M8[ns]"),
        np.zeros(2, "U5"),
        np.zeros(2, "S3"),
        np.zeros(2, [("x", "<f4"), ("y", ">i8")]),
        np.zeros((1,) * 20, "float32"),
        np.zeros((123_456, 7), "uint8"),
    ],
    ids=lambda a: f"{a.dtype.str}{list(a.shape)}",
)
def test_npy_header_is_np_saves(array: np.ndarray) -> None:
    ours = npy_header(array)
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    saved = buf.getvalue()
    assert saved[: len(ours)] == ours
    assert saved == ours + array.tobytes()  # the data follows the header directly
    assert len(ours) % 64 == 0
