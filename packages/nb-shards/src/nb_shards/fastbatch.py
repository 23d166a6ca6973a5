"""The batch read path: a batch of samples copied straight from the shards into batch arrays.

For a batch whose samples all have the same members (``.npy`` arrays and ``json``) and, per
array member, the same ``.npy`` header bytes (so the same dtype and shape), each array member
is one preallocated ``batch × ...`` array and every sample's data bytes are copied into its row
straight from the shard, at the offsets of the index: on an uncompressed local shard with one
``preadv`` per sample that also brings its ``.npy`` headers and JSON into a small scratch buffer
(the memory map is not touched: its page faults cost as much as the copy), otherwise from the
memory map or the decompressed bytes. The header is parsed once per batch and member; every other
sample's header is compared byte for byte with it. No
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
from nb_shards.decode import OpenShard, _batch_json, _sample_json
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


_TORCH_DTYPES: dict[np.dtype[Any], Any] = {}  # NumPy dtype -> torch dtype, as torch.from_numpy maps it


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

    tdtype = _TORCH_DTYPES.get(dtype)
    if tdtype is None:
        try:
            tdtype = _TORCH_DTYPES[dtype] = torch.from_numpy(np.empty(0, dtype)).dtype
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


#: The most bytes of one sample that are not array data (``.npy`` headers, tar headers, padding,
#: JSON) the span read takes along; a sample with more takes the memory-map path.
_SCRATCH_MAX = 1 << 20


def _changed(sh: OpenShard, start: int, span: int) -> CorruptDataError:
    """The error of a span read that came back short: the file shrank after it was opened."""
    return CorruptDataError(
        f"{sh.name}: truncated: the sample at byte offset {start} needs {span} bytes "
        "but the file ends earlier (it changed while open)"
    )


def _read_spans(
    rows: list[tuple[OpenShard, dict[str, tuple[int, int]]]],
    arrays: dict[str, tuple[_Array, np.ndarray]],
    preadv: Any,
) -> list[bytes | None] | None:
    """Read each sample with one ``preadv``: its array data straight into the batch rows, the rest
    of its span (``.npy`` headers, tar headers, padding, JSON) into a small scratch buffer; compare
    the ``.npy`` headers there. Returns each sample's JSON bytes (`None` when it has none), or
    `None` when the batch is not for this path (the memory-map path then checks and reads it).

    The memory map is never touched here: a first touch of a mapped page costs a page fault,
    which on cached data costs about as much as copying the page.
    """
    members0 = rows[0][1]
    names = members0.keys()
    order = sorted(members0, key=lambda x: members0[x][0])
    if len(order) == 2 and order[1] == "json" and order[0] in arrays:
        return _read_array_json_spans(rows, order[0], arrays[order[0]], preadv)
    row_bytes = sum(a.nbytes for a, _ in arrays.values())
    out: list[bytes | None] = []
    for i, (sh, members) in enumerate(rows):
        if sh.fd is None or members.keys() != names:
            return None
        plan = _span_plan(sh, members, order, arrays, row_bytes, i)
        if plan is None:
            return None
        scratch, iov, heads, doc, start, span = plan
        if preadv(sh.fd, iov, start) != span:
            raise _changed(sh, start, span)
        for at, a in heads:
            if scratch[at : at + a.data_off] != a.head:
                return None
        out.append(None if doc is None else bytes(scratch[doc[0] : doc[0] + doc[1]]))
    return out


def _read_array_json_spans(
    rows: list[tuple[OpenShard, dict[str, tuple[int, int]]]],
    suffix: str,
    array: tuple[_Array, np.ndarray],
    preadv: Any,
) -> list[bytes | None] | None:
    """`_read_spans` for the common sample of one ``.npy`` array followed by its JSON (what
    `nb_shards.ShardWriter` writes for one modality): the same reads and checks, without the
    general walk over members (about 5% of a batch's time)."""
    names = rows[0][1].keys()
    a, dest = array
    hl, nb, head = a.data_off, a.nbytes, a.head
    out: list[bytes | None] = []
    for i, (sh, members) in enumerate(rows):
        if sh.fd is None or members.keys() != names:
            return None
        off, size = members[suffix]
        joff, jsize = members["json"]
        end = joff + jsize
        if joff < off + size or size < hl + nb or end > len(sh.buf) or end - off - nb > _SCRATCH_MAX:
            return None
        scratch = memoryview(bytearray(end - off - nb))
        if preadv(sh.fd, [scratch[:hl], dest[i], scratch[hl:]], off) != end - off:
            raise _changed(sh, off, end - off)
        if scratch[:hl] != head:
            return None
        at = joff - off - nb
        out.append(bytes(scratch[at : at + jsize]))
    return out


def _span_plan(
    sh: OpenShard,
    members: dict[str, tuple[int, int]],
    order: list[str],
    arrays: dict[str, tuple[_Array, np.ndarray]],
    row_bytes: int,
    i: int,
) -> tuple[memoryview, list[Any], list[tuple[int, _Array]], tuple[int, int] | None, int, int] | None:
    """Sample ``i``'s read: (scratch, buffers for ``preadv``, where each ``.npy`` header lands in
    the scratch, where the JSON lands, file offset, bytes), or `None` (not for the span read)."""
    start = members[order[0]][0]
    last = members[order[-1]]
    end = last[0] + last[1]
    if end > len(sh.buf) or not 0 <= end - start - row_bytes <= _SCRATCH_MAX:
        return None
    scratch = memoryview(bytearray(end - start - row_bytes))
    iov: list[Any] = []
    heads: list[tuple[int, _Array]] = []
    doc: tuple[int, int] | None = None
    cur, pos, prev_end = start, 0, start  # file offset ``cur`` lands at ``scratch[pos]``
    for suffix in order:
        off, size = members[suffix]
        if off < prev_end:
            return None  # overlapping or reordered members
        prev_end = off + size
        got = arrays.get(suffix)
        if got is None:
            if suffix == "json":
                doc = (pos + off - cur, size)
            continue
        a, dest = got
        if a.data_off + a.nbytes > size:
            return None
        data = off + a.data_off
        heads.append((pos + off - cur, a))
        iov.append(scratch[pos : pos + data - cur])
        iov.append(dest[i])
        pos += data - cur
        cur = data + a.nbytes
    if prev_end != end:
        return None
    iov.append(scratch[pos:])
    return scratch, iov, heads, doc, start, end - start


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
    rows: list[tuple[OpenShard, dict[str, tuple[int, int]]]] = []
    keys: list[str] = []
    opened: dict[int, OpenShard] = {}
    shard_list, pos_list = order.shard_list, order.pos_list
    try:
        for g in gs:
            i, j = shard_list[g], pos_list[g]
            sh = opened.get(i)
            if sh is None:
                sh = opened[i] = source.open(i)
            rows.append((sh, sh.index.members[j]))
            keys.append(sh.index.keys[j])
    except NBError:
        return None  # the per-sample path opens them again and raises (or skips) per sample
    plan = _plan(*rows[0])
    if plan is None:
        return None
    if _PREADV is not None and rows[0][0].fd is not None:
        spans = _spans_batch(rows, plan, keys, to_torch)
        if spans is not None:
            return spans
    if not _check_rows(rows, plan):
        return None
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


def _spans_batch(
    rows: list[tuple[OpenShard, dict[str, tuple[int, int]]]],
    plan: list[_Array | str],
    keys: list[str],
    to_torch: bool,
) -> dict[str, Any] | None:
    """The batch read by `_read_spans`, or `None` (then the memory-map path)."""
    assert _PREADV is not None
    n = len(rows)
    filled: dict[str, Any] = {}
    arrays: dict[str, tuple[_Array, np.ndarray]] = {}
    for a in plan:
        if isinstance(a, _Array):
            t, arr = empty_batch((n, *a.shape), a.dtype, to_torch=to_torch)
            filled[a.suffix] = t
            arrays[a.suffix] = (a, arr.reshape(-1).view(np.uint8).reshape(n, a.nbytes))
    raws = _read_spans(rows, arrays, _PREADV)
    if raws is None:
        return None
    out: dict[str, Any] = {"__key__": keys}
    for a in plan:
        if isinstance(a, _Array):
            out[a.suffix[:-4]] = filled[a.suffix]
            continue
        docs = _batch_json(raws) if None not in raws else None  # type: ignore[arg-type]
        if docs is None:
            docs = []
            for (sh, members), key, raw in zip(rows, keys, raws):
                try:
                    docs.append(_sample_json(raw, sh.name, key, members["json"][0]))
                except NBError:
                    return None  # the per-sample path raises (or skips) it
        out["json"] = docs
    return out
