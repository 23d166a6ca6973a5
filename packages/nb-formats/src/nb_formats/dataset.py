"""``nb_formats.open``: a lazy, map-style dataset over an artifact of any layout.

Opening reads the manifest, the metadata blob and the window table (metadata
only); ``ds[i]`` reads one window (one chunk when windows are chunk-aligned);
``ds.recording(j)`` reads one recording. File handles are opened on first use
in each process and never shared across ``fork``; pickling a dataset (for
``spawn`` DataLoader workers) keeps only its path and options.

Items:

- a windowed artifact: one item per stored window, ``y`` its target;
- ``window_size``/``stride`` given: the recordings are windowed now, without
  rewriting anything (the stored windows are not used). ``y`` is an ``int`` so
  that ``torch.utils.data.default_collate`` batches it: ``-1`` ("no target") by
  default; with ``target_from="annotations"``, the index in ``ds.classes`` of
  the description of the annotation that contains the window's first sample
  (the one with the latest onset when several do; ``-1`` when none does);
- a continuous artifact without ``window_size``: one item per whole recording
  (``y`` is `None`; recordings differ in length and are not batched anyway).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.errors import CorruptDataError, NBError, UserError
from nb_core.manifest import Manifest
from nb_core.schema import Recording, Sample, Target, Window, annotation_spans, window_starts
from nb_core.validation import check_index, safe_key
from nb_formats._store import DAMAGE_ERRORS, DEFAULT_CACHE_BYTES, ChunkCache, Store
from nb_formats.table import WindowTable

__all__ = ["NO_TARGET", "LazyDataset", "check_layout", "open"]

#: Target of an open-time window that has none (an int, so that ``default_collate`` batches it).
NO_TARGET = -1
#: Values of ``target_from``.
TARGET_SOURCES = ("annotations",)


def _store_class(layout: str) -> type[Store]:
    if layout == "hdf5":
        from nb_formats.hdf5 import HDF5Store

        return HDF5Store
    if layout == "zarr":
        from nb_formats.zarr_layout import ZarrStore

        return ZarrStore
    if layout == "parquet":
        from nb_formats.parquet import ParquetStore

        return ParquetStore
    raise CorruptDataError(f"layout {layout!r} is not an nb-formats layout (hdf5, zarr, parquet)")


class LazyDataset:
    """A map-style dataset over an nb-formats artifact (see :func:`open`).

    Example:
        >>> import tempfile, nb_formats
        >>> from nb_core.testing import simulate_recordings
        >>> out = tempfile.mkdtemp() + "/ds"
        >>> _ = nb_formats.write(simulate_recordings(1, n_channels=4, duration=2.0), out)
        >>> ds = nb_formats.LazyDataset(out, window_size=100)  # what nb_formats.open returns
        >>> x, y = ds[0]
        >>> len(ds), x.shape
        (5, (4, 100))
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        window_size: int | None = None,
        stride: int | None = None,
        verify: bool = False,
        cache_chunks: int | None = None,
        target_from: str | None = None,
    ) -> None:
        self.path = Path(path)
        self._args = {
            "window_size": window_size,
            "stride": stride,
            "cache_chunks": cache_chunks,
            "target_from": target_from,
        }
        if target_from is not None and target_from not in TARGET_SOURCES:
            raise UserError(
                f"target_from must be one of {', '.join(TARGET_SOURCES)} or None; got {target_from!r}"
            )
        if target_from is not None and window_size is None:
            raise UserError("target_from labels open-time windows: it needs window_size")
        #: Class names of open-time targets (``ds.classes[y]``); empty without ``target_from``.
        self.classes: list[str] = []
        from nb_formats.verify import check_complete

        check_complete(self.path.parent if self.path.is_file() else self.path)
        self.manifest = Manifest.read(self.path)
        self.root = self.path if self.path.is_dir() else self.path.parent
        check_layout(self.manifest, self.root)
        if verify:
            self.manifest.verify(self.root)
        self.info: dict[str, Any] = dict(self.manifest.extra["nb_formats"])
        self._store = _store_class(self.manifest.layout)(self.root, self.info)
        try:
            meta, table = self._store.load()
        except NBError:
            raise
        except DAMAGE_ERRORS as err:  # zstd/h5py/numcodecs/pyarrow on damaged bytes
            raise CorruptDataError(
                f"{self.root}: cannot read the artifact's metadata or window table "
                f"({type(err).__name__}: {err}); the files are damaged (run `nb formats verify`)"
            ) from None
        finally:
            self._store.close()
        self._rec_meta, self._chunks = _check_meta(meta, self.root)
        self.table: WindowTable | None = table
        if table is not None:
            _check_table(table, self._rec_meta, self._chunks, self.info, self.root)
        n_stored = len(table) if table is not None else len(self._rec_meta)
        if sum(self.manifest.splits.values()) != n_stored:
            raise CorruptDataError(
                f"{self.root}/nb-manifest.json: splits count {sum(self.manifest.splits.values())} items, "
                f"the data holds {n_stored}; the manifest does not match the files"
            )
        if cache_chunks is None:
            # Uncompressed chunks are slices of a memory map: copying them out is as fast as a
            # cache, and a cache of cold chunks is slower (measured); compressed chunks are cached.
            mapped = self.info["compression"] == "none" or self.manifest.layout == "parquet"
            self._cache = None if mapped else ChunkCache(None, max_bytes=DEFAULT_CACHE_BYTES)
        else:
            self._cache = ChunkCache(cache_chunks) if cache_chunks else None
        self._materialized = bool(self.info.get("materialized"))
        self._wshape = self.info.get("window_shape")
        self._build_index(window_size, stride)

    # -- index ------------------------------------------------------------------------------------
    def _build_index(self, window_size: int | None, stride: int | None) -> None:
        if stride is not None and window_size is None:
            raise UserError("stride needs window_size")
        if window_size is not None:
            window_starts(0, window_size, stride)  # window_size and stride are positive integers
            rec, start = [], []
            for j, r in enumerate(self._rec_meta):
                if not self._chunks[j]:
                    continue
                span = window_starts(int(r["n_times"]), window_size, stride)
                s = np.arange(span.start, span.stop, span.step, dtype=np.int64)
                rec.append(np.full(len(s), j, dtype=np.int64))
                start.append(s)
            if not rec:
                raise UserError(
                    f"{self.path}: no stored recording signals to window (materialized windows only)"
                )
            self._mode = "open-windows"
            self._rec = np.concatenate(rec)
            self._start = np.concatenate(start)
            if len(self._start) == 0:
                longest = max(int(r["n_times"]) for j, r in enumerate(self._rec_meta) if self._chunks[j])
                raise UserError(
                    f"{self.path}: window_size {window_size} is longer than every recording "
                    f"(the longest has {longest} samples): no windows; use a smaller window size"
                )
            self._stop = self._start + window_size
            self._labels = np.full(len(self._start), NO_TARGET, dtype=np.int64)
            if self._args["target_from"] == "annotations":
                self._label_from_annotations()
        elif self.table is not None:
            self._mode = "materialized" if self._materialized else "windows"
            self._rec = self.table.columns["recording_index"]
            self._start = self.table.columns["start"]
            self._stop = self.table.columns["stop"]
        else:
            self._mode = "recordings"
            idx = [j for j in range(len(self._rec_meta)) if self._chunks[j]]
            self._rec = np.asarray(idx, dtype=np.int64)
            self._start = np.zeros(len(idx), dtype=np.int64)
            self._stop = np.asarray([self._rec_meta[j]["n_times"] for j in idx], dtype=np.int64)

    def _label_from_annotations(self) -> None:
        """Label each open-time window with the annotation containing its first sample."""
        spans: dict[int, list[tuple[int, int, str]]] = {}
        for j in np.unique(self._rec).tolist():
            spans[j] = annotation_spans(self._rec_meta[j])
        self.classes = sorted({d for v in spans.values() for _, _, d in v})
        code = {c: k for k, c in enumerate(self.classes)}
        for j, sp in spans.items():
            sel = np.flatnonzero(self._rec == j)
            starts = self._start[sel]
            lab = self._labels[sel]
            for a, b, d in sp:  # in onset order: a later onset overrides an earlier one
                lab[(starts >= a) & (starts < b)] = code[d]
            self._labels[sel] = lab

    # -- pickling: only the path and options travel ---------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "args": self._args}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], **state["args"])  # type: ignore[misc]

    # -- sizes ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._start)

    @property
    def n_recordings(self) -> int:
        """Number of recordings described (with or without stored signals)."""
        return len(self._rec_meta)

    @property
    def recording_ids(self) -> list[str]:
        return [r["id"] for r in self._rec_meta]

    def _check(self, i: int, n: int, what: str) -> int:
        return check_index(i, n, what=what, where=str(self.path))

    # -- reading ----------------------------------------------------------------------------------
    def read(self, i: int) -> np.ndarray:
        """The signals of item ``i`` (C×T, a new array in the stored dtype)."""
        return self._read(self._check(i, len(self), "item"))

    def _read(self, i: int) -> np.ndarray:
        try:
            return self._read_unchecked(i)
        except NBError:
            raise
        except DAMAGE_ERRORS as err:  # h5py/zarr/numcodecs on damaged bytes
            raise CorruptDataError(
                f"{self.root}: cannot read item {i} ({type(err).__name__}: {err}); the files are damaged "
                "(run `nb formats verify`)"
            ) from None

    def _read_unchecked(self, i: int) -> np.ndarray:
        if self._mode == "materialized":
            c, t = self._wshape or (0, 0)
            return self._store.read_window(i, c, t)
        j = int(self._rec[i])
        c = len(self._rec_meta[j]["channels"])
        return self._store.read_slice(
            j, int(self._start[i]), int(self._stop[i]), c, self._chunks[j], self._cache
        )

    def target(self, i: int) -> Target:
        """The target of item ``i``: the stored target; for open-time windows an ``int`` (index into
        ``ds.classes``, or ``-1`` for none, see :func:`open`); `None` for whole recordings."""
        return self._target(self._check(i, len(self), "item"))

    def _target(self, i: int) -> Target:
        if self._mode in ("windows", "materialized") and self.table is not None:
            return self.table.target(i)
        if self._mode == "open-windows":
            return int(self._labels[i])
        return None

    def __getitem__(self, i: int) -> tuple[np.ndarray, Target]:
        k = self._check(i, len(self), "item")
        return self._read(k), self._target(k)

    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield self[i]

    def window(self, i: int) -> Window:
        """Item ``i`` as an :class:`nb_core.Window` (its recording id, span, target and braindecode fields)."""
        i = self._check(i, len(self), "item")
        j = int(self._rec[i])
        rid = self._rec_meta[j]["id"] if j >= 0 else ""
        if self._mode in ("windows", "materialized") and self.table is not None:
            return self.table.window(i, rid)
        start, stop = int(self._start[i]), int(self._stop[i])
        # Items of one recording are contiguous in these modes: the first one is found by bisection.
        n_prev = i - int(np.searchsorted(self._rec, j, side="left"))
        target: Target = None
        if self._mode == "open-windows" and self._labels[i] >= 0:
            target = self.classes[int(self._labels[i])]  # the label itself (``ds[i]`` gives its index)
        return Window(rid, start, stop, target=target, i_window_in_trial=n_prev)

    def sample(self, i: int) -> Sample:
        """Item ``i`` as a full :class:`nb_core.Sample`: signals under the modality name, metadata with
        the window, target, recording id, BIDS entities, sampling rate and channel names."""
        i = self._check(i, len(self), "item")
        w = self.window(i)
        j = int(self._rec[i])
        rm = self._rec_meta[j] if j >= 0 else {}
        md: dict[str, Any] = w.to_dict()
        md["recording_index"] = j
        md["entities"] = dict(rm.get("entities", {}))
        spec = self.manifest.modalities.get(self.info.get("modality", "eeg"))
        md["sfreq"] = rm.get("sfreq", spec.sfreq if spec else None)
        md["ch_names"] = [c["name"] for c in rm["channels"]] if rm else (spec.ch_names if spec else None)
        base = safe_key(w.recording_id, replacement="-", default="item")
        key = f"{base}_{i:06d}"
        return Sample(key=key, arrays={self.info.get("modality", "eeg"): self.read(i)}, metadata=md)

    def recording(self, j: int) -> Recording:
        """Recording ``j`` with its signals read (metadata only if its signals were not stored).

        ``.to_mne()`` gives back the MNE Raw (float32 tolerance when stored as float32).
        """
        j = self._check(j, len(self._rec_meta), "recording")
        meta = self._rec_meta[j]
        data = self._recording_slice(j, 0, int(meta["n_times"])) if self._chunks[j] else None
        return Recording.from_dict(meta, data=data, path=f"{self.path}:recordings[{j}]")

    def _recording_slice(self, j: int, a: int, b: int) -> np.ndarray:
        """Samples ``[a, b)`` of stored recording ``j`` (damaged bytes: ``CorruptDataError``)."""
        c = len(self._rec_meta[j]["channels"])
        try:
            return self._store.read_slice(j, a, b, c, self._chunks[j], None)
        except NBError:
            raise
        except DAMAGE_ERRORS as err:
            raise CorruptDataError(
                f"{self.root}: cannot read recording {j} ({type(err).__name__}: {err}); the files are "
                "damaged (run `nb formats verify`)"
            ) from None

    def close(self) -> None:
        """Close file handles of this process (they reopen on the next read)."""
        self._store.close()

    def __enter__(self) -> LazyDataset:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"LazyDataset({str(self.path)!r}, layout={self.manifest.layout}, items={len(self)}, "
            f"mode={self._mode}, recordings={self.n_recordings})"
        )


