"""``.npy`` members: encode arrays without pickle and decode them straight from shard bytes.

The header of every array is built (and parsed) once per distinct
``(dtype, shape)`` and cached, so encoding and decoding cost one dictionary
lookup; array data is never copied on decode (``np.frombuffer`` over the
shard's memory map).

Example:
    >>> import numpy as np
    >>> a = np.arange(6, dtype="float32").reshape(2, 3)
    >>> head = npy_header(a)
    >>> b = decode_npy(memoryview(head + a.tobytes()), where="demo")
    >>> bool((a == b).all()), b.flags.writeable
    (True, False)
"""

from __future__ import annotations

import ast
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from nb_core.errors import CorruptDataError, UnsafeContentError

__all__ = ["NPY_MAGIC", "decode_npy", "npy_header", "parse_npy_header"]

NPY_MAGIC = b"\x93NUMPY"
_HEADER_CACHE: dict[tuple[str, tuple[int, ...]], bytes] = {}
_PARSE_CACHE: dict[bytes, tuple[np.dtype[Any], tuple[int, ...], bool]] = {}
_MAX_CACHE = 4096


#: Digits np.save reserves for the first axis (numpy's ``GROWTH_AXIS_MAX_DIGITS``).
_GROWTH_AXIS_MAX_DIGITS = 21


def npy_header(array: np.ndarray) -> bytes:
    """The ``.npy`` (version 1.0) header of a C-contiguous ``array``, byte-for-byte what
    ``np.save`` writes.

    Raises:
        UnsafeContentError: the dtype holds Python objects (it would need pickle).
    """
    key = (array.dtype.str if not array.dtype.fields else repr(array.dtype.descr), tuple(array.shape))
    head = _HEADER_CACHE.get(key)
    if head is None:
        if array.dtype.hasobject:
            raise UnsafeContentError(f"dtype {array.dtype} holds Python objects and would need pickle")
        d = np.lib.format.header_data_from_array_1_0(array)
        d["fortran_order"] = False
        text = "{"
        for k, v in sorted(d.items()):
            text += f"{k!r}: {v!r}, "
        text += "}"
        # As np.save: room for the first axis to grow to 21 digits (appending in place), then
        # spaces up to a 64-byte boundary for the data (a full 64 when already aligned), a newline.
        if array.ndim:
            text += " " * (_GROWTH_AXIS_MAX_DIGITS - len(repr(array.shape[0])))
        n = len(NPY_MAGIC) + 2 + 2 + len(text) + 1
        text += " " * (64 - n % 64) + "\n"
        raw = text.encode("latin1")
        if len(raw) > 65535:
            raise UnsafeContentError(f"npy header of dtype {array.dtype} is too large")
        head = NPY_MAGIC + b"\x01\x00" + struct.pack("<H", len(raw)) + raw
        if len(_HEADER_CACHE) < _MAX_CACHE:
            _HEADER_CACHE[key] = head
    return head


Where = str | Callable[[], str]


def _w(where: Where) -> str:
    return where() if callable(where) else where


def parse_npy_header(
    buf: memoryview | bytes, *, where: Where
) -> tuple[np.dtype[Any], tuple[int, ...], bool, int]:
    """Parse an ``.npy`` header at the start of ``buf``.

    ``where`` (text, or a function that returns it) names the member in error messages.

    Returns:
        `tuple`: ``(dtype, shape, fortran_order, data_offset)``.

    Raises:
        CorruptDataError: not an ``.npy`` member, or a damaged header (``where`` names it).
        UnsafeContentError: the array would need pickle (object dtype).
    """
    mv = memoryview(buf)
    if len(mv) < 10 or bytes(mv[:6]) != NPY_MAGIC:
        raise CorruptDataError(f"{_w(where)}: not an .npy array (bad magic bytes)")
    major = mv[6]
    if major == 1:
        hlen = struct.unpack("<H", mv[8:10])[0]
        start = 10
    elif major in (2, 3):
        if len(mv) < 12:
            raise CorruptDataError(f"{_w(where)}: truncated .npy header")
        hlen = struct.unpack("<I", mv[8:12])[0]
        start = 12
    else:
        raise CorruptDataError(f"{_w(where)}: unsupported .npy format version {major}")
    end = start + hlen
    if end > len(mv):
        raise CorruptDataError(f"{_w(where)}: truncated .npy header ({len(mv)} bytes, header needs {end})")
    raw = bytes(mv[start:end])
    hit = _PARSE_CACHE.get(raw)
    if hit is None:
        try:
            d = ast.literal_eval(raw.decode("latin1" if major < 3 else "utf8"))
            if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
                raise ValueError("header must hold exactly descr, fortran_order and shape")
            dtype = np.dtype(np.lib.format.descr_to_dtype(d["descr"]))
            shape = tuple(int(s) for s in d["shape"])
            fortran = bool(d["fortran_order"])
            if any(s < 0 for s in shape):
                raise ValueError(f"negative dimension in shape {shape}")
        except (
            ValueError,
            SyntaxError,
            TypeError,
            KeyError,
            RecursionError,
            MemoryError,
            OverflowError,
        ) as err:
            raise CorruptDataError(
                f"{_w(where)}: damaged .npy header ({type(err).__name__}: {str(err)[:120]})"
            ) from None
        if dtype.hasobject:
            raise UnsafeContentError(
                f"{_w(where)}: the array has dtype {dtype}, which needs pickle to load; refused (never unpickled)"
            )
        hit = (dtype, shape, fortran)
        if len(_PARSE_CACHE) < _MAX_CACHE:
            _PARSE_CACHE[raw] = hit
    return hit[0], hit[1], hit[2], end


def decode_npy(buf: memoryview | bytes, *, where: Where) -> np.ndarray:
    """An array view over the ``.npy`` bytes in ``buf`` (no copy; read-only when ``buf`` is).

    Raises:
        CorruptDataError: the header is damaged or the data is shorter than the header says.
        UnsafeContentError: the array would need pickle.
    """
    dtype, shape, fortran, off = parse_npy_header(buf, where=where)
    count = 1
    for s in shape:
        count *= s
    need = off + count * dtype.itemsize
    if len(buf) < need:
        raise CorruptDataError(f"{_w(where)}: truncated .npy data ({len(buf)} bytes, {need} expected)")
    arr = np.frombuffer(buf, dtype=dtype, count=count, offset=off)
    if fortran:
        return arr.reshape(shape[::-1]).transpose()
    return arr.reshape(shape)
