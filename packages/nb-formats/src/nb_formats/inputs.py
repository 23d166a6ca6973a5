"""Turn what a user hands to :func:`nb_formats.write` into one stream of parts.

Accepted ``data`` (see :func:`as_source`):

- an MNE Raw, or a list / iterable of Raws (continuous recordings);
- a list / iterable of :class:`nb_core.Recording` (continuous recordings);
- ``(recordings, windows)``: a list of Recordings and a list of :class:`nb_core.Window`
  (exactly what :func:`nb_core.testing.simulate_windows` returns);
- a braindecode-style windows dataset, read by duck typing (braindecode itself
  is not needed): an object with ``.datasets``, a list whose items have

  * ``.raw`` (an MNE Raw) and ``.metadata`` (a pandas DataFrame with
    ``i_window_in_trial``, ``i_start_in_trial``, ``i_stop_in_trial``, ``target``;
    windows are ``raw[:, i_start_in_trial:i_stop_in_trial]``, as braindecode's
    ``EEGWindowsDataset``), or
  * ``.windows`` (MNE Epochs; metadata from ``.metadata`` or ``.windows.metadata``),
    stored as materialized windows, as braindecode's ``WindowsDataset``;

  and optionally ``.description`` (a pandas Series or dict: kept as BIDS entities);
- arrays: ``(X, y)`` or ``(X, y, metadata)`` with ``X`` of shape N×C×T (NumPy array
  or memmap), ``y`` of length N (or `None`), ``metadata`` a pandas DataFrame, a
  dict of columns or a list of dicts (braindecode window columns are used, the
  rest is kept per window).

Parts are produced one recording (or one block of windows) at a time, so a
writer never needs the whole dataset in memory.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nb_core.errors import IncompatibleDataError, SchemaError, UnsupportedFormatError
from nb_core.schema import Recording, Window
from nb_formats._store import Signals

__all__ = ["Part", "Source", "as_source"]

#: Windows per block when arrays are streamed to a writer.
BLOCK_WINDOWS = 256
_BD_COLUMNS = ("i_window_in_trial", "i_start_in_trial", "i_stop_in_trial", "target")


@dataclass
class Part:
    """A recording (with or without signals) and/or windows, with their signals when materialized."""

    recording: Recording | None = None
    windows: list[Window] = field(default_factory=list)
    block: np.ndarray | None = None
    #: The recording's signals, read block by block (else ``recording.data`` when set).
    signals: Signals | None = None


@dataclass
class Source:
    """A dataset ready to be written: what kind it is and an iterator of parts."""

    kind: str  # "continuous" or "windowed"
    materialized: bool
    parts: Iterable[Part]
    n_windows: int | None = None
    window_shape: tuple[int, int] | None = None
    sfreq: float | None = None
    ch_names: list[str] | None = None
    window_size: int | None = None
    description: str = ""


def _is_raw(obj: Any) -> bool:
    mne = sys.modules.get("mne")
    return mne is not None and isinstance(obj, mne.io.BaseRaw)


def _is_epochs(obj: Any) -> bool:
    mne = sys.modules.get("mne")
    return mne is not None and isinstance(obj, mne.BaseEpochs)


def _raw_id(raw: Any, j: int, seen: set[str]) -> str:
    from nb_core.mne_adapter import recording_id, source_path

    src = source_path(raw)  # the .mff/.ds/BTi directory of directory formats, not a file inside
    rid = recording_id(src) if src else f"recording-{j:04d}"
    if rid in seen:
        rid = f"{rid}-{j:04d}"
    seen.add(rid)
    return rid


def _raw_to_recording(raw: Any, rid: str, entities: dict[str, str] | None = None) -> Recording:
    from nb_core.mne_adapter import recording_from_mne

    return recording_from_mne(raw, id=rid, entities=entities, dtype=np.float64)


def _raw_part(raw: Any, rid: str, entities: dict[str, str] | None = None, **kw: Any) -> Part:
    """A Raw as metadata plus :class:`Signals` read lazily with ``raw.get_data(start=, stop=)``."""
    from nb_core.mne_adapter import recording_from_mne

    rec = recording_from_mne(raw, id=rid, entities=entities, load_data=False)

    def read(a: int, b: int) -> np.ndarray:
        return np.asarray(raw.get_data(start=a, stop=b, verbose="error"))

    return Part(recording=rec, signals=Signals(read, len(raw.ch_names), int(raw.n_times)), **kw)


def _continuous(items: Iterable[Any], description: str) -> Source:
    def parts() -> Iterator[Part]:
        seen: set[str] = set()
        for j, item in enumerate(items):
            if isinstance(item, Recording):
                yield Part(recording=item)
            elif _is_raw(item):
                yield _raw_part(item, _raw_id(item, j, seen))
            else:
                raise UnsupportedFormatError(
                    f"item {j} of the input is a {type(item).__name__}; expected an MNE Raw or an "
                    "nb_core.Recording (see nb_formats.write for the accepted inputs)"
                )

    return Source(kind="continuous", materialized=False, parts=parts(), description=description)


def _windowed(recordings: list[Recording], windows: list[Window]) -> Source:
    ids = {r.id for r in recordings}
    rows: list[Window] = []
    for i, w in enumerate(windows):
        if not isinstance(w, Window):
            raise UnsupportedFormatError(f"windows[{i}] is a {type(w).__name__}; expected nb_core.Window")
        if w.recording_id not in ids:
            raise IncompatibleDataError(
                f"windows[{i}] refers to recording {w.recording_id!r}, which is not among the recordings"
            )
        rows.append(dataclasses.replace(w, extra=dict(w.extra)))
    sizes = {w.stop - w.start for w in windows}

    def parts() -> Iterator[Part]:
        for rec in recordings:
            yield Part(recording=rec)
        yield Part(windows=rows)  # in the order given

    return Source(
        kind="windowed",
        materialized=False,
        parts=parts(),
        window_size=sizes.pop() if len(sizes) == 1 else None,
        description="recordings + windows",
    )


def _columns(metadata: Any, n: int, what: str) -> dict[str, list[Any]]:
    """A table-like object as ``{column: list}`` of length ``n``."""
    if metadata is None:
        return {}
    if hasattr(metadata, "to_dict") and hasattr(metadata, "columns"):  # pandas DataFrame
        cols = {str(c): list(metadata[c].to_numpy()) for c in metadata.columns}
    elif isinstance(metadata, dict):
        cols = {str(k): list(v) for k, v in metadata.items()}
    elif isinstance(metadata, (list, tuple)):
        keys: list[str] = []
        for row in metadata:
            if not isinstance(row, dict):
                raise SchemaError(f"rows must be dicts; got {type(row).__name__}", field=what)
            keys += [k for k in row if k not in keys]
        cols = {k: [row.get(k) for row in metadata] for k in keys}
    else:
        raise UnsupportedFormatError(
            f"{what} is a {type(metadata).__name__}; give a pandas DataFrame, a dict of columns or a list of dicts"
        )
    for k, v in cols.items():
        if len(v) != n:
            raise IncompatibleDataError(f"{what}: column {k!r} has {len(v)} rows, expected {n}")
    return cols


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _rows_from_columns(
    cols: dict[str, list[Any]], n: int, rid: str, y: Any, default_stop: int | None, what: str
) -> list[Window]:
    if y is not None:
        targets = list(np.asarray(y).tolist()) if not isinstance(y, list) else list(y)
        if len(targets) != n:
            raise IncompatibleDataError(f"{what}: y has {len(targets)} values for {n} windows")
    else:
        targets = [_py(t) for t in cols.get("target", [None] * n)]
    rows = []
    extra_keys = [k for k in cols if k not in _BD_COLUMNS]
    for i in range(n):
        i_start = cols.get("i_start_in_trial")
        i_stop = cols.get("i_stop_in_trial")
        start = int(i_start[i]) if i_start is not None else 0
        stop = int(i_stop[i]) if i_stop is not None else int(default_stop or 0)
        if default_stop is not None and i_start is None:
            stop = default_stop
        iw = cols.get("i_window_in_trial")
        rows.append(
            Window(
                rid,
                start,
                stop,
                _py(targets[i]),
                int(iw[i]) if iw is not None else i,
                start,
                stop,
                {k: _py(cols[k][i]) for k in extra_keys},
            )
        )
    return rows


def _arrays(x: Any, y: Any, metadata: Any, *, sfreq: float | None, ch_names: list[str] | None) -> Source:
    if x.ndim != 3:
        raise IncompatibleDataError(f"X must be 3-D (windows × channels × times); got shape {x.shape}")
    n, c, t = (int(s) for s in x.shape)
    if n == 0 or c == 0 or t == 0:
        raise IncompatibleDataError(f"X is empty (shape {x.shape}); nothing to write")
    if ch_names is not None and len(ch_names) != c:
        raise IncompatibleDataError(f"ch_names has {len(ch_names)} names for {c} channels")
    cols = _columns(metadata, n, "metadata")
    rows = _rows_from_columns(cols, n, "", y, None, "arrays")
    for r in rows:  # bare arrays: the window spans its own T samples unless the metadata says otherwise
        if "i_start_in_trial" not in cols:
            r.start, r.stop, r.i_start_in_trial, r.i_stop_in_trial = 0, t, 0, t

    def parts() -> Iterator[Part]:
        for s in range(0, n, BLOCK_WINDOWS):
            e = min(n, s + BLOCK_WINDOWS)
            yield Part(windows=rows[s:e], block=np.asarray(x[s:e]))

    return Source(
        kind="windowed",
        materialized=True,
        parts=parts(),
        n_windows=n,
        window_shape=(c, t),
        sfreq=sfreq,
        ch_names=ch_names,
        window_size=t,
        description="arrays",
    )


def _description(ds: Any) -> dict[str, str]:
    desc = getattr(ds, "description", None)
    if desc is None:
        return {}
    items = desc.items() if hasattr(desc, "items") else []
    return {str(k): str(_py(v)) for k, v in items if v is not None}


def _window_metadata(d: Any) -> Any:
    """The window metadata of one braindecode dataset (``.metadata`` or ``.windows.metadata``)."""
    md = getattr(d, "metadata", None)
    if md is None and getattr(d, "windows", None) is not None:
        md = getattr(d.windows, "metadata", None)
    if md is None:
        raise IncompatibleDataError(
            f"{type(d).__name__} has no window metadata (.metadata or .windows.metadata)"
        )
    return md


def _epochs_part(epochs: Any, j: int, ents: dict[str, str], cols: dict[str, list[Any]]) -> Part:
    """Materialized windows of MNE Epochs, with a metadata-only recording."""
    if not _is_epochs(epochs):
        raise UnsupportedFormatError(f"datasets[{j}].windows is not MNE Epochs")
    from nb_core.mne_adapter import recording_from_mne

    mne = sys.modules["mne"]
    info = epochs.info.copy()
    stub = mne.io.RawArray(np.zeros((info["nchan"], 1)), info, verbose="error")
    rid = f"recording-{j:04d}"
    rec = recording_from_mne(stub, id=rid, entities=ents, load_data=False)
    rec.n_times = 0
    rec.extra["signals"] = "windows only (built from MNE Epochs)"
    rows = _rows_from_columns(cols, len(epochs), rid, None, None, f"datasets[{j}]")
    return Part(recording=rec, windows=rows, block=epochs.get_data(verbose="error"))


def _braindecode(concat: Any) -> Source:
    datasets = list(concat.datasets)
    if not datasets:
        raise IncompatibleDataError("the windows dataset has no datasets (empty .datasets)")
    has_raw = [getattr(d, "raw", None) is not None for d in datasets]
    materialized = not all(has_raw)

    counts = [len(_window_metadata(d)) for d in datasets]
    shape: tuple[int, int] | None = None
    if materialized:
        first = datasets[has_raw.index(False)]
        shape = (int(first.windows.info["nchan"]), len(first.windows.times))

    def parts() -> Iterator[Part]:
        seen: set[str] = set()
        for j, d in enumerate(datasets):
            ents = _description(d)
            md = _window_metadata(d)
            n = counts[j]
            if getattr(d, "raw", None) is not None:
                rid = _raw_id(d.raw, j, seen)
                cols = _columns(md, n, f"datasets[{j}].metadata")
                rows = _rows_from_columns(cols, n, rid, None, None, f"datasets[{j}]")
                if not materialized:
                    yield _raw_part(d.raw, rid, ents, windows=rows)
                    continue
                rec = _raw_to_recording(d.raw, rid, ents)
                assert rec.data is not None
                block = np.stack([rec.data[:, r.start : r.stop] for r in rows]) if rows else None
                yield Part(recording=rec, windows=rows, block=block)
            else:
                yield _epochs_part(d.windows, j, ents, _columns(md, n, f"datasets[{j}].metadata"))

    return Source(
        kind="windowed",
        materialized=materialized,
        parts=parts(),
        n_windows=sum(counts),
        window_shape=shape,
        description="braindecode-style windows dataset",
    )


def _tuple_source(data: tuple[Any, ...], *, sfreq: float | None, ch_names: list[str] | None) -> Source | None:
    """``(X, y[, metadata])`` arrays or ``(recordings, windows)``; `None` for another tuple."""
    if data and isinstance(data[0], np.ndarray):
        if len(data) not in (2, 3):
            raise UnsupportedFormatError("arrays are given as (X, y) or (X, y, metadata)")
        return _arrays(data[0], data[1], data[2] if len(data) == 3 else None, sfreq=sfreq, ch_names=ch_names)
    if len(data) == 2 and isinstance(data[0], (list, tuple)) and isinstance(data[1], (list, tuple)):
        recs = list(data[0])
        if not all(isinstance(r, Recording) for r in recs):
            raise UnsupportedFormatError(
                "(recordings, windows): recordings must be nb_core.Recording objects"
            )
        return _windowed(recs, list(data[1]))
    return None


def as_source(data: Any, *, sfreq: float | None = None, ch_names: list[str] | None = None) -> Source:
    """Recognise ``data`` (see the module docstring) and return its :class:`Source`.

    Raises:
        UnsupportedFormatError: ``data`` is none of the accepted kinds.
        IncompatibleDataError: its pieces do not fit together (lengths, ids).
    """
    if isinstance(data, Source):
        return data
    if _is_raw(data):
        return _continuous([data], "MNE Raw")
    if isinstance(data, Recording):
        return _continuous([data], "recording")
    if isinstance(data, tuple):
        found = _tuple_source(data, sfreq=sfreq, ch_names=ch_names)
        if found is not None:
            return found
    if hasattr(data, "datasets") and isinstance(getattr(data, "datasets", None), (list, tuple)):
        return _braindecode(data)
    if isinstance(data, (list, tuple)) or (
        isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict))
    ):
        it = iter(data)
        first = next(it, None)
        if first is None:
            raise IncompatibleDataError("the input is empty: no recordings to write")
        return _continuous(itertools.chain([first], it), "recordings")
    raise UnsupportedFormatError(
        f"cannot write a {type(data).__name__}: give an MNE Raw (or a list), a list of nb_core.Recording, "
        "(recordings, windows), a braindecode-style windows dataset, or (X, y[, metadata]) arrays"
    )
