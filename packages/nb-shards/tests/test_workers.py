"""ShardLoader with DataLoader workers: every start method, the shared-memory batch ring, pinning."""

from __future__ import annotations

import mmap
import multiprocessing
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from nb_shards import ShardDataset, ShardLoader, collate, torchdata

OPTS: dict[str, Any] = {"batch_size": 8, "shuffle": True, "seed": 5, "shuffle_window": 2}


def _reference(src: Path) -> list[tuple[list[str], np.ndarray]]:
    return [(list(b["__key__"]), b["eeg"].numpy().copy()) for b in ShardLoader(src, **OPTS)]


def _same(batches: list[dict[str, Any]], ref: list[tuple[list[str], np.ndarray]]) -> None:
    assert [list(b["__key__"]) for b in batches] == [k for k, _ in ref]
    for b, (_, x) in zip(batches, ref):
        np.testing.assert_array_equal(b["eeg"].numpy(), x)


@pytest.mark.parametrize(
    "method",
    [
        "fork",
        pytest.param("spawn", marks=pytest.mark.slow),
        pytest.param("forkserver", marks=pytest.mark.slow),
    ],
)
def test_every_start_method_resumes_exactly(
    shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """0 workers for 2 batches → state → workers started with ``method`` for 3 batches → state → 0
    workers to the end: the same batches, bytes included, as one uninterrupted single-process epoch.
    (One worker for spawn/forkserver: each spawned worker imports torch, seconds on a busy machine.)"""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method on this platform")
    # spawned workers start with this TMPDIR: deep enough that a socket address under it is too long
    deep = tmp_path / ("d" * 90)
    deep.mkdir()
    monkeypatch.setenv("TMPDIR", str(deep))
    ref = _reference(shards)
    first = ShardLoader(shards, **OPTS)
    it = iter(first)
    head = [next(it) for _ in range(2)]
    state = first.state_dict()
    del it
    workers = 2 if method == "fork" else 1
    mid_loader = ShardLoader(shards, **OPTS, num_workers=workers, multiprocessing_context=method)
    mid_loader.load_state_dict(state)
    it = iter(mid_loader)
    mid = [next(it) for _ in range(3)]
    state = mid_loader.state_dict()
    it.close()  # type: ignore[attr-defined]
    assert state["position"] == 5 * OPTS["batch_size"]
    last = ShardLoader(shards, **OPTS)
    last.load_state_dict(state)
    _same(head + mid + list(last), ref)
    assert torchdata._MAIN_RINGS == {}


def test_torch_wrapper_is_a_picklable_module_level_class(shards: Path) -> None:
    wrapped = ShardDataset(shards, batch_size=4).to_torch()
    cls = type(wrapped)
    assert cls is torchdata.TorchShards and cls.__module__ == "nb_shards.torchdata"
    assert isinstance(wrapped, torch.utils.data.IterableDataset)
    again = pickle.loads(pickle.dumps(wrapped))
    assert type(again) is cls and len(again) == len(wrapped) == 30
    assert [b["__key__"] for b in again] == [b["__key__"] for b in wrapped]
    with pytest.raises(AttributeError):
        torchdata.NoSuchThing  # noqa: B018


def test_ring_batches_stay_valid_when_all_are_kept(shards: Path) -> None:
    """Keeping every batch uses up each worker's ring (5 slots): later batches come in fresh shared
    memory; none is overwritten."""
    ref = _reference(shards)
    seen_rings: list[int] = []
    kept = []
    for b in ShardLoader(shards, **OPTS, num_workers=2):
        kept.append(b)
        seen_rings.append(len(torchdata._MAIN_RINGS))
    _same(kept, ref)
    assert max(seen_rings) == 2  # one ring per worker reached the main process
    assert torchdata._MAIN_RINGS == {}  # forgotten at the end of the epoch; the tensors stay valid


def _in_a_ring(t: Any) -> bool:
    p = t.data_ptr()
    return any(r.u8.ctypes.data <= p < r.u8.ctypes.data + r.u8.nbytes for r in torchdata._MAIN_RINGS.values())


def _drop_each(loader: ShardLoader, ref: list[tuple[list[str], np.ndarray]], each: Any = None) -> int:
    """Iterate ``loader``, dropping each batch before the next (after copying it and calling
    ``each()``); check the copies equal ``ref``; return how many batches were views of a ring."""
    got = []
    from_ring = 0
    for b in loader:
        if each is not None:
            each()
        got.append((list(b["__key__"]), b["eeg"].numpy().copy()))
        from_ring += _in_a_ring(b["eeg"])
        del b
    assert [k for k, _ in got] == [k for k, _ in ref]
    for (_, x), (_, y) in zip(got, ref):
        np.testing.assert_array_equal(x, y)
    return from_ring


@pytest.mark.parametrize("manifest", [True, False])
def test_ring_slots_are_reused_when_batches_are_dropped(shards: Path, tmp_path: Path, manifest: bool) -> None:
    src: Any = shards
    if not manifest:  # bare shards: the batch size is known only once a first batch is read
        src = []
        for t in sorted(shards.glob("*.tar")):
            src.append(tmp_path / t.name)
            src[-1].write_bytes(t.read_bytes())
    ref = _reference(shards)
    from_ring = _drop_each(ShardLoader(src, **OPTS, num_workers=2, prefetch_factor=1), ref)
    # 15 batches through 2 rings of 4 slots (prefetch 1 + 3). The manifest fixes the shapes, so
    # each worker's ring is sized before its first batch; without it the first batch of each worker
    # (which sizes its ring) comes another way.
    assert len(ref) == 15 and from_ring == (15 if manifest else 15 - 2)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_forked_workers_stack_into_rings_made_before_the_fork(shards: Path) -> None:
    """Under ``fork``, with the manifest fixing the batch's arrays, the main process makes each
    worker's ring before the workers start (shared memory they inherit): every batch lands in one of
    those, and no worker sends a ring of its own."""
    ref = _reference(shards)
    rings_seen: list[list[type]] = []

    def see_rings() -> None:
        rings_seen.append([type(getattr(r.u8.base, "obj", None)) for r in torchdata._MAIN_RINGS.values()])

    loader = ShardLoader(shards, **OPTS, num_workers=2, prefetch_factor=1, multiprocessing_context="fork")
    from_ring = _drop_each(loader, ref, see_rings)
    assert len(rings_seen) == 15 and all(seen == [mmap.mmap, mmap.mmap] for seen in rings_seen)
    assert from_ring == len(ref) == 15
    assert torchdata._MAIN_RINGS == {}


def _view_collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """A collate_fn that keeps a view of the stacked array (and nests it): the slot is retired."""
    b = collate(samples, to_torch=True)
    b["eeg"] = b["eeg"][:, :2]
    b["nested"] = [b["eeg"]]
    return b


def test_a_custom_collate_keeping_views_of_the_ring_is_safe(shards: Path) -> None:
    ref = _reference(shards)
    kept = list(ShardLoader(shards, **OPTS, num_workers=2, collate_fn=_view_collate))
    assert [list(b["__key__"]) for b in kept] == [k for k, _ in ref]
    for b, (_, x) in zip(kept, ref):
        np.testing.assert_array_equal(b["eeg"].numpy(), x[:, :2])
        assert b["nested"][0].data_ptr() == b["eeg"].data_ptr()


def _failing_collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    if any(s["__key__"] == "w00050" for s in samples):
        raise ValueError("collate failed on w00050")
    return collate(samples, to_torch=True)


def test_a_worker_error_reaches_the_caller(shards: Path) -> None:
    with pytest.raises(ValueError, match="w00050"):
        for _ in ShardLoader(shards, **OPTS, num_workers=2, collate_fn=_failing_collate):
            pass
    assert torchdata._MAIN_RINGS == {}


def test_pin_memory(shards: Path) -> None:
    """Batches are pinned when a CUDA device is present (ready for ``non_blocking`` copies); without
    one ``pin_memory=True`` changes nothing."""
    ref = _reference(shards)
    for workers in (0, 2):
        batches = list(ShardLoader(shards, **OPTS, num_workers=workers, pin_memory=True))
        _same(batches, ref)
        if torch.cuda.is_available():
            assert all(b["eeg"].is_pinned() for b in batches)
            on_gpu = batches[0]["eeg"].to("cuda", non_blocking=True)
            torch.cuda.synchronize()
            np.testing.assert_array_equal(on_gpu.cpu().numpy(), ref[0][1])


def test_indexes_of_the_first_window_are_loaded_before_workers_start(shards: Path) -> None:
    """Workers inherit the indexes of the shards they read first from the main process (instead of
    each reading them); the main process does not read every index before the first batch."""
    ld = ShardLoader(shards, **OPTS, num_workers=2)
    assert ld.dataset.source._indexes == {}
    it = iter(ld)
    next(it)
    order = ld.dataset.order()
    first_window = set(order.shard_list[: OPTS["shuffle_window"] * max(ld.dataset.source.counts())])
    assert set(ld.dataset.source._indexes) == first_window and len(first_window) < 5
    it.close()  # type: ignore[attr-defined]
    # resumed later in the epoch: the window there
    state = {**ld.state_dict(), "position": 40}
    again = ShardLoader(shards, **OPTS, num_workers=2)
    again.load_state_dict(state)
    it = iter(again)
    next(it)
    window = set(again.dataset.order().shard_list[40 : 40 + OPTS["shuffle_window"] * 25])
    assert set(again.dataset.source._indexes) == window
    it.close()  # type: ignore[attr-defined]
