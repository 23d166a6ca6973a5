"""``nb shards bench``: nb-shards against the ``webdataset`` library and the raw-read floor, in one run.

On the same generated samples (default 20,000 × 64×1000 float32 + JSON, ≈5 GB) it measures:

- write: `ShardWriter` vs ``webdataset.ShardWriter`` (same shard size), and two floors: writing
  the array bytes raw to a new file, and their sha256 (which every nb-shards shard needs);
- read floors: the shard files read raw (``readinto`` into one sample-sized buffer, no parsing),
  and each sample's array read into a row of a batch in a shuffled order (``preadv``, no parsing:
  the least a batch loader does; the batch is too large to stay in the CPU cache);
- read: nb-shards (`ShardDataset` samples and `ShardLoader` batches; sequential and shuffled)
  vs ``webdataset.WebDataset(...).decode()`` with the same shuffle (shard shuffle + a 1,000-sample
  buffer for webdataset; shard shuffle + a 4-shard window for nb-shards);
- the 0-worker `ShardLoader` once more with its batch read path off (decode each sample, then
  collate: the path before the batch path, still taken by batches it does not apply to);
- workers: `ShardLoader` (shuffled) with ``num_workers`` 0/1/2/4, plain and with a per-sample
  transform of ~100 µs (a busy loop holding the GIL, in the ``collate_fn``);
- peers, when installed: MosaicML streaming (``MDSWriter`` shards, ``StreamingDataset`` + torch
  ``DataLoader``) and litdata (``BinaryWriter`` chunks, ``StreamingDataset`` +
  ``StreamingDataLoader``) on the same samples, shuffled, with 0 and ``workers`` workers. A peer
  that is not installed is skipped with a line that says so.

Every reader's samples are consumed the same way: each sample's array is copied into a batch
buffer (or stacked by the loader's collate), so every byte is touched once.

The writers run once. The readers run in ``repeat`` rounds (default 3), every reader once per
round, so that a reader and the floor it is compared with are measured minutes, not seconds,
apart only when the machine itself drifts: each row gives the median round and the range, and
each ratio is the median of its per-round ratios (on a shared virtual machine one pass of the
same reader varied by ±20% here).

Example:
    $ nb shards bench --n-samples 2000
"""

from __future__ import annotations

import gc
import glob
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.errors import UserError
from nb_core.validation import soft_import

__all__ = ["format_table", "run_bench"]


def _rss_anon_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return float("nan")


def _samples(n: int, channels: int, times: int) -> Iterable[dict[str, Any]]:
    rng = np.random.default_rng(0)
    pool = [rng.standard_normal((channels, times)).astype(np.float32) for _ in range(16)]
    for i in range(n):
        yield {
            "__key__": f"s{i:07d}",
            "eeg.npy": pool[i % 16],
            "json": {"target": i % 4, "subject": f"sub-{i % 50:02d}", "i_window": i},
        }


def _measure(name: str, n: int, nbytes: int, fn: Callable[[], int]) -> dict[str, Any]:
    # Every case starts from a collected heap: a full collection that the previous case's garbage
    # set off (about 0.1 s once torch is imported) would otherwise land in whichever case is next.
    gc.collect()
    t0 = time.perf_counter()
    mem0 = _rss_anon_mb()
    got = fn()
    dt = time.perf_counter() - t0
    if got != n:
        raise RuntimeError(f"{name}: read {got} samples, expected {n}")
    return {
        "name": name,
        "seconds": dt,
        "samples_per_s": n / dt,
        "mb_per_s": nbytes / dt / 1e6,
        "rss_anon_mb": round(_rss_anon_mb() - mem0, 1),
    }


def _consume(it: Iterable[dict[str, Any]], key: str, shape: tuple[int, ...], batch: int) -> int:
    buf = np.empty((batch, *shape), np.float32)
    n = 0
    for s in it:
        buf[n % batch] = s[key]
        n += 1
    return n


def _consume_batches(it: Iterable[dict[str, Any]], key: str) -> int:
    n = 0
    for b in it:
        n += len(b[key])
    return n


#: Seconds of the per-sample transform of the "transform" rows.
TRANSFORM_SECONDS = 100e-6


