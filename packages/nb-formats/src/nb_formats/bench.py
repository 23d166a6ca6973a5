"""``nb formats bench``: every layout and compression against the obvious alternatives, in one run.

The same windowed dataset (default 2000 windows of 21×1000 float32, EEG-like:
an alpha rhythm plus AR(1) background and white sensor noise, in volts) is
written in each layout/compression and read back through :func:`nb_formats.open`.
Next to it, in the same run and on the same windows:

- **memmap floor**: ``np.array(np.load("windows.npy", mmap_mode="r")[i])``;
- **naive h5py**: ``h5py_dataset[i]`` on the HDF5 file written here (blosc-lz4);
- **naive zarr**: ``zarr_array[i]`` on the Zarr store written here (blosc-lz4);
- **naive Parquet**: one row per window (a fixed-size list column), reading
  the row group that holds window ``i`` (100 rows per group) and taking the row;
- **MNE .fif**: ``read_raw_fif(preload=False).get_data(start, stop)`` on a
  ``.fif`` with the windows back to back.

Reported per row: random single-window read (ms/window, mean over ``n_reads``
random indices after one warm-up pass, i.e. a warm page cache), sequential
throughput (MB/s reading every window in order), write time, size on disk
(without fsync: ``write(..., fsync=False)``, so the disk's
flush latency does not drown the codecs' cost), and the peak Python/NumPy heap during the write (``tracemalloc``; C-level
buffers of HDF5/Blosc are not counted).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nb_formats.codecs import DEFAULT_COMPRESSION

__all__ = [
    "BenchRow",
    "StreamRow",
    "UnalignedRow",
    "make_windows",
    "run_bench",
    "run_streaming",
    "run_unaligned",
]

#: (layout, compression, zip_store) rows measured through nb_formats.
CONFIGS: list[tuple[str, str, bool]] = [
    ("hdf5", "none", False),
    ("hdf5", "blosc-lz4", False),
    ("hdf5", "blosc-zstd", False),
    ("hdf5", "zstd", False),
    ("hdf5", "gzip", False),
    ("hdf5", "lzf", False),
    ("zarr", "none", False),
    ("zarr", "blosc-lz4", False),
    ("zarr", "zstd", False),
    ("zarr", "gzip", False),
    ("zarr", "blosc-lz4", True),
    ("parquet", "npy (uncompressed)", False),
]


@dataclass
class BenchRow:
    name: str
    random_ms: float
    seq_mb_s: float
    write_s: float | None = None
    size_mb: float | None = None
    peak_mb: float | None = None


def make_windows(n: int, c: int, t: int, *, sfreq: float = 250.0, seed: int = 0) -> np.ndarray:
    """EEG-like float32 windows (volts): alpha rhythm + AR(1) background + white noise."""
    rng = np.random.default_rng(seed)
    tt = np.arange(t) / sfreq
    out = np.empty((n, c, t), dtype=np.float32)
    amp = rng.uniform(2e-6, 1e-5, size=(c, 1))
    for i in range(n):
        phase = rng.uniform(0, 2 * np.pi, size=(c, 1))
        white = rng.normal(0, 1e-6, size=(c, t))
        ar = np.cumsum(rng.normal(0, 2e-7, size=(c, t)), axis=1)
        out[i] = amp * np.sin(2 * np.pi * 10.0 * tt + phase) + ar + white
    return out


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _time_reads(read: Callable[[int], Any], n: int, idx: np.ndarray, nbytes: int) -> tuple[float, float]:
    for i in range(n):  # warm-up pass: page cache and handles
        read(i)
    t0 = time.perf_counter()
    for i in idx:
        read(int(i))
    rnd = (time.perf_counter() - t0) / len(idx) * 1e3
    t0 = time.perf_counter()
    for i in range(n):
        read(i)
    seq = n * nbytes / (time.perf_counter() - t0) / 1e6
    return rnd, seq


def run_bench(
    *,
    n_windows: int = 2000,
    n_channels: int = 21,
    n_times: int = 1000,
    n_reads: int = 500,
    workdir: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] = print,
    skip_mne: bool = False,
    defaults_only: bool = False,
) -> list[BenchRow]:
    """Run the benchmark; return its rows (and save a PNG bar chart to ``plot``).

    ``defaults_only=True`` measures each layout with its default compression only (a quick run).
    """
    own_tmp = workdir is None
    base = Path(tempfile.mkdtemp(prefix="nb-formats-bench-") if own_tmp else workdir)  # type: ignore[arg-type]
    base.mkdir(parents=True, exist_ok=True)
    rows: list[BenchRow] = []
    try:
        import pandas  # noqa: F401  (pyarrow imports it lazily: keep that out of the timings)
        import pyarrow.parquet  # noqa: F401  (imported before the timings)

        log(f"generating {n_windows} windows of {n_channels}x{n_times} float32 ...")
        x = make_windows(n_windows, n_channels, n_times)
        job = _Job(
            x=x,
            y=np.arange(n_windows) % 4,
            idx=np.random.default_rng(1).integers(0, n_windows, size=n_reads),
            nbytes=n_channels * n_times * 4,
            base=base,
            log=log,
            configs=[k for k in CONFIGS if _is_default(k[0], k[1])] if defaults_only else CONFIGS,
        )
        parts: list[Callable[[_Job], list[BenchRow]]] = [_bench_floor, _bench_layouts, _bench_naive_parquet]
        if not skip_mne:
            parts.append(_bench_mne)
        for part in parts:
            for row in part(job):
                rows.append(row)
                log(f"  {row.name}: {row.random_ms:.4f} ms/window")
    finally:
        if own_tmp:
            shutil.rmtree(base, ignore_errors=True)
    if plot is not None:
        _plot(rows, Path(plot), n_windows, n_channels, n_times)
    return rows


def _is_default(layout: str, comp: str) -> bool:
    """Whether ``comp`` is ``layout``'s default (Parquet: its uncompressed ``.npy`` signals)."""
    return layout == "parquet" or comp == DEFAULT_COMPRESSION[layout]


