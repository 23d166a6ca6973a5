"""``nb shards bench``: nb-shards against the ``webdataset`` library and the raw-read floor, in one run.

On the same generated samples (default 20,000 × 64×1000 float32 + JSON, ≈5 GB) it measures:

- write: `ShardWriter` vs ``webdataset.ShardWriter`` (same shard size), and two floors: writing
  the array bytes raw to a new file, and their sha256 (which every nb-shards shard needs);
- read floor: the shard files read raw (``readinto`` into a buffer, no parsing);
- read: nb-shards (`ShardDataset` samples and `ShardLoader` batches; sequential and shuffled;
  ``num_workers`` 0 and 2) vs ``webdataset.WebDataset(...).decode()`` with the same shuffle
  (shard shuffle + a 1,000-sample buffer for webdataset; shard shuffle + a 4-shard window for
  nb-shards).

Every reader's samples are consumed the same way: each sample's array is copied into a batch
buffer (or stacked by the loader's collate), so every byte is touched once.

Example:
    $ nb shards bench --n-samples 2000
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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

    def write_nb(self) -> int:
        from nb_shards.writer import ShardWriter

        with ShardWriter(self.nb_dir, max_count=self.shard_count, max_bytes=1 << 40, fsync=False) as w:
            for s in self._samples():
                w.write(s)
        return w.n_samples

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

    def nb_samples(self, shuffle: bool) -> Callable[[], int]:
        from nb_shards.dataset import ShardDataset

        return lambda: _consume(
            ShardDataset(self.nb_dir, shuffle=shuffle, seed=0), "eeg", self.shape, self.batch_size
        )

    def nb_loader(self, shuffle: bool, nw: int) -> Callable[[], int]:
        from nb_shards.loader import ShardLoader

        return lambda: _consume_batches(
            ShardLoader(self.nb_dir, batch_size=self.batch_size, shuffle=shuffle, seed=0, num_workers=nw),
            "eeg",
        )

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


def run_bench(
    *,
    n_samples: int = 20_000,
    channels: int = 64,
    times: int = 1000,
    shard_count: int = 1000,
    batch_size: int = 32,
    workers: int = 2,
    directory: str | os.PathLike[str] | None = None,
    keep: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the benchmark; return ``{"config": ..., "rows": [...], "ratios": {...}}``.

    Raises:
        DependencyMissingError: ``webdataset`` or ``torch`` is missing (``pip install "nb-shards[bench,torch]"``).
    """
    wds = soft_import("webdataset", "nb shards bench", extra="nb-shards[bench]")
    torch = soft_import("torch", "nb shards bench", extra="nb-shards[torch]")
    root = Path(tempfile.mkdtemp(prefix="nb-shards-bench-", dir=directory))
    b = _Bench(root, n_samples, channels, times, shard_count, batch_size, wds, torch)
    nbytes = n_samples * channels * times * 4
    rows: list[dict[str, Any]] = []
    try:
        log("write floors ...")
        writes = [
            ("write floor: raw write of the array bytes to a new file", b.write_floor),
            ("write floor: sha256 of the array bytes (the manifest needs it)", b.sha_floor),
            ("write: nb-shards ShardWriter", b.write_nb),
            ("write: webdataset.ShardWriter", b.write_wds),
        ]
        for name, fn in writes:
            log(name + " ...")
            rows.append(_measure(name, n_samples, nbytes, fn))
        log("warming the page cache ...")
        b.raw_floor()
        cases = [
            ("read floor: raw readinto of the shard bytes", b.raw_floor),
            ("read: nb-shards ShardDataset, sequential", b.nb_samples(False)),
            ("read: webdataset .decode(), sequential", b.wds_samples(False)),
            ("read: nb-shards ShardDataset, shuffled", b.nb_samples(True)),
            ("read: webdataset .decode(), shuffled", b.wds_samples(True)),
            ("read: nb-shards ShardLoader, shuffled, workers 0", b.nb_loader(True, 0)),
            ("read: webdataset + DataLoader, shuffled, workers 0", b.wds_loader(True, 0)),
            (f"read: nb-shards ShardLoader, shuffled, workers {workers}", b.nb_loader(True, workers)),
            (f"read: webdataset + DataLoader, shuffled, workers {workers}", b.wds_loader(True, workers)),
        ]
        for name, fn in cases:
            log(name + " ...")
            rows.append(_measure(name, n_samples, nbytes, fn))
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
        "load_before": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "directory": str(root.parent),
    }
    return {"config": config, "rows": rows, "ratios": _ratios(rows, workers)}


def _ratios(rows: list[dict[str, Any]], workers: int) -> dict[str, float]:
    by = {r["name"]: r["samples_per_s"] for r in rows}
    floor = by["read floor: raw readinto of the shard bytes"]
    seq, shuf = by["read: nb-shards ShardDataset, sequential"], by["read: nb-shards ShardDataset, shuffled"]
    return {
        "write nb/webdataset": by["write: nb-shards ShardWriter"] / by["write: webdataset.ShardWriter"],
        "read sequential nb/webdataset": seq / by["read: webdataset .decode(), sequential"],
        "read shuffled nb/webdataset": shuf / by["read: webdataset .decode(), shuffled"],
        "read sequential nb/floor": seq / floor,
        "read shuffled nb/floor": shuf / floor,
        f"loader workers {workers} nb/webdataset": by[
            f"read: nb-shards ShardLoader, shuffled, workers {workers}"
        ]
        / by[f"read: webdataset + DataLoader, shuffled, workers {workers}"],
    }


def format_table(result: dict[str, Any]) -> str:
    """The result as a Markdown table (plus ratios)."""
    lines = ["| case | samples/s | MB/s | s | RssAnon Δ MB |", "|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['name']} | {r['samples_per_s']:,.0f} | {r['mb_per_s']:,.0f} | {r['seconds']:.1f} | {r['rss_anon_mb']} |"
        )
    lines.append("")
    for k, v in result["ratios"].items():
        lines.append(f"- {k}: {v:.2f}×")
    lines.append("")
    lines.append(f"config: {json.dumps(result['config'])}")
    return "\n".join(lines)