def transform_collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Collate after a ~100 µs per-sample transform (a busy loop: CPU work that holds the GIL, as
    Python-level augmentation does); module-level, so it pickles under every start method."""
    from nb_shards.dataset import collate

    for _ in samples:
        end = time.perf_counter() + TRANSFORM_SECONDS
        while time.perf_counter() < end:
            pass
    return collate(samples, to_torch=True)


def _peer(module: str, log: Callable[[str], None], install: str) -> Any:
    try:
        return __import__(module)
    except ImportError as err:
        log(f"skipped: {install} is not installed ({err}); pip install {install}")
        return None


@dataclass
class _Bench:
    """The cases of one run: each method reads or writes every sample and returns the count."""

    root: Path
    n_samples: int
    channels: int
    times: int
    shard_count: int
    batch_size: int
    wds: Any
    torch: Any
    streaming: Any = None
    litdata: Any = None

    @property
    def shape(self) -> tuple[int, int]:
        return (self.channels, self.times)

    @property
    def nb_dir(self) -> Path:
        return self.root / "nb"

    @property
    def wds_dir(self) -> Path:
        return self.root / "wds"

    def _samples(self) -> Iterable[dict[str, Any]]:
        return _samples(self.n_samples, self.channels, self.times)

    def write_nb(self, fsync: bool = True) -> Callable[[], int]:
        from nb_shards.writer import ShardWriter

        def run() -> int:
            out = self.nb_dir if fsync else self.root / "nb-nofsync"
            with ShardWriter(out, max_count=self.shard_count, max_bytes=1 << 40, fsync=fsync) as w:
                for s in self._samples():
                    w.write(s)
            if not fsync:
                shutil.rmtree(out)
            return w.n_samples

        return run

    @property
    def sample_bytes(self) -> int:
        return self.channels * self.times * 4

    def _flat(self, s: dict[str, Any]) -> dict[str, Any]:
        meta = s["json"]
        return {
            "key": s["__key__"],
            "eeg": s["eeg.npy"],
            "target": meta["target"],
            "subject": meta["subject"],
            "i_window": meta["i_window"],
        }

    def write_mosaic(self) -> int:
        shape = ",".join(map(str, self.shape))
        cols = {
            "key": "str",
            "eeg": f"ndarray:float32:{shape}",
            "target": "int",
            "subject": "str",
            "i_window": "int",
        }
        limit = self.shard_count * (self.sample_bytes + 1024)
        k = 0
        with self.streaming.MDSWriter(out=str(self.root / "mds"), columns=cols, size_limit=limit) as w:
            for s in self._samples():
                w.write(self._flat(s))
                k += 1
        return k

    def write_litdata(self) -> int:
        from litdata.streaming.writer import BinaryWriter

        w = BinaryWriter(
            str(self.root / "litdata"), chunk_bytes=self.shard_count * (self.sample_bytes + 1024)
        )
        k = 0
        for k, s in enumerate(self._samples(), start=1):
            w.add_item(k - 1, self._flat(s))
        w.done()
        w.merge(1)
        return k

    def mosaic_loader(self, nw: int) -> Callable[[], int]:
        def run() -> int:
            from streaming.base.util import clean_stale_shared_memory

            clean_stale_shared_memory()
            ds = self.streaming.StreamingDataset(
                local=str(self.root / "mds"), shuffle=True, shuffle_seed=0, batch_size=self.batch_size
            )
            dl = self.torch.utils.data.DataLoader(ds, batch_size=self.batch_size, num_workers=nw)
            return _consume_batches(dl, "eeg")

        return run

    def litdata_loader(self, nw: int) -> Callable[[], int]:
        def run() -> int:
            ds = self.litdata.StreamingDataset(str(self.root / "litdata"), shuffle=True, seed=0)
            dl = self.litdata.StreamingDataLoader(ds, batch_size=self.batch_size, num_workers=nw)
            return _consume_batches(dl, "eeg")

        return run

    def write_wds(self) -> int:
        k = 0
        self.wds_dir.mkdir(exist_ok=True)
        pattern = str(self.wds_dir / "train-%06d.tar")
        with self.wds.ShardWriter(pattern, maxcount=self.shard_count, maxsize=1e12, verbose=0) as w:
            for s in self._samples():
                w.write(s)
                k += 1
        return k

    def write_floor(self) -> int:
        k = 0
        with open(self.root / "floor.bin", "wb", buffering=0) as f:
            for s in self._samples():
                f.write(s["eeg.npy"].data)
                k += 1
        (self.root / "floor.bin").unlink()
        return k

    def sha_floor(self) -> int:
        h = hashlib.sha256()
        k = 0
        for s in self._samples():
            h.update(s["eeg.npy"].data)
            k += 1
        return k

    def raw_floor(self) -> int:
        mv = memoryview(bytearray(self.channels * self.times * 4))
        total = 0
        for u in sorted(glob.glob(str(self.nb_dir / "*.tar"))):
            with open(u, "rb", buffering=0) as f:
                while f.readinto(mv):
                    total += 1
        return self.n_samples if total >= self.n_samples else total

    def batch_floor(self) -> Callable[[], int]:
        """Each sample's array bytes read with ``preadv`` into a row of a batch (two batches in
        turn, as a loop that keeps the previous batch while the next is read), shuffled within
        windows of 4 shards: the least any batch loader does, with no parsing, checks or JSON.
        Where each array lies is found beforehand (``tarfile`` and NumPy's ``.npy`` header
        reader), untimed."""
        import tarfile

        fmt = np.lib.format

        rng = np.random.default_rng(0)
        tars = sorted(glob.glob(str(self.nb_dir / "*.tar")))
        plan: list[tuple[int, int]] = []  # (shard, data offset) in read order
        for w in range(0, len(tars), 4):
            window = []
            for i in range(w, min(w + 4, len(tars))):
                with tarfile.open(tars[i]) as tf, open(tars[i], "rb") as f:
                    for m in tf:
                        if m.name.endswith(".npy"):
                            f.seek(m.offset_data)
                            major, _ = fmt.read_magic(f)
                            (fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0)(f)
                            window.append((i, f.tell()))  # the array data follows the header
            plan += [window[j] for j in rng.permutation(len(window))]
        row = self.channels * self.times * 4
        batches = [np.empty((self.batch_size, row), np.uint8) for _ in range(2)]

        def run() -> int:
            fds = [os.open(t, os.O_RDONLY) for t in tars]
            try:
                for k, (i, off) in enumerate(plan):
                    dest = batches[(k // self.batch_size) % 2][k % self.batch_size]
                    if os.preadv(fds[i], [dest], off) != row:
                        raise RuntimeError(f"{tars[i]}: short read at {off}")
            finally:
                for fd in fds:
                    os.close(fd)
            return len(plan)

        return run

    def nb_samples(self, shuffle: bool) -> Callable[[], int]:
        from nb_shards.dataset import ShardDataset

        return lambda: _consume(
            ShardDataset(self.nb_dir, shuffle=shuffle, seed=0), "eeg", self.shape, self.batch_size
        )

    def nb_loader(
        self, shuffle: bool, nw: int, transform: bool = False, batch_path: bool = True
    ) -> Callable[[], int]:
        from nb_shards.loader import ShardLoader

        def run() -> int:
            loader = ShardLoader(
                self.nb_dir,
                batch_size=self.batch_size,
                shuffle=shuffle,
                seed=0,
                num_workers=nw,
                collate_fn=transform_collate if transform else None,
            )
            loader.dataset.batch_path = batch_path
            return _consume_batches(loader, "eeg")

        return run

    def _wds(self, shuffle: bool) -> Any:
        urls = sorted(glob.glob(str(self.wds_dir / "*.tar")))
        ds = self.wds.WebDataset(
            urls, shardshuffle=len(urls) if shuffle else False, seed=0, empty_check=False
        )
        return ds.shuffle(1000) if shuffle else ds

    def wds_samples(self, shuffle: bool) -> Callable[[], int]:
        return lambda: _consume(self._wds(shuffle).decode(), "eeg.npy", self.shape, self.batch_size)

    def wds_loader(self, shuffle: bool, nw: int) -> Callable[[], int]:
        def run() -> int:
            ds = self._wds(shuffle).decode().to_tuple("eeg.npy", "__key__").batched(self.batch_size)
            dl = self.torch.utils.data.DataLoader(ds, batch_size=None, num_workers=nw)
            return sum(len(b[1]) for b in dl)

        return run


def _loader(nw: int, transform: bool = False) -> str:
    extra = ", ~100 µs transform per sample" if transform else ""
    return f"read: nb-shards ShardLoader, shuffled{extra}, workers {nw}"


def _mosaic(nw: int) -> str:
    return f"read: MosaicML StreamingDataset + DataLoader, shuffled, workers {nw}"


def _litdata(nw: int) -> str:
    return f"read: litdata StreamingDataset + StreamingDataLoader, shuffled, workers {nw}"


_PER_SAMPLE = "read: nb-shards ShardLoader, shuffled, workers 0, per-sample path (batch path off)"
_FLOOR = "read floor: raw readinto of the shard bytes"
_BATCH_FLOOR = "read floor: each array read into a batch (preadv, shuffled, no parsing)"
_WRITE_NB = "write: nb-shards ShardWriter (default: fsync each shard)"
_WRITE_WDS = "write: webdataset.ShardWriter (no fsync)"


def _write_cases(b: _Bench) -> list[tuple[str, Callable[[], int]]]:
    cases = [
        ("write floor: raw write of the array bytes to a new file", b.write_floor),
        ("write floor: sha256 of the array bytes (the manifest needs it)", b.sha_floor),
        (_WRITE_NB, b.write_nb(True)),
        ("write: nb-shards ShardWriter, fsync=False", b.write_nb(False)),
        (_WRITE_WDS, b.write_wds),
    ]
    if b.streaming is not None:
        cases.append(("write: MosaicML MDSWriter (no fsync)", b.write_mosaic))
    if b.litdata is not None:
        cases.append(("write: litdata BinaryWriter (no fsync)", b.write_litdata))
    return cases


def _read_cases(
    b: _Bench, workers: int, worker_counts: Iterable[int], transform: bool
) -> list[tuple[str, Callable[[], int]]]:
    counts = sorted(set(worker_counts) | {0, workers})
    cases = [
        (_FLOOR, b.raw_floor),
    ]
    if hasattr(os, "preadv"):  # (not on Windows)
        cases.append((_BATCH_FLOOR, b.batch_floor()))
    cases += [
        ("read: nb-shards ShardDataset, sequential", b.nb_samples(False)),
        ("read: webdataset .decode(), sequential", b.wds_samples(False)),
        ("read: nb-shards ShardDataset, shuffled", b.nb_samples(True)),
        ("read: webdataset .decode(), shuffled", b.wds_samples(True)),
    ]
    cases += [(_loader(nw), b.nb_loader(True, nw)) for nw in counts]
    cases.append((_PER_SAMPLE, b.nb_loader(True, 0, batch_path=False)))
    for nw in (0, workers):
        cases.append((f"read: webdataset + DataLoader, shuffled, workers {nw}", b.wds_loader(True, nw)))
        if b.streaming is not None:
            cases.append((_mosaic(nw), b.mosaic_loader(nw)))
        if b.litdata is not None:
            cases.append((_litdata(nw), b.litdata_loader(nw)))
    if transform:
        cases += [(_loader(nw, True), b.nb_loader(True, nw, True)) for nw in counts]
    return cases


def _warm(root: Path) -> None:
    """Read every file under ``root`` once (the page cache: all readers start from cached data)."""
    buf = bytearray(1 << 20)
    for p in sorted(root.rglob("*")):
        if p.is_file():
            with open(p, "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass


def run_bench(
    *,
    n_samples: int = 20_000,
    channels: int = 64,
    times: int = 1000,
    shard_count: int = 1000,
    batch_size: int = 32,
    workers: int = 2,
    worker_counts: Iterable[int] = (0, 1, 2, 4),
    transform: bool = True,
    peers: bool = True,
    repeat: int = 3,
    directory: str | os.PathLike[str] | None = None,
    keep: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the benchmark; return ``{"config": ..., "rows": [...], "ratios": {...}, "ratio_rounds": {...}}``
    (``ratio_rounds``: each ratio in every round, of which ``ratios`` holds the medians).

    Args:
        workers: the worker count of the comparison rows (webdataset and the peers).
        worker_counts: the worker counts of the `ShardLoader` rows (plain and with a transform).
        transform: also measure `ShardLoader` with a ~100 µs per-sample transform.
        peers: also measure MosaicML streaming and litdata (each skipped when not installed).
        repeat: rounds of the readers (each reader once per round); rows and ratios are medians.

    Raises:
        DependencyMissingError: ``webdataset`` or ``torch`` is missing (``pip install "nb-shards[bench,torch]"``).
        UserError: ``repeat`` is not a positive integer.
    """
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise UserError(f"repeat must be an integer of at least 1, got {repeat!r}")
    wds = soft_import("webdataset", "nb shards bench", extra="nb-shards[bench]")
    torch = soft_import("torch", "nb shards bench", extra="nb-shards[torch]")
    streaming = _peer("streaming", log, "mosaicml-streaming") if peers else None
    litdata = _peer("litdata", log, "litdata") if peers else None
    root = Path(tempfile.mkdtemp(prefix="nb-shards-bench-", dir=directory))
    b = _Bench(root, n_samples, channels, times, shard_count, batch_size, wds, torch, streaming, litdata)
    nbytes = n_samples * channels * times * 4
    rows: list[dict[str, Any]] = []
    rounds: list[list[dict[str, Any]]] = []
    try:
        for name, fn in _write_cases(b):
            log(name + " ...")
            rows.append(_measure(name, n_samples, nbytes, fn))
        log("warming the page cache ...")
        _warm(root)
        cases = _read_cases(b, workers, worker_counts, transform)
        for k in range(repeat):
            this: list[dict[str, Any]] = []
            for name, fn in cases:
                log(f"{name} ..." if repeat == 1 else f"{name} (round {k + 1} of {repeat}) ...")
                this.append(_measure(name, n_samples, nbytes, fn))
            rounds.append(this)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    config = {
        "n_samples": n_samples,
        "shape": [channels, times],
        "dtype": "float32",
        "shard_count": shard_count,
        "batch_size": batch_size,
        "gb": round(nbytes / 1e9, 2),
        "repeat": repeat,
        "load_before": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "directory": str(root.parent),
        "peers": {
            "mosaicml-streaming": getattr(streaming, "__version__", None),
            "litdata": getattr(litdata, "__version__", None),
        },
    }
    writes = list(rows)
    rows += [_median_row([r[i] for r in rounds]) for i in range(len(cases))]
    per_round = [_ratios(writes + r, workers) for r in rounds]
    ratios = {k: statistics.median(r[k] for r in per_round) for k in per_round[0]}
    rounds_of = {k: [r[k] for r in per_round] for k in per_round[0]}
    return {"config": config, "rows": rows, "ratios": ratios, "ratio_rounds": rounds_of}


