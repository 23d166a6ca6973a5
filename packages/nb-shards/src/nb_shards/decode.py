"""Reading the bytes of a shard: whole-shard decompression (bounded: no decompression bombs),
the cross-check of an index against its shard, and the decoding of one sample.

Example:
    >>> import tempfile, numpy as np
    >>> from nb_shards.writer import ShardWriter
    >>> from nb_shards.index import build_index
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp())
    >>> with ShardWriter(out) as w:
    ...     w.write({"__key__": "a", "x.npy": np.arange(3, dtype="int16"), "json": {"y": 1}})
    >>> buf = (out / "train-000000.tar").read_bytes()
    >>> s = OpenShard("train-000000.tar", buf, build_index(buf, where="t")).sample(0)
    >>> s["x"].tolist(), s["json"]
    ([0, 1, 2], {'y': 1})
"""

from __future__ import annotations

import os
import sys
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from nb_core.errors import CorruptDataError, IncompatibleDataError, NBError
from nb_core.manifest import ModalitySpec
from nb_core.validation import JSON_DECODER, load_json, soft_import
from nb_shards.index import ShardIndex
from nb_shards.npy import decode_npy
from nb_shards.tarformat import check_member_at

__all__ = ["MAX_UNINDEXED_TAR", "OpenShard", "check_index", "decompress"]


#: Bound of a compressed shard's decompressed size when it has no index declaring it (bytes).
MAX_UNINDEXED_TAR = int(os.environ.get("NB_SHARDS_MAX_UNINDEXED_TAR", 8 << 30))


def _gunzip(data: bytes, limit: int) -> bytes:
    out: list[bytes] = []
    total = 0
    rest = data
    while rest:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        chunk = d.decompress(rest, limit + 1 - total)
        out.append(chunk)
        total += len(chunk)
        if total > limit:
            return b"".join(out)
        if not d.eof:
            if d.unconsumed_tail:  # stopped at the output bound
                return b"".join(out) + b"\0"
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        rest = d.unused_data.lstrip(b"\0")  # concatenated gzip members (trailing zero padding ok)
    return b"".join(out)


def _unzstd(data: bytes, limit: int) -> bytes:
    zstd = soft_import("zstandard", "Reading .tar.zst shards")
    reader = zstd.ZstdDecompressor().stream_reader(data, read_across_frames=True)
    out: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = reader.read(min(8 << 20, limit + 1 - total))
        if not chunk:
            break
        out.append(chunk)
        total += len(chunk)
    return b"".join(out)


def _zstd_errors() -> tuple[type[BaseException], ...]:
    """``zstandard.ZstdError`` when zstandard was imported (evaluated only when a shard failed)."""
    cls = getattr(sys.modules.get("zstandard"), "ZstdError", None)
    return (cls,) if isinstance(cls, type) and issubclass(cls, BaseException) else ()


def decompress(data: bytes, compression: str | None, *, where: str, limit: int | None = None) -> bytes:
    """Decompress a whole shard, never past ``limit`` bytes (the index's ``tar_size``).

    Raises:
        CorruptDataError: damaged, truncated, or larger than declared (a decompression bomb).
    """
    if compression is None:
        return data
    bound = MAX_UNINDEXED_TAR if limit is None else limit
    try:
        out = _gunzip(data, bound) if compression == "gz" else _unzstd(data, bound)
    except (OSError, EOFError, ValueError, zlib.error) as err:
        raise CorruptDataError(f"{where}: the compressed shard is damaged or truncated ({err})") from None
    except NBError:
        raise
    except _zstd_errors() as err:
        raise CorruptDataError(f"{where}: the compressed shard is damaged or truncated ({err})") from None
    if len(out) > bound:
        what = (
            f"its index declares {limit}" if limit is not None else f"the bound without an index is {bound}"
        )
        raise CorruptDataError(
            f"{where}: the compressed shard inflates to more than {bound} bytes ({what}); refused "
            "(damaged, or a decompression bomb)"
        )
    return out


