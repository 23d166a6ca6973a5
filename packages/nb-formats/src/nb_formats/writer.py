"""``nb_formats.write``: any accepted input to an artifact directory in one of three layouts.

The artifact is written in a temporary sibling directory and renamed into
place at the end (``nb_core.atomic.atomic_path``), with ``nb-manifest.json``
(sha256 of every data file) written last, so a failed write leaves nothing
behind and never touches an existing artifact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.atomic import atomic_path, check_output, clean_temporaries, remove_path
from nb_core.errors import IncompatibleDataError, NonFiniteDataError, UserError
from nb_core.manifest import Manifest, ModalitySpec, RecordingEntry
from nb_core.mne_adapter import modality_of
from nb_core.progress import progress
from nb_core.schema import Recording, Window
from nb_core.validation import check_finite_array, check_option
from nb_formats._store import Signals, Sink
from nb_formats.codecs import resolve_compression
from nb_formats.inputs import Source, as_source
from nb_formats.resume import ResumeLedger, resume_dir
from nb_formats.table import INT_COLUMNS, TableBuilder, WindowTable
from nb_formats.verify import stale_temporaries

__all__ = ["DEFAULT_CHUNK_SAMPLES", "FORMATS", "write"]

#: Layouts :func:`write` can produce.
FORMATS = ("hdf5", "zarr", "parquet")
#: Time chunk of continuous recordings when no window size suggests one.
DEFAULT_CHUNK_SAMPLES = 1000


def _sink_class(fmt: str) -> type[Sink]:
    if fmt == "hdf5":
        from nb_formats.hdf5 import HDF5Sink

        return HDF5Sink
    if fmt == "zarr":
        from nb_formats.zarr_layout import ZarrSink

        return ZarrSink
    from nb_formats.parquet import ParquetSink

    return ParquetSink


def write(
    data: Any,
    path: str | os.PathLike[str],
    *,
    format: str = "hdf5",
    compression: str | None = None,
    overwrite: bool = False,
    dtype: Any = "float32",
    allow_nonfinite: bool = False,
    chunk_samples: int | None = None,
    zip_store: bool = False,
    name: str | None = None,
    sfreq: float | None = None,
    ch_names: list[str] | None = None,
    description: str | None = None,
    license: str | None = None,
    show_progress: bool | None = None,
    fsync: bool = True,
    resume: bool = False,
) -> Manifest:
    """Write EEG/MEG recordings or windows to an artifact directory.

    Args:
        data: an MNE Raw or a list of Raws; a list of `nb_core.Recording`; ``(recordings, windows)``;
            a braindecode-style windows dataset; or ``(X, y[, metadata])`` arrays. See
            :mod:`nb_formats.inputs` for details. Iterables are consumed one recording at a time.
        path (`str` or `os.PathLike`): the artifact directory to create.
        format (`str`, *optional*, defaults to ``"hdf5"``): ``"hdf5"``, ``"zarr"`` or ``"parquet"``.
        compression (`str`, *optional*): see :mod:`nb_formats.codecs`; defaults to ``"blosc-lz4"``
            (HDF5, Zarr) and ``"zstd"`` (Parquet tables; signals are uncompressed ``.npy``).
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing ``path``.
        dtype (*optional*, defaults to ``"float32"``): stored signal type, ``"float32"`` or ``"float64"``
            (float64 keeps MNE data exactly).
        allow_nonfinite (`bool`, *optional*, defaults to `False`): keep NaN/Inf in signals.
        chunk_samples (`int`, *optional*): time chunk of continuous recordings; defaults to the window
            size of a windowed dataset, else 1000 samples.
        zip_store (`bool`, *optional*, defaults to `False`): Zarr only: one ``data.zarr.zip`` instead of a
            directory store.
        name (`str`, *optional*): dataset name for the manifest (defaults to the directory name).
        sfreq, ch_names (*optional*): sampling rate and channel names for bare arrays.
        description, license (`str`, *optional*): copied into the manifest.
        show_progress (`bool`, *optional*): show a progress bar (default: when on a terminal).
        fsync (`bool`, *optional*, defaults to `True`): flush every file to disk before the final
            rename (durable; costs one fsync per file, which dominates Zarr directory stores).
        resume (`bool`, *optional*, defaults to `False`): NumPy+Parquet layout and Zarr directory
            stores: write in ``.nb-tmp-resume-<name>`` beside ``path`` and keep it if the write fails;
            a re-run with ``resume=True`` and the same options keeps the pieces finished before
            (recordings, shards of windows) and gives the same artifact as an uninterrupted write
            (see :mod:`nb_formats.resume`). HDF5 files and Zarr zip stores are written in one go.

    Returns:
        `nb_core.Manifest`: the manifest of the written artifact (as :func:`nb_core.Manifest.read`
        would read it back from ``path``): layout, sizes and sha256 of every file, counts.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is `False` (nothing is written).
        NonFiniteDataError: NaN/Inf in a recording (named with its channel) or a window block.
        IncompatibleDataError: empty recordings, windows outside their recording, differing channel
            sets or sampling rates in a windowed dataset.
        UnsupportedFormatError: unknown input kind or compression.
        UserError: ``resume=True`` with HDF5 or a zip store, or with options other than those of
            the interrupted write.

    Example:
        >>> import tempfile, nb_formats
        >>> from nb_core.testing import simulate_windows
        >>> out = tempfile.mkdtemp() + "/ds"
        >>> m = nb_formats.write(simulate_windows(n_recordings=1, duration=4.0), out, format="hdf5")
        >>> m.layout, m.n_samples
        ('hdf5', 4)
        >>> len(nb_formats.open(out))
        4
    """
    comp, dt = _check_options(format, compression, dtype, zip_store, chunk_samples, resume)
    final = Path(path)
    check_output(final, overwrite=overwrite)
    source = as_source(data, sfreq=sfreq, ch_names=ch_names)
    for stale in stale_temporaries(final):  # left by an interrupted (killed) write of the same path
        remove_path(stale)

    def write_into(root: Path, ledger: ResumeLedger | None) -> Manifest:
        sink = _sink_class(format)(root, compression=comp, dtype=dt, zip_store=zip_store, ledger=ledger)
        meta, table, facts = _stream(source, sink, dt, allow_nonfinite, chunk_samples, show_progress)
        files = sink.finish(meta, table)
        manifest = _manifest(
            name or final.name, format, comp, dt, zip_store, source, meta, table, facts, description, license
        )
        for rel in files:
            manifest.add_file(root, rel)
        if ledger is not None:
            ledger.close()
        manifest.write(root)
        return manifest

    if not resume:
        with atomic_path(final, overwrite=overwrite, fsync=fsync) as tmp:
            tmp.mkdir()
            written = write_into(tmp, None)
        return written
    work = resume_dir(final)
    options = {
        "format": format,
        "compression": comp,
        "dtype": dt.name,
        "chunk_samples": chunk_samples,
        "allow_nonfinite": allow_nonfinite,
        "format_version": 1,
    }
    ledger = ResumeLedger.open(work, options, fsync=fsync)
    clean_temporaries(work)  # half-written manifests / ledgers of the interrupted run
    written = write_into(work, ledger)  # on error, the work stays
    with atomic_path(final, overwrite=overwrite, fsync=fsync) as tmp:
        os.replace(work, tmp)
    return written


def _check_options(
    format: str,
    compression: str | None,
    dtype: Any,
    zip_store: bool,
    chunk_samples: int | None,
    resume: bool,
) -> tuple[str, np.dtype[Any]]:
    """Check the options of :func:`write`; return the compression and dtype they resolve to."""
    check_option(format, FORMATS, name="format")
    comp = resolve_compression(format, compression)
    dt = np.dtype(dtype)
    if dt not in (np.dtype("float32"), np.dtype("float64")):
        raise UserError(f"dtype must be float32 or float64; got {dt}")
    if zip_store and format != "zarr":
        raise UserError("zip_store=True applies to format='zarr' only")
    if chunk_samples is not None and chunk_samples < 1:
        raise UserError(f"chunk_samples must be >= 1; got {chunk_samples}")
    if resume and (format == "hdf5" or zip_store):
        raise UserError("resume=True needs format='parquet' or a Zarr directory store (zip_store=False)")
    return comp, dt


def _stream(
    source: Source,
    sink: Sink,
    dt: np.dtype[Any],
    allow_nonfinite: bool,
    chunk_samples: int | None,
    show_progress: bool | None,
) -> tuple[dict[str, Any], WindowTable | None, dict[str, Any]]:
    """Feed every part of ``source`` to ``sink``; return the metadata, the window table and facts."""
    st = _Streamer(source, sink, dt, allow_nonfinite, chunk_samples)
    for part in progress(source.parts, desc="nb-formats write", unit="part", show_progress=show_progress):
        if part.recording is not None:
            st.recording(part.recording, part.signals)
        for w in part.windows:
            st.window(w)
        if part.block is not None:
            st.block(part.block, len(part.windows))
    return st.finish()


class _Streamer:
    """The state of one write: recordings so far, the window table being built, the block position."""

    def __init__(
        self,
        source: Source,
        sink: Sink,
        dt: np.dtype[Any],
        allow_nonfinite: bool,
        chunk_samples: int | None,
    ) -> None:
        self.source, self.sink, self.dt = source, sink, dt
        self.allow_nonfinite, self.chunk_samples = allow_nonfinite, chunk_samples
        self.recs: list[dict[str, Any]] = []
        self.chunks: list[int] = []
        self.index: dict[str, int] = {}
        self.builder = TableBuilder()
        self.ref: tuple[str, list[str], float] | None = None
        self.pos = 0
        self.started = False
        self.shape: tuple[int, int] | None = None

    def recording(self, rec: Recording, sig: Signals | None) -> None:
        j = len(self.recs)
        if rec.id in self.index:
            raise IncompatibleDataError(f"recording id {rec.id!r} appears twice; ids must be unique")
        rec.validate(allow_nonfinite=True)
        tc = 0
        if sig is None and rec.data is not None:
            sig = _in_memory(rec.data)
        if sig is not None:
            tc = self._signals(rec, sig)
        elif not self.source.materialized:
            raise IncompatibleDataError(f"recording {rec.id!r} has no data to write")
        self.chunks.append(tc)
        self.recs.append(rec.to_dict())
        self.index[rec.id] = j

    def _signals(self, rec: Recording, sig: Signals) -> int:
        """Write a recording's signals; return its time chunk."""
        if rec.n_channels == 0 or sig.n_times == 0 or sig.n_channels != rec.n_channels:
            raise IncompatibleDataError(
                f"recording {rec.id!r} is empty or inconsistent ({rec.n_channels} channels, "
                f"signals {sig.n_channels} × {sig.n_times} samples)"
            )
        sig.where = f"recording {rec.id!r}"
        if not self.allow_nonfinite:
            sig.check = _finite_check(f"recording {rec.id!r}", rec.ch_names)
        if self.source.kind == "windowed":
            self._same_montage(rec)
        size = self.chunk_samples or self.source.window_size or DEFAULT_CHUNK_SAMPLES
        tc = int(min(size, sig.n_times))
        self.sink.write_recording(len(self.recs), sig, tc)
        rec.n_times = sig.n_times
        return tc

    def _same_montage(self, rec: Recording) -> None:
        if self.ref is None:
            self.ref = (rec.id, rec.ch_names, rec.sfreq)
            return
        rid, names, sfreq = self.ref
        if rec.ch_names != names or rec.sfreq != sfreq:
            raise IncompatibleDataError(
                f"recording {rec.id!r} ({rec.n_channels} channels at {rec.sfreq} Hz) does not match "
                f"recording {rid!r} ({len(names)} channels at {sfreq} Hz): a windowed dataset "
                "needs one channel set and sampling rate (write them as continuous recordings, "
                "which may differ, and window at open time)"
            )

    def window(self, w: Window) -> None:
        where = f"window {len(self.builder)} (recording {w.recording_id!r})"
        if not w.recording_id:
            ri = -1
        elif w.recording_id in self.index:
            ri = self.index[w.recording_id]
        else:
            raise IncompatibleDataError(f"{where}: the recording is not part of the dataset")
        if w.start < 0 or w.stop <= w.start:
            raise IncompatibleDataError(f"{where}: span [{w.start}, {w.stop}) is empty or negative")
        if not self.source.materialized and w.stop > int(self.recs[ri]["n_times"]):
            raise IncompatibleDataError(
                f"{where}: span [{w.start}, {w.stop}) runs past the recording's "
                f"{self.recs[ri]['n_times']} samples"
            )
        self.builder.add(
            ri,
            w.start,
            w.stop,
            target=w.target,
            i_window_in_trial=w.i_window_in_trial,
            i_start_in_trial=w.i_start_in_trial,
            i_stop_in_trial=w.i_stop_in_trial,
            extra=w.extra,
        )

    def block(self, data: np.ndarray, n_windows: int) -> None:
        pos = self.pos
        block = np.ascontiguousarray(data, dtype=self.dt)
        if block.ndim != 3 or len(block) != n_windows:
            raise IncompatibleDataError(
                f"windows {pos}..: block of shape {block.shape} does not match {n_windows} windows"
            )
        if self.shape is None:
            self.shape = (int(block.shape[1]), int(block.shape[2]))
        shape = self.shape
        last = pos + len(block) - 1
        if block.shape[1:] != shape:
            raise IncompatibleDataError(
                f"windows {pos}..{last}: shape {block.shape[1:]} differs from {shape}; "
                "materialized windows need one channel count and window length"
            )
        if not self.allow_nonfinite:
            check_finite_array(block.transpose(1, 0, 2).reshape(shape[0], -1), what=f"windows {pos}..{last}")
        if not self.started:
            self.sink.begin_windows(int(self.source.n_windows or 0), *shape)
            self.started = True
        self.sink.write_windows(pos, block)
        self.pos += len(block)

    def finish(self) -> tuple[dict[str, Any], WindowTable | None, dict[str, Any]]:
        source = self.source
        if source.materialized and self.pos != (source.n_windows or 0):
            raise IncompatibleDataError(f"expected {source.n_windows} windows, got {self.pos}")
        table = self.builder.build() if source.kind == "windowed" else None
        if table is not None and len(table) == 0:
            raise IncompatibleDataError("the windowed dataset has no windows")
        if not self.recs and table is None:
            raise IncompatibleDataError("the input is empty: no recordings to write")
        meta = {
            "recordings": self.recs,
            "chunks": self.chunks,
            "table": {} if table is None else _table_meta(table),
        }
        return meta, table, {"window_shape": self.shape}


