"""The batch read path (nb_shards.fastbatch) gives the batches of the per-sample path, byte for byte."""

from __future__ import annotations

import io
import tarfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nb_core.errors import CorruptDataError, IntegrityError
from nb_shards import ShardDataset, ShardLoader
from nb_shards.dataset import SkippedSampleWarning


def _same(a: list[Any], b: list[Any]) -> None:
    """Equal batches: the same names in the same order, keys, JSON, and arrays byte for byte."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert list(x) == list(y)
        for k in x:
            if isinstance(y[k], list):
                assert isinstance(x[k], list)
                assert len(x[k]) == len(y[k])
                for u, v in zip(x[k], y[k]):
                    if isinstance(v, np.ndarray):
                        assert u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes()
                    else:
                        assert u == v
                continue
            assert type(x[k]) is type(y[k])
            u, v = np.asarray(x[k]), np.asarray(y[k])
            assert u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes()


class _Count:
    """Counts the samples read one by one (the per-sample path)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        orig = ShardDataset._sample

        def counted(ds: ShardDataset, order: Any, g: int) -> Any:
            self.n += 1
            return orig(ds, order, g)

        monkeypatch.setattr(ShardDataset, "_sample", counted)


def _both(src: Any, **kw: Any) -> tuple[list[Any], list[Any], list[int]]:
    """(batches of the batch path, of the per-sample path, skipped counts) of one dataset."""
    out, skipped = [], []
    for fast in (True, False):
        ds = ShardDataset(src, **kw)
        ds.batch_path = fast
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkippedSampleWarning)
            out.append(list(ds))
        skipped.append(ds.skipped)
    return out[0], out[1], skipped


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"shuffle": True, "seed": 3, "shuffle_window": 2},
        {"shuffle": True, "decode": "torch"},
        {"shuffle": True, "rank": 1, "world_size": 3},
        {"shuffle": True, "rank": 2, "world_size": 3, "uneven": "drop", "drop_last": True},
        {"shuffle": True, "start": 37, "epoch": 2},
        {"verify": True, "shuffle": True},
    ],
)
def test_batch_path_matches_per_sample(
    shards: Path, monkeypatch: pytest.MonkeyPatch, kw: dict[str, Any]
) -> None:
    pytest.importorskip("torch") if kw.get("decode") == "torch" else None
    count = _Count(monkeypatch)
    ds = ShardDataset(shards, batch_size=8, **kw)
    fast = list(ds)
    assert count.n == 0  # every batch took the batch path
    ds.batch_path = False
    _same(fast, list(ds))
    assert count.n == sum(len(b["__key__"]) for b in fast)


def test_loader_resume_same_batches_both_paths(shards: Path) -> None:
    pytest.importorskip("torch")
    runs = []
    for fast in (True, False):
        ld = ShardLoader(shards, batch_size=8, shuffle=True, seed=1)
        ld.dataset.batch_path = fast
        it = iter(ld)
        head = [next(it), next(it)]
        state = ld.state_dict()
        again = ShardLoader(shards, batch_size=8, shuffle=True, seed=1)
        again.dataset.batch_path = fast
        again.load_state_dict(state)
        runs.append(head + list(again))
    _same(runs[0], runs[1])
    assert sum(len(b["__key__"]) for b in runs[0]) == 120


def _npy(a: np.ndarray) -> bytes:
    f = io.BytesIO()
    np.save(f, a, allow_pickle=False)
    return f.getvalue()