def check_index(buf: Any, idx: ShardIndex, *, where: str) -> None:
    """Cheap cross-check of an index against its shard's bytes: the tar size, and the member
    headers of the first, middle and last samples (a stale or swapped ``.idx`` fails).

    Raises:
        CorruptDataError: the index does not belong to these bytes.
    """
    if idx.tar_size < len(buf):  # (a shorter, truncated shard is reported per sample)
        raise CorruptDataError(
            f"{where}: the shard has {len(buf)} bytes (uncompressed), its index says {idx.tar_size}: the "
            "index sidecar does not belong to this shard (or the shard was changed)"
        )
    n = len(idx)
    for j in sorted({0, n // 2, n - 1}) if n else ():
        key = idx.keys[j]
        for suffix, (off, size) in idx.members[j].items():
            if off + size <= len(buf):
                check_member_at(buf, off, f"{key}.{suffix}", size, where=where)


_DECODER = JSON_DECODER  # (load_json's: same refusals, no depth check: callers bound it)


def _sample_json(view: Any, shard: str, key: str, off: int) -> Any:
    """A sample's JSON member. Small documents (no integer can reach Python's digit limit, nesting
    bounded by their bracket count) take the plain parser; anything else nb-core's ``load_json``."""
    raw = bytes(view)
    if len(raw) < 4096 and raw.count(b"[") + raw.count(b"{") <= 64:
        try:
            text = raw.decode("utf-8")
            obj, end = _DECODER.raw_decode(text)
            if end == len(text):  # (surrounding whitespace, or anything else: nb-core below)
                return obj
        except ValueError:  # (UnicodeDecodeError included) reported below, with nb-core's message
            pass
    return load_json(raw, where=f"{shard}: {key}.json at byte offset {off}")


def _batch_json(raws: list[bytes]) -> list[Any] | None:
    """Many small JSON documents decoded in one pass, or `None` when any of them is not plain
    (then `_sample_json` one by one: the same values, or its error). Refuses what
    ``nb_core.validation.load_json`` refuses.

    The documents are joined with spaces and each is scanned at its own start; it must end exactly
    where it ends in the join, so a document that is not a whole JSON value by itself (say an
    open string or bracket that a neighbour would close) is never accepted.
    """
    for r in raws:  # the limits of `_sample_json`'s plain path, per document
        if len(r) >= 4096 or r.count(b"[") + r.count(b"{") > 64:
            return None
    try:
        texts = [r.decode("utf-8") for r in raws]
        joined = " ".join(texts)
        docs, pos = [], 0
        for t in texts:
            obj, end = _DECODER.raw_decode(joined, pos)
            pos += len(t)
            if end != pos:
                return None
            docs.append(obj)
            pos += 1
    except (ValueError, RecursionError):  # (UnicodeDecodeError and JSONDecodeError included)
        return None
    return docs


@dataclass
class OpenShard:
    """A shard ready for reading: its bytes (memory map) and index; ``fd``: a descriptor of the
    mapped file (an uncompressed local shard), which the batch path reads with ``preadv``."""

    name: str
    buf: Any
    index: ShardIndex
    modalities: dict[str, ModalitySpec] | None = None
    _specs: list[tuple[str, Any, tuple[Any, ...], ModalitySpec]] | None = None
    fd: int | None = None

    def __len__(self) -> int:
        return len(self.index)

    def sample(self, j: int) -> dict[str, Any]:
        """Decode sample ``j`` (tar order): ``{"__key__", <modality>: array, "json": dict, ...}``.

        Raises:
            CorruptDataError: truncated or damaged member (shard, key and byte offset named).
            UnsafeContentError: an array that needs pickle.
            IncompatibleDataError: a modality is missing or differs from the manifest.
        """
        key = self.index.keys[j]
        out: dict[str, Any] = {"__key__": key}
        n = len(self.buf)
        for suffix, (off, size) in self.index.members[j].items():
            if off + size > n:
                raise CorruptDataError(
                    f"{self.name}: truncated: member {key}.{suffix} at byte offset {off} needs {size} bytes "
                    f"but the shard ends at {n}"
                )
            view = self.buf[off : off + size]
            if suffix.endswith(".npy"):
                out[suffix[:-4]] = decode_npy(
                    view,
                    where=lambda: f"{self.name}: {key}.{suffix} at byte offset {off}",  # noqa: B023
                )
            elif suffix == "json":
                out["json"] = _sample_json(view, self.name, key, off)
            else:
                out[suffix] = bytes(view)
        if self.modalities:
            if self._specs is None:
                self._specs = [
                    (m, np.dtype(spec.dtype), tuple(spec.shape), spec) for m, spec in self.modalities.items()
                ]
            for m, dt, shape, spec in self._specs:
                a = out.get(m)
                if a is None:
                    raise IncompatibleDataError(
                        f"{self.name}: sample {key!r} lacks modality {m!r} (the manifest declares it)"
                    )
                if (a.shape != shape or a.dtype != dt) and (
                    a.dtype != dt
                    or len(shape) != a.ndim
                    or any(s is not None and s != d for s, d in zip(shape, a.shape))
                ):
                    raise IncompatibleDataError(
                        f"{self.name}: sample {key!r} modality {m!r} is {a.dtype} {list(a.shape)}, "
                        f"the manifest says {spec.dtype} {spec.shape}"
                    )
        return out
