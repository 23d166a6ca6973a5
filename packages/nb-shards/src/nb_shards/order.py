"""The global sample order of an epoch, and how ranks and workers take their part of it.

The order is a pure function of the shard sizes, ``seed`` and ``epoch``: the shards are
permuted, then the samples of each window of ``shuffle_window`` consecutive shards are
permuted together. It never depends on the number of workers or ranks.

Rank ``r`` of ``W`` reads global positions ``start + r, start + r + W, ...``: after every
rank has read ``k`` samples, exactly the first ``start + k·W`` samples of the order are
consumed, whatever ``W`` is — so a resume state is one number (the global position) and
can be restored with another world size. Every rank gets the same number of samples:
the remainder is padded by wrapping around to the start of the order (``uneven="pad"``,
like `torch.utils.data.DistributedSampler`) or dropped (``uneven="drop"``).

Example:
    >>> order = epoch_order([3, 2], seed=0, epoch=0, shuffle=False)
    >>> order.shard.tolist(), order.pos.tolist()
    ([0, 0, 0, 1, 1], [0, 1, 2, 0, 1])
    >>> rank_positions(5, start=0, rank=1, world_size=2, uneven="pad").tolist()
    [1, 3, 0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nb_core.validation import check_option

__all__ = ["EpochOrder", "epoch_order", "n_rank_samples", "rank_positions"]


@dataclass
class EpochOrder:
    """Global order of an epoch: ``shard[g]`` and ``pos[g]`` (sample in tar order) for position ``g``."""

    shard: np.ndarray
    pos: np.ndarray

    def __post_init__(self) -> None:
        # Python lists index faster than arrays in the per-sample loop.
        self.shard_list: list[int] = self.shard.tolist()
        self.pos_list: list[int] = self.pos.tolist()

    def __len__(self) -> int:
        return len(self.shard)


def epoch_order(
    counts: list[int], *, seed: int, epoch: int, shuffle: bool, shuffle_window: int = 4
) -> EpochOrder:
    """The global order of epoch ``epoch``.

    Args:
        counts (`list[int]`): samples per shard.
        seed (`int`): the same on every rank.
        epoch (`int`): a new order each epoch.
        shuffle (`bool`): `False` keeps shard and tar order.
        shuffle_window (`int`, *optional*, defaults to 4): shards whose samples are mixed together
            (1: shuffle within each shard only).
    """
    counts_arr = np.asarray(counts, dtype=np.int64)
    n_shards = len(counts_arr)
    if not shuffle:
        shard = np.repeat(np.arange(n_shards, dtype=np.int64), counts_arr)
        starts = np.concatenate([[0], np.cumsum(counts_arr)[:-1]]) if n_shards else np.zeros(0, np.int64)
        pos = np.arange(len(shard), dtype=np.int64) - np.repeat(starts, counts_arr)
        return EpochOrder(shard, pos)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch)])
    perm = rng.permutation(n_shards)
    shards_out = []
    pos_out = []
    w = max(1, int(shuffle_window))
    for g in range(0, n_shards, w):
        group = perm[g : g + w]
        sh = np.repeat(group, counts_arr[group])
        ps = np.concatenate([np.arange(counts_arr[s], dtype=np.int64) for s in group])
        mix = rng.permutation(len(sh))
        shards_out.append(sh[mix])
        pos_out.append(ps[mix])
    if not shards_out:
        return EpochOrder(np.zeros(0, np.int64), np.zeros(0, np.int64))
    return EpochOrder(np.concatenate(shards_out).astype(np.int64), np.concatenate(pos_out))


def n_rank_samples(n: int, *, start: int, world_size: int, uneven: str) -> int:
    """Samples each rank reads from global position ``start`` to the end of an epoch of ``n``."""
    check_option(uneven, ("pad", "drop"), name="uneven")
    left = max(0, n - start)
    if uneven == "pad":
        return -(-left // world_size)
    return left // world_size


def rank_positions(n: int, *, start: int, rank: int, world_size: int, uneven: str) -> np.ndarray:
    """Global positions (modulo ``n``: padding wraps around) that ``rank`` reads, in order."""
    k = n_rank_samples(n, start=start, world_size=world_size, uneven=uneven)
    if n == 0:
        return np.zeros(0, np.int64)
    return (start + rank + world_size * np.arange(k, dtype=np.int64)) % n
