"""``nb_formats.convert``: any nb-formats artifact to another layout, streaming.

Recordings are read and written one at a time; materialized windows travel in
blocks; the window table and all metadata are carried over unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from nb_core.manifest import Manifest
from nb_core.schema import Recording, Window
from nb_formats._store import Signals
from nb_formats.dataset import LazyDataset
from nb_formats.inputs import BLOCK_WINDOWS, Part, Source

__all__ = ["convert", "dataset_source"]


def _recording_part(ds: LazyDataset, j: int) -> Part:
    """Recording ``j`` of ``ds`` with its signals read block by block (metadata only when not stored)."""
    meta = ds._rec_meta[j]
    rec = Recording.from_dict(meta, data=None, path=f"{ds.path}:recordings[{j}]")
    if not ds._chunks[j]:
        return Part(recording=rec)
    return Part(
        recording=rec,
        signals=Signals(
            lambda a, b: ds._recording_slice(j, a, b), len(meta["channels"]), int(meta["n_times"])
        ),
    )


def dataset_source(ds: LazyDataset) -> Source:
    """A :class:`~nb_formats.inputs.Source` that streams an opened artifact (as stored)."""
    info = ds.info
    table = ds.table
    ids = ds.recording_ids
    materialized = bool(info.get("materialized"))

    def rows(a: int, b: int) -> list[Window]:
        assert table is not None
        return [
            table.window(i, ids[ri] if (ri := int(table.columns["recording_index"][i])) >= 0 else "")
            for i in range(a, b)
        ]

    def parts() -> Iterator[Part]:
        for j in range(ds.n_recordings):
            yield _recording_part(ds, j)
        if table is None:
            return
        n = len(table)
        if not materialized:
            yield Part(windows=rows(0, n))
            return
        for s in range(0, n, BLOCK_WINDOWS):
            e = min(n, s + BLOCK_WINDOWS)
            block = np.stack([ds._read(i) for i in range(s, e)])  # damaged bytes: CorruptDataError
            yield Part(windows=rows(s, e), block=block)

    spec = next(iter(ds.manifest.modalities.values()), None)
    sizes = set() if table is None else set((table.columns["stop"] - table.columns["start"]).tolist())
    return Source(
        kind=info["kind"],
        materialized=materialized,
        parts=parts(),
        n_windows=None if table is None else len(table),
        window_shape=tuple(info["window_shape"]) if info.get("window_shape") else None,
        sfreq=spec.sfreq if spec else None,
        ch_names=spec.ch_names if spec else None,
        window_size=sizes.pop() if len(sizes) == 1 else None,
        description=f"converted from {ds.manifest.layout} ({ds.manifest.provenance.get('input', '?')})",
    )


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    format: str,
    compression: str | None = None,
    overwrite: bool = False,
    dtype: Any = None,
    zip_store: bool = False,
    chunk_samples: int | None = None,
    verify: bool = False,
    show_progress: bool | None = None,
    resume: bool = False,
) -> Manifest:
    """Convert an artifact to another layout (or compression), one recording at a time.

    Args:
        src: an artifact written by :func:`nb_formats.write`.
        dst: the new artifact directory.
        format (`str`): ``"hdf5"``, ``"zarr"`` or ``"parquet"``.
        compression, zip_store, chunk_samples, overwrite, resume: as in :func:`nb_formats.write`
            (``resume=True`` re-reads the source but keeps the pieces an interrupted convert finished).
        dtype (*optional*): defaults to the stored dtype.
        verify (`bool`, *optional*, defaults to `False`): check ``src``'s checksums first.

    Returns:
        `nb_core.Manifest`: the manifest of the new artifact at ``dst``.

    Raises:
        ChecksumMismatchError: with ``verify=True``, ``src`` is damaged.
        OutputExistsError: ``dst`` exists and ``overwrite`` is `False`.

    Example:
        >>> import tempfile, nb_formats
        >>> from nb_core.testing import simulate_windows
        >>> d = tempfile.mkdtemp()
        >>> a = nb_formats.write(simulate_windows(1, duration=2.0), d + "/a", format="hdf5")
        >>> b = nb_formats.convert(d + "/a", d + "/b", format="parquet")
        >>> b.layout, b.n_samples == a.n_samples
        ('parquet', True)
        >>> len(nb_formats.open(d + "/b"))
        2
    """
    from nb_core.atomic import check_output
    from nb_formats.writer import write

    check_output(dst, overwrite=overwrite)  # fail before reading anything
    ds = LazyDataset(src, verify=verify)
    try:
        return write(
            dataset_source(ds),
            dst,
            format=format,
            compression=compression,
            overwrite=overwrite,
            dtype=dtype or ds.info["dtype"],
            allow_nonfinite=True,  # carried as stored; the source write already decided
            chunk_samples=chunk_samples,
            zip_store=zip_store,
            name=ds.manifest.name,
            description=ds.manifest.description,
            license=ds.manifest.license,
            show_progress=show_progress,
            resume=resume,
        )
    finally:
        ds.close()