def open(
    path: str | os.PathLike[str],
    *,
    window_size: int | None = None,
    stride: int | None = None,
    verify: bool = False,
    cache_chunks: int | None = None,
    target_from: str | None = None,
) -> LazyDataset:
    """Open an nb-formats artifact lazily.

    Args:
        path (`str` or `os.PathLike`): the artifact directory (or its manifest).
        window_size (`int`, *optional*): window the stored recordings now, in samples.
        stride (`int`, *optional*): samples between window starts (defaults to ``window_size``).
        verify (`bool`, *optional*, defaults to `False`): check size and sha256 of every file first.
        cache_chunks (`int`, *optional*): decoded chunks kept (per process) for windows that overlap
            or straddle chunk edges; by default, for compressed layouts, as many as fit in 64 MiB
            (:data:`DEFAULT_CACHE_BYTES`), none for uncompressed ones (read from a memory map);
            `0` disables.
        target_from (`str`, *optional*): with ``window_size``, ``"annotations"`` labels each window
            with the annotation that contains its first sample: ``y`` is the index of its description
            in ``ds.classes`` (sorted descriptions of all annotations), ``-1`` when none contains it.
            Without it, open-time windows have ``y = -1``. ``y`` is always an ``int``, so PyTorch's
            ``default_collate`` batches it.

    Returns:
        `LazyDataset`: ``len(ds)``, ``ds[i] -> (x, y)``, ``ds.sample(i)``, ``ds.recording(j)``,
        ``ds.manifest``.

    Raises:
        ManifestNotFoundError: ``path`` is not an artifact.
        ChecksumMismatchError: with ``verify=True``, a file is missing, truncated or changed (named).
        CorruptDataError: a data file cannot be read, the manifest does not match the files, or the
            window table points outside the recordings.
        UserError: bad options, or window options that give no item.

    Example:
        >>> import tempfile, nb_formats
        >>> from nb_core.testing import simulate_recordings
        >>> out = tempfile.mkdtemp() + "/ds"
        >>> _ = nb_formats.write(simulate_recordings(2, n_channels=4, duration=2.0), out, format="zarr")
        >>> ds = nb_formats.open(out, window_size=100)
        >>> len(ds), ds[0][0].shape
        (10, (4, 100))
    """
    return LazyDataset(
        path,
        window_size=window_size,
        stride=stride,
        verify=verify,
        cache_chunks=cache_chunks,
        target_from=target_from,
    )


