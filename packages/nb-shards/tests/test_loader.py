from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nb_core import Sample
from nb_core.errors import IncompatibleDataError, SchemaVersionError
from nb_shards import ShardDataset, ShardLoader


def _keys(batches: list[dict[str, Any]]) -> list[list[str]]:
    return [list(b["__key__"]) for b in batches]


def _run_world(src: Path, world: int, state: dict[str, Any] | None, steps: int | None, **kw: Any):
    """Run ``world`` ranks in lock step; return the global key sequence (step, rank order), the
    batches per rank and rank 0's state after ``steps`` steps (None: to the end)."""
    loaders = [ShardLoader(src, rank=r, world_size=world, **kw) for r in range(world)]
    if state is not None:
        for ld in loaders:
            ld.load_state_dict(state)
    its = [iter(ld) for ld in loaders]
    seq: list[str] = []
    counts = [0] * world
    n = 0
    while steps is None or n < steps:
        got = []
        for r, it in enumerate(its):
            try:
                got.append(next(it))
                counts[r] += 1
            except StopIteration:
                got.append(None)
        if all(g is None for g in got):
            break
        assert all(g is not None for g in got), f"ranks stopped at different steps: {counts}"
        # global order: rank r's i-th sample of the step is position start + (t*B + i)*W + r
        width = max(len(g["__key__"]) for g in got)
        for i in range(width):
            for g in got:
                if i < len(g["__key__"]):
                    seq.append(g["__key__"][i])
        n += 1
    states = [ld.state_dict() for ld in loaders]
    assert all(s == states[0] for s in states), "every rank saves the same state"
    return seq, counts, states[0]


COMMON = {"batch_size": 4, "shuffle": True, "seed": 3, "shuffle_window": 2, "decode": "numpy"}


@pytest.mark.parametrize(
    ("before", "after"),
    [({"num_workers": 0}, {"num_workers": 2}), ({"num_workers": 2}, {"num_workers": 0})],
)
def test_exact_resume_across_worker_counts(
    shards: Path, before: dict[str, int], after: dict[str, int]
) -> None:
    full = _keys(list(ShardLoader(shards, **COMMON, **before)))
    ld = ShardLoader(shards, **COMMON, **before)
    it = iter(ld)
    head = [next(it) for _ in range(7)]
    state = ld.state_dict()
    del it
    resumed = ShardLoader(shards, **COMMON, **after)
    resumed.load_state_dict(state)
    rest = _keys(list(resumed))
    assert _keys(head) + rest == full
    assert len(full) == 30 and sorted(k for b in full for k in b) == sorted(f"w{i:05d}" for i in range(120))


def test_exact_resume_world_2_to_4_with_padding(shards: Path) -> None:
    full, _, _ = _run_world(shards, 2, None, None, **{**COMMON, "batch_size": 7}, uneven="pad")
    head, _, state = _run_world(shards, 2, None, 3, **{**COMMON, "batch_size": 7}, uneven="pad")
    tail, counts4, _ = _run_world(
        shards, 4, state, None, **{**COMMON, "batch_size": 7}, uneven="pad", num_workers=2
    )
    assert (head + tail)[:120] == full[:120]  # the same global order; only the wrap-around padding differs
    assert set(head + tail) == {f"w{i:05d}" for i in range(120)} and len(set(counts4)) == 1


def test_exact_resume_world_2_to_4(shards: Path) -> None:
    full, counts2, _ = _run_world(shards, 2, None, None, **COMMON, uneven="drop")
    assert counts2 == [15, 15]
    head, _, state = _run_world(shards, 2, None, 5, **COMMON, uneven="drop")
    assert state["position"] == 5 * 4 * 2
    tail, counts4, _ = _run_world(shards, 4, state, None, **COMMON, uneven="drop")
    assert head + tail == full  # the same global sequence, now read by 4 ranks
    assert len(set(counts4)) == 1


