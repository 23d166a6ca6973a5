"""The HDF5 layout: one file, ``data.h5``, in the artifact directory.

Inside ``data.h5``::

    /windows               float32 N×C×T, chunks (1, C, T)       (materialized windows)
    /recordings/000000     float32 C×T_j, chunks (C, chunk_samples) (continuous signals)
    /table/<column>        int64 window table columns (+ /table/target)
    /meta_json             uint8: JSON of recordings (Recording.to_dict()), chunking, target kinds
    /start, /stop, ...     soft links to /table/<column> (flat columns for the `datasets` HDF5 builder)

Compression is an HDF5 filter (gzip/lzf built in, Blosc/Zstd from hdf5plugin),
so any HDF5 reader with hdf5plugin reads the file. The fast read path does not
use h5py per item: ``data.h5`` is memory-mapped read-only once per process,
each array's chunk offsets are listed once (``chunk_iter``, metadata only),
and a chunk is one slice of the map: copied (uncompressed, no syscall per
window) or decoded with numcodecs/zlib directly into the output array.
``lzf`` has no standalone decoder and is read through h5py.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.errors import CorruptDataError
from nb_formats._store import Signals, Sink, Store, _buffer, decode_meta, encode_meta
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

    def write_recording(self, j: int, signals: Signals, chunk_samples: int) -> None:
        c, t = signals.n_channels, signals.n_times
        d = self.f.create_dataset(
            f"recordings/{j:06d}", shape=(c, t), dtype=self.dtype, chunks=(c, chunk_samples), **self.filters
        )
        for a, blk in signals.blocks(signals.block_samples(chunk_samples), self.dtype):
            d[:, a : a + blk.shape[1]] = blk

    def finish(self, meta: dict[str, Any], table: WindowTable | None) -> list[str]:
        if table is not None:
            for k in INT_COLUMNS:
                self.f.create_dataset(f"table/{k}", data=table.columns[k], dtype=np.int64)
            if table.target_values is not None:
                self.f.create_dataset("table/target", data=table.target_values)
            # Root-level soft links to the table columns: the Hugging Face `datasets` HDF5 builder
            # reads them as flat columns (see writer.hdf5_hf_configs); our reader uses /table/*.
            h5py = _h5py()
            for k in (*INT_COLUMNS, "target"):
                if f"table/{k}" in self.f:
                    self.f[k] = h5py.SoftLink(f"/table/{k}")
        self.f.create_dataset("meta_json", data=np.frombuffer(encode_meta(meta), dtype=np.uint8))
        self.f.close()
        return [DATA_FILE]


class HDF5Store(Store):
    def __init__(self, root: Path, info: dict[str, Any]) -> None:
        super().__init__(root, info)
        self.path = root / DATA_FILE
        self._f: Any = None
        self._fd: int | None = None
        self._mm: np.ndarray | None = None  # uint8 view of a read-only mmap of data.h5 (uncompressed)
        self._index: dict[str, tuple[dict[tuple[int, ...], int], list[int], list[int], list[int]]] = {}

    def _drop_handles(self) -> None:
        # After a fork the parent's h5py/fd objects must not be used (nor closed) here.
        if self._pid == os.getpid():
            if self._f is not None:
                self._f.close()
            if self._fd is not None:
                os.close(self._fd)
        self._f = None
        self._fd = None
        # The map is not closed: windows handed out are copies, and dropping the last reference
        # unmaps it (closing would fail while a NumPy view exists).
        self._mm = None

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

    def _map(self) -> np.ndarray:
        """``data.h5`` as a read-only uint8 array over an mmap (once per process)."""
        if self._mm is None:
            fd = self._raw_fd()
            try:
                self._mm = np.frombuffer(mmap.mmap(fd, 0, access=mmap.ACCESS_READ), dtype=np.uint8)
            except (ValueError, OSError) as err:
                raise CorruptDataError(f"{self.path}: cannot memory-map ({err})") from None
        return self._mm

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

    def _chunk_index(self, name: str) -> tuple[dict[tuple[int, ...], int], list[int], list[int], list[int]]:
        """Chunk coordinates -> position, and offsets/sizes/filter masks (read once per array)."""
        idx = self._index.get(name)
        if idx is None:
            dset = self._file()[name]
            found: list[tuple[tuple[int, ...], int, int, int]] = []
            dset.id.chunk_iter(
                lambda ci: found.append((ci.chunk_offset, ci.byte_offset, ci.size, ci.filter_mask))
            )
            pos = {c[0]: i for i, c in enumerate(found)}
            idx = (pos, [int(c[1]) for c in found], [int(c[2]) for c in found], [int(c[3]) for c in found])
            self._index[name] = idx
        return idx

    def _read_chunk(
        self, name: str, coord: tuple[int, ...], shape: tuple[int, int], out: np.ndarray | None = None
    ) -> np.ndarray:
        """Chunk ``coord`` of dataset ``name`` as a new array of ``shape`` (the full chunk)."""
        if self.compression == "lzf":  # no standalone decoder: h5py does it
            dset = self._file()[name]
            out = _buffer(out, shape, self.dtype)
            if len(coord) == 3:
                out[...] = dset[coord[0]]
            else:
                part = dset[:, coord[1] : coord[1] + shape[1]]
                out[:, : part.shape[1]] = part
            return out
        pos, offs, sizes, masks = self._index.get(name) or self._chunk_index(name)
        p = pos.get(coord)
        if p is None:  # every chunk is written: a missing one means a damaged file
            raise CorruptDataError(f"{self.path}:/{name}: chunk {coord} is not allocated (damaged file?)")
        off, size = offs[p], sizes[p]
        mm = self._mm if self._mm is not None else self._map()
        if off + size > len(mm):
            raise CorruptDataError(
                f"{self.path}:/{name} chunk {coord}: ends at byte {off + size} past the file's {len(mm)}; "
                "the file is truncated"
            )
        if self.compression == "none" and not masks[p]:
            # Uncompressed: one copy out of the read-only map (no syscall per window).
            nbytes = shape[0] * shape[1] * self.dtype.itemsize
            if size != nbytes:
                raise CorruptDataError(f"{self.path}:/{name} chunk {coord}: {size} bytes, expected {nbytes}")
            dst = _buffer(out, shape, self.dtype)
            np.copyto(dst, mm[off : off + size].view(self.dtype).reshape(shape))
            return dst
        out = _buffer(out, shape, self.dtype)
        decode_into(
            "none" if masks[p] else self.compression,
            mm[off : off + size],
            out,
            where=f"{self.path}:/{name} chunk {coord}",
        )
        return out

    def read_window(self, i: int, c: int, t: int) -> np.ndarray:
        self._check_pid()
        return self._read_chunk("windows", (i, 0, 0), (c, t))

    def read_chunk(self, j: int, k: int, c: int, tc: int, out: np.ndarray | None = None) -> np.ndarray:
        self._check_pid()
        return self._read_chunk(f"recordings/{j:06d}", (0, k * tc), (c, tc), out)