def _tar(path: Path, samples: list[dict[str, bytes]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        for s in samples:
            for suffix, data in s.items():
                if suffix == "__key__":
                    continue
                info = tarfile.TarInfo(f"{s['__key__'].decode()}.{suffix}")
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return path


def _sample(i: int, **members: bytes) -> dict[str, bytes]:
    return {"__key__": f"s{i:03d}".encode(), **members, "json": f'{{"i": {i}}}'.encode()}


@pytest.mark.parametrize(
    "odd",
    [
        {"x.npy": _npy(np.zeros((3, 2), "float32"))},  # another shape
        {"x.npy": _npy(np.zeros((2, 3), "float64"))},  # another dtype
        {"x.npy": _npy(np.asfortranarray(np.arange(6, dtype="float32").reshape(2, 3)))},
        {"x.npy": _npy(np.ones((2, 3), "float32")), "txt": b"raw bytes"},  # a raw member
        {"y.npy": _npy(np.ones((2, 3), "float32"))},  # other members
    ],
)
def test_fallback_when_not_uniform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: dict[str, bytes]
) -> None:
    samples = [_sample(i, **{"x.npy": _npy(np.full((2, 3), i, "float32"))}) for i in range(12)]
    samples[5] = _sample(5, **odd)
    src = _tar(tmp_path / "odd.tar", samples)
    count = _Count(monkeypatch)
    fast, slow, _ = _both(src, batch_size=4)
    _same(fast, slow)
    assert count.n == 12 + 4  # only the odd batch went sample by sample (in both runs)


def test_big_endian_and_zero_size_arrays(tmp_path: Path) -> None:
    samples = [
        _sample(
            i, **{"b.npy": _npy((np.arange(4) + i).astype(">i4")), "z.npy": _npy(np.zeros((0, 3), "int8"))}
        )
        for i in range(6)
    ]
    fast, slow, _ = _both(_tar(tmp_path / "be.tar", samples), batch_size=4)
    _same(fast, slow)
    # (stacking converts to the native byte order: the batch path leaves such arrays to it)
    assert fast[0]["b"].tolist() == [[i, i + 1, i + 2, i + 3] for i in range(4)]
    assert fast[0]["z"].shape == (4, 0, 3)


def _truncate(shards: Path) -> None:
    last = sorted(shards.glob("*.tar"))[-1]
    data = last.read_bytes()
    last.write_bytes(data[: len(data) * 2 // 3])


def test_truncated_shard_raises_or_skips_as_before(shards: Path) -> None:
    _truncate(shards)
    for fast in (True, False):
        ds = ShardDataset(shards, batch_size=8)
        ds.batch_path = fast
        with pytest.raises(CorruptDataError, match="truncated"):
            list(ds)
    fast_b, slow_b, skipped = _both(shards, batch_size=8, shuffle=True, on_error="skip")
    _same(fast_b, slow_b)
    assert skipped[0] == skipped[1] > 0


def test_damaged_header_raises_or_skips_as_before(tmp_path: Path) -> None:
    samples = [_sample(i, **{"x.npy": _npy(np.full((2, 3), i, "float32"))}) for i in range(8)]
    bad = bytearray(samples[3]["x.npy"])
    bad[0] = 0  # bad magic
    samples[3]["x.npy"] = bytes(bad)
    src = _tar(tmp_path / "bad.tar", samples)
    with pytest.raises(CorruptDataError, match=r"s003\.x\.npy"):
        list(ShardDataset(src, batch_size=4))
    fast, slow, skipped = _both(src, batch_size=4, on_error="skip")
    _same(fast, slow)
    assert skipped == [1, 1] and fast[0]["__key__"] == ["s000", "s001", "s002"]


def test_verify_refuses_changed_bytes_on_the_batch_path(shards: Path) -> None:
    first = sorted(shards.glob("*.tar"))[0]
    data = bytearray(first.read_bytes())
    data[2000] ^= 0xFF  # inside the first sample's array data
    first.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        list(ShardDataset(shards, batch_size=8, verify=True))


def test_compressed_shards_take_the_batch_path(
    tmp_path: Path, eeg_samples: list[Any], write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write(tmp_path / "gz", eeg_samples[:40], max_count=16, compression="gz")
    count = _Count(monkeypatch)
    ds = ShardDataset(src, batch_size=8, shuffle=True)
    assert ds.source.open(0).fd is None  # held decompressed in memory: copied from there
    fast = list(ds)
    assert count.n == 0
    ds.batch_path = False
    _same(fast, list(ds))


def test_no_descriptor_kept_for_an_index_scan(tmp_path: Path, eeg_samples: list[Any], write: Any) -> None:
    src = write(tmp_path / "ds", eeg_samples[:30], max_count=10)
    bare = tmp_path / "bare"
    bare.mkdir()
    tars = []
    for t in sorted(src.glob("*.tar")):  # shards without index sidecars: indexes built by scanning
        tars.append(bare / t.name)
        tars[-1].write_bytes(t.read_bytes())
    ds = ShardDataset(tars, batch_size=8)
    ds.prepare_workers()
    assert ds.source._fds == {}
    batches = list(ds)
    assert sum(len(b["__key__"]) for b in batches) == 30


def test_local_shards_are_read_in_spans_without_the_memory_map(
    shards: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uncompressed local shards: one ``preadv`` per sample (headers and JSON along), never the
    memory-map checks; the batches equal the per-sample path's."""
    from nb_shards import fastbatch

    def refuse(*a: Any) -> bool:
        raise AssertionError("the memory-map path was taken")

    monkeypatch.setattr(fastbatch, "_check_rows", refuse)
    one_array = []
    real = fastbatch._read_array_json_spans
    monkeypatch.setattr(fastbatch, "_read_array_json_spans", lambda *a: one_array.append(1) or real(*a))
    fast = list(ShardDataset(shards, batch_size=8, shuffle=True, seed=2))
    assert len(one_array) == len(fast)  # (one array and its JSON: the specialised read)
    monkeypatch.undo()
    ds = ShardDataset(shards, batch_size=8, shuffle=True, seed=2)
    ds.batch_path = False
    _same(fast, list(ds))


def _raw_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """A tar with members in exactly this order (names ``key.suffix``)."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def test_json_before_the_array_and_trailing_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members = []
    for i in range(8):
        # JSON first, then an array member with bytes after its data (still a valid member)
        members.append((f"s{i:03d}.json", f'{{"i": {i}, "unit": "µV"}}'.encode()))
        members.append((f"s{i:03d}.x.npy", _npy(np.full((2, 3), i, "float32")) + b"\0" * 7))
    src = _raw_tar(tmp_path / "order.tar", members)
    count = _Count(monkeypatch)
    fast, slow, _ = _both(src, batch_size=4)
    _same(fast, slow)
    assert count.n == 8  # the batch path took every batch (the per-sample run counted 8)
    assert fast[1]["json"][0] == {"i": 4, "unit": "µV"}


@pytest.mark.parametrize(
    "docs",
    [
        [b"[1,", b"2]"],  # neither is JSON alone; joined they would be
        [b"[1", b"2]"],
        [b'"open', b'string"'],
        [b"1.", b"5"],
        [b" {} ", b"{}"],  # whitespace around: valid, read by the per-sample parser
        [b"NaN", b"1"],
        [b"1" * 5000, b"1"],  # past Python's digit limit
        [b"[" * 100 + b"]" * 100, b"1"],
        [b"\xff", b"1"],  # not UTF-8
        [b'{"a": 1}{"b": 2}', b"1"],  # two documents in one member
        [b'{"a": 1, "a": 2}', b"1"],  # a key twice
        [b"[1e999]", b"1"],  # out of the float range
    ],
)
def test_batch_json_never_accepts_what_one_by_one_would_not(docs: list[bytes]) -> None:
    import json

    from nb_shards.decode import _batch_json

    assert _batch_json(docs) is None  # one by one decides: the value, or the error (tested below)
    plain = [b'{"i": 1, "unit": "\xc2\xb5V"}', b"[1, 2.5, null]", b'"s"', b"-3e2", b"true"]
    assert _batch_json(plain) == [json.loads(d) for d in plain]


@pytest.mark.parametrize(
    "bad", [b"[1", b'{"a": NaN}', b'{"a": 1}{"b": 2}', b"\xff", b'{"a": 1, "a": 2}', b"[1e999]"]
)
def test_bad_json_member_raises_or_skips_as_before(tmp_path: Path, bad: bytes) -> None:
    members = []
    for i in range(8):
        members.append((f"s{i:03d}.x.npy", _npy(np.full((2, 3), i, "float32"))))
        members.append((f"s{i:03d}.json", bad if i == 2 else b"2]" if i == 3 else b"{}"))
    src = _raw_tar(tmp_path / "json.tar", members)
    for fast in (True, False):
        ds = ShardDataset(src, batch_size=4)
        ds.batch_path = fast
        with pytest.raises(CorruptDataError, match=r"s002\.json"):
            list(ds)
    fast_b, slow_b, skipped = _both(src, batch_size=4, on_error="skip")
    _same(fast_b, slow_b)
    assert skipped == [2, 2]


def test_overlapping_members_of_a_hostile_index_take_the_per_sample_path(
    tmp_path: Path, eeg_samples: list[Any], write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    src = write(tmp_path / "ds", eeg_samples[:16], max_count=16)
    idx_path = next(src.glob("*.idx"))
    idx = json.loads(idx_path.read_bytes())
    _, mems = idx["samples"][5]
    by = {m[0]: m for m in mems}
    by["json"][1] = by["eeg.npy"][1] + 10  # the JSON member now starts inside the array's data
    idx_path.write_text(json.dumps(idx))
    for fast in (True, False):
        ds = ShardDataset(src, batch_size=8, verify=False)
        ds.batch_path = fast
        with pytest.raises(CorruptDataError):
            list(ds)


def test_two_arrays_take_the_general_span_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Samples of two arrays and JSON: the general walk over members (not the one-array read),
    still never the memory-map checks; the batches equal the per-sample path's."""
    from nb_shards import fastbatch

    one_array = []
    real = fastbatch._read_array_json_spans
    monkeypatch.setattr(fastbatch, "_read_array_json_spans", lambda *a: one_array.append(1) or real(*a))
    monkeypatch.setattr(fastbatch, "_check_rows", lambda *a: pytest.fail("the memory-map path was taken"))
    samples = [
        _sample(i, **{"a.npy": _npy(np.full((2, 3), i, "float32")), "b.npy": _npy(np.arange(5) + i)})
        for i in range(10)
    ]
    src = _tar(tmp_path / "two.tar", samples)
    fast = list(ShardDataset(src, batch_size=4, shuffle=True, seed=1))
    assert one_array == []
    monkeypatch.undo()
    slow_ds = ShardDataset(src, batch_size=4, shuffle=True, seed=1)
    slow_ds.batch_path = False
    _same(fast, list(slow_ds))
    assert fast[0]["b"].shape == (4, 5)


def test_a_shard_cut_short_while_open_is_reported(shards: Path) -> None:
    """A shard that shrinks after it was opened: the span read comes back short and says so
    (the memory map is not read past the cut)."""
    first = sorted(shards.glob("*.tar"))[0]
    ds = ShardDataset(shards, batch_size=8)
    it = iter(ds)
    assert len(next(it)["__key__"]) == 8  # the shard is open now
    idx = ds.source.open(0).index
    off, size = idx.members[20]["eeg.npy"]
    with first.open("r+b") as f:
        f.truncate(off + size // 2)  # inside sample 20's array; samples 16-19 intact
    next(it)  # samples 8-15
    with pytest.raises(CorruptDataError, match="changed while open"):
        next(it)