#: Data files each layout must list in its manifest (a Zarr directory store: its root ``zarr.json``).
_LAYOUT_FILES = {"hdf5": "data.h5", "parquet": "meta.json"}


def check_layout(manifest: Manifest, root: Path) -> dict[str, Any]:
    """Check that ``manifest`` describes an nb-formats artifact whose files match its layout.

    Cheap (no file is read): the layout is one of nb-formats', ``extra["nb_formats"]`` has a known
    ``format_version``, dtype, kind and compression, and ``files`` lists the layout's data file(s).

    Returns:
        `dict`: ``extra["nb_formats"]``.

    Raises:
        CorruptDataError: any of the above does not hold (what and where are named).

    Example:
        >>> import tempfile, nb_formats
        >>> from nb_core.manifest import Manifest
        >>> from nb_core.testing import simulate_recordings
        >>> out = tempfile.mkdtemp() + "/ds"
        >>> manifest = nb_formats.write(simulate_recordings(1, duration=1.0), out)
        >>> check_layout(manifest, out)["kind"]
        'continuous'
    """
    from nb_formats.codecs import COMPRESSIONS

    where = f"{root}/nb-manifest.json"
    layout = manifest.layout
    info = manifest.extra.get("nb_formats")
    if layout not in COMPRESSIONS or not isinstance(info, dict):
        raise CorruptDataError(
            f"{where}: a {layout!r} artifact not written by nb-formats (layouts hdf5, zarr, parquet with "
            "extra.nb_formats); open it with the package that wrote it"
        )
    version = info.get("format_version")
    if version != 1:
        raise CorruptDataError(
            f"{where}: extra.nb_formats.format_version is {version!r}; this nb-formats reads version 1 "
            "(upgrade nb-formats if the artifact is newer)"
        )
    _check_info_fields(info, COMPRESSIONS[layout], where)
    _check_layout_files(manifest, info, where)
    return info