def _median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median time (all its fields), with the range of samples/s over the runs."""
    mid = statistics.median_low(r["seconds"] for r in runs)
    row = dict(next(r for r in runs if r["seconds"] == mid))
    rates = [r["samples_per_s"] for r in runs]
    row.update(runs=len(runs), samples_per_s_min=min(rates), samples_per_s_max=max(rates))
    return row


def _ratios(rows: list[dict[str, Any]], workers: int) -> dict[str, float]:
    by = {r["name"]: r["samples_per_s"] for r in rows}
    floor = by[_FLOOR]
    seq, shuf = by["read: nb-shards ShardDataset, sequential"], by["read: nb-shards ShardDataset, shuffled"]
    out = {
        "write nb (fsync) / webdataset": by[_WRITE_NB] / by[_WRITE_WDS],
        "read sequential nb/webdataset": seq / by["read: webdataset .decode(), sequential"],
        "read shuffled nb/webdataset": shuf / by["read: webdataset .decode(), shuffled"],
        "read sequential nb/floor": seq / floor,
        "read shuffled nb/floor": shuf / floor,
        "loader workers 0 / floor": by[_loader(0)] / floor,
        "loader workers 0 per-sample path / floor": by[_PER_SAMPLE] / floor,
        f"loader workers {workers} / workers 0": by[_loader(workers)] / by[_loader(0)],
    }
    if _BATCH_FLOOR in by:
        out["loader workers 0 / batch floor"] = by[_loader(0)] / by[_BATCH_FLOOR]
        out["batch floor / floor"] = by[_BATCH_FLOOR] / floor
    for nw in (0, workers):
        mine = by[_loader(nw)]
        out[f"loader workers {nw} nb/webdataset"] = (
            mine / by[f"read: webdataset + DataLoader, shuffled, workers {nw}"]
        )
        for label, name in (("MosaicML", _mosaic(nw)), ("litdata", _litdata(nw))):
            if name in by:
                out[f"loader workers {nw} nb/{label}"] = mine / by[name]
    if _loader(0, True) in by:
        base = by[_loader(0, True)]
        for name, v in by.items():
            if name.startswith(_loader(0, True)[: -len("0")]) and name != _loader(0, True):
                out[f"transform: workers {name.rsplit(' ', 1)[1]} / workers 0"] = v / base
    return out


def format_table(result: dict[str, Any]) -> str:
    """The result as a Markdown table (plus ratios)."""
    lines = [
        "| case | samples/s | range | MB/s | s | RssAnon Δ MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        spread = (
            f"{r['samples_per_s_min']:,.0f}–{r['samples_per_s_max']:,.0f}" if r.get("runs", 1) > 1 else ""
        )
        lines.append(
            f"| {r['name']} | {r['samples_per_s']:,.0f} | {spread} | {r['mb_per_s']:,.0f} | {r['seconds']:.1f} "
            f"| {r['rss_anon_mb']} |"
        )
    lines.append("")
    rounds = result["config"].get("repeat", 1)
    if rounds > 1:
        lines.append(
            f"Readers: median of {rounds} rounds (range: slowest–fastest); ratios: median per round."
        )
        lines.append("")
    for k, v in result["ratios"].items():
        lines.append(f"- {k}: {v:.2f}×")
    lines.append("")
    lines.append(f"config: {json.dumps(result['config'])}")
    return "\n".join(lines)
