"""The batch read path: a batch of samples copied straight from the shards into batch arrays.

For a batch whose samples all have the same members (``.npy`` arrays and ``json``) and, per
array member, the same ``.npy`` header bytes (so the same dtype and shape), each array member
is one preallocated ``batch × ...`` array and every sample's data bytes are copied into its row
straight from the shard's memory map, at the offsets of the index. The header is parsed once
per batch and member; every other sample's header is compared byte for byte with it. No
per-sample dict, no per-sample array view, no stacking: the batch is byte-identical to
decoding every sample and collating them (`nb_shards.collate`), which stays the path for
everything else (raw-bytes members, differing shapes, Fortran-order arrays, any error: the
per-sample path then raises, or skips, exactly as before). Nothing is ever unpickled.

Example:
    >>> import tempfile, numpy as np
    >>> from nb_shards.writer import ShardWriter
    >>> from nb_shards.source import resolve_source
    >>> from nb_shards.order import epoch_order
    >>> out = tempfile.mkdtemp()
    >>> with ShardWriter(out) as w:
    ...     for i in range(4):
    ...         w.write({"__key__": f"k{i}", "x.npy": np.full(3, i, "int16"), "json": {"y": i}})
    >>> src = resolve_source(out)
    >>> b = read_batch(src, epoch_order(src.counts(), seed=0, epoch=0, shuffle=False), [2, 0])
    >>> b["__key__"], b["x"].tolist(), b["json"]
    (['k2', 'k0'], [[2, 2, 2], [0, 0, 0]], [{'y': 2}, {'y': 0}])
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from nb_core.errors import CorruptDataError, NBError
from nb_shards.decode import OpenShard, _sample_json
from nb_shards.npy import parse_npy_header
from nb_shards.order import EpochOrder
from nb_shards.torchdata import batch_allocator, shared_empty

__all__ = ["empty_batch", "read_batch"]

_RESERVED = ("__key__", "json")


@dataclass
class _Array:
    """One ``.npy`` member of the batch: its header bytes, data offset, dtype, shape, data bytes."""

    suffix: str
    head: bytes
    data_off: int
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    nbytes: int


def empty_batch(shape: tuple[int, ...], dtype: np.dtype[Any], *, to_torch: bool) -> tuple[Any, np.ndarray]:
    """An uninitialised batch array and its NumPy view (the same memory).

    With ``to_torch`` a tensor placed where `nb_shards.collate` places it: the current
    `nb_shards.torchdata.batch_allocator` (a worker's batch ring, pinned memory), else shared
    memory inside a DataLoader worker, else plain memory.
    """
    if not to_torch:
        arr = np.empty(shape, dtype)
        return arr, arr
    import torch

    try:
        tdtype = torch.from_numpy(np.empty(0, dtype)).dtype
    except TypeError:  # a dtype torch does not have (e.g. uint32 on old torch)
        arr = np.empty(shape, dtype)
        return torch.from_numpy(arr), arr
    alloc = batch_allocator()
    t = alloc(shape, tdtype) if alloc is not None else None
    if t is None:
        in_worker = torch.utils.data.get_worker_info() is not None
        t = shared_empty(shape, tdtype) if in_worker else torch.empty(shape, dtype=tdtype)
    return t, t.numpy()


def _array_plan(sh: OpenShard, suffix: str, off: int, size: int) -> _Array | None:
    """The plan of one ``.npy`` member from the first sample, or `None` (per-sample path)."""
    if suffix[:-4] in _RESERVED or off + size > len(sh.buf):
        return None
    view = sh.buf[off : off + size]
    try:
        dtype, shape, fortran, data_off = parse_npy_header(view, where=sh.name)
    except NBError:
        return None
    if fortran or dtype.hasobject or dtype.fields is not None or not dtype.isnative:
        return None
    nbytes = math.prod(shape) * dtype.itemsize
    if data_off + nbytes > size:
        return None
    return _Array(suffix, bytes(view[:data_off]), data_off, dtype, shape, nbytes)


def _plan(sh: OpenShard, members: dict[str, tuple[int, int]]) -> list[_Array | str] | None:
    """Per member of the first sample: an `_Array`, or ``"json"``; `None` when not eligible."""
    plan: list[_Array | str] = []
    for suffix, (off, size) in members.items():
        if suffix == "json":
            plan.append(suffix)
            continue
        if not suffix.endswith(".npy"):
            return None  # raw bytes: the per-sample path
        a = _array_plan(sh, suffix, off, size)
        if a is None:
            return None
        plan.append(a)
    return plan if _modalities_ok(sh, plan) else None


def _modalities_ok(sh: OpenShard, plan: list[_Array | str]) -> bool:
    """Whether every modality the manifest declares is there with its dtype and shape."""
    if not sh.modalities:
        return True
    arrays = {a.suffix[:-4]: a for a in plan if isinstance(a, _Array)}
    for m, spec in sh.modalities.items():
        a = arrays.get(m)
        if a is None or a.dtype != np.dtype(spec.dtype) or len(spec.shape) != len(a.shape):
            return False
        if any(s is not None and s != d for s, d in zip(spec.shape, a.shape)):
            return False
    return True


def _check_rows(rows: list[tuple[OpenShard, dict[str, tuple[int, int]]]], plan: list[_Array | str]) -> bool:
    """Whether every sample has the first one's members, in range, with the same ``.npy`` headers."""
    names = rows[0][1].keys()
    arrays = [a for a in plan if isinstance(a, _Array)]
    for sh, members in rows:
        if members.keys() != names:
            return False
        n = len(sh.buf)
        for a in arrays:
            off, size = members[a.suffix]
            if off + size > n or a.data_off + a.nbytes > size or sh.buf[off : off + a.data_off] != a.head:
                return False
    return True


def _u8(sh: OpenShard) -> np.ndarray:
    """The shard's bytes as a uint8 array (made once per open shard)."""
    u8 = sh.__dict__.get("_nb_u8")
    if u8 is None:
        u8 = sh.__dict__["_nb_u8"] = np.frombuffer(sh.buf, np.uint8)
    return u8


def _fill(a: _Array, rows: list[tuple[OpenShard, dict[str, tuple[int, int]]]], to_torch: bool) -> Any:
    out, arr = empty_batch((len(rows), *a.shape), a.dtype, to_torch=to_torch)
    if a.nbytes:
        dest = arr.reshape(-1).view(np.uint8).reshape(len(rows), a.nbytes)
        for i, (sh, members) in enumerate(rows):
            start = members[a.suffix][0] + a.data_off
            if sh.fd is not None and _PREADV is not None:
                _pread(_PREADV, sh, dest[i], start, a)
            else:
                dest[i] = _u8(sh)[start : start + a.nbytes]
    return out


_PREADV = getattr(os, "preadv", None)


def _pread(preadv: Any, sh: OpenShard, row: np.ndarray, start: int, a: _Array) -> None:
    """Read one sample's array bytes into its row with ``preadv`` (what a raw read costs: no page
    faults on a memory map)."""
    got = preadv(sh.fd, [row], start)
    if got != a.nbytes:
        raise CorruptDataError(
            f"{sh.name}: truncated: member {a.suffix} at byte offset {start - a.data_off} needs "
            f"{a.nbytes} bytes of data but the file ends earlier (it changed while open)"
        )


def _json(rows: list[tuple[OpenShard, dict[str, tuple[int, int]]]], keys: list[str]) -> list[Any]:
    docs = []
    for (sh, members), key in zip(rows, keys):
        off, size = members["json"]
        if off + size > len(sh.buf):
            raise _Fallback
        docs.append(_sample_json(sh.buf[off : off + size], sh.name, key, off))
    return docs


class _Fallback(Exception):
    """The batch is not for the batch path."""


def read_batch(
    source: Any, order: EpochOrder, gs: list[int], *, to_torch: bool = False
) -> dict[str, Any] | None:
    """The collated batch of global positions ``gs``, or `None` when the batch is not eligible
    (then decode each sample and collate them: same result, or the per-sample error).

    Args:
        source: the `nb_shards.source.ShardSource` read.
        order: the epoch's order; ``gs`` are positions in it.
        to_torch (`bool`, *optional*, defaults to `False`): arrays as `torch.Tensor`.
    """
    if not gs:
        return None
    try:
        shards = [source.open(order.shard_list[g]) for g in gs]
    except NBError:
        return None  # the per-sample path opens them again and raises (or skips) per sample
    rows = [(sh, sh.index.members[order.pos_list[g]]) for sh, g in zip(shards, gs)]
    plan = _plan(*rows[0])
    if plan is None or not _check_rows(rows, plan):
        return None
    keys = [sh.index.keys[order.pos_list[g]] for sh, g in zip(shards, gs)]
    try:
        docs = _json(rows, keys) if "json" in plan else None
    except (NBError, _Fallback):
        return None
    out: dict[str, Any] = {"__key__": keys}
    for a in plan:
        if isinstance(a, _Array):
            out[a.suffix[:-4]] = _fill(a, rows, to_torch)
        else:
            out["json"] = docs
    return out