def _check_info_fields(info: dict[str, Any], compressions: tuple[str, ...], where: str) -> None:
    """``extra["nb_formats"]``: dtype, kind, compression, window shape, flags and modality."""
    checks = {
        "dtype": ("float32", "float64"),
        "kind": ("continuous", "windowed"),
        "compression": compressions,
    }
    for key, allowed in checks.items():
        if info.get(key) not in allowed:
            raise CorruptDataError(
                f"{where}: extra.nb_formats.{key} is {info.get(key)!r}; expected one of {', '.join(allowed)}"
            )
    shape = info.get("window_shape")
    if shape is not None and not (
        isinstance(shape, list)
        and len(shape) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
    ):
        raise CorruptDataError(
            f"{where}: extra.nb_formats.window_shape is {shape!r}; expected [C, T] or null"
        )
    for key in ("materialized", "zip_store"):
        if not isinstance(info.get(key, False), bool):
            raise CorruptDataError(
                f"{where}: extra.nb_formats.{key} is {info.get(key)!r}; expected true or false"
            )
    if info.get("materialized") and shape is None:
        raise CorruptDataError(f"{where}: materialized windows without extra.nb_formats.window_shape")
    if not isinstance(info.get("modality", "eeg"), str):
        raise CorruptDataError(
            f"{where}: extra.nb_formats.modality is {info.get('modality')!r}; expected a name"
        )