def _in_memory(data: np.ndarray) -> Signals:
    """:class:`Signals` over an in-memory C×T array (converted block by block, never copied whole)."""
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise IncompatibleDataError(
            f"recording signals must be 2-D (channels × times); got shape {arr.shape}"
        )
    return Signals(lambda a, b: arr[:, a:b], int(arr.shape[0]), int(arr.shape[1]))


def _finite_check(what: str, ch_names: list[str]) -> Any:
    def check(block: np.ndarray, start: int) -> None:
        finite = np.isfinite(block)
        if finite.all():
            return
        bad = np.argwhere(~finite)[0]
        name = ch_names[bad[0]] if bad[0] < len(ch_names) else str(bad[0])
        raise NonFiniteDataError(
            f"{what}: non-finite value(s) (NaN/Inf), first in channel {name!r}, sample {start + int(bad[1])}; "
            "clean the data or pass allow_nonfinite=True to keep them"
        )

    return check


def hdf5_hf_configs(
    table: WindowTable, dt: np.dtype[Any], window_shape: tuple[int, int] | None
) -> list[dict[str, Any]]:
    """Dataset-card ``configs`` with which ``datasets.load_dataset`` reads ``data.h5``'s window table.

    The ``datasets`` HDF5 builder turns every dataset of the file into a column and needs them all to
    share the first dimension; ``data.h5`` also holds recordings (C×T each) and the metadata blob, so
    the configs name their columns with ``features``: the window table through its root-level soft
    links (flat columns), and for materialized windows the ``windows`` array (N×C×T). The target is a
    ``ClassLabel`` for string (or mixed, as JSON text) targets.
    """
    feats: list[dict[str, Any]] = [{"name": k, "dtype": "int64"} for k in INT_COLUMNS]
    if table.target_kind == "int":
        feats.append({"name": "target", "dtype": "int64"})
    elif table.target_kind == "float":
        feats.append({"name": "target", "dtype": "float64"})
    elif table.target_kind in ("str", "json"):
        names = {str(k): c for k, c in enumerate(table.target_categories)}
        feats.append({"name": "target", "dtype": {"class_label": {"names": names}}})
    files = [{"split": "train", "path": "data.h5"}]
    configs: list[dict[str, Any]] = [
        {"config_name": "windows", "data_files": files, "features": feats, "default": True}
    ]
    if window_shape is not None:
        arr = {"array2_d": {"shape": [int(window_shape[0]), int(window_shape[1])], "dtype": dt.name}}
        configs.append(
            {
                "config_name": "windows_with_signals",
                "data_files": files,
                "features": [*feats, {"name": "windows", "dtype": arr}],
            }
        )
    return configs


