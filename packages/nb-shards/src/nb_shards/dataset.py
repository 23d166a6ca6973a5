"""``ShardDataset`` (iterable, no torch needed), ``IndexedShards`` (random access) and the default collate.

Example:
    >>> import tempfile, numpy as np
    >>> from nb_shards.writer import ShardWriter
    >>> out = tempfile.mkdtemp()
    >>> with ShardWriter(out, max_count=4) as w:
    ...     for i in range(10):
    ...         w.write({"__key__": f"k{i}", "eeg.npy": np.full((2, 3), i, "float32"), "json": {"y": i}})
    >>> ds = ShardDataset(out, shuffle=True, seed=1)
    >>> sorted(s["__key__"] for s in ds) == sorted(f"k{i}" for i in range(10))
    True
    >>> IndexedShards(out)[7]["json"]
    {'y': 7}
    >>> batch = next(iter(ShardDataset(out, batch_size=4)))
    >>> batch["eeg"].shape, batch["__key__"]
    ((4, 2, 3), ['k0', 'k1', 'k2', 'k3'])
"""

from __future__ import annotations

import logging
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from nb_core.errors import (
    IncompatibleDataError,
    IntegrityError,
    UnsafeContentError,
    UserError,
)
from nb_core.schema import Sample
from nb_core.validation import check_index, check_option, soft_import
from nb_shards.fastbatch import empty_batch, read_batch
from nb_shards.order import EpochOrder, epoch_order, n_rank_samples, rank_positions
from nb_shards.source import DEFAULT_CACHE_SIZE, ShardSource, resolve_source

__all__ = ["DECODES", "IndexedShards", "ShardDataset", "SkippedSampleWarning", "collate", "to_sample"]

log = logging.getLogger("nb_shards")
_SKIPPABLE = (IntegrityError, IncompatibleDataError, UnsafeContentError)

Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | ShardSource


class SkippedSampleWarning(UserWarning):
    """A bad sample was skipped (``on_error="skip"``); the message names shard, key and offset."""


def collate(samples: list[dict[str, Any]], *, to_torch: bool = False) -> dict[str, Any]:
    """Stack each modality into one array (``batch × ...``); keep ``__key__`` and ``json`` as lists.

    Members that are not arrays (``json``, raw bytes) become lists. With ``to_torch`` the
    stacked arrays are `torch.Tensor`.

    Example:
        >>> b = collate([{"__key__": "a", "x": np.zeros(2), "json": {}}, {"__key__": "b", "x": np.ones(2), "json": {}}])
        >>> b["x"].shape, b["__key__"], b["json"]
        ((2, 2), ['a', 'b'], [{}, {}])
    """
    out: dict[str, Any] = {"__key__": [s["__key__"] for s in samples]}
    if not samples:
        return out
    for name in samples[0]:
        if name == "__key__":
            continue
        vals = [s.get(name) for s in samples]
        first = vals[0]
        if isinstance(first, np.ndarray) and all(
            isinstance(v, np.ndarray) and v.shape == first.shape and v.dtype == first.dtype for v in vals
        ):
            out[name] = _stack(vals, to_torch=to_torch)
        else:
            out[name] = vals
    return out


def _stack(vals: list[Any], *, to_torch: bool) -> Any:
    if not to_torch:
        return np.stack(vals)
    soft_import("torch", "torch tensors")
    out, arr = empty_batch((len(vals), *vals[0].shape), vals[0].dtype, to_torch=True)
    np.stack(vals, out=arr)
    return out


def _to_torch_sample(sample: dict[str, Any]) -> dict[str, Any]:
    torch = soft_import("torch", "decode='torch'")
    return {k: torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v for k, v in sample.items()}


#: Values of ``decode``.
DECODES = ("numpy", "torch", "sample")


