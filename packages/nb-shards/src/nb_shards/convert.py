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
    >>> m = write_inputs([d / "x.npy"], d / "out", max_workers=0)
    >>> m.splits
    {'train': 5}
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.atomic import TMP_PREFIX, atomic_path, remove_path
from nb_core.errors import IncompatibleDataError, UnsupportedFormatError, UserError
from nb_core.executor import get_executor
from nb_core.manifest import MANIFEST_NAME, FileEntry, Manifest, ModalitySpec, RecordingEntry
from nb_core.progress import progress
from nb_core.schema import Sample
from nb_core.validation import check_modality_name, soft_import
from nb_shards.index import index_name
from nb_shards.layout import check_split, compression_of, shard_name, shards_extra
from nb_shards.writer import ShardWriter, read_previous, remove_stale, split_manifest

__all__ = ["input_kind", "iter_input", "write_inputs"]

_MNE_EXTS = (
    ".fif",
    ".fif.gz",
    ".edf",
    ".bdf",
    ".gdf",
    ".set",
    ".vhdr",
    ".cnt",
    ".mff",
    ".snirf",
    ".eeg",
    ".cdt",
)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"


def input_kind(path: str | os.PathLike[str]) -> str:
    """``"formats"``, ``"npy"``, ``"npz"``, ``"nwb"`` or ``"mne"``.

    Raises:
        UnsupportedFormatError: not a supported input.
    """
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        if (p / MANIFEST_NAME).is_file():
            return "formats"
        if name.endswith(".mff"):
            return "mne"
        raise UnsupportedFormatError(f"{p}: a directory without {MANIFEST_NAME} is not a supported input")
    if not p.exists():
        raise UnsupportedFormatError(f"{p}: no such input file")
    if name.endswith(".npy"):
        return "npy"
    if name.endswith(".npz"):
        return "npz"
    if name.endswith(".nwb"):
        return "nwb"
    if name.endswith(_MNE_EXTS):
        return "mne"
    raise UnsupportedFormatError(
        f"{p}: unsupported input (nb-formats artifacts, MNE-readable recordings {', '.join(_MNE_EXTS)}, "
        ".nwb, .npy and .npz are)"
    )


def _windows(n_times: int, size: int, stride: int) -> range:
    return range(0, n_times - size + 1, stride)


def _win_samples(size_s: float, stride_s: float | None, sfreq: float, where: str) -> tuple[int, int]:
    size = round(size_s * sfreq)
    stride = round((stride_s or size_s) * sfreq)
    if size < 1 or stride < 1:
        raise UserError(
            f"{where}: window {size_s} s / stride {stride_s} s is less than one sample at {sfreq} Hz"
        )
    return size, stride