def _table_meta(table: WindowTable) -> dict[str, Any]:
    m = table.meta()
    if m["extra"] is None:
        del m["extra"]
    return m


def _manifest(
    name: str,
    fmt: str,
    comp: str,
    dt: np.dtype[Any],
    zip_store: bool,
    source: Source,
    meta: dict[str, Any],
    table: WindowTable | None,
    facts: dict[str, Any],
    description: str | None,
    license: str | None,
) -> Manifest:
    from nb_formats import __version__

    recs = meta["recordings"]
    with_data = [r for r, c in zip(recs, meta["chunks"], strict=True) if c]
    modality, spec = _modality(with_data or recs, source, table, dt, facts["window_shape"])
    wshape = facts["window_shape"]
    info = {
        "format_version": 1,
        "kind": source.kind,
        "materialized": source.materialized,
        "dtype": dt.name,
        "compression": comp,
        "zip_store": zip_store,
        "modality": modality,
        "window_shape": list(wshape) if wshape else None,
        "chunking": "one window per chunk (1, C, T); recordings chunked (C, chunk_samples)"
        + ("; Zarr shards of up to 32 MiB (sharding_indexed)" if fmt == "zarr" else ""),
    }
    extra: dict[str, Any] = {"nb_formats": info}
    configs = _hf_configs(fmt, table, bool(recs), dt, wshape if source.materialized else None)
    if configs:
        extra["hf_configs"] = configs
    return Manifest(
        name=name,
        layout=fmt,
        writer={"package": "nb-formats", "version": __version__},
        modalities={modality: spec},
        recordings=[
            RecordingEntry(
                id=r["id"],
                entities=r.get("entities", {}),
                n_times=r["n_times"],
                sfreq=r["sfreq"],
                n_channels=len(r["channels"]),
            )
            for r in recs
        ],
        splits={"train": len(table) if table is not None else len(recs)},
        provenance={"input": source.description},
        license=license,
        description=description,
        extra=extra,
    )


