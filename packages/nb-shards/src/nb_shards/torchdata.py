"""The torch side of nb-shards: `TorchShards`, the `torch.utils.data.IterableDataset` over a
`ShardDataset`, and how DataLoader workers hand batches to the main process.

torch is imported only when used (``import nb_shards`` never imports it): ``TorchShards`` is made
on first access, as the module-level class ``nb_shards.torchdata.TorchShards``, so pickle finds it
by name under every start method (``fork``, ``spawn``, ``forkserver``). It holds no data: the
dataset (its shard list and order, never open memory maps), a start position and options.

**Batch ring.** Inside a DataLoader worker started by `ShardLoader`, batches are stacked straight
into a ring of preallocated shared-memory buffers (one per worker, ``prefetch_factor + 3`` slots, at
most 1 GiB; sized before the first batch when the manifest fixes the arrays, else after it). Under
``fork`` with the size known, the main process makes the rings before the workers start (shared
anonymous memory, its pages made on first write), so a worker creates nothing and sends no file
descriptor; otherwise a worker makes its ring and the main process receives it once (one file
descriptor). Per batch only the slot's offsets travel; each tensor the main process hands out
is a view of the slot, and the slot goes back to the worker when the last tensor using it is
freed. A fresh shared-memory tensor per batch costs page faults on every byte (measured here:
13–29 ms for an 8 MB batch, against 1.2 ms to stack into a reused buffer), which is why workers
used to be slower than none. When no slot is free (the caller keeps many batches), the worker
falls back to a fresh shared-memory tensor for that batch: nothing blocks, nothing is overwritten.
Without workers (and without pinning) `ShardLoader` uses the same kind of ring in its own process
(`_LocalRing`: 4 slots of plain memory, each tensor a view of its own ``memoryview`` of a slot).

Example:
    >>> import tempfile, numpy as np
    >>> from nb_shards.writer import ShardWriter
    >>> from nb_shards.dataset import ShardDataset
    >>> out = tempfile.mkdtemp()
    >>> with ShardWriter(out) as w:
    ...     w.write({"__key__": "a", "x.npy": np.zeros(3, "float32")})
    >>> it = torch_iterable(ShardDataset(out))
    >>> len(it), next(iter(it))["__key__"], type(it).__qualname__
    (1, 'a', 'TorchShards')
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import mmap
import multiprocessing
import multiprocessing.process
import multiprocessing.util
import os
import shutil
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from nb_core.validation import soft_import

__all__ = [
    "batch_allocator",
    "convert_batch",
    "forks",
    "premade_rings",
    "release_rings",
    "shared_empty",
    "short_worker_tempdir",
    "torch_iterable",
]

log = logging.getLogger("nb_shards")

#: ``(shape, torch dtype) -> tensor or None``: where collate builds a batch array.
Alloc = Callable[[tuple[int, ...], Any], Any]
_ALLOC: contextvars.ContextVar[Alloc | None] = contextvars.ContextVar("nb_shards_batch_alloc", default=None)

_HEADER = 4096  # the ring's first page: one flag byte per slot (1: in use)
_ALIGN = 64
_MAX_RING = 1 << 30  # bytes of one worker's ring at most

#: Longest folder for the sockets of ``multiprocessing``'s resource sharer: an AF_UNIX address is at
#: most 108 bytes on Linux (104 on macOS), and ``/pymp-XXXXXXXX/listener-XXXXXXXX`` is added to it.
_MAX_SOCKET_DIR = 60


def short_worker_tempdir() -> str:
    """Make sure DataLoader workers can hand batches over, whatever ``TMPDIR`` is.

    Workers pass tensors to the main process as file descriptors, through a Unix socket that
    ``multiprocessing`` creates in its temporary folder (under ``TMPDIR``). When that path is too
    long for a socket address (a deep ``TMPDIR``, as test runners and some clusters set), the
    worker's hand-over thread fails with ``OSError: AF_UNIX path too long``, the batch is lost and
    the main process waits forever. This moves ``multiprocessing``'s folder of this process (and so
    of the workers it forks) to a short one under the system's temporary root when needed; workers
    started with ``spawn``/``forkserver`` call it themselves.

    Returns:
        The folder ``multiprocessing`` uses from now on.
    """
    current = multiprocessing.util.get_temp_dir()
    if len(os.fsencode(current)) <= _MAX_SOCKET_DIR:
        return current
    for base in ("/tmp", "/var/tmp"):
        if os.path.isdir(base) and os.access(base, os.W_OK):
            short = tempfile.mkdtemp(prefix="nb-mp-", dir=base)
            break
    else:  # pragma: no cover - no short writable folder: leave multiprocessing as it is
        return current
    multiprocessing.process.current_process()._config["tempdir"] = short  # type: ignore[attr-defined]
    multiprocessing.util.Finalize(None, shutil.rmtree, args=(short, True), exitpriority=-100)
    return short


def batch_allocator() -> Alloc | None:
    """The allocator batch arrays are built with right now, or `None` (plain memory).

    Set while a `ShardLoader` worker (the batch ring) or a pinned-memory main process produces a
    batch; `nb_shards.collate` with ``to_torch=True`` uses it. It returns `None` for an array it
    cannot place, and collate then allocates as usual.
    """
    return _ALLOC.get()


def shared_empty(shape: tuple[int, ...], dtype: Any) -> Any:
    """An uninitialised tensor in shared memory (allocated there directly, not copied there)."""
    torch = sys.modules["torch"]
    nbytes = math.prod(shape) * dtype.itemsize
    new_shared = getattr(torch.UntypedStorage, "_new_shared", None)
    if new_shared is None or nbytes == 0:  # pragma: no cover - older torch
        return torch.empty(shape, dtype=dtype).share_memory_()
    return torch.empty(0, dtype=dtype).set_(new_shared(nbytes), 0, shape)


def _pinned_empty(shape: tuple[int, ...], dtype: Any) -> Any:
    # torch's caching host allocator reuses freed pinned blocks: no page locking per batch.
    return sys.modules["torch"].empty(shape, dtype=dtype, pin_memory=True)


def pinning_available() -> bool:
    """Whether torch can pin memory here (a CUDA device is present)."""
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_available())


# -- the worker's side of the ring --------------------------------------------------------------------
def _aligned(n: int, to: int = _ALIGN) -> int:
    return -(-n // to) * to


def _ring_geometry(batch_bytes: int, n_slots: int) -> tuple[int, int] | None:
    """``(slots, bytes per slot)`` of a ring for batches of ``batch_bytes``, or `None` when fewer
    than 2 slots fit in the largest ring."""
    slot_bytes = _aligned(batch_bytes, 4096)
    n = min(n_slots, _MAX_RING // slot_bytes)
    return (n, slot_bytes) if n >= 2 else None


_LEAF_TYPES = (str, int, float, bool, bytes, type(None))


def _holds_ring(obj: Any, ptr: int) -> bool:
    """Whether ``obj`` (dicts, lists and tuples inside it, 3 levels deep) holds a tensor on the
    ring's memory. (Plain values are skipped by type: a batch's JSON list is most of the walk.)"""
    tensor = sys.modules["torch"].Tensor
    todo: list[tuple[Any, int]] = [(obj, 0)]
    while todo:
        o, depth = todo.pop()
        if isinstance(o, dict):
            values: Any = o.values()
        elif isinstance(o, (list, tuple)):
            values = o
        else:
            if isinstance(o, tensor) and o.untyped_storage().data_ptr() == ptr:
                return True
            continue
        if depth < 4:
            todo.extend((v, depth + 1) for v in values if not isinstance(v, _LEAF_TYPES))
    return False


class _RingRef:
    """What a worker sends instead of a ring tensor; unpickled in the main process as the tensor."""

    __slots__ = ("args",)

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_ring_tensor, self.args)


class _WorkerRing:
    """The slots one DataLoader worker stacks batches into."""

    def __init__(self, key: str, n_slots: int, premade: mmap.mmap | None = None) -> None:
        self.key = key
        self.n_slots = max(2, min(int(n_slots), _HEADER))
        self.premade = premade  # the ring's memory, made by the main process before the fork
        self.flat: Any = None  # uint8 tensor over the whole ring
        self.flags: np.ndarray | None = None
        self.ptr = 0
        self.slot_bytes = 0
        self.sent = False  # the ring's storage went to the main process with the first batch
        self.disabled = False
        self.slot = -1
        self.cursor = 0
        self.wanted = 0  # bytes the current batch asked for
        self.allocs: dict[int, tuple[Any, int]] = {}
        self.lost = 0

    def begin(self) -> None:
        self.slot, self.cursor, self.wanted, self.allocs = -1, 0, 0, {}
        if self.flags is not None:
            free = np.flatnonzero(self.flags == 0)
            if free.size:
                self.slot = int(free[0])
                self.flags[self.slot] = 1

    def cancel(self) -> None:
        if self.flags is not None and self.slot >= 0:
            self.flags[self.slot] = 0
        self.slot, self.allocs = -1, {}

    def alloc(self, shape: tuple[int, ...], dtype: Any) -> Any:
        nbytes = math.prod(shape) * dtype.itemsize
        self.wanted += _aligned(nbytes)
        if self.slot < 0 or nbytes == 0 or self.cursor + nbytes > self.slot_bytes:
            return None
        start = _HEADER + self.slot * self.slot_bytes + self.cursor
        t = self.flat[start : start + nbytes].view(dtype).view(shape)
        self.cursor += _aligned(nbytes)
        self.allocs[id(t)] = (t, start)
        return t

    def _create(self, slot_bytes: int) -> None:
        geometry = _ring_geometry(slot_bytes, self.n_slots)
        if geometry is None:
            self.disabled = True  # batches too large for a ring: fresh shared memory each time
            return
        n, slot_bytes = geometry
        torch = sys.modules["torch"]
        if self.premade is not None and len(self.premade) == _HEADER + n * slot_bytes:
            self.flat = torch.frombuffer(self.premade, dtype=torch.uint8)
            self.sent = True  # the main process has it already
        else:
            self.flat = shared_empty((_HEADER + n * slot_bytes,), torch.uint8)
        self.ptr = self.flat.untyped_storage().data_ptr()
        self.flags = self.flat[:n].numpy()
        self.flags[:] = 0
        self.n_slots, self.slot_bytes = n, slot_bytes

    def done(self, batch: Any) -> Any:
        """The batch to send: its ring tensors replaced by references to their slot."""
        if self.slot < 0:
            if self.flags is None and not self.disabled and self.wanted:
                self._create(self.wanted)  # sized on the first batch
            return batch
        refs: dict[int, _RingRef] = {}
        out = {k: self._ref(v, refs) for k, v in batch.items()} if isinstance(batch, dict) else batch
        self.allocs = {}
        if _holds_ring(out, self.ptr):
            # A tensor on the slot that is not a plain value of the batch (a custom collate_fn made
            # a view of it, or nested it): it travels as shared memory the main process keeps, so
            # this slot is never used again.
            self.lost += 1
            log.debug("nb-shards batch ring %s: slot %d retired (%d so far)", self.key, self.slot, self.lost)
        elif not refs:
            self.cancel()
        return out

    def _ref(self, v: Any, refs: dict[int, _RingRef]) -> Any:
        hit = self.allocs.get(id(v))
        if hit is None or hit[0] is not v:
            return v
        ref = refs.get(id(v))
        if ref is None:
            storage = None if self.sent else self.flat.untyped_storage()
            self.sent = True
            ref = _RingRef(self.key, storage, self.n_slots, self.slot, hit[1], tuple(v.shape), v.dtype)
            refs[id(v)] = ref
        return ref


def _ring_batches(it: Iterator[Any], ring: _WorkerRing | _LocalRing) -> Iterator[Any]:
    """The batches of ``it``, each built with ``ring``'s allocator: ``begin`` takes a free slot,
    ``done`` hands the batch over (a worker's: slot references; without workers: as it is),
    ``cancel`` gives the slot back when no batch comes."""
    while True:
        ring.begin()
        token = _ALLOC.set(ring.alloc)
        try:
            batch = next(it)
        except StopIteration:
            ring.cancel()
            return
        except BaseException:
            ring.cancel()
            raise
        finally:
            _ALLOC.reset(token)
        yield ring.done(batch)


def _with_alloc(it: Iterator[Any], alloc: Alloc) -> Iterator[Any]:
    while True:
        token = _ALLOC.set(alloc)
        try:
            batch = next(it)
        except StopIteration:
            return
        finally:
            _ALLOC.reset(token)
        yield batch


# -- the main process's side of the ring --------------------------------------------------------------
class _MainRing:
    def __init__(self, u8: Any, n_slots: int) -> None:
        self.u8 = u8  # the whole ring, as bytes
        self.mv = memoryview(self.u8)
        self.flags = self.u8[:n_slots]
        self.pending = [0] * n_slots
        self.lock = threading.Lock()

    def tensor(self, slot: int, start: int, shape: tuple[int, ...], dtype: Any) -> Any:
        torch = sys.modules["torch"]
        mv = self.mv[start : start + math.prod(shape) * dtype.itemsize]
        t = torch.frombuffer(mv, dtype=dtype).view(shape)
        with self.lock:
            self.pending[slot] += 1
        # The tensor (and every view of it) holds ``mv``: when the last one goes, the slot is free.
        weakref.finalize(mv, self._release, slot)
        return t

    def _release(self, slot: int) -> None:
        with self.lock:
            self.pending[slot] -= 1
            if self.pending[slot] == 0:
                self.flags[slot] = 0


class _LocalRing:
    """The batch ring of a process without workers: slots of plain memory, reused once freed.

    Each tensor stacked into a slot is a view of its own ``memoryview`` of the slot; the slot is
    free again when the batch is done and every tensor (and every view of one) made on it is gone.
    Sized on the first batch (which, like any batch that finds no free slot or does not fit, is
    allocated fresh). A slot's memory is made the first time a batch needs it, with its pages
    faulted in at once (`_prefaulted`): a loop that drops each batch before taking the next
    one uses two slots, not all of them.
    """

    def __init__(self, n_slots: int) -> None:
        self.n_slots = max(2, int(n_slots))
        self.slots: list[memoryview | None] = []
        self.slot_bytes = 0
        self.pending: list[int] = []  # per slot: tensors alive on it (+1 while its batch is built)
        self.lock = threading.Lock()
        self.slot = -1
        self.cursor = 0
        self.wanted = 0
        self.disabled = False

    def begin(self) -> None:
        self.slot, self.cursor, self.wanted = -1, 0, 0
        with self.lock:
            for i, n in enumerate(self.pending):
                if n == 0:
                    self.slot, self.pending[i] = i, 1
                    break
        if self.slot >= 0 and self.slots[self.slot] is None:
            self.slots[self.slot] = _prefaulted(self.slot_bytes)

    def end(self) -> None:
        """The batch is built: its slot is held by its tensors only (the first batch sizes the
        ring when nothing did before)."""
        if self.slot >= 0:
            self._release(self.slot)
        elif not self.slots and not self.disabled and self.wanted:
            self._create(self.wanted)
        self.slot = -1

    def done(self, batch: Any) -> Any:
        self.end()
        return batch

    def cancel(self) -> None:
        self.end()

    def _create(self, slot_bytes: int) -> None:
        geometry = _ring_geometry(slot_bytes, self.n_slots)
        if geometry is None:
            self.disabled = True  # batches too large for a ring: fresh memory each time
            return
        n, slot_bytes = geometry
        self.n_slots, self.slot_bytes, self.pending = n, slot_bytes, [0] * n
        self.slots = [None] * n

    def alloc(self, shape: tuple[int, ...], dtype: Any) -> Any:
        nbytes = math.prod(shape) * dtype.itemsize
        self.wanted += _aligned(nbytes)
        if self.slot < 0 or nbytes == 0 or self.cursor + nbytes > self.slot_bytes:
            return None
        slot = self.slots[self.slot]
        assert slot is not None
        mv = slot[self.cursor : self.cursor + nbytes]
        self.cursor += _aligned(nbytes)
        t = sys.modules["torch"].frombuffer(mv, dtype=dtype).view(shape)
        with self.lock:
            self.pending[self.slot] += 1
        # The tensor (and every view of it, NumPy ones included) holds ``mv``.
        weakref.finalize(mv, self._release, self.slot)
        return t

    def _release(self, slot: int) -> None:
        with self.lock:
            self.pending[slot] -= 1

    def free_slots(self) -> int:
        """Slots no batch uses now (for tests and diagnostics)."""
        with self.lock:
            return sum(n == 0 for n in self.pending)


def _prefaulted(nbytes: int) -> memoryview:
    """``nbytes`` of zeroed private memory with every page already faulted in.

    On Linux one ``mmap(MAP_POPULATE)`` maps all pages in one call, at a steady cost: page
    faults one by one cost several times more on a virtual machine, and NumPy's large
    allocations ask for transparent huge pages, whose compaction stalled for tens of
    milliseconds in some runs here. Elsewhere: zeroed NumPy memory, touched page by page.
    """
    populate = getattr(mmap, "MAP_POPULATE", 0)
    if populate and hasattr(mmap, "MAP_ANONYMOUS"):
        with contextlib.suppress(OSError):
            flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate
            return memoryview(mmap.mmap(-1, nbytes, flags=flags))
    flat = np.zeros(nbytes, np.uint8)
    flat[::4096] = 1  # touch every page once now, not on each batch
    return flat.data


_MAIN_RINGS: dict[str, _MainRing] = {}


def _ring_tensor(
    key: str, storage: Any, n_slots: int, slot: int, start: int, shape: tuple[int, ...], dtype: Any
) -> Any:
    ring = _MAIN_RINGS.get(key)
    if storage is not None:  # the worker made its ring (it replaces one made here and not used)
        torch = sys.modules["torch"]
        u8 = torch.empty(0, dtype=torch.uint8).set_(storage).numpy()
        ring = _MAIN_RINGS[key] = _MainRing(u8, n_slots)
    elif ring is None:  # pragma: no cover - a worker's batches arrive in order
        raise RuntimeError(f"nb-shards: a batch of worker ring {key} arrived before the ring")
    return ring.tensor(slot, start, shape, dtype)


def forks(context: Any) -> bool:
    """Whether DataLoader workers started with ``multiprocessing_context=context`` are forked (and
    so inherit this process's memory); `None`: Python's default start method."""
    if context is None:
        return multiprocessing.get_start_method() == "fork"
    if isinstance(context, str):
        return context == "fork"
    get = getattr(context, "get_start_method", None)
    return bool(get is not None and get() == "fork")


def premade_rings(session: str, n_workers: int, batch_bytes: int, n_slots: int) -> list[mmap.mmap] | None:
    """Make the batch rings of ``n_workers`` forked workers in this process, before they start.

    Each ring is anonymous shared memory, which forked workers inherit: a worker stacks into it and
    sends only slot offsets, with no ring to create and no file descriptor to pass (about 25 ms
    before a worker's first batch here). Its pages are made when first written, as a worker's own
    ring's are not (torch allocates those in full). `None` when batches are too large for a ring.
    """
    geometry = _ring_geometry(batch_bytes, max(2, min(int(n_slots), _HEADER)))  # (as `_WorkerRing`)
    if geometry is None or not hasattr(mmap, "MAP_SHARED"):
        return None
    n, slot_bytes = geometry
    rings = []
    for wid in range(n_workers):
        mem = mmap.mmap(-1, _HEADER + n * slot_bytes)  # (anonymous: MAP_SHARED, zeroed)
        _MAIN_RINGS[f"{session}/{wid}"] = _MainRing(np.frombuffer(mem, np.uint8), n)
        rings.append(mem)
    return rings


def release_rings(session: str) -> None:
    """Forget the rings of one `ShardLoader` iteration (tensors already handed out stay valid)."""
    for key in list(_MAIN_RINGS):  # (a copy: the pinning thread may add a ring meanwhile)
        if key.startswith(session + "/"):
            _MAIN_RINGS.pop(key, None)


# -- the IterableDataset --------------------------------------------------------------------------------
class _ShardsIterable:
    """The behaviour of `TorchShards` (which adds torch's ``IterableDataset`` as a base)."""

    def __init__(
        self,
        ds: Any,
        start: int | None = None,
        *,
        ring_slots: int = 0,
        session: str = "",
        pin: bool = False,
    ) -> None:
        self.ds = ds
        self.begin = int(getattr(ds, "start", 0) if start is None else start)
        self.ring_slots = int(ring_slots)
        self.session = session
        self.pin = bool(pin)
        self.local_ring: _LocalRing | None = None  # main process only (not pickled for workers)
        #: Per worker, its ring made by the main process (`premade_rings`): inherited under
        #: ``fork`` only (never pickled).
        self.premade: list[mmap.mmap] | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_make, (self.ds, self.begin, self.ring_slots, self.session, self.pin))

    def __len__(self) -> int:
        return int(self.ds.n_batches(self.begin))

    def __iter__(self) -> Iterator[Any]:
        info = sys.modules["torch"].utils.data.get_worker_info()
        if info is None:
            it = self.ds.iter_from(self.begin)
            if self.pin and pinning_available():
                return _with_alloc(it, _pinned_empty)
            if self.ring_slots > 0:
                if self.local_ring is None:
                    self.local_ring = _LocalRing(self.ring_slots)
                size = self._ring_size()
                if size and not self.local_ring.slots and not self.local_ring.disabled:
                    self.local_ring._create(size)
                return _ring_batches(it, self.local_ring)
            return it
        short_worker_tempdir()  # (spawned workers do not inherit the main process's folder)
        it = self.ds.iter_from(self.begin)
        if self.ring_slots > 0 and self.session:
            premade = self.premade[info.id] if self.premade and info.id < len(self.premade) else None
            ring = _WorkerRing(f"{self.session}/{info.id}", self.ring_slots, premade)
            size = self._ring_size()
            if size:
                ring._create(size)  # (else sized on the first batch, which gets memory of its own)
            return _ring_batches(it, ring)
        return it

    def _ring_size(self) -> int:
        """Bytes of a batch ring slot when the dataset knows its batches' arrays in advance, else 0."""
        known = getattr(self.ds, "batch_array_bytes", None)
        sizes = known() if known is not None else None
        return sum(_aligned(n) for n in sizes) if sizes else 0


_PLAIN = ("__key__", "json")  # lists of keys and of JSON documents: nothing to convert


def convert_batch(batch: Any) -> Any:
    """The DataLoader's ``default_convert`` (NumPy arrays → tensors) without walking the lists of
    keys and JSON documents of every batch (a few milliseconds per batch of 32)."""
    convert = sys.modules["torch"].utils.data.default_convert
    if type(batch) is not dict:
        return convert(batch)
    return {k: v if k in _PLAIN else convert(v) for k, v in batch.items()}


_torch_cls: Any = None


def _iterable_class() -> Any:
    global _torch_cls
    if _torch_cls is None:
        torch = soft_import("torch", "ShardLoader / ShardDataset.to_torch()")
        _torch_cls = type(
            "TorchShards",
            (_ShardsIterable, torch.utils.data.IterableDataset),
            {"__module__": __name__, "__qualname__": "TorchShards", "__doc__": _ShardsIterable.__doc__},
        )
    return _torch_cls


def __getattr__(name: str) -> Any:
    """``nb_shards.torchdata.TorchShards``: the class, made (importing torch) on first access."""
    if name == "TorchShards":
        return _iterable_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _make(ds: Any, start: int, ring_slots: int, session: str, pin: bool) -> Any:
    return _iterable_class()(ds, start, ring_slots=ring_slots, session=session, pin=pin)


def torch_iterable(
    ds: Any,
    start: int | None = None,
    *,
    ring_slots: int = 0,
    session: str = "",
    pin: bool = False,
    local_ring: _LocalRing | None = None,
) -> Any:
    """Wrap a `ShardDataset` as a `torch.utils.data.IterableDataset` (a `TorchShards`).

    Args:
        ds: a `ShardDataset` (or anything with its ``iter_from``/``n_batches``).
        start (`int`, *optional*): global position to start from (default: the dataset's own).
        ring_slots (`int`, *optional*, defaults to 0): slots of the batch ring of each DataLoader
            worker, or of this process when iterated without workers and without pinning (0: none);
            ``session`` names the workers' iteration (`release_rings` forgets it).
        pin (`bool`, *optional*, defaults to `False`): without workers, stack batches into pinned
            memory (when a CUDA device is present).
        local_ring (*optional*): the ring of this process to reuse (`ShardLoader` keeps one for all
            its epochs); made on first iteration when not given.
    """
    data = _make(ds, getattr(ds, "start", 0) if start is None else start, ring_slots, session, pin)
    data.local_ring = local_ring
    return data