@pytest.mark.parametrize("uneven", ["pad", "drop"])
@pytest.mark.parametrize("drop_last", [False, True])
def test_equal_batches_per_rank_on_uneven_shards(
    tmp_path: Path, eeg_samples: list[Sample], write: Any, uneven: str, drop_last: bool
) -> None:
    src = write(tmp_path / "u", eeg_samples[:103], max_count=17)  # shards 17×6 + 1
    for world in (2, 3, 4):
        seq, counts, _ = _run_world(
            src, world, None, None, batch_size=5, shuffle=True, seed=1, uneven=uneven, drop_last=drop_last
        )
        assert len(set(counts)) == 1, counts
        assert counts[0] == len(
            ShardLoader(src, batch_size=5, rank=0, world_size=world, uneven=uneven, drop_last=drop_last)
        )
        if uneven == "pad" and not drop_last:
            assert set(seq) == {f"w{i:05d}" for i in range(103)}  # all read; a few twice
            assert len(seq) == -(-103 // world) * world
        elif uneven == "drop":
            assert len(seq) == len(set(seq))


def test_epochs_change_the_order_and_cover_everything(shards: Path) -> None:
    ld = ShardLoader(shards, batch_size=8, shuffle=True, seed=0, decode="numpy")
    e0 = [k for b in ld for k in b["__key__"]]
    e1 = [k for b in ld for k in b["__key__"]]
    assert e0 != e1 and sorted(e0) == sorted(e1) == sorted(f"w{i:05d}" for i in range(120))
    again = ShardLoader(shards, batch_size=8, shuffle=True, seed=0, decode="numpy")
    assert [k for b in again for k in b["__key__"]] == e0
    seq = [k for b in ShardLoader(shards, batch_size=8, decode="numpy") for k in b["__key__"]]
    assert seq == [f"w{i:05d}" for i in range(120)]


def test_batches_are_tensors_with_keys_and_json(shards: Path, eeg_samples: list[Sample]) -> None:
    import torch

    b = next(iter(ShardLoader(shards, batch_size=6)))
    assert isinstance(b["eeg"], torch.Tensor) and tuple(b["eeg"].shape) == (6, 4, 50)
    assert b["__key__"] == [f"w{i:05d}" for i in range(6)]
    assert b["json"][2] == eeg_samples[2].metadata
    np.testing.assert_array_equal(b["eeg"][5].numpy(), eeg_samples[5].arrays["eeg"])


def test_resume_is_a_seek_on_100_shards(tmp_path: Path, write: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resuming at position 1234 of 2000 reads only the shards around it (a seek), not the ~60
    shards before it (re-reading and discarding). The time it takes is in the README (~15 ms)."""
    from nb_shards.source import ShardSource

    x = np.zeros((2, 8), "float32")
    samples = [Sample(f"s{i:05d}", {"eeg": x}, {"i": i}) for i in range(2000)]
    src = write(tmp_path / "many", samples, max_count=20)  # 100 shards
    reads: list[int] = []
    real_read = ShardSource._read_bytes

    def counting_read(self: ShardSource, i: int, **kw: Any) -> Any:
        reads.append(i)
        return real_read(self, i, **kw)

    monkeypatch.setattr(ShardSource, "_read_bytes", counting_read)
    ld = ShardLoader(src, batch_size=16, shuffle=True, seed=5, decode="numpy")
    full = [k for b in ld for k in b["__key__"]]
    reads.clear()
    ld = ShardLoader(src, batch_size=16, shuffle=True, seed=5, decode="numpy")
    ld.load_state_dict({**ld.state_dict(), "position": 1232})
    first = next(iter(ld))
    assert first["__key__"] == full[1232:1248]
    assert 1 <= len(set(reads)) <= 8, f"resume read {len(set(reads))} shards"


def test_state_checks(shards: Path) -> None:
    ld = ShardLoader(shards, batch_size=4, shuffle=True, seed=1)
    st = ld.state_dict()
    with pytest.raises(IncompatibleDataError, match="seed"):
        ShardLoader(shards, batch_size=4, shuffle=True, seed=2).load_state_dict(st)
    with pytest.raises(SchemaVersionError):
        ld.load_state_dict({**st, "nb_shards_loader": 99})


def test_workers_hand_over_batches_with_a_deep_tmpdir(shards: Path, tmp_path: Path) -> None:
    """Workers pass tensors through a Unix socket under TMPDIR; a path too long for a socket address
    used to lose the batch and leave the loader waiting forever (seen under pytest's deep TMPDIR)."""
    import os
    import subprocess
    import sys

    deep = tmp_path / ("d" * 90) / ".tmp"
    deep.mkdir(parents=True)
    code = (
        "from nb_shards import ShardLoader\n"
        f"n = sum(len(b['__key__']) for b in ShardLoader({str(shards)!r}, batch_size=4, num_workers=2))\n"
        "print(n)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TMPDIR": str(deep)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "AF_UNIX path too long" not in res.stderr
    from nb_shards import ShardDataset

    assert int(res.stdout.split()[-1]) == sum(1 for _ in ShardDataset(str(shards)))


RING = {"batch_size": 4, "shuffle": True, "seed": 5, "shuffle_window": 2}


def _ring_epoch(src: Path, *, ring: bool, keep: bool) -> tuple[list[dict[str, Any]], set[int]]:
    """One epoch without workers; the batches (kept as handed out, or copied) and their data pointers."""
    import torch

    ld = ShardLoader(src, **RING)
    if not ring:
        ld._ring_slots = 0
    out, ptrs = [], set()
    for b in ld:
        ptrs.add(b["eeg"].data_ptr())
        out.append(b if keep else {**b, "eeg": torch.clone(b["eeg"])})
        del b
    return out, ptrs


def test_ring_without_workers_never_overwrites_kept_batches(shards: Path, eeg_samples: list[Sample]) -> None:
    import torch

    kept, ptrs = _ring_epoch(shards, ring=True, keep=True)
    plain, _ = _ring_epoch(shards, ring=False, keep=True)
    assert len(kept) == len(plain) == 30 and len(ptrs) == 30  # every kept batch has its own memory
    by_key = {s.key: s.arrays["eeg"] for s in eeg_samples}
    for a, b in zip(kept, plain, strict=True):
        assert a["__key__"] == b["__key__"] and torch.equal(a["eeg"], b["eeg"])
        assert np.array_equal(a["eeg"].numpy(), np.stack([by_key[k] for k in a["__key__"]]))


def test_ring_without_workers_reuses_slots_of_dropped_batches(shards: Path) -> None:
    import torch

    dropped, ptrs = _ring_epoch(shards, ring=True, keep=False)
    plain, _ = _ring_epoch(shards, ring=False, keep=True)
    assert len(ptrs) <= 5  # the first batch (sizes the ring) and the ring's slots, reused
    for a, b in zip(dropped, plain, strict=True):
        assert a["__key__"] == b["__key__"] and torch.equal(a["eeg"], b["eeg"])


def test_ring_slot_is_free_only_when_every_view_is_gone(shards: Path) -> None:
    import torch

    ld = ShardLoader(shards, **RING)
    it = iter(ld)
    first, second = next(it), next(it)  # (each in a slot of its own)
    view = second["eeg"][1:3].numpy()  # a NumPy view of part of a slot
    expect = view.copy()
    ptr = second["eeg"].data_ptr()
    del second
    later = [next(it)["eeg"] for _ in range(8)]  # would reuse the slot if the view were ignored
    assert np.array_equal(view, expect)
    assert all(t.data_ptr() != ptr for t in later)
    assert isinstance(first["eeg"], torch.Tensor)


def test_exact_resume_with_the_ring(shards: Path) -> None:
    full = _keys(list(ShardLoader(shards, **RING)))
    ld = ShardLoader(shards, **RING)
    it = iter(ld)
    head = [next(it) for _ in range(7)]
    state = ld.state_dict()
    del it
    resumed = ShardLoader(shards, **RING)
    resumed.load_state_dict(state)
    assert _keys(head) + _keys(list(resumed)) == full


def test_the_ring_is_sized_before_the_first_batch_when_the_manifest_fixes_shapes(
    shards: Path, tmp_path: Path
) -> None:
    """A manifest with fixed dtypes and shapes gives the batch's array sizes in advance: the ring
    (with or without workers) exists before the first batch, which lands in a slot too."""
    assert ShardDataset(shards, batch_size=4, decode="torch").batch_array_bytes() == [4 * 4 * 50 * 4]
    assert ShardDataset(shards, batch_size=4, decode="numpy").batch_array_bytes() is None
    assert ShardDataset(shards, batch_size=4, decode="torch", collate_fn=list).batch_array_bytes() is None
    bare = tmp_path / "bare.tar"  # no manifest: nothing known before reading
    bare.write_bytes(sorted(shards.glob("*.tar"))[0].read_bytes())
    assert ShardDataset(bare, batch_size=4, decode="torch").batch_array_bytes() is None
    ld = ShardLoader(shards, **RING)
    it = iter(ld)
    first = next(it)
    ring = ld._local_ring
    assert ring is not None and ring.slots and ring.free_slots() == ring.n_slots - 1
    assert len(first["__key__"]) == 4
    ld_bare = ShardLoader(bare, **RING)
    it_bare = iter(ld_bare)
    kept = next(it_bare)  # sized on this batch (fresh memory), then the ring
    assert ld_bare._local_ring is not None and ld_bare._local_ring.free_slots() == ld_bare._local_ring.n_slots
    assert len(kept["__key__"]) == 4


def test_without_workers_the_loader_yields_what_a_dataloader_would(
    shards: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without workers or pinning the loader iterates the dataset itself: the same batches (and
    types) as a ``DataLoader(batch_size=None, num_workers=0)`` over it, and no DataLoader made."""
    import torch

    from nb_shards.torchdata import convert_batch, torch_iterable

    ref = ShardDataset(shards, batch_size=4, shuffle=True, seed=2, decode="numpy")
    expected = list(
        torch.utils.data.DataLoader(torch_iterable(ref), batch_size=None, collate_fn=convert_batch)
    )

    def no_dataloader(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a DataLoader was made for a loader without workers")

    monkeypatch.setattr(torch.utils.data, "DataLoader", no_dataloader)
    got = list(ShardLoader(shards, batch_size=4, shuffle=True, seed=2, decode="numpy"))
    assert len(got) == len(expected) > 1
    for g, e in zip(got, expected):
        assert g["__key__"] == e["__key__"] and g["json"] == e["json"]
        assert isinstance(g["eeg"], torch.Tensor) and torch.equal(g["eeg"], e["eeg"])
