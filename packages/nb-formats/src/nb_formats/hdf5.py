"""The HDF5 layout: one file, ``data.h5``, in the artifact directory.

Inside ``data.h5``::

    /windows               float32 N×C×T, chunks (1, C, T)       (materialized windows)
    /recordings/000000     float32 C×T_j, chunks (C, chunk_samples) (continuous signals)
    /table/<column>        int64 window table columns (+ /table/target)
    /meta_json             uint8: JSON of recordings (Recording.to_dict()), chunking, target kinds

Compression is an HDF5 filter (gzip/lzf built in, Blosc/Zstd from hdf5plugin),
so any HDF5 reader with hdf5plugin reads the file. The fast read path does not
use h5py per item: it lists each array's chunk offsets once (``chunk_iter``,
metadata only) and then reads a chunk with one ``os.pread`` and decodes it with
numcodecs/zlib directly into the output array. ``lzf`` has no standalone
decoder and is read through h5py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.errors import CorruptDataError
from nb_formats._store import Sink, Store, decode_meta, encode_meta
from nb_formats.codecs import decode_into, hdf5_filter_kwargs
from nb_formats.table import INT_COLUMNS, WindowTable

__all__ = ["DATA_FILE", "HDF5Sink", "HDF5Store"]

#: The data file of the HDF5 layout.
DATA_FILE = "data.h5"


def _h5py() -> Any:
    import h5py
    import hdf5plugin  # noqa: F401  (registers the Blosc/Zstd filters with HDF5)

    return h5py


class HDF5Sink(Sink):
    def __init__(self, root: Path, **kw: Any) -> None:
        super().__init__(root, **kw)
        self.f = _h5py().File(root / DATA_FILE, "w", libver="latest")
        self.filters = hdf5_filter_kwargs(self.compression)

    def begin_windows(self, n: int, c: int, t: int) -> None:
        self.f.create_dataset("windows", shape=(n, c, t), dtype=self.dtype, chunks=(1, c, t), **self.filters)

    def write_windows(self, start: int, block: np.ndarray) -> None:
        self.f["windows"][start : start + len(block)] = block

    def write_recording(self, j: int, data: np.ndarray, chunk_samples: int) -> None:
        c = data.shape[0]
        self.f.create_dataset(
            f"recordings/{j:06d}", data=data, dtype=self.dtype, chunks=(c, chunk_samples), **self.filters
        )

    def finish(self, meta: dict[str, Any], table: WindowTable | None) -> list[str]:
        if table is not None:
            for k in INT_COLUMNS:
                self.f.create_dataset(f"table/{k}", data=table.columns[k], dtype=np.int64)
            if table.target_values is not None:
                self.f.create_dataset("table/target", data=table.target_values)
        self.f.create_dataset("meta_json", data=np.frombuffer(encode_meta(meta), dtype=np.uint8))
        self.f.close()
        return [DATA_FILE]


class HDF5Store(Store):
    def __init__(self, root: Path, info: dict[str, Any]) -> None:
        super().__init__(root, info)
        self.path = root / DATA_FILE
        self._f: Any = None
        self._fd: int | None = None
        self._index: dict[str, tuple[dict[tuple[int, ...], int], np.ndarray, np.ndarray, np.ndarray]] = {}

    def _drop_handles(self) -> None:
        # After a fork the parent's h5py/fd objects must not be used (nor closed) here.
        if self._pid == os.getpid():
            if self._f is not None:
                self._f.close()
            if self._fd is not None:
                os.close(self._fd)
        self._f = None
        self._fd = None

    def _file(self) -> Any:
        if not self._check_pid() or self._f is None:
            try:
                self._f = _h5py().File(self.path, "r")
            except OSError as err:
                raise CorruptDataError(
                    f"{self.path}: cannot open as HDF5 ({err}); truncated or damaged?"
                ) from None
        return self._f

    def _raw_fd(self) -> int:
        self._file()
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def load(self) -> tuple[dict[str, Any], WindowTable | None]:
        f = self._file()
        try:
            meta = decode_meta(f["meta_json"][()].tobytes(), where=f"{self.path}:/meta_json")
            table = None
            if "table" in f:
                cols = {k: f[f"table/{k}"][()] for k in INT_COLUMNS}
                tv = f["table/target"][()] if "table/target" in f else None
                table = WindowTable.from_parts(cols, tv, meta.get("table", {}))
        except KeyError as err:
            raise CorruptDataError(f"{self.path}: missing HDF5 object ({err})") from None
        return meta, table

    def _chunk_index(
        self, name: str
    ) -> tuple[dict[tuple[int, ...], int], np.ndarray, np.ndarray, np.ndarray]:
        """Chunk coordinates -> position, and offsets/sizes/filter masks (read once per array)."""
        idx = self._index.get(name)
        if idx is None:
            dset = self._file()[name]
            found: list[tuple[tuple[int, ...], int, int, int]] = []
            dset.id.chunk_iter(
                lambda ci: found.append((ci.chunk_offset, ci.byte_offset, ci.size, ci.filter_mask))
            )
            pos = {c[0]: i for i, c in enumerate(found)}
            idx = (
                pos,
                np.array([c[1] for c in found], dtype=np.int64),
                np.array([c[2] for c in found], dtype=np.int64),
                np.array([c[3] for c in found], dtype=np.int64),
            )
            self._index[name] = idx
        return idx

    def _read_chunk(self, name: str, coord: tuple[int, ...], out: np.ndarray) -> np.ndarray:
        if self.compression == "lzf":  # no standalone decoder: h5py does it
            dset = self._file()[name]
            if len(coord) == 3:
                out[...] = dset[coord[0]]
            else:
                part = dset[:, coord[1] : coord[1] + out.shape[1]]
                out[:, : part.shape[1]] = part
            return out
        pos, offs, sizes, masks = self._chunk_index(name)
        p = pos.get(coord)
        if p is None:  # every chunk is written: a missing one means a damaged file
            raise CorruptDataError(f"{self.path}:/{name}: chunk {coord} is not allocated (damaged file?)")
        where = f"{self.path}:/{name} chunk {coord}"
        if self.compression == "none" and not masks[p] and sizes[p] == out.nbytes:
            # Uncompressed: read straight into the output (one copy from the page cache).
            buf: Any = out.reshape(-1).view(np.uint8)
            got = os.preadv(self._raw_fd(), [buf], int(offs[p]))
            if got != out.nbytes:
                raise CorruptDataError(f"{where}: read {got} of {out.nbytes} bytes; the file is truncated")
            return out
        raw = os.pread(self._raw_fd(), int(sizes[p]), int(offs[p]))
        if len(raw) != sizes[p]:
            raise CorruptDataError(f"{where}: read {len(raw)} of {sizes[p]} bytes; the file is truncated")
        decode_into("none" if masks[p] else self.compression, raw, out, where=where)
        return out

    def read_window(self, i: int, c: int, t: int) -> np.ndarray:
        self._check_pid()
        return self._read_chunk("windows", (i, 0, 0), np.empty((c, t), dtype=self.dtype))

    def read_chunk(self, j: int, k: int, c: int, tc: int) -> np.ndarray:
        self._check_pid()
        return self._read_chunk(f"recordings/{j:06d}", (0, k * tc), np.empty((c, tc), dtype=self.dtype))