def _check_layout_files(manifest: Manifest, info: dict[str, Any], where: str) -> None:
    """The manifest lists the layout's data file."""
    layout = manifest.layout
    listed = {f.path for f in manifest.files}
    if layout == "zarr":
        need = "data.zarr.zip" if info.get("zip_store") else "data.zarr/zarr.json"
    else:
        need = _LAYOUT_FILES[layout]
    if need not in listed:
        raise CorruptDataError(
            f"{where}: the manifest of a {layout} artifact does not list {need!r} (it lists "
            f"{len(listed)} file(s)); the manifest does not match the layout's files"
        )


def _check_meta(meta: dict[str, Any], root: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The recordings and chunk sizes of the metadata blob, with their types checked."""
    recs = meta.get("recordings")
    chunks = meta.get("chunks")
    where = f"{root}: metadata"
    if not isinstance(recs, list) or not all(isinstance(r, dict) for r in recs):
        raise CorruptDataError(f"{where}: 'recordings' is not a list of objects")
    if chunks is None:
        chunks = [0] * len(recs)
    if (
        not isinstance(chunks, list)
        or len(chunks) != len(recs)
        or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in chunks)
    ):
        raise CorruptDataError(f"{where}: 'chunks' is not one non-negative integer per recording")
    for j, r in enumerate(recs):
        n, ch, sf = r.get("n_times"), r.get("channels"), r.get("sfreq")
        if (
            not isinstance(n, int)
            or isinstance(n, bool)
            or n < 0
            or not isinstance(ch, list)
            or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in ch)
            or not isinstance(sf, (int, float))
            or isinstance(sf, bool)
            or not sf > 0
            or not isinstance(r.get("id"), str)
        ):
            raise CorruptDataError(
                f"{where}: recordings[{j}] lacks a valid id, n_times, sfreq or channel list"
            )
        if chunks[j] and (n == 0 or not ch):
            raise CorruptDataError(f"{where}: recordings[{j}] has stored signals but no samples or channels")
    return recs, chunks


def _check_table(
    table: WindowTable, recs: list[dict[str, Any]], chunks: list[int], info: dict[str, Any], root: Path
) -> None:
    """Vectorised checks that every window points inside a stored recording (or is materialized)."""
    ri = table.columns["recording_index"]
    start, stop = table.columns["start"], table.columns["stop"]
    n_rec = len(recs)
    materialized = bool(info.get("materialized"))
    where = f"{root}: window table"

    def fail(mask: np.ndarray, what: str) -> None:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise CorruptDataError(
                f"{where}: window {i} (recording_index {int(ri[i])}, span [{int(start[i])}, {int(stop[i])})) "
                f"{what}; {int(mask.sum())} window(s) are affected; the artifact is damaged"
            )

    fail((ri < (-1 if materialized else 0)) | (ri >= n_rec), f"points to no recording (there are {n_rec})")
    fail((start < 0) | (stop <= start), "has an empty or negative span")
    n_times = np.asarray([int(r["n_times"]) for r in recs] + [0], dtype=np.int64)
    stored = np.asarray([c > 0 for c in chunks] + [False], dtype=bool)
    idx = np.where(ri < 0, n_rec, ri)  # -1 maps to the sentinel (no recording)
    if not materialized:
        fail(~stored[idx], "points to a recording without stored signals")
    fail(stored[idx] & (stop > n_times[idx]), "runs past the end of its recording")