def iter_input(
    path: str | os.PathLike[str],
    *,
    prefix: str | None = None,
    window: float = 2.0,
    stride: float | None = None,
    modality: str = "eeg",
    dtype: str = "float32",
    items: tuple[int, int] | None = None,
) -> tuple[dict[str, ModalitySpec] | None, RecordingEntry | None, Iterator[Sample]]:
    """Open one input: its modality specs (when known up front), its recording entry and its samples.

    Args:
        path: the input.
        prefix (`str`, *optional*): key prefix; defaults to the file name (made key-safe).
        window, stride (`float`): window length and step in seconds (MNE and NWB recordings).
        modality (`str`): modality name of recording signals and ``.npy`` arrays.
        dtype (`str`): dtype of recording windows.
        items (`tuple[int, int]`, *optional*): only items ``[start, stop)`` of an nb-formats artifact
            or of NPY/NPZ arrays (so that one large input can be split over several tasks).

    Raises:
        UnsupportedFormatError: not a supported input.
        DependencyMissingError: the reader's package is not installed.
    """
    p = Path(path)
    kind = input_kind(p)
    check_modality_name(modality, field="modality")
    stem = prefix or _safe(p.name.split(".")[0])
    if kind == "formats":
        nbf = soft_import("nb_formats", "Reading nb-formats artifacts", extra="nb-shards[formats]")
        ds = nbf.open(p)

        lo, hi = items or (0, len(ds))

        def gen_formats() -> Iterator[Sample]:
            for i in range(lo, min(hi, len(ds))):
                s = ds.sample(i)
                yield Sample(f"{stem}_{_safe(s.key)}", s.arrays, s.metadata)

        return None, None, gen_formats()
    if kind in ("npy", "npz"):
        if kind == "npy":
            arrays = {modality: np.load(p, allow_pickle=False, mmap_mode="r")}
        else:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
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

        specs = {
            m: ModalitySpec(dtype=np.dtype(a.dtype).name, shape=list(a.shape[1:])) for m, a in mods.items()
        }
        return specs, None, gen_arrays()
    if kind == "mne":
        mne = soft_import("mne", "Reading MNE-readable recordings", extra="nb-shards[mne]")
        try:
            raw = mne.io.read_raw(p, preload=False, verbose="error")
        except (ValueError, RuntimeError, OSError) as err:
            raise UnsupportedFormatError(f"{p}: MNE cannot read it ({err})") from None
        sfreq = float(raw.info["sfreq"])
        size, step = _win_samples(window, stride, sfreq, str(p))
        n_times = int(raw.n_times)
        ch = list(raw.ch_names)
        spec = {
            modality: ModalitySpec(dtype=dtype, shape=[len(ch), size], unit="V", sfreq=sfreq, ch_names=ch)
        }
        rec = RecordingEntry(id=stem, n_times=n_times, sfreq=sfreq, n_channels=len(ch))

        def gen_mne() -> Iterator[Sample]:
            for i, s in enumerate(_windows(n_times, size, step)):
                x = raw.get_data(start=s, stop=s + size).astype(dtype)
                md = {"recording": stem, "start": s, "stop": s + size, "sfreq": sfreq, "i_window": i}
                yield Sample(f"{stem}_{i:06d}", {modality: x}, md)

        return spec, rec, gen_mne()
    # NWB
    pynwb = soft_import("pynwb", "Reading NWB files", extra="nb-shards[nwb]")
    io = pynwb.NWBHDF5IO(str(p), "r", load_namespaces=True)
    nwb = io.read()
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
    size, step = _win_samples(window, stride, sfreq, str(p))
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

    return spec, rec, gen_nwb()


def _n_items(path: str | os.PathLike[str]) -> int | None:
    """Items of an input that can be split over tasks (nb-formats artifacts, .npy), else `None`."""
    kind = input_kind(path)
    if kind == "formats":
        nbf = soft_import("nb_formats", "Reading nb-formats artifacts", extra="nb-shards[formats]")
        return len(nbf.open(path))
    if kind == "npy":
        return int(np.load(path, allow_pickle=False, mmap_mode="r").shape[0])
    return None


def _convert_part(task: dict[str, Any]) -> dict[str, Any]:
    """One input → shards in its part directory (runs in a worker process or on a Dask worker)."""
    part = Path(task["part"])
    done = part / MANIFEST_NAME
    if done.is_file():
        return {"part": str(part)}
    specs, rec, samples = iter_input(
        task["input"],
        prefix=task["prefix"],
        window=task["window"],
        stride=task["stride"],
        modality=task["modality"],
    )
    with ShardWriter(
        part,
        max_count=task["max_count"],
        max_bytes=task["max_bytes"],
        compression=task["compression"],
        split=task["split"],
        name="part",
        modalities=specs,
        recordings=[rec] if rec is not None else None,
        fsync=task["fsync"],
    ) as w:
        for s in samples:
            w.write(s)
    return {"part": str(part)}


def _link(src: Path, dst: Path) -> None:
    with atomic_path(dst, fsync=False) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            import shutil

            shutil.copyfile(src, tmp)


