"""``ShardLoader``: batches from shards for torch training, with exact, elastic resume.

With workers (or pinning) the batches go through a torch ``DataLoader``; without, the loader
iterates the dataset itself, as a ``DataLoader`` with ``num_workers=0`` would.

The loader counts the batches it hands out. Its :meth:`ShardLoader.state_dict` is the
epoch and the *global* position in that epoch's order (``start + batches·batch_size·world_size``),
so :meth:`ShardLoader.load_state_dict` continues the same remaining sequence also with another
``num_workers`` or world size. Resuming computes positions and seeks through the shard index;
nothing is re-read.

Example:
    >>> import tempfile, numpy as np
    >>> from nb_shards.writer import ShardWriter
    >>> out = tempfile.mkdtemp()
    >>> with ShardWriter(out, max_count=8) as w:
    ...     for i in range(20):
    ...         w.write({"__key__": f"k{i:02d}", "eeg.npy": np.zeros((2, 3), "float32"), "json": {"y": i}})
    >>> loader = ShardLoader(out, batch_size=4, shuffle=True, seed=0)
    >>> it = iter(loader); first = next(it); state = loader.state_dict()
    >>> rest = [b["__key__"] for b in it]
    >>> again = ShardLoader(out, batch_size=4, shuffle=True, seed=0)
    >>> again.load_state_dict(state)
    >>> [b["__key__"] for b in again] == rest
    True
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from nb_core.errors import IncompatibleDataError, SchemaError, SchemaVersionError, UserError
from nb_core.validation import soft_import
from nb_shards.dataset import ShardDataset, Source
from nb_shards.mixture import as_mixture
from nb_shards.source import DEFAULT_CACHE_SIZE
from nb_shards.torchdata import (
    _LocalRing,
    convert_batch,
    forks,
    pinning_available,
    premade_rings,
    release_rings,
    short_worker_tempdir,
    torch_iterable,
)

__all__ = ["STATE_VERSION", "ShardLoader", "short_worker_tempdir", "torch_iterable"]

#: Version of the loader's state dict.
STATE_VERSION = 1
_MAX_EPOCH = 2**62
_LOCAL_RING_SLOTS = 4  # batch ring without workers: the batch in use, the next one, and two kept


class ShardLoader:
    """Batches of samples from shards, for training (needs ``pip install "nb-shards[torch]"``).

    Each batch is a dict: every modality stacked (a tensor ``batch × ...``), ``__key__`` (list
    of keys) and ``json`` (list of metadata dicts). Every rank yields the same number of
    batches. Iterating again starts the next epoch (a new order).

    Args:
        source: artifact directory, shard path(s) or URL(s); or a mixture: a spec file
            (``*.yaml``/``*.yml``) or an `nb_shards.Mixture` (batches then hold the mapped
            inputs, ``__key__`` and ``__source__``; the spec's seed and shuffle apply).
        batch_size (`int`): samples per batch on each rank.
        num_workers (`int`, *optional*, defaults to 0): DataLoader worker processes.
        shuffle (`bool`, *optional*, defaults to `False`), seed (`int`, *optional*, defaults to 0),
        shuffle_window (`int`, *optional*, defaults to 4): see `ShardDataset`.
        drop_last (`bool`, *optional*, defaults to `False`): drop each rank's last incomplete batch.
        rank, world_size (`int`, *optional*): default to ``torch.distributed`` when initialised.
        uneven (`str`, *optional*, defaults to ``"pad"``): ``"pad"`` repeats samples from the start
            of the epoch so that every rank gets the same count; ``"drop"`` drops the remainder.
        decode (`str`, *optional*, defaults to ``"torch"``): ``"torch"`` or ``"numpy"`` batches, or
            ``"sample"``: each batch the list of `nb_core.Sample` objects written.
        collate_fn, on_error, split, storage_options, cache_dir, cache_size: see `ShardDataset`.
        pin_memory (`bool`, *optional*, defaults to `False`): hand out batches in page-locked
            memory, ready for ``tensor.to("cuda", non_blocking=True)``. Without workers the batch is
            stacked straight into pinned memory (torch's caching host allocator: no extra copy);
            with workers the DataLoader's pinning thread copies it. Does nothing without a CUDA device.
        prefetch_factor (`int`, *optional*): batches each worker prepares ahead (DataLoader's, 2 by
            default); each worker's batch ring has ``prefetch_factor + 3`` slots.
            Without workers (and without pinning) batches go into a ring of 4 reused slots in this
            process; a slot is reused only once every tensor of its batch is freed.
        epoch (`int`, *optional*, defaults to 0): first epoch.
        verify (`bool`, *optional*, defaults to `False`): check each local shard's sha256 on first
            open (see `ShardDataset`).
        multiprocessing_context (`str`, *optional*): start method of the workers (``"fork"``,
            ``"spawn"``, ``"forkserver"``, or a context); defaults to Python's. Every start method
            works (a ``collate_fn`` must then be picklable: a module-level function).

    Raises:
        DependencyMissingError: torch is not installed.
        UserError: bad options.

    Example:
        >>> import tempfile, numpy as np
        >>> import nb_shards
        >>> out = tempfile.mkdtemp()
        >>> with nb_shards.ShardWriter(out) as w:
        ...     for i in range(5):
        ...         w.write({"__key__": f"k{i}", "eeg.npy": np.zeros((2, 3), "float32"), "json": {"y": i}})
        >>> loader = nb_shards.ShardLoader(out, batch_size=2, shuffle=True, seed=0)
        >>> len(loader)
        3
        >>> batch = next(iter(loader))
        >>> type(batch["eeg"]).__name__, tuple(batch["eeg"].shape), len(batch["json"])
        ('Tensor', (2, 2, 3), 2)
    """

    def __init__(
        self,
        source: Source,
        *,
        batch_size: int,
        num_workers: int = 0,
        shuffle: bool = False,
        seed: int = 0,
        shuffle_window: int = 4,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        uneven: str = "pad",
        decode: str = "torch",
        collate_fn: Callable[[list[dict[str, Any]]], Any] | None = None,
        on_error: str = "raise",
        split: str | None = None,
        storage_options: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        pin_memory: bool = False,
        prefetch_factor: int | None = None,
        epoch: int = 0,
        verify: bool = False,
        multiprocessing_context: Any = None,
    ) -> None:
        self._torch = soft_import("torch", "ShardLoader")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"batch_size must be a positive integer; got {batch_size!r}")
        if num_workers < 0:
            raise UserError(f"num_workers must be >= 0; got {num_workers}")
        mixture = as_mixture(source, cache_dir=cache_dir, storage_options=storage_options)
        self.dataset: Any  # a ShardDataset, or a Mixture (the same dataset protocol)
        if mixture is not None:  # a mixture spec (or Mixture): its seed and shuffle apply
            self.dataset = mixture.configured(
                rank=rank, world_size=world_size, uneven=uneven, batch_size=batch_size, drop_last=drop_last,
                decode=decode, collate_fn=collate_fn, epoch=epoch,
            )  # fmt: skip
        else:
            self.dataset = ShardDataset(
                source,
                split=split,
                shuffle=shuffle,
                seed=seed,
                shuffle_window=shuffle_window,
                epoch=epoch,
                rank=rank,
                world_size=world_size,
                uneven=uneven,
                batch_size=batch_size,
                drop_last=drop_last,
                decode=decode,
                collate_fn=collate_fn,
                on_error=on_error,
                storage_options=storage_options,
                cache_dir=cache_dir,
                cache_size=cache_size,
                verify=verify,
            )
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = bool(pin_memory)
        self._dl_kwargs: dict[str, Any] = {"pin_memory": self.pin_memory and pinning_available()}
        # Without workers: a ring of _LOCAL_RING_SLOTS plain-memory slots in this process.
        self._ring_slots = 0 if self._dl_kwargs["pin_memory"] else _LOCAL_RING_SLOTS
        if num_workers > 0:
            if prefetch_factor is not None:
                self._dl_kwargs["prefetch_factor"] = prefetch_factor
            if multiprocessing_context is not None:
                self._dl_kwargs["multiprocessing_context"] = multiprocessing_context
            self._ring_slots = (2 if prefetch_factor is None else prefetch_factor) + 3
        self._local_ring: _LocalRing | None = None
        self.epoch = int(epoch)
        self.position = 0  # global samples consumed in this epoch's order

    # -- sizes --------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Batches per epoch on this rank (from the start of an epoch)."""
        return self.dataset.n_batches(0)

    @property
    def skipped(self) -> int:
        """Bad samples skipped in this process (``on_error="skip"``; workers report by warning)."""
        return self.dataset.skipped

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its beginning at the next iteration."""
        self.epoch, self.position = int(epoch), 0

    # -- iteration ----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        ds = self.dataset
        _, world = ds.dist()
        if ds.n_batches(self.position) == 0 and self.position > 0:
            self.epoch, self.position = self.epoch + 1, 0  # the saved epoch was already finished
        ds.set_epoch(self.epoch)
        start = self.position
        per_rank = ds.rank_samples(start)
        session = uuid.uuid4().hex if self.num_workers > 0 else ""
        if self.num_workers > 0:
            short_worker_tempdir()
            prepare = getattr(ds, "prepare_workers", None)
            if prepare is not None:
                prepare(start)
        if self.num_workers == 0 and self._ring_slots > 0 and self._local_ring is None:
            self._local_ring = _LocalRing(self._ring_slots)  # one ring for every epoch
        data = torch_iterable(
            ds,
            start,
            ring_slots=self._ring_slots,
            session=session,
            pin=self.pin_memory,
            local_ring=self._local_ring if self.num_workers == 0 else None,
        )
        if self.num_workers > 0 and forks(self._dl_kwargs.get("multiprocessing_context")):
            # Forked workers inherit what this process has: their batch rings (made here when the
            # batch size is known), and numpy.random, which each worker would otherwise import
            # when torch seeds it (14 ms each here).
            import numpy.random  # noqa: F401

            size = data._ring_size()
            if size:
                data.premade = premade_rings(session, self.num_workers, size, self._ring_slots)
        dl: Any
        if self.num_workers == 0 and not self._dl_kwargs["pin_memory"]:
            # What a DataLoader without workers or pinning does (next batch, then convert it),
            # without its per-batch profiler records and bookkeeping (7% of a batch of 32 here).
            dl = map(convert_batch, data)
        else:
            dl = self._torch.utils.data.DataLoader(
                data,
                batch_size=None,
                collate_fn=convert_batch,
                num_workers=self.num_workers,
                **self._dl_kwargs,
            )
        total = ds.n_batches(start)
        try:
            for steps, batch in enumerate(dl, start=1):
                # After the last batch the epoch is done on every rank: the state says so (the end
                # of the order), not "start + samples·world", which with uneven="drop" leaves a
                # remainder that another world size would read as leftovers of this epoch.
                self.position = (
                    ds.n_samples if steps >= total else start + min(steps * self.batch_size, per_rank) * world
                )
                yield batch
        finally:
            release_rings(session)
        self.epoch, self.position = self.epoch + 1, 0

    # -- resume -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What :meth:`load_state_dict` needs to continue exactly after the last batch handed out.

        The position is global (all ranks together), so every rank saves the same state.
        """
        ds = self.dataset
        return {
            "nb_shards_loader": STATE_VERSION,
            "epoch": self.epoch,
            "position": self.position,
            "seed": ds.seed,
            "shuffle": ds.shuffle,
            "shuffle_window": ds.shuffle_window,
            "n_samples": ds.n_samples,
            "fingerprint": ds.source.fingerprint(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` (possibly saved with other workers or world size).

        Raises:
            SchemaError: not a loader state.
            SchemaVersionError: saved by a newer nb-shards.
            IncompatibleDataError: saved over other shards or with another seed/shuffle.
        """
        if not isinstance(state, dict) or "nb_shards_loader" not in state:
            raise SchemaError("not an nb-shards loader state", field="state_dict")
        ver = state["nb_shards_loader"]
        if isinstance(ver, bool) or not isinstance(ver, int) or ver < 1:
            raise SchemaError(
                f"bad loader state version {str(ver)[:40]!r}", field="state_dict.nb_shards_loader"
            )
        if ver > STATE_VERSION:
            raise SchemaVersionError(
                f"loader state version {ver!r} is newer than this nb-shards reads ({STATE_VERSION})",
                field="state_dict.nb_shards_loader",
            )
        ds = self.dataset
        for k, mine in (
            ("seed", ds.seed),
            ("shuffle", ds.shuffle),
            ("shuffle_window", ds.shuffle_window),
            ("n_samples", ds.n_samples),
            ("fingerprint", ds.source.fingerprint()),
        ):
            if state.get(k) != mine:
                raise IncompatibleDataError(
                    f"the saved loader state has {k}={state.get(k)!r}, this loader {mine!r}; "
                    "resume over the same shards with the same seed and shuffle"
                )
        epoch, pos = state.get("epoch"), state.get("position")
        for name, v, top in (("epoch", epoch, _MAX_EPOCH), ("position", pos, ds.n_samples)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top:
                raise SchemaError(
                    f"must be an integer in [0, {top}]; got {str(v)[:40]!r} (not a state of this loader)",
                    field=f"state_dict.{name}",
                )
        self.epoch, self.position = int(epoch), int(pos)  # type: ignore[arg-type]