def to_sample(sample: dict[str, Any]) -> Sample:
    """The `nb_core.Sample` of a decoded WebDataset-style sample: the inverse of what
    `ShardWriter.write` does with a `Sample` (arrays are the read-only views of the shard).

    Raises:
        IncompatibleDataError: the sample has a member other than arrays and ``json`` (raw bytes
            written from a dict), which a `Sample` cannot hold; read it with ``decode="numpy"``.

    Example:
        >>> s = to_sample({"__key__": "a", "eeg": np.zeros(2), "json": {"y": 1}})
        >>> s.key, list(s.arrays), s.metadata
        ('a', ['eeg'], {'y': 1})
    """
    key = sample["__key__"]
    arrays: dict[str, np.ndarray] = {}
    for name, value in sample.items():
        if name in ("__key__", "json"):
            continue
        if not isinstance(value, np.ndarray):
            raise IncompatibleDataError(
                f"sample {key!r}: member {name!r} is not an array, which an nb_core.Sample cannot hold; "
                "read these shards with decode='numpy'"
            )
        arrays[name] = value
    return Sample(key=key, arrays=arrays, metadata=dict(sample.get("json") or {}))


def _decode(sample: dict[str, Any], how: str) -> Any:
    if how == "torch":
        return _to_torch_sample(sample)
    if how == "sample":
        return to_sample(sample)
    return sample


