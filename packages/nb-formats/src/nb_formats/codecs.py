"""Compression choices per layout, and the chunk decoders used by the fast read path.

Every layout stores signals in chunks compressed by one codec. The readers do
not go through h5py's or zarr's per-item machinery: they fetch a chunk's bytes
(``pread`` at the chunk's offset, or the chunk file / zip member) and decode
them here, straight into the output array.

=============  ===================================  =================================  =========
name           HDF5 (h5py + hdf5plugin filter)      Zarr v3 codec                      decoder
=============  ===================================  =================================  =========
``none``       no filter                            none                               copy
``blosc-lz4``  Blosc (32001) lz4, byte shuffle      ``blosc`` lz4, shuffle             numcodecs
``blosc-zstd`` Blosc (32001) zstd, byte shuffle     ``blosc`` zstd, shuffle            numcodecs
``zstd``       Zstd (32015)                         ``zstd``                           numcodecs
``gzip``       deflate (level 4)                    ``gzip`` (level 4)                 zlib
``lzf``        lzf (h5py built-in)                  not available                      h5py
=============  ===================================  =================================  =========

The NumPy+Parquet layout keeps signals uncompressed in ``.npy`` files (so
they can be memory-mapped); its compression names the Parquet codec of the
metadata tables (``zstd`` default, ``snappy``, ``gzip``, ``none``).

Example:
    >>> resolve_compression("hdf5", None)
    'blosc-lz4'
    >>> resolve_compression("parquet", None)
    'zstd'
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

from nb_core.errors import CorruptDataError, UnsupportedFormatError

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_COMPRESSION",
    "decode_into",
    "hdf5_filter_kwargs",
    "resolve_compression",
    "zarr_compressors",
]

#: Compression names accepted by each layout.
COMPRESSIONS: dict[str, tuple[str, ...]] = {
    "hdf5": ("none", "blosc-lz4", "blosc-zstd", "zstd", "gzip", "lzf"),
    "zarr": ("none", "blosc-lz4", "blosc-zstd", "zstd", "gzip"),
    "parquet": ("zstd", "snappy", "gzip", "none"),
}
#: The default per layout: a fast lossless codec (blosc-lz4 with byte shuffle).
DEFAULT_COMPRESSION = {"hdf5": "blosc-lz4", "zarr": "blosc-lz4", "parquet": "zstd"}

_BLOSC_LEVEL = 5
_ZSTD_LEVEL = 3
_GZIP_LEVEL = 4


def resolve_compression(layout: str, compression: str | None) -> str:
    """The compression name to use for ``layout`` (its default when `None`).

    Raises:
        UnsupportedFormatError: the layout does not offer that compression.
    """
    if compression is None:
        return DEFAULT_COMPRESSION[layout]
    allowed = COMPRESSIONS[layout]
    if compression not in allowed:
        raise UnsupportedFormatError(
            f"compression {compression!r} is not available for the {layout} layout; "
            f"choose one of {', '.join(allowed)}"
        )
    return compression


def hdf5_filter_kwargs(compression: str) -> dict[str, Any]:
    """Keyword arguments for ``h5py.Group.create_dataset`` that apply ``compression``."""
    if compression == "none":
        return {}
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": _GZIP_LEVEL}
    if compression == "lzf":
        return {"compression": "lzf"}
    import hdf5plugin

    if compression.startswith("blosc-"):
        cname: Any = compression.split("-", 1)[1]
        return dict(hdf5plugin.Blosc(cname=cname, clevel=_BLOSC_LEVEL, shuffle=hdf5plugin.Blosc.SHUFFLE))
    if compression == "zstd":
        return dict(hdf5plugin.Zstd(clevel=_ZSTD_LEVEL))
    raise UnsupportedFormatError(f"compression {compression!r} is not available for HDF5")


def zarr_compressors(compression: str) -> list[Any]:
    """The Zarr v3 ``compressors`` list for ``compression``."""
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if compression == "none":
        return []
    if compression.startswith("blosc-"):
        cname: Any = compression.split("-", 1)[1]
        return [BloscCodec(cname=cname, clevel=_BLOSC_LEVEL, shuffle="shuffle")]
    if compression == "zstd":
        return [ZstdCodec(level=_ZSTD_LEVEL)]
    if compression == "gzip":
        return [GzipCodec(level=_GZIP_LEVEL)]
    raise UnsupportedFormatError(f"compression {compression!r} is not available for Zarr")


def decode_into(
    compression: str, raw: bytes | bytearray | memoryview | np.ndarray, out: np.ndarray, *, where: str
) -> None:
    """Decode one stored chunk into ``out`` (a C-contiguous array of the chunk's full shape).

    Args:
        compression (`str`): how the chunk was written (``"none"`` for a filter-less chunk).
        raw (`bytes`): the chunk as stored.
        out (`np.ndarray`): destination; its byte size must equal the decoded size.
        where (`str`): file and chunk, for error messages.

    Raises:
        CorruptDataError: the bytes cannot be decoded into ``out`` (truncated or damaged).
    """
    dest = out.reshape(-1).view(np.uint8)
    if isinstance(raw, np.ndarray):  # a slice of a memory map
        raw = raw.data
    try:
        if compression == "none":
            _copy_raw(raw, dest, where)
        elif compression.startswith("blosc-"):
            _decode_blosc(raw, dest, where)
        elif compression == "zstd":
            from numcodecs import zstd

            _copy_exact(zstd.decompress(raw), dest, where)
        elif compression == "gzip":
            # wbits=47: accept a zlib stream (HDF5 deflate) or a gzip member (Zarr gzip).
            _copy_exact(zlib.decompress(raw, wbits=47), dest, where)
        else:  # pragma: no cover - readers route lzf to h5py before calling this
            raise UnsupportedFormatError(f"{where}: no direct decoder for {compression!r}")
    except CorruptDataError:
        raise
    except (RuntimeError, ValueError, zlib.error, TypeError) as err:
        raise CorruptDataError(
            f"{where}: cannot decode the {compression} chunk ({err}); the file is damaged or truncated "
            "(run `nb formats verify`)"
        ) from None


def _copy_raw(raw: Any, dest: np.ndarray, where: str) -> None:
    if len(raw) != dest.nbytes:
        raise CorruptDataError(
            f"{where}: chunk has {len(raw)} bytes, expected {dest.nbytes} (truncated file?)"
        )
    dest[:] = np.frombuffer(raw, dtype=np.uint8)


def _decode_blosc(raw: Any, dest: np.ndarray, where: str) -> None:
    from numcodecs import blosc

    # Check the 16-byte Blosc header first: blosc trusts it, so a truncated chunk
    # would otherwise be decoded from past its end.
    if len(raw) < 16:
        raise CorruptDataError(f"{where}: Blosc chunk of {len(raw)} bytes is truncated")
    nbytes, cbytes = struct.unpack_from("<II", raw, 4)[0], struct.unpack_from("<I", raw, 12)[0]
    if cbytes != len(raw) or nbytes != dest.nbytes:
        raise CorruptDataError(
            f"{where}: Blosc header says {cbytes} stored / {nbytes} decoded bytes, found {len(raw)} "
            f"stored and expected {dest.nbytes} decoded (truncated or damaged)"
        )
    blosc.decompress(raw, dest)


def _copy_exact(got: bytes, dest: np.ndarray, where: str) -> None:
    if len(got) != dest.nbytes:
        raise CorruptDataError(f"{where}: chunk decodes to {len(got)} bytes, expected {dest.nbytes}")
    dest[:] = np.frombuffer(got, dtype=np.uint8)