def _modality(
    base: list[dict[str, Any]],
    source: Source,
    table: WindowTable | None,
    dt: np.dtype[Any],
    wshape: tuple[int, int] | None,
) -> tuple[str, ModalitySpec]:
    """The modality's name (from the channel types) and spec, from the recordings with signals."""
    names = {tuple(c["name"] for c in r["channels"]) for r in base}
    sfreqs = {r["sfreq"] for r in base}
    units = {c.get("unit", "V") for r in base for c in r["channels"]}
    types = [c.get("type", "eeg") for r in base for c in r["channels"]]
    type_sets = {tuple(c.get("type", "eeg") for c in r["channels"]) for r in base}
    unit_sets = {tuple(c.get("unit", "V") for c in r["channels"]) for r in base}
    ch_names = list(next(iter(names))) if len(names) == 1 else source.ch_names
    n_ch: int | None = len(ch_names) if ch_names is not None else None
    if table is not None:
        sizes = set((table.columns["stop"] - table.columns["start"]).tolist())
        t_len = wshape[1] if wshape else (sizes.pop() if len(sizes) == 1 else None)
        shape: list[int | None] = [wshape[0] if wshape else n_ch, t_len]
    else:
        shape = [n_ch, None]
    modality = modality_of(types) if types else "eeg"  # the channel types decide (MEG + stim is MEG)
    one_set = len(names) == 1 and len(type_sets) == 1 and len(unit_sets) == 1 and ch_names is not None
    spec = ModalitySpec(
        dtype=dt.name,
        shape=shape,
        unit=units.pop() if len(units) == 1 else None,
        sfreq=sfreqs.pop() if len(sfreqs) == 1 else source.sfreq,
        ch_names=ch_names,
        ch_types=list(next(iter(type_sets))) if one_set else None,
        units=list(next(iter(unit_sets))) if one_set else None,
    )
    return modality, spec


def _hf_configs(
    fmt: str,
    table: WindowTable | None,
    has_recordings: bool,
    dt: np.dtype[Any],
    window_shape: tuple[int, int] | None,
) -> list[dict[str, Any]]:
    """The ``datasets`` configs of the artifact (Parquet tables, HDF5 window table; none for Zarr)."""
    if fmt == "hdf5" and table is not None:
        return hdf5_hf_configs(table, dt, window_shape)
    if fmt != "parquet":
        return []
    configs: list[dict[str, Any]] = []
    if table is not None:
        configs.append(
            {"config_name": "windows", "data_files": [{"split": "train", "path": "windows.parquet"}]}
        )
    if has_recordings:
        configs.append(
            {"config_name": "recordings", "data_files": [{"split": "train", "path": "recordings.parquet"}]}
        )
    if configs:
        configs[0] = {**configs[0], "default": True}
    return configs