def write_inputs(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    split: str = "train",
    max_count: int = 10_000,
    max_bytes: int = 1 << 30,
    compression: str | None = None,
    window: float = 2.0,
    stride: float | None = None,
    modality: str = "eeg",
    scheduler: str | None = None,
    max_workers: int | None = None,
    overwrite: bool = False,
    name: str | None = None,
    fsync: bool = True,
    items_per_task: int = 10_000,
    show_progress: bool | None = None,
) -> Manifest:
    """Convert ``inputs`` into one shard artifact (split ``split``) under ``out_dir``.

    Args:
        inputs: input paths (see the module doc).
        out_dir: the artifact directory.
        split, max_count, max_bytes, compression: as for `ShardWriter` (each input starts a new shard).
        window, stride (`float`): window length and step in seconds for recordings.
        modality (`str`): modality name for recording signals and ``.npy`` arrays.
        scheduler (`str`, *optional*): Dask scheduler address; default is a local process pool.
        max_workers (`int`, *optional*): local processes (`0`: run inline).
        overwrite (`bool`): replace the split if the artifact already has it.
        items_per_task (`int`, *optional*, defaults to 10000): an nb-formats artifact or ``.npy``
            input with more items is split into tasks of this many (each starts a new shard); the
            output depends on this number, never on the number of workers.

    Returns:
        `Manifest`: the written manifest.

    Raises:
        UserError: no inputs.
        UnsupportedFormatError: an input is not supported.
        IncompatibleDataError: inputs with different modalities, shapes, dtypes or channels.
        OutputExistsError: the artifact already has the split and ``overwrite`` is `False`.
    """
    if not inputs:
        raise UserError("no inputs to convert")
    out = Path(out_dir)
    check_split(split)
    for i in inputs:
        input_kind(i)  # fail early on unsupported inputs
    out.mkdir(parents=True, exist_ok=True)
    previous = read_previous(out, split, overwrite=overwrite)
    parts_root = out / f"{TMP_PREFIX}parts-{split}"
    stems = [_safe(Path(i).name.split(".")[0]) for i in inputs]
    prefixes = stems if len(set(stems)) == len(stems) else [f"{k:04d}-{s}" for k, s in enumerate(stems)]
    tasks: list[dict[str, Any]] = []
    for k, inp in enumerate(inputs):
        n_items = _n_items(inp)
        ranges: list[tuple[int, int] | None] = (
            [None]
            if n_items is None or n_items <= items_per_task
            else [(a, min(a + items_per_task, n_items)) for a in range(0, n_items, items_per_task)]
        )
        for r, items in enumerate(ranges):
            tasks.append(
                {
                    "input": str(Path(inp).resolve()),
                    "part": str(parts_root / f"part-{k:06d}-{r:06d}"),
                    "prefix": prefixes[k],
                    "items": items,
                    "window": window,
                    "stride": stride,
                    "modality": modality,
                    "max_count": max_count,
                    "max_bytes": max_bytes,
                    "compression": compression,
                    "split": split,
                    "fsync": fsync,
                }
            )
    with get_executor(scheduler=scheduler, max_workers=max_workers) as ex:
        futures = [ex.submit(_convert_part, t) for t in tasks]
        for fut in progress(
            cf.as_completed(futures),
            desc="convert",
            total=len(futures),
            unit="task",
            disable=None if show_progress is None else not show_progress,
        ):
            fut.result()
    # Assemble in input order: link each part's shards under their final names.
    entries: list[dict[str, Any]] = []
    files: list[FileEntry] = []
    mods: dict[str, ModalitySpec] = {}
    recordings: list[RecordingEntry] = []
    n = 0
    g = 0
    for t in tasks:
        inp = t["input"]
        part = Path(t["part"])
        pm = Manifest.read(part)
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
        recordings.extend(pm.recordings)
        for e in shards_extra(pm.extra, where=str(part))["shards"]:
            final = shard_name(split, g, compression_of(e["path"]))
            _link(part / e["path"], out / final)
            _link(part / e["index"], out / index_name(final))
            fe = pm.file(e["path"])
            files.append(FileEntry(final, fe.size, fe.sha256))
            files.append(FileEntry.from_file(out, index_name(final)))
            entries.append(
                {"path": final, "split": split, "n_samples": e["n_samples"], "index": index_name(final)}
            )
            n += e["n_samples"]
            g += 1
    remove_stale(out, split, {f.path for f in files})
    manifest = split_manifest(
        out,
        split=split,
        n_samples=n,
        entries=entries,
        files=files,
        modalities=mods,
        recordings=recordings,
        compression=compression,
        name=name or out.resolve().name,
        provenance={"converted_from": [Path(i).name for i in inputs]},
        previous=previous,
    )
    manifest.write(out)
    remove_path(parts_root)
    return manifest