@dataclass
class _Job:
    """What every part of :func:`run_bench` reads: the windows, targets, read indices and folder."""

    x: np.ndarray
    y: np.ndarray
    idx: np.ndarray
    nbytes: int
    base: Path
    log: Callable[[str], None]
    configs: list[tuple[str, str, bool]]

    def time(self, read: Callable[[int], Any], n: int | None = None) -> tuple[float, float]:
        return _time_reads(read, len(self.x) if n is None else n, self.idx, self.nbytes)


def _bench_floor(job: _Job) -> list[BenchRow]:
    floor_path = job.base / "floor.npy"
    np.save(floor_path, job.x)
    mm = np.load(floor_path, mmap_mode="r")
    rnd, seq = job.time(lambda i: np.array(mm[i]))
    return [BenchRow("memmap floor (np.load mmap)", rnd, seq, None, _du(floor_path) / 1e6)]


def _bench_layouts(job: _Job) -> list[BenchRow]:
    """Every layout and codec of :data:`CONFIGS`, then h5py's and zarr's own per-item reads."""
    import nb_formats

    rows: list[BenchRow] = []
    keep: dict[str, Path] = {}
    for layout, comp, zipped in job.configs:
        label = f"nb_formats {layout}{' zip' if zipped else ''} {comp}"
        dst = job.base / f"{layout}-{comp.split(' ')[0]}{'-zip' if zipped else ''}"
        tracemalloc.start()
        t0 = time.perf_counter()
        nb_formats.write(
            (job.x, job.y),
            dst,
            format=layout,
            compression=None if layout == "parquet" else comp,
            zip_store=zipped,
            sfreq=250.0,
            show_progress=False,
            fsync=False,  # page-cache write time; fsync cost depends on the disk, not the codec
        )
        wt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        ds = nb_formats.open(dst)
        rnd, seq = job.time(ds.__getitem__)
        ds.close()
        size = sum(f.size for f in ds.manifest.files) / 1e6
        rows.append(BenchRow(label, rnd, seq, wt, size, peak))
        job.log(f"  {label}: {seq:.0f} MB/s, write {wt:.1f} s, {size:.1f} MB")
        if (layout, comp, zipped) in (("hdf5", "blosc-lz4", False), ("zarr", "blosc-lz4", False)):
            keep[layout] = dst
        else:
            shutil.rmtree(dst, ignore_errors=True)
    return rows + _bench_naive_h5_zarr(job, keep["hdf5"], keep["zarr"])


def _bench_naive_h5_zarr(job: _Job, h5: Path, zr: Path) -> list[BenchRow]:
    import h5py
    import hdf5plugin  # noqa: F401
    import zarr

    with h5py.File(h5 / "data.h5", "r") as f:
        d = f["windows"]
        rnd, seq = job.time(lambda i: d[i])
    rows = [BenchRow("naive h5py dataset[i] (blosc-lz4)", rnd, seq)]
    za: Any = zarr.open_group(zr / "data.zarr", mode="r")["windows"]
    rnd, seq = job.time(lambda i: za[i])
    return [*rows, BenchRow("naive zarr array[i] (blosc-lz4)", rnd, seq)]


