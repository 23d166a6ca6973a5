"""``nb shards write``: convert recordings and arrays into shards, in parallel, deterministically.

Inputs (one or many, mixed):

- an nb-formats artifact directory (HDF5 / Zarr / Parquet; ``nb_formats.open``): one sample per item;
- an MNE-readable recording (``.fif``, ``.edf``, ``.bdf``, ``.set``, ``.vhdr``, ...): windowed on the fly;
- an NWB file (``.nwb``, needs ``pynwb``): its first ``ElectricalSeries``, windowed;
- ``.npy`` (``n × ...``: one sample per row, modality ``--modality``) or ``.npz`` (arrays with
  two or more dimensions are modalities, one-dimensional arrays of length ``n`` go into each
  sample's JSON, e.g. labels ``y``).

Each input (or each ``items_per_task`` items of a large nb-formats artifact or ``.npy``) is
converted by one task of a `concurrent.futures.Executor` (a process pool, or a Dask cluster with
``scheduler=``) into its own shards under a temporary parts directory; the parts are
then linked under their final names in input order and the manifest is written. The result does
not depend on the number of workers; a crashed conversion resumes (finished parts are kept).

Example:
    >>> import tempfile, numpy as np, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(d / "x.npy", np.zeros((5, 2, 10), "float32"))
    >>> m = write([d / "x.npy"], d / "out", max_workers=0)
    >>> m.splits
    {'train': 5}
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.atomic import TMP_PREFIX, atomic_path, atomic_write_bytes, dumps_json, remove_path
from nb_core.errors import (
    CorruptDataError,
    IncompatibleDataError,
    InputNotFoundError,
    NBError,
    UnsafeContentError,
    UnsupportedFormatError,
    UserError,
)
from nb_core.executor import get_executor
from nb_core.manifest import MANIFEST_NAME, FileEntry, Manifest, ModalitySpec, RecordingEntry
from nb_core.mne_adapter import is_mne_input, modality_of, recording_id
from nb_core.progress import progress
from nb_core.schema import Sample, annotation_spans, window_starts
from nb_core.validation import check_modality_name, check_option, load_json, safe_key, soft_import
from nb_shards.index import index_name
from nb_shards.layout import check_compression, check_split, compression_of, shard_name, shards_extra
from nb_shards.writer import ShardWriter, read_previous, remove_stale, split_manifest

__all__ = ["InputSamples", "input_kind", "iter_input", "write", "write_inputs"]

#: Target of a window no annotation covers (``--target-from annotations``).
NO_TARGET = -1
#: Values of ``target_from``.
TARGET_SOURCES = ("annotations",)
#: Values per chunk read from a recording at once (float64: 8 MB); windows are cut from chunks.
CHUNK_VALUES = 1 << 20


def _safe(text: str) -> str:
    return safe_key(text)


#: What third-party readers (MNE, pynwb, h5py) raise for a file they cannot read.
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    RuntimeError,
    NotImplementedError,
    AssertionError,
)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:300]}" if text else type(err).__name__


def _read_raw(p: Path, reader_kwargs: dict[str, Any]) -> Any:
    """The MNE Raw of ``p`` (not preloaded) through nb-core's one input resolver.

    Raises:
        NBError: MNE cannot read it (one line: the file and MNE's reason), or a bad reader option.
    """
    from nb_core.mne_adapter import read_raw

    kw = {k: v for k, v in reader_kwargs.items() if k != "preload"}  # windows are read in chunks
    try:
        return read_raw(p, preload=False, **kw)
    except NBError:
        raise
    except _READ_ERRORS as err:  # pragma: no cover - read_raw reports MNE's failures itself
        raise UnsupportedFormatError(f"{p}: MNE cannot read it ({_one_line(err)})") from None


def _metadata(p: Path, raw: Any, rid: str) -> Any:
    """The recording's metadata (`nb_core.Recording` without data) from its MNE Raw."""
    from nb_core.mne_adapter import recording_from_mne

    try:
        return recording_from_mne(raw, id=rid, load_data=False)
    except NBError:
        raise
    except _READ_ERRORS as err:
        raise UnsupportedFormatError(f"{p}: cannot read its measurement info ({_one_line(err)})") from None


def _stem(p: Path) -> str:
    """Key prefix of an input: the recording id for recordings (``night.2.mff`` → ``night_2``)."""
    try:
        kind = input_kind(p)
    except NBError:
        kind = ""
    return _safe(recording_id(p) if kind == "mne" else p.name.split(".")[0])


def label_windows(starts: np.ndarray, spans: list[tuple[int, int, str]], classes: list[str]) -> np.ndarray:
    """Per window start: the index in ``classes`` of the annotation containing it (the latest
    onset wins), else `NO_TARGET` — the rule of ``nb_formats.open(..., target_from="annotations")``.

    Example:
        >>> label_windows(np.array([0, 100, 200]), [(50, 150, "a"), (90, 120, "b")], ["a", "b"]).tolist()
        [-1, 1, -1]
    """
    code = {c: k for k, c in enumerate(classes)}
    lab = np.full(len(starts), NO_TARGET, dtype=np.int64)
    for a, b, d in spans:
        lab[(starts >= a) & (starts < b)] = code[d]
    return lab


def input_kind(path: str | os.PathLike[str]) -> str:
    """``"formats"``, ``"npy"``, ``"npz"``, ``"nwb"`` or ``"mne"``.

    Raises:
        UnsupportedFormatError: not a supported input.
    """
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        if (p / MANIFEST_NAME).is_file():
            try:
                layout = Manifest.read(p).layout
            except NBError as err:
                raise UnsupportedFormatError(f"{p}: not a readable artifact ({err})") from None
            if layout == "shards":
                raise UnsupportedFormatError(
                    f"{p}: a shard artifact; read it with ShardDataset (nb shards write takes recordings, "
                    "nb-formats artifacts, NPY/NPZ and NWB)"
                )
            return "formats"
        if is_mne_input(p):
            return "mne"
        raise UnsupportedFormatError(f"{p}: a directory without {MANIFEST_NAME} is not a supported input")
    if not p.exists():
        raise InputNotFoundError(f"{p}: no such input file or directory")
    if name.endswith(".npy"):
        return "npy"
    if name.endswith(".npz"):
        return "npz"
    if name.endswith(".nwb"):
        return "nwb"
    if is_mne_input(p):
        return "mne"
    raise UnsupportedFormatError(
        f"{p}: unsupported input (nb-formats artifacts, MNE-readable recordings such as .fif .edf .bdf "
        ".vhdr .set .cnt .mff .ds, .nwb, .npy and .npz are)"
    )


def _windows(n_times: int, size: int, stride: int) -> range:
    return window_starts(n_times, size, stride)


def _win_samples(size_s: float, stride_s: float | None, sfreq: float, where: str) -> tuple[int, int]:
    if not (isinstance(size_s, (int, float)) and size_s > 0) or (
        stride_s is not None and not (isinstance(stride_s, (int, float)) and stride_s > 0)
    ):
        raise UserError(
            f"{where}: window and stride must be positive seconds; got window={size_s!r}, stride={stride_s!r}"
        )
    size = round(size_s * sfreq)
    stride = round((stride_s or size_s) * sfreq)
    if size < 1 or stride < 1:
        raise UserError(
            f"{where}: window {size_s} s / stride {stride_s} s is less than one sample at {sfreq} Hz"
        )
    return size, stride


def _load_npy(p: Path, *, mmap: bool) -> Any:
    """``np.load`` of an untrusted NPY/NPZ: never pickle; damage is a project error.

    Raises:
        UnsafeContentError: an object array (it would need pickle).
        CorruptDataError: not a readable NPY/NPZ file.
    """
    try:
        return np.load(p, allow_pickle=False, mmap_mode="r" if mmap else None)
    except ValueError as err:
        if "pickle" in str(err).lower() or "object" in str(err).lower():
            raise UnsafeContentError(
                f"{p}: holds Python objects (an object array), which would need pickle to load; refused"
            ) from None
        raise CorruptDataError(f"{p}: not a readable .npy/.npz file ({_one_line(err)})") from None
    except (OSError, EOFError, SyntaxError, TypeError, KeyError, zipfile.BadZipFile, MemoryError) as err:
        raise CorruptDataError(f"{p}: not a readable .npy/.npz file ({_one_line(err)})") from None


@dataclass
class InputSamples:
    """One opened input: modality specs (when known up front), its manifest recording entries,
    full recording metadata (``Recording.to_dict()`` without data, for MNE inputs) and samples."""

    specs: dict[str, ModalitySpec] | None
    recordings: list[RecordingEntry]
    metadata: list[dict[str, Any]]
    samples: Iterator[Sample]


def iter_input(
    path: str | os.PathLike[str],
    *,
    prefix: str | None = None,
    window: float | None = None,
    stride: float | None = None,
    modality: str | None = None,
    dtype: str = "float32",
    items: tuple[int, int] | None = None,
    target_from: str | None = None,
    classes: list[str] | None = None,
    reader_kwargs: dict[str, Any] | None = None,
) -> InputSamples:
    """Open one input: its modality specs, recordings and samples.

    Args:
        path: the input.
        prefix (`str`, *optional*): key prefix; defaults to the file name (made key-safe).
        window, stride (`float`, *optional*): window length and step in seconds. MNE and NWB
            recordings are always windowed (default 2 s); an nb-formats artifact is windowed
            now when ``window`` is given (its stored items otherwise).
        modality (`str`, *optional*): modality name; by default named from the channel types for
            MNE recordings (``"meg"``, ``"eeg"``...), ``"eeg"`` otherwise.
        dtype (`str`): dtype of recording windows.
        items (`tuple[int, int]`, *optional*): only items ``[start, stop)`` of an nb-formats artifact
            or of NPY/NPZ arrays (so that one large input can be split over several tasks).
        target_from (`str`, *optional*): ``"annotations"``: each window's ``target`` is the index in
            ``classes`` of the description of the annotation containing its first sample (the
            latest onset wins; `NO_TARGET` when none), as ``nb_formats.open`` labels windows.
        classes (`list[str]`, *optional*): class names for ``target_from`` (defaults to this
            input's annotation descriptions, sorted).
        reader_kwargs (`dict`, *optional*): passed to the MNE reader (``{"allow_maxshield": True}``).

    Raises:
        UnsupportedFormatError: not a supported input, or MNE cannot read it.
        DependencyMissingError: the reader's package is not installed.
        UnsafeContentError: an object array.
        UserError: bad window options.
    """
    p = Path(path)
    kind = input_kind(p)
    if target_from is not None:
        check_option(target_from, TARGET_SOURCES, name="target_from")
        if kind in ("npy", "npz", "nwb"):
            raise UserError(
                f"{p}: target_from='annotations' needs recordings with annotations (MNE, nb-formats)"
            )
    mod = None if modality is None else check_modality_name(modality, field="modality")
    stem = prefix or _stem(p)
    if kind == "formats":
        return _formats_input(p, stem, window, stride, items, target_from, classes)
    if kind in ("npy", "npz"):
        return _array_input(p, kind, stem, mod or "eeg", items)
    if kind == "mne":
        return _mne_input(p, stem, window, stride, mod, dtype, target_from, classes, reader_kwargs or {})
    return _nwb_input(p, stem, window, stride, mod or "eeg", dtype)


def _open_formats(p: Path, window: float | None, stride: float | None, target_from: str | None) -> Any:
    nbf = soft_import("nb_formats", "Reading nb-formats artifacts", extra="nb-shards[formats]")
    if window is None:
        if stride is not None or target_from is not None:
            raise UserError(
                f"{p}: stride and target_from cut windows now: pass a window length too (without it "
                "the artifact's stored items are written as they are)"
            )
        return nbf.open(p)
    rates = {r.sfreq for r in Manifest.read(p).recordings if r.sfreq}
    if len(rates) != 1:
        raise UserError(
            f"{p}: window={window!r} is in seconds, but the artifact's recordings have sampling rates "
            f"{sorted(rates) or 'unknown'}; resample to one rate, or write its stored items (no window)"
        )
    sfreq = rates.pop()
    size, step = _win_samples(window, stride, sfreq, str(p))
    return nbf.open(p, window_size=size, stride=step, target_from=target_from)


def _formats_input(
    p: Path,
    stem: str,
    window: float | None,
    stride: float | None,
    items: tuple[int, int] | None,
    target_from: str | None,
    classes: list[str] | None,
) -> InputSamples:
    ds = _open_formats(p, window, stride, target_from)
    lo, hi = items or (0, len(ds))
    remap: dict[int, int] | None = None
    if target_from is not None:
        glob = list(classes) if classes is not None else list(ds.classes)
        remap = {k: glob.index(c) for k, c in enumerate(ds.classes)}
        remap[NO_TARGET] = NO_TARGET

    def gen_formats() -> Iterator[Sample]:
        for i in range(lo, min(hi, len(ds))):
            s = ds.sample(i)
            md = s.metadata
            if remap is not None:
                md = {**md, "target": remap[int(md.get("target", NO_TARGET))]}
            yield Sample(f"{stem}_{_safe(s.key)}", s.arrays, md)

    recs = list(ds.manifest.recordings) if items is None or items[0] == 0 else []
    return InputSamples(None, recs, [], gen_formats())


def _array_input(p: Path, kind: str, stem: str, modality: str, items: tuple[int, int] | None) -> InputSamples:
    if kind == "npy":
        arrays = {modality: _load_npy(p, mmap=True)}
    else:
        z = _load_npy(p, mmap=False)
        try:
            with z:
                arrays = {k: z[k] for k in z.files}
        except NBError:
            raise
        except ValueError as err:
            if "pickle" in str(err).lower() or "object" in str(err).lower():
                raise UnsafeContentError(
                    f"{p}: holds Python objects (an object array), which would need pickle to load; refused"
                ) from None
            raise CorruptDataError(f"{p}: not a readable .npz file ({_one_line(err)})") from None
        except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
            raise CorruptDataError(f"{p}: not a readable .npz file ({_one_line(err)})") from None
    for k, a in arrays.items():
        if not isinstance(a, np.ndarray) or a.dtype.hasobject:
            raise UnsafeContentError(f"{p}: array {k!r} holds Python objects (would need pickle); refused")
    lengths = {len(a) for a in arrays.values() if a.ndim >= 1}
    if len(lengths) != 1:
        raise IncompatibleDataError(
            f"{p}: arrays must share their first (sample) axis; lengths {sorted(lengths)}"
        )
    n = lengths.pop()
    mods = {
        check_modality_name(k.lower(), field=f"{p.name}:{k}"): a for k, a in arrays.items() if a.ndim >= 2
    }
    meta = {k: a for k, a in arrays.items() if a.ndim == 1}
    if not mods:
        raise IncompatibleDataError(f"{p}: no array with two or more dimensions (n × ...) to shard")

    a0, a1 = items or (0, n)

    def gen_arrays() -> Iterator[Sample]:
        for i in range(a0, min(a1, n)):
            md = {k: a[i].item() for k, a in meta.items()}
            yield Sample(f"{stem}_{i:06d}", {m: np.ascontiguousarray(a[i]) for m, a in mods.items()}, md)

    specs = {m: ModalitySpec(dtype=np.dtype(a.dtype).name, shape=list(a.shape[1:])) for m, a in mods.items()}
    return InputSamples(specs, [], [], gen_arrays())


def _mne_input(
    p: Path,
    stem: str,
    window: float | None,
    stride: float | None,
    modality: str | None,
    dtype: str,
    target_from: str | None,
    classes: list[str] | None,
    reader_kwargs: dict[str, Any],
) -> InputSamples:
    raw = _read_raw(p, reader_kwargs)
    sfreq = float(raw.info["sfreq"])
    size, step = _win_samples(2.0 if window is None else window, stride, sfreq, str(p))
    n_times = int(raw.n_times)
    rec = _metadata(p, raw, stem)
    ch = list(raw.ch_names)
    mod = modality or check_modality_name(modality_of(rec.ch_types), field="modality")
    spec = {mod: ModalitySpec.from_recording(rec, dtype=dtype, shape=[len(ch), size])}
    entry = RecordingEntry(id=stem, n_times=n_times, sfreq=sfreq, n_channels=len(ch))
    starts = np.asarray(_windows(n_times, size, step), dtype=np.int64)
    labels: np.ndarray | None = None
    if target_from is not None:
        spans = annotation_spans(rec)
        names = sorted({d for _, _, d in spans}) if classes is None else list(classes)
        labels = label_windows(starts, spans, names)
    # Windows are cut from chunks of a few windows read at once (raw.get_data(start, stop)):
    # memory stays bounded by a chunk whatever the recording's length; nothing is preloaded.
    per = max(1, (CHUNK_VALUES // max(1, len(ch)) - size) // step + 1)

    def gen_mne() -> Iterator[Sample]:
        for c0 in range(0, len(starts), per):
            ws = starts[c0 : c0 + per]
            a = int(ws[0])
            block = raw.get_data(start=a, stop=int(ws[-1]) + size)
            for k, s in enumerate(ws.tolist()):
                i = c0 + k
                x = np.ascontiguousarray(block[:, s - a : s - a + size], dtype=dtype)
                md: dict[str, Any] = {
                    "recording": stem,
                    "start": s,
                    "stop": s + size,
                    "sfreq": sfreq,
                    "i_window": i,
                }
                if labels is not None:
                    md["target"] = int(labels[i])
                yield Sample(f"{stem}_{i:06d}", {mod: x}, md)
            del block

    return InputSamples(spec, [entry], [rec.to_dict()], gen_mne())


def _nwb_input(
    p: Path, stem: str, window: float | None, stride: float | None, modality: str, dtype: str
) -> InputSamples:
    pynwb = soft_import("pynwb", "Reading NWB files", extra="nb-shards[nwb]")
    try:
        io = pynwb.NWBHDF5IO(str(p), "r", load_namespaces=True)
        nwb = io.read()
    except NBError:
        raise
    except _READ_ERRORS as err:
        raise UnsupportedFormatError(f"{p}: pynwb cannot read it ({_one_line(err)})") from None
    series = [o for o in nwb.acquisition.values() if isinstance(o, pynwb.ecephys.ElectricalSeries)]
    if not series:
        io.close()
        raise UnsupportedFormatError(f"{p}: no ElectricalSeries in the NWB file's acquisition")
    es = series[0]
    if es.rate is None:
        io.close()
        raise UnsupportedFormatError(
            f"{p}: ElectricalSeries {es.name!r} has timestamps, not a rate; resample first"
        )
    sfreq = float(es.rate)
    size, step = _win_samples(2.0 if window is None else window, stride, sfreq, str(p))
    n_times, n_ch = int(es.data.shape[0]), int(es.data.shape[1])
    table = es.electrodes.table
    cols = table.colnames
    names = [str(v) for v in table["label"][:]] if "label" in cols else [str(i) for i in table.id[:]]
    names = [names[i] for i in es.electrodes.data[:]]
    conv = float(es.conversion or 1.0)
    spec = {modality: ModalitySpec(dtype=dtype, shape=[n_ch, size], unit="V", sfreq=sfreq, ch_names=names)}
    rec = RecordingEntry(id=stem, n_times=n_times, sfreq=sfreq, n_channels=n_ch)

    def gen_nwb() -> Iterator[Sample]:
        try:
            for i, s in enumerate(_windows(n_times, size, step)):
                x = (np.asarray(es.data[s : s + size, :], dtype=np.float64).T * conv).astype(dtype)
                md = {
                    "recording": stem,
                    "series": es.name,
                    "start": s,
                    "stop": s + size,
                    "sfreq": sfreq,
                    "i_window": i,
                }
                yield Sample(f"{stem}_{i:06d}", {modality: np.ascontiguousarray(x)}, md)
        finally:
            io.close()

    return InputSamples(spec, [rec], [], gen_nwb())


def _n_items(
    path: str | os.PathLike[str], window: float | None, stride: float | None, target_from: str | None
) -> int | None:
    """Items of an input that can be split over tasks (nb-formats artifacts, .npy), else `None`."""
    p = Path(path)
    kind = input_kind(p)
    if kind == "formats":
        return len(_open_formats(p, window, stride, target_from))
    if kind == "npy":
        a = _load_npy(p, mmap=True)
        if a.dtype.hasobject or a.ndim < 1:
            return None  # refused with a clear message by the task
        return int(a.shape[0])
    return None


def _classes(
    inputs: list[Path], window: float | None, stride: float | None, reader_kwargs: dict[str, Any]
) -> list[str]:
    """Class names for ``target_from="annotations"``: every input's annotation descriptions, sorted."""
    names: set[str] = set()
    for p in inputs:
        kind = input_kind(p)
        if kind == "mne":
            rec = _metadata(p, _read_raw(p, reader_kwargs), "recording")
            names.update(d for _, _, d in annotation_spans(rec))
        elif kind == "formats":
            names.update(_open_formats(p, window, stride, "annotations").classes)
        else:
            raise UserError(
                f"{p}: target_from='annotations' needs recordings with annotations (MNE, nb-formats)"
            )
    return sorted(names)


def recordings_name(split: str) -> str:
    """File of the split's full recording metadata (``Recording.to_dict()`` without data, one JSON
    list), beside the shards and listed with its sha256 in the manifest."""
    return f"{split}-recordings.json"


_PART_RECORDINGS = "recordings.json"


def _convert_part(task: dict[str, Any]) -> dict[str, Any]:
    """One task's items → shards in its part directory (runs in a worker process or on a Dask worker)."""
    part = Path(task["part"])
    done = part / MANIFEST_NAME
    if done.is_file():
        return {"part": str(part)}
    got = iter_input(
        task["input"],
        prefix=task["prefix"],
        window=task["window"],
        stride=task["stride"],
        modality=task["modality"],
        items=task["items"],
        target_from=task["target_from"],
        classes=task["classes"],
        reader_kwargs=task["reader_kwargs"],
    )
    part.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(part / _PART_RECORDINGS, dumps_json(got.metadata).encode("utf-8"))
    with ShardWriter(
        part,
        max_count=task["max_count"],
        max_bytes=task["max_bytes"],
        compression=task["compression"],
        split=task["split"],
        name="part",
        modalities=got.specs,
        recordings=got.recordings,
        fsync=task["fsync"],
    ) as w:
        for s in got.samples:
            w.write(s)
    return {"part": str(part)}


def _link(src: Path, dst: Path) -> None:
    with atomic_path(dst, fsync=False) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            import shutil

            shutil.copyfile(src, tmp)


def _clean_temporaries(out: Path, split: str) -> None:
    """Temporaries a crashed run left at the artifact root (shards being linked, a manifest being
    written); the parts directory is kept (finished parts are reused)."""
    for q in out.glob(f"{TMP_PREFIX}*"):
        if q.name == f"{TMP_PREFIX}parts-{split}" or q.name.startswith(f"{TMP_PREFIX}parts-"):
            continue
        if q.name.endswith(f"-{MANIFEST_NAME}") or f"-{split}-" in q.name:
            remove_path(q)


def write(
    inputs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    split: str = "train",
    max_count: int = 10_000,
    max_bytes: int = 1 << 30,
    compression: str | None = None,
    window: float | None = None,
    stride: float | None = None,
    modality: str | None = None,
    scheduler: str | None = None,
    max_workers: int | None = None,
    overwrite: bool = False,
    name: str | None = None,
    fsync: bool = True,
    items_per_task: int = 10_000,
    target_from: str | None = None,
    reader_kwargs: dict[str, Any] | None = None,
    show_progress: bool | None = None,
) -> Manifest:
    """Convert ``inputs`` into one shard artifact (split ``split``) under ``path``: the Python
    form of ``nb shards write INPUT... -o PATH``.

    Nothing is written under a final name until every input converted and the new manifest
    was checked against the artifact's other splits: a failed write leaves an existing
    artifact as it was.

    Args:
        inputs: one input path or several (see the module doc).
        path: the artifact directory.
        split, max_count, max_bytes, compression: as for `ShardWriter` (each task starts a new shard).
        window, stride (`float`, *optional*): window length and step in seconds. Recordings are
            windowed (default 2 s); an nb-formats artifact is windowed now when ``window`` is given.
        modality (`str`, *optional*): modality name; by default named from the channel types of
            MNE recordings (``"eeg"``, ``"meg"``...), ``"eeg"`` for arrays and NWB.
        scheduler (`str`, *optional*): Dask scheduler address; default is a local process pool.
        max_workers (`int`, *optional*): local processes (`0`: run inline).
        overwrite (`bool`): replace the split if the artifact already has it.
        items_per_task (`int`, *optional*, defaults to 10000): an nb-formats artifact or ``.npy``
            input with more items is split into tasks of this many (each starts a new shard); the
            output depends on this number, never on the number of workers.
        target_from (`str`, *optional*): ``"annotations"``: label windows with the annotation
            containing their first sample (see `iter_input`); the classes are listed in the
            manifest (``extra["nb_shards"]["classes"][split]``).
        reader_kwargs (`dict`, *optional*): options of the MNE reader (``{"allow_maxshield": True}``).
        show_progress (`bool`, *optional*): show a progress bar (default: when on a terminal).

    Returns:
        `Manifest`: the written manifest.

    Example:
        >>> import tempfile, numpy as np, pathlib
        >>> import nb_shards
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> np.save(d / "x.npy", np.zeros((6, 2, 8), "float32"))  # 6 samples of 2 x 8
        >>> m = nb_shards.write(d / "x.npy", d / "out", max_count=4, max_workers=0)
        >>> m.layout, m.splits, len(nb_shards.IndexedShards(d / "out"))
        ('shards', {'train': 6}, 6)

    Raises:
        UserError: no inputs, bad options, or no samples at all (e.g. a window longer than
            every recording).
        UnsupportedFormatError: an input is not supported or cannot be read.
        IncompatibleDataError: inputs with different modalities, shapes, dtypes or channels, or
            a split that does not fit the artifact's other splits.
        OutputExistsError: the artifact already has the split and ``overwrite`` is `False`.
    """
    paths = _check_inputs(inputs, items_per_task=items_per_task, target_from=target_from)
    out = Path(path)
    check_split(split)
    check_compression(compression)
    rkw = dict(reader_kwargs or {})
    out.mkdir(parents=True, exist_ok=True)
    previous = _previous(out, split, compression, overwrite=overwrite)
    _clean_temporaries(out, split)
    classes = _classes(paths, window, stride, rkw) if target_from is not None else None
    parts_root = out / f"{TMP_PREFIX}parts-{split}"
    common = {
        "window": window,
        "stride": stride,
        "modality": modality,
        "target_from": target_from,
        "classes": classes,
        "reader_kwargs": rkw,
        "max_count": max_count,
        "max_bytes": max_bytes,
        "compression": compression,
        "split": split,
        "fsync": fsync,
    }
    tasks = _plan_tasks(paths, parts_root, items_per_task, common)
    _run_tasks(tasks, scheduler=scheduler, max_workers=max_workers, show_progress=show_progress)
    # Plan the result in input order, check it whole, and only then put files under final names.
    got = _collect(tasks, split)
    if got.n == 0:
        remove_path(parts_root)
        raise _no_samples(paths, window)
    meta_bytes = dumps_json(got.metadata).encode("utf-8") if got.metadata else b""
    if meta_bytes:
        got.files.append(
            FileEntry(recordings_name(split), len(meta_bytes), hashlib.sha256(meta_bytes).hexdigest())
        )
    manifest = split_manifest(
        out,
        split=split,
        n_samples=got.n,
        entries=got.entries,
        files=got.files,
        modalities=got.modalities,
        recordings=got.recordings,
        compression=compression,
        name=name or out.resolve().name,
        provenance={"converted_from": [p.name for p in paths]},
        previous=previous,
        classes=classes,
    )
    _install(out, split, got, meta_bytes, manifest, previous)
    remove_path(parts_root)
    return manifest


def _check_inputs(
    inputs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    items_per_task: int,
    target_from: str | None,
) -> list[Path]:
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not inputs:
        raise UserError("no inputs to convert")
    if isinstance(items_per_task, bool) or not isinstance(items_per_task, int) or items_per_task < 1:
        raise UserError(f"items_per_task must be a positive integer; got {items_per_task!r}")
    if target_from is not None:
        check_option(target_from, TARGET_SOURCES, name="target_from")
    paths = [Path(i) for i in inputs]
    for i in paths:
        input_kind(i)  # fail early on unsupported inputs
    return paths


def _previous(out: Path, split: str, compression: str | None, *, overwrite: bool) -> Manifest | None:
    """The artifact's manifest when it has other splits (their compression must be this one)."""
    previous = read_previous(out, split, overwrite=overwrite)
    if previous is not None:
        prev_comp = shards_extra(previous.extra, where=str(out / MANIFEST_NAME)).get("compression")
        if prev_comp != compression:
            raise IncompatibleDataError(
                f"{out}: existing splits use compression {prev_comp!r}, this write {compression!r}; "
                "use one compression per artifact"
            )
    return previous


def _plan_tasks(
    paths: list[Path], parts_root: Path, items_per_task: int, common: dict[str, Any]
) -> list[dict[str, Any]]:
    """One task per input, or per ``items_per_task`` items of a large one, in input order."""
    stems = [_stem(p) for p in paths]
    prefixes = stems if len(set(stems)) == len(stems) else [f"{k:04d}-{s}" for k, s in enumerate(stems)]
    tasks: list[dict[str, Any]] = []
    for k, inp in enumerate(paths):
        n_items = _n_items(inp, common["window"], common["stride"], common["target_from"])
        ranges: list[tuple[int, int] | None] = (
            [None]
            if n_items is None or n_items <= items_per_task
            else [(a, min(a + items_per_task, n_items)) for a in range(0, n_items, items_per_task)]
        )
        for r, items in enumerate(ranges):
            tasks.append(
                {
                    "input": str(inp.resolve()),
                    "part": str(parts_root / f"part-{k:06d}-{r:06d}"),
                    "prefix": prefixes[k],
                    "items": items,
                    **common,
                }
            )
    return tasks


def _run_tasks(
    tasks: list[dict[str, Any]], *, scheduler: str | None, max_workers: int | None, show_progress: bool | None
) -> None:
    with get_executor(scheduler=scheduler, max_workers=max_workers) as ex:
        futures = [ex.submit(_convert_part, t) for t in tasks]
        for fut in progress(
            cf.as_completed(futures),
            desc="convert",
            total=len(futures),
            unit="task",
            show_progress=show_progress,
        ):
            fut.result()


@dataclass
class _Collected:
    """The finished parts, planned under their final names in input order."""

    links: list[tuple[Path, str]]
    entries: list[dict[str, Any]]
    files: list[FileEntry]
    modalities: dict[str, ModalitySpec]
    recordings: list[RecordingEntry]
    metadata: list[dict[str, Any]]
    n: int = 0


def _merge_modalities(mods: dict[str, ModalitySpec], pm: Manifest, inp: str) -> None:
    for m, spec in pm.modalities.items():
        if m in mods and mods[m].to_dict() != spec.to_dict():
            raise IncompatibleDataError(
                f"{inp}: modality {m!r} is {spec.to_dict()}, earlier inputs have {mods[m].to_dict()}"
            )
        mods.setdefault(m, spec)
    if set(mods) != set(pm.modalities) and pm.n_samples:
        raise IncompatibleDataError(
            f"{inp}: modalities {sorted(pm.modalities)} differ from earlier inputs' {sorted(mods)}"
        )


def _collect(tasks: list[dict[str, Any]], split: str) -> _Collected:
    got = _Collected([], [], [], {}, [], [])
    for t in tasks:
        part = Path(t["part"])
        pm = Manifest.read(part)
        _merge_modalities(got.modalities, pm, t["input"])
        got.recordings.extend(pm.recordings)
        rpath = part / _PART_RECORDINGS
        if rpath.is_file():
            got.metadata.extend(load_json(rpath.read_bytes(), where=str(rpath)))
        for e in shards_extra(pm.extra, where=str(part))["shards"]:
            final = shard_name(split, len(got.entries), compression_of(e["path"]))
            got.links.append((part / e["path"], final))
            got.links.append((part / e["index"], index_name(final)))
            fe = pm.file(e["path"])
            got.files.append(FileEntry(final, fe.size, fe.sha256))
            ie = FileEntry.from_file(part, e["index"])
            got.files.append(FileEntry(index_name(final), ie.size, ie.sha256))
            got.entries.append(
                {"path": final, "split": split, "n_samples": e["n_samples"], "index": index_name(final)}
            )
            got.n += e["n_samples"]
    return got


def _no_samples(paths: list[Path], window: float | None) -> UserError:
    what = (
        "a window longer than every recording? "
        if window is not None or any(input_kind(p) in ("mne", "nwb") for p in paths)
        else ""
    )
    return UserError(
        f"no samples to write from {len(paths)} input(s) ({what}window {window or 2.0} s); nothing was "
        "written — use a shorter window, or inputs with data"
    )


def _install(
    out: Path, split: str, got: _Collected, meta_bytes: bytes, manifest: Manifest, previous: Manifest | None
) -> None:
    """Link the parts under their final names and write the manifest; on failure, remove what
    was linked (the artifact keeps its previous state)."""
    before = {f.path for f in previous.files} if previous is not None else set()
    done: list[str] = []
    try:
        for src, final in got.links:
            _link(src, out / final)
            done.append(final)
        if meta_bytes:
            atomic_write_bytes(out / recordings_name(split), meta_bytes)
            done.append(recordings_name(split))
        remove_stale(out, split, {f.path for f in got.files})
        if not meta_bytes and (out / recordings_name(split)).exists():
            remove_path(out / recordings_name(split))  # a replaced split's metadata
        manifest.write(out)
    except BaseException:
        for f in done:  # roll back: the artifact keeps its previous state
            if f not in before:
                remove_path(out / f)
        raise


#: The former name of `write` (kept for existing callers).
write_inputs = write