def _dist_info(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is not None or world_size is not None:
        if rank is None or world_size is None:
            raise UserError("pass both rank= and world_size= (or neither, to use torch.distributed)")
        return rank, world_size
    torch = sys.modules.get("torch")
    if torch is not None:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return int(dist.get_rank()), int(dist.get_world_size())
    return 0, 1


def _worker_info() -> tuple[int, int]:
    torch = sys.modules.get("torch")
    if torch is not None:
        info = torch.utils.data.get_worker_info()
        if info is not None:
            return int(info.id), int(info.num_workers)
    return 0, 1


class RankedEpoch:
    """What `ShardDataset` and `nb_shards.Mixture` share: one epoch's global order dealt to ranks
    (every ``world_size``-th position) and, inside a DataLoader, round-robin to workers.

    A subclass sets ``n_samples``, ``start``, ``rank``, ``world_size``, ``uneven``,
    ``batch_size``, ``drop_last``, and provides ``order()``, ``_one(order, g)`` (the sample at
    global position ``g``, or `None` when skipped) and ``_read(order, gs)`` (the batch of
    positions ``gs``); `ShardLoader`'s exact and elastic resume works on this protocol.
    """

    start: int
    rank: int | None
    world_size: int | None
    uneven: str
    batch_size: int | None
    drop_last: bool

    @property
    def n_samples(self) -> int:
        raise NotImplementedError

    def order(self) -> Any:
        raise NotImplementedError

    def _one(self, order: Any, g: int) -> Any:
        raise NotImplementedError

    def _read(self, order: Any, gs: list[int]) -> Any:
        raise NotImplementedError

    def dist(self) -> tuple[int, int]:
        """(rank, world size) in use."""
        return _dist_info(self.rank, self.world_size)

    def rank_samples(self, start: int | None = None) -> int:
        """Samples this rank reads from global position ``start`` (default :attr:`start`) on."""
        _, w = self.dist()
        return n_rank_samples(
            self.n_samples, start=self.start if start is None else start, world_size=w, uneven=self.uneven
        )

    def n_batches(self, start: int | None = None) -> int:
        """Batches this rank yields from ``start`` on (the same on every rank)."""
        k = self.rank_samples(start)
        if self.batch_size is None:
            return k
        return k // self.batch_size if self.drop_last else -(-k // self.batch_size)

    def __len__(self) -> int:
        """Samples (or batches, with ``batch_size``) this rank yields in an epoch from :attr:`start`."""
        return self.n_batches()

    def iter_from(self, start: int) -> Iterator[Any]:
        """Iterate this rank's (and worker's) part of the current epoch from global position ``start``."""
        rank, w = self.dist()
        wid, k = _worker_info()
        order = self.order()
        positions = rank_positions(
            len(order), start=start, rank=rank, world_size=w, uneven=self.uneven
        ).tolist()
        if self.batch_size is None:
            for i in range(wid, len(positions), k):
                s = self._one(order, positions[i])
                if s is not None:
                    yield s
            return
        b = self.batch_size
        for t in range(wid, self.n_batches(start), k):
            yield self._read(order, positions[t * b : (t + 1) * b])

    def __iter__(self) -> Iterator[Any]:
        return self.iter_from(self.start)

    def to_torch(self) -> Any:
        """This dataset as a `torch.utils.data.IterableDataset` (for a plain ``DataLoader``)."""
        from nb_shards.torchdata import torch_iterable

        return torch_iterable(self)


class ShardDataset(RankedEpoch):
    """An iterable over the samples (or batches) of shards, in a deterministic global order.

    The order of an epoch depends only on ``seed`` and the epoch (shard shuffle plus a shuffle
    across ``shuffle_window`` shards), never on workers or ranks. Rank ``r`` of ``world_size``
    reads every ``world_size``-th sample of it; each rank reads the same number of samples
    (``uneven="pad"`` wraps around, ``"drop"`` drops the remainder). Call :meth:`set_epoch`
    each epoch (`ShardLoader` does it for you). Works without torch; inside a torch
    DataLoader worker the rank's samples (or batches) are dealt round-robin to workers.
    Batches of uniform samples (default collate) are read through the batch path
    (`nb_shards.fastbatch`: byte-identical, faster); set :attr:`batch_path` to `False` to decode
    every sample and collate instead.

    Args:
        source: artifact directory, shard path(s) or URL(s) (``hf://``, ``s3://``, ``https://``).
        split (`str`, *optional*): split of an artifact; defaults to ``"train"``.
        shuffle (`bool`, *optional*, defaults to `False`)
        seed (`int`, *optional*, defaults to 0): same on every rank.
        shuffle_window (`int`, *optional*, defaults to 4): shards mixed together when shuffling.
        rank, world_size (`int`, *optional*): default to ``torch.distributed`` when initialised, else 0/1.
        uneven (`str`, *optional*, defaults to ``"pad"``): ``"pad"`` or ``"drop"`` (see above).
        batch_size (`int`, *optional*): yield collated batches of this size instead of samples.
        drop_last (`bool`, *optional*, defaults to `False`): drop a last incomplete batch.
        decode (`str`, *optional*, defaults to ``"numpy"``): ``"numpy"`` (dicts of read-only views
            into the shard), ``"torch"`` (tensors) or ``"sample"`` (`nb_core.Sample` objects equal
            to those `ShardWriter.write` took).
        collate_fn (`callable`, *optional*): list of samples → batch; defaults to :func:`collate`
            (with ``decode="sample"``: the list of `Sample` objects).
        on_error (`str`, *optional*, defaults to ``"raise"``): ``"skip"`` skips bad samples with a
            `SkippedSampleWarning` and counts them in :attr:`skipped` (a batch then holds fewer
            samples; the number of batches never changes).
        storage_options (`dict`, *optional*): fsspec options (``{"endpoint": ...}``).
        cache_dir, cache_size: local cache of remote shards.
        start (`int`, *optional*, defaults to 0): global position to start the first epoch at.
        verify (`bool`, *optional*, defaults to `False`): check each local shard's sha256 against
            the manifest the first time it is opened in this process (once per shard and process;
            remote shards are always checked when downloaded).

    Raises:
        UserError: bad options.

    Example:
        >>> import tempfile, numpy as np
        >>> import nb_shards
        >>> out = tempfile.mkdtemp()
        >>> with nb_shards.ShardWriter(out) as w:
        ...     for i in range(4):
        ...         w.write({"__key__": f"k{i}", "eeg.npy": np.full((2, 3), i, "float32")})
        >>> ds = nb_shards.ShardDataset(out, shuffle=True, seed=0)
        >>> sorted(s["__key__"] for s in ds)
        ['k0', 'k1', 'k2', 'k3']
        >>> batch = next(iter(nb_shards.ShardDataset(out, batch_size=2)))
        >>> batch["eeg"].shape, batch["__key__"]
        ((2, 2, 3), ['k0', 'k1'])
    """

    def __init__(
        self,
        source: Source,
        *,
        split: str | None = None,
        shuffle: bool = False,
        seed: int = 0,
        shuffle_window: int = 4,
        epoch: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        uneven: str = "pad",
        batch_size: int | None = None,
        drop_last: bool = False,
        decode: str = "numpy",
        collate_fn: Callable[[list[dict[str, Any]]], Any] | None = None,
        on_error: str = "raise",
        storage_options: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        start: int = 0,
        verify: bool = False,
    ) -> None:
        check_option(uneven, ("pad", "drop"), name="uneven")
        check_option(decode, DECODES, name="decode")
        check_option(on_error, ("raise", "skip"), name="on_error")
        if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
            raise UserError(f"batch_size must be a positive integer; got {batch_size!r}")
        if shuffle_window < 1:
            raise UserError(f"shuffle_window must be >= 1; got {shuffle_window}")
        if world_size is not None and (world_size < 1 or rank is None or not 0 <= rank < world_size):
            raise UserError(f"rank must be in [0, world_size); got rank={rank}, world_size={world_size}")
        self.source = resolve_source(
            source,
            split=split,
            storage_options=storage_options,
            cache_dir=cache_dir,
            cache_size=cache_size,
            max_open=shuffle_window + 1,
            verify=verify,
        )
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.shuffle_window = int(shuffle_window)
        self.epoch = int(epoch)
        self.rank, self.world_size = rank, world_size
        self.uneven = uneven
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.decode = decode
        self.collate_fn = collate_fn
        self.on_error = on_error
        self.start = int(start)
        self.skipped = 0
        #: Read uniform batches through `nb_shards.fastbatch` (`False`: always sample by sample).
        self.batch_path = True
        self.skipped_samples: list[str] = []
        self._counts = self.source.counts()
        self._order: tuple[int, EpochOrder] | None = None

    # -- sizes and order ----------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        """Samples in the split (all ranks)."""
        return int(sum(self._counts))

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (call before each epoch; the same on every rank)."""
        self.epoch = int(epoch)

    def order(self) -> EpochOrder:
        """The global order of the current epoch."""
        if self._order is None or self._order[0] != self.epoch:
            self._order = (
                self.epoch,
                epoch_order(
                    self._counts,
                    seed=self.seed,
                    epoch=self.epoch,
                    shuffle=self.shuffle,
                    shuffle_window=self.shuffle_window,
                ),
            )
        return self._order[1]

    def prepare_workers(self, start: int = 0) -> None:
        """Load, before DataLoader workers start, the indexes of the shards they read first: the
        shuffle window at global position ``start`` (the shards of the next ``shuffle_window``
        largest shards' worth of samples). The workers inherit (``fork``) or receive (``spawn``)
        them instead of each reading and checking them again; the indexes of later windows each
        worker reads when it gets there. Loading every index up front would make the first batch
        wait for all of them: one request per index on remote shards (a whole download for a
        shard without an index sidecar), and seconds for thousands of local ones.
        """
        order = self.order()
        span = max(1, int(self.shuffle_window)) * max(self._counts, default=0)
        for i in sorted(set(order.shard_list[start : start + span])):
            self.source.index(i)

    def batch_array_bytes(self) -> list[int] | None:
        """Bytes of each array of a full batch of the batch path, when the manifest fixes every
        modality's dtype and shape (a worker sizes its batch ring with it before its first batch,
        so that batch needs no memory of its own); `None` when they are not known in advance.

        Example:
            >>> import tempfile, numpy as np
            >>> from nb_shards import ShardWriter
            >>> out = tempfile.mkdtemp()
            >>> with ShardWriter(out) as w:
            ...     w.write({"__key__": "a", "eeg.npy": np.zeros((4, 10), "float32")})
            >>> ShardDataset(out, batch_size=8, decode="torch").batch_array_bytes()
            [1280]
        """
        if self.collate_fn is not None or self.decode != "torch" or not self.batch_path:
            return None
        mods = self.source.modalities
        if not self.batch_size or not mods:
            return None
        sizes = []
        for name in sorted(mods):  # (the order of a batch's arrays: members sorted by name)
            dims = [d for d in mods[name].shape if d is not None]
            if len(dims) != len(mods[name].shape):
                return None
            sizes.append(int(self.batch_size) * math.prod(dims) * np.dtype(mods[name].dtype).itemsize)
        return sizes

    # -- reading ------------------------------------------------------------------------------
    def _sample(self, order: EpochOrder, g: int) -> dict[str, Any] | None:
        shard = order.shard_list[g]
        try:
            return self.source.open(shard).sample(order.pos_list[g])
        except _SKIPPABLE as err:
            if self.on_error == "raise":
                raise
            self.skipped += 1
            if len(self.skipped_samples) < 1000:
                self.skipped_samples.append(str(err))
            msg = f"skipped a bad sample ({self.skipped} so far): {err}"
            log.warning(msg)
            warnings.warn(msg, SkippedSampleWarning, stacklevel=3)
            return None

    def _batch(self, samples: list[dict[str, Any]]) -> Any:
        if self.collate_fn is not None:
            return self.collate_fn(samples)
        if self.decode == "sample":
            return [to_sample(s) for s in samples]
        return collate(samples, to_torch=self.decode == "torch")

    def _one(self, order: EpochOrder, g: int) -> Any:
        s = self._sample(order, g)
        return None if s is None else _decode(s, self.decode)

    def _read(self, order: EpochOrder, gs: list[int]) -> Any:
        """The batch of global positions ``gs``: the batch path (`nb_shards.fastbatch`) when it
        applies, else each sample decoded and collated (the same batch, byte for byte)."""
        if self.collate_fn is None and self.decode != "sample" and self.batch_path:
            batch = read_batch(self.source, order, gs, to_torch=self.decode == "torch")
            if batch is not None:
                return batch
        return self._batch([s for g in gs if (s := self._sample(order, g)) is not None])


class IndexedShards:
    """Random access to the samples of shards through their index (map-style, for evaluation
    and debugging): ``ds[i]`` is sample ``i`` in shard order.

    Args:
        source: as for `ShardDataset`.
        split (`str`, *optional*): split of an artifact.
        decode (`str`, *optional*, defaults to ``"numpy"``): ``"numpy"``, ``"torch"`` or ``"sample"``.
        storage_options, cache_dir, cache_size: as for `ShardDataset`.
        max_open (`int`, *optional*, defaults to 4): shards kept open (memory maps; compressed
            shards are held decompressed in memory, so random access over them is slow).
        verify (`bool`, *optional*, defaults to `False`): as for `ShardDataset`.

    Raises:
        IndexOutOfRangeError: ``ds[i]`` with ``i`` outside the samples.
        UserError: ``ds[i]`` with a non-integer ``i``.

    Example:
        >>> ds = IndexedShards("shards/")  # doctest: +SKIP
        >>> len(ds), ds[-1]["__key__"]  # doctest: +SKIP
    """

    def __init__(
        self,
        source: Source,
        *,
        split: str | None = None,
        decode: str = "numpy",
        storage_options: dict[str, Any] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        max_open: int = 4,
        verify: bool = False,
    ) -> None:
        check_option(decode, DECODES, name="decode")
        self.source = resolve_source(
            source,
            split=split,
            storage_options=storage_options,
            cache_dir=cache_dir,
            cache_size=cache_size,
            max_open=max_open,
            verify=verify,
        )
        self.decode = decode
        self._cum = np.cumsum([0, *self.source.counts()])

    def __len__(self) -> int:
        return int(self._cum[-1])

    def locate(self, i: int) -> tuple[int, int]:
        """(shard number, sample number in that shard) of sample ``i``."""
        j = check_index(i, len(self), what="sample")
        shard = int(np.searchsorted(self._cum, j, side="right")) - 1
        return shard, j - int(self._cum[shard])

    def __getitem__(self, i: int) -> Any:
        shard, j = self.locate(i)
        s = self.source.open(shard).sample(j)
        return _decode(s, self.decode)

    def key(self, i: int) -> str:
        """Key of sample ``i`` (reads only the index)."""
        shard, j = self.locate(i)
        return self.source.index(shard).keys[j]