def _bench_naive_parquet(job: _Job) -> list[BenchRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n_windows, n_channels, n_times = job.x.shape
    ppath = job.base / "naive.parquet"
    flat = pa.FixedSizeListArray.from_arrays(pa.array(job.x.reshape(-1)), n_channels * n_times)
    t0 = time.perf_counter()
    pq.write_table(pa.table({"eeg": flat, "target": pa.array(job.y)}), ppath, row_group_size=100)
    wt = time.perf_counter() - t0
    pf = pq.ParquetFile(ppath)

    def read_pq(i: int) -> np.ndarray:
        tab = pf.read_row_group(i // 100, columns=["eeg"])
        return np.asarray(tab.column(0).chunk(0)[i % 100].values.to_numpy()).reshape(n_channels, n_times)

    n_pq = min(n_windows, 300)
    idx = job.idx[: max(20, len(job.idx) // 10)] % n_pq
    rnd, seq = _time_reads(read_pq, n_pq, idx, job.nbytes)
    name = "naive Parquet row-group read (snappy, 100 rows/group)"
    return [BenchRow(name, rnd, seq, wt, _du(ppath) / 1e6)]


def _bench_mne(job: _Job) -> list[BenchRow]:
    import mne

    _, n_channels, n_times = job.x.shape
    info = mne.create_info(n_channels, 250.0, "eeg")
    raw = mne.io.RawArray(job.x.transpose(1, 0, 2).reshape(n_channels, -1), info, verbose="error")
    fif = job.base / "windows_raw.fif"
    t0 = time.perf_counter()
    raw.save(fif, fmt="single", verbose="error", overwrite=True)
    wt = time.perf_counter() - t0
    del raw
    rr = mne.io.read_raw_fif(fif, preload=False, verbose="error")
    rnd, seq = job.time(lambda i: rr.get_data(start=i * n_times, stop=(i + 1) * n_times))
    return [BenchRow("MNE .fif get_data (preload=False)", rnd, seq, wt, _du(fif) / 1e6)]


def format_table(rows: list[BenchRow]) -> str:
    """Rows as a Markdown table."""

    def f(v: float | None, spec: str) -> str:
        return "" if v is None else format(v, spec)

    lines = [
        "| read path | random ms/window | sequential MB/s | write s | size MB | write peak MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.random_ms:.4f} | {r.seq_mb_s:.0f} | {f(r.write_s, '.2f')} | "
            f"{f(r.size_mb, '.1f')} | {f(r.peak_mb, '.1f')} |"
        )
    return "\n".join(lines)


def rows_as_dicts(rows: list[Any]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def _plot(rows: list[BenchRow], path: Path, n: int, c: int, t: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.5))
    names = [r.name for r in rows][::-1]
    vals = [r.random_ms for r in rows][::-1]
    colors = ["tab:blue" if n_.startswith("nb_formats") else "tab:gray" for n_ in names]
    ax.barh(names, vals, color=colors)
    ax.set_xscale("log")
    ax.axvline(0.1, color="tab:red", linestyle="--", linewidth=1, label="0.1 ms target")
    ax.set_xlabel("random single-window read, ms/window (log scale)")
    ax.set_title(f"nb-formats bench: {n} windows of {c}x{t} float32")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


#: (layout, compression) measured for windows that straddle chunks.
UNALIGNED_CONFIGS: list[tuple[str, str]] = [
    ("hdf5", "none"),
    ("hdf5", "blosc-lz4"),
    ("hdf5", "zstd"),
    ("zarr", "none"),
    ("zarr", "blosc-lz4"),
    ("zarr", "zstd"),
    ("parquet", "zstd"),
]


@dataclass
class UnalignedRow:
    name: str
    aligned_ms: float
    unaligned_ms: float
    unaligned_nocache_ms: float
    window_first_us: float
    window_last_us: float


def run_unaligned(
    x: np.ndarray,
    base: Path,
    *,
    n_reads: int = 500,
    n_recordings: int = 4,
    log: Callable[[str], None] = print,
    defaults_only: bool = False,
) -> list[UnalignedRow]:
    """Random windows that straddle chunk edges, on the same signals as continuous recordings.

    ``x`` (N×C×T windows) is stored as ``n_recordings`` continuous recordings chunked every ``T``
    samples, then opened with ``window_size=T, stride=7`` (so almost every window straddles two
    chunks) and read at random: with the default chunk cache, and with ``cache_chunks=0`` (every
    read decodes its two chunks). ``aligned`` is the same store opened with ``stride=T`` (one chunk
    per window). ``ds.window(i)`` is timed at the first and the last item.
    """
    import nb_formats
    from nb_core.schema import Channel, Recording

    n, c, t = x.shape
    per = max(1, n // n_recordings)
    recs = [
        Recording(
            id=f"rec{k}",
            sfreq=250.0,
            channels=[Channel(f"EEG{i:03d}") for i in range(c)],
            data=x[k * per : (k + 1) * per].transpose(1, 0, 2).reshape(c, -1),
        )
        for k in range(n // per)
    ]
    rng = np.random.default_rng(2)
    rows = []
    for layout, comp in UNALIGNED_CONFIGS:
        if defaults_only and not _is_default(layout, comp):
            continue
        dst = base / f"unaligned-{layout}-{comp}"
        nb_formats.write(
            recs, dst, format=layout, compression=comp, chunk_samples=t, show_progress=False, fsync=False
        )

        def timed(ds: Any, idx: np.ndarray) -> float:
            for i in idx[: min(len(idx), 50)]:  # handles, maps, page cache
                ds[int(i)]
            t0 = time.perf_counter()
            for i in idx:
                ds[int(i)]
            return (time.perf_counter() - t0) / len(idx) * 1e3

        al = nb_formats.open(dst, window_size=t)
        aligned = timed(al, rng.integers(0, len(al), n_reads))
        ds = nb_formats.open(dst, window_size=t, stride=7)
        idx = rng.integers(0, len(ds), n_reads)
        unaligned = timed(ds, idx)
        cold = timed(nb_formats.open(dst, window_size=t, stride=7, cache_chunks=0), idx)

        def wtime(i: int, ds: Any = ds) -> float:
            t0 = time.perf_counter()
            for _ in range(200):
                ds.window(i)
            return (time.perf_counter() - t0) / 200 * 1e6

        label = f"nb_formats {layout} {'npy' if layout == 'parquet' else comp}"
        rows.append(UnalignedRow(label, aligned, unaligned, cold, wtime(0), wtime(len(ds) - 1)))
        log(f"  unaligned {label}: {unaligned:.4f} ms/window (no cache {cold:.4f}, aligned {aligned:.4f})")
        shutil.rmtree(dst, ignore_errors=True)
    return rows


def format_unaligned(rows: list[UnalignedRow]) -> str:
    """Unaligned rows as a Markdown table."""
    lines = [
        "| layout | aligned ms/window | unaligned ms/window (default cache) | unaligned, no cache | "
        "window(0) µs | window(last) µs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.aligned_ms:.4f} | {r.unaligned_ms:.4f} | {r.unaligned_nocache_ms:.4f} | "
            f"{r.window_first_us:.1f} | {r.window_last_us:.1f} |"
        )
    return "\n".join(lines)


@dataclass
class StreamRow:
    name: str
    seconds: float
    float64_mb: float
    peak_mb: float
    write_s: float


def run_streaming(
    base: Path,
    *,
    seconds: float = 600.0,
    n_channels: int = 64,
    sfreq: float = 250.0,
    log: Callable[[str], None] = print,
) -> list[StreamRow]:
    """Peak memory of writing one long recording read lazily from a ``.fif`` (``preload=False``).

    The peak is the ``tracemalloc`` Python/NumPy heap peak during ``nb_formats.write`` (C buffers of
    HDF5/Blosc/zarr codecs are not counted); ``float64_mb`` is what reading the recording whole costs.
    """
    import mne
    import pandas  # noqa: F401  (module code imported on first use: keep it out of the peak)
    import pyarrow.parquet  # noqa: F401
    import zarr  # noqa: F401

    import nb_formats

    n_times = int(seconds * sfreq)
    info = mne.create_info([f"EEG{i:03d}" for i in range(n_channels)], sfreq, "eeg")
    fif = base / "long_raw.fif"
    rng = np.random.default_rng(3)
    block = rng.normal(0, 1e-5, (n_channels, min(n_times, 60 * int(sfreq))))
    reps = -(-n_times // block.shape[1])
    raw = mne.io.RawArray(np.tile(block, reps)[:, :n_times], info, verbose="error")
    raw.save(fif, verbose="error", overwrite=True)
    del raw, block
    rows = []
    for layout in ("hdf5", "zarr", "parquet"):
        rr = mne.io.read_raw_fif(fif, preload=False, verbose="error")
        dst = base / f"stream-{layout}"
        tracemalloc.start()
        t0 = time.perf_counter()
        nb_formats.write(rr, dst, format=layout, show_progress=False, fsync=False)
        wt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        rows.append(StreamRow(f"nb_formats {layout}", seconds, n_channels * n_times * 8 / 1e6, peak, wt))
        log(f"  streaming {layout}: peak {peak:.1f} MB for a {rows[-1].float64_mb:.0f} MB recording")
        shutil.rmtree(dst, ignore_errors=True)
    fif.unlink()
    return rows


def format_streaming(rows: list[StreamRow]) -> str:
    """Streaming rows as a Markdown table."""
    lines = [
        "| write | recording | as float64 MB | write peak MB | write s |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.seconds:.0f} s | {r.float64_mb:.1f} | {r.peak_mb:.1f} | {r.write_s:.2f} |"
        )
    return "\n".join(lines)
