"""``nb bids bench``: indexing speed against pybids, ancpbids, bids2table and the scandir floor,
and conversion speed against copying the same NIfTI bytes.

Every peer runs in the same process on the same generated tree (:func:`nb_bids.testing.make_flat_tree`);
a peer that is not installed is left out. Times are the best wall-clock seconds of ``repeat`` runs
after one untimed warm-up index of the tree (file-system cache warm, imports done).

Example:
    >>> r = run_bench(sizes=[200], pybids=False, peers=False, convert=False)
    >>> r["index"][0]["files"] >= 200
    True
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["format_table", "run_bench"]


def _floor(root: Path) -> int:
    """os.scandir walk that also parses every JSON sidecar: the least any indexer must do."""
    n = 0
    stack = [str(root)]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir():
                    stack.append(e.path)
                else:
                    e.stat()
                    n += 1
                    if e.name.endswith(".json"):
                        with open(e.path, "rb") as f:
                            json.loads(f.read())
    return n


def _cpu() -> float:
    """CPU seconds of this process (all threads) and of its finished child processes."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed_row(row: dict[str, Any], key: str, fn: Callable[[], Any], repeat: int) -> None:
    """``row[key + "_s"]``: best wall-clock seconds; ``row[key + "_cpu_s"]``: least CPU seconds."""
    best, cpu = float("inf"), float("inf")
    for _ in range(max(1, repeat)):
        c0, t0 = _cpu(), time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, _cpu() - c0)
    row[f"{key}_s"], row[f"{key}_cpu_s"] = best, cpu


def _timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall-clock time of ``repeat`` runs (the least disturbed by other load) and the result."""
    best, out = float("inf"), None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _pybids(root: Path) -> int:
    from bids.layout import BIDSLayout

    layout = BIDSLayout(str(root), validate=False)  # indexes metadata (inheritance) by default
    return len(layout.get())


def _ancpbids(root: Path) -> int:
    import ancpbids

    ds = ancpbids.load_dataset(str(root))
    return len(ds.query(scope="raw", return_type="filename"))


def _bids2table(root: Path) -> int:
    import bids2table

    return int(bids2table.index_dataset(root).num_rows)


def run_bench(
    *,
    sizes: list[int] | None = None,
    pybids: bool = True,
    peers: bool = True,
    convert: bool = True,
    directory: str | None = None,
    repeat: int = 3,
    log: Callable[[str], None] | None = None,
    pybids_max_files: int | None = None,
) -> dict[str, Any]:
    """Run the benchmark; return ``{"index": [rows per size], "convert": {...}}``.

    Args:
        sizes: tree sizes in files (default ``[1000]``).
        pybids: include pybids ``BIDSLayout`` (slow: about 500 files/s).
        peers: include ancpbids and bids2table when they are installed.
        convert: also time a conversion against copying the same NIfTI bytes.
        directory: where to generate trees (default: a temporary directory, removed after).
        repeat: runs per tool, the best time is kept (pybids runs once above 2,000 files).
        pybids_max_files: leave pybids out on trees with more files than this (it takes
            minutes on 20,000 files).
    """
    from nb_bids.discovery import index
    from nb_bids.testing import make_flat_tree

    say = log or (lambda m: None)
    base = Path(directory or tempfile.mkdtemp(prefix="nb-bids-bench-"))
    result: dict[str, Any] = {"index": [], "cpus": os.cpu_count()}
    try:
        for n in sizes or [1000]:
            root = base / f"tree-{n}"
            if not (root / "dataset_description.json").exists():
                say(f"generating a tree of about {n} files in {root}")
                make_flat_tree(root, n)
            files = _floor(root)
            row: dict[str, Any] = {"files": files}
            index(root, cache=False)  # warm-up: page cache and imports
            _timed_row(row, "floor", lambda: _floor(root), repeat)  # noqa: B023
            _timed_row(row, "nb", lambda: index(root, cache=False), repeat)  # noqa: B023
            cache = base / "cache"
            index(root, cache=cache)
            _timed_row(row, "nb_cached", lambda: index(root, cache=cache), repeat)  # noqa: B023
            if pybids and _has("bids") and (pybids_max_files is None or files <= pybids_max_files):
                say(f"pybids on {files} files...")
                _timed_row(row, "pybids", lambda: _pybids(root), repeat if files <= 2000 else 1)  # noqa: B023
            if peers and _has("ancpbids"):
                say(f"ancpbids on {files} files...")
                _timed_row(row, "ancpbids", lambda: _ancpbids(root), repeat)  # noqa: B023
            if peers and _has("bids2table"):
                say(f"bids2table on {files} files...")
                _timed_row(row, "bids2table", lambda: _bids2table(root), repeat)  # noqa: B023
            say(json.dumps(row))
            result["index"].append(row)
        if convert:
            result["convert"] = _bench_convert(base, say, repeat)
    finally:
        if directory is None:
            shutil.rmtree(base, ignore_errors=True)
    return result


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _bench_convert(base: Path, say: Callable[[str], None], repeat: int = 3) -> dict[str, Any]:
    """Convert an MRI tree in one process and copy the same NIfTI bytes: MB/s each."""
    from nb_bids.converter import convert
    from nb_bids.testing import make_bids_tree

    root = base / "mri"
    if not (root / "dataset_description.json").exists():
        say("generating an MRI tree for the conversion row")
        make_bids_tree(root, n_subjects=6, sessions=("01", "02"), eeg=False, shape=(64, 64, 40), n_volumes=10)
    niftis = sorted(root.rglob("*.nii.gz"))
    nbytes = sum(p.stat().st_size for p in niftis)
    dst = base / "copy"

    def copy() -> None:
        shutil.rmtree(dst, ignore_errors=True)
        for p in niftis:
            q = dst / p.relative_to(root)
            q.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, q)
            with open(q, "rb+") as f:
                os.fsync(f.fileno())

    copy()  # warm the page cache
    copy_s, _ = _timed(copy, repeat)
    out = base / "converted"
    convert(root, out, max_workers=0, overwrite=True)  # warm-up: imports (datasets, nibabel)
    conv_s, _ = _timed(lambda: convert(root, out, max_workers=0, overwrite=True), repeat)
    return {
        "nifti_files": len(niftis),
        "nifti_bytes": nbytes,
        "copy_s": copy_s,
        "convert_s": conv_s,
        "copy_mb_s": nbytes / copy_s / 1e6,
        "convert_mb_s": nbytes / conv_s / 1e6,
    }


def format_table(result: dict[str, Any]) -> str:
    """A Markdown table of a :func:`run_bench` result."""
    lines = [
        "| files | floor (scandir + JSON) | nb-bids | nb-bids cached | pybids | ancpbids | bids2table "
        "| nb-bids vs pybids | vs ancpbids | vs bids2table |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def cell(r: dict[str, Any], key: str) -> str:
        if key not in r:
            return "–"
        return f"{r[key]:.3f} s ({r['files'] / r[key]:,.0f}/s)"

    def ratio(r: dict[str, Any], key: str) -> str:
        return f"{r[key] / r['nb_s']:.{0 if key == 'pybids_s' else 1}f}×" if key in r else "–"

    for r in result["index"]:
        lines.append(
            f"| {r['files']:,} | {cell(r, 'floor_s')} | {cell(r, 'nb_s')} | {cell(r, 'nb_cached_s')} | "
            f"{cell(r, 'pybids_s')} | {cell(r, 'ancpbids_s')} | {cell(r, 'bids2table_s')} | "
            f"{ratio(r, 'pybids_s')} | {ratio(r, 'ancpbids_s')} | {ratio(r, 'bids2table_s')} |"
        )
    if any("nb_cpu_s" in r for r in result["index"]):
        lines += [
            "",
            "CPU seconds (this process and its children; less disturbed by other load than wall-clock):",
            "",
            lines[0],
            lines[1],
        ]

        def cpu(r: dict[str, Any], key: str) -> str:
            return f"{r[key]:.3f} s" if key in r else "–"

        def cratio(r: dict[str, Any], key: str) -> str:
            return f"{r[key] / r['nb_cpu_s']:.{0 if key == 'pybids_cpu_s' else 1}f}×" if key in r else "–"

        for r in result["index"]:
            lines.append(
                f"| {r['files']:,} | {cpu(r, 'floor_cpu_s')} | {cpu(r, 'nb_cpu_s')} | {cpu(r, 'nb_cached_cpu_s')} | "
                f"{cpu(r, 'pybids_cpu_s')} | {cpu(r, 'ancpbids_cpu_s')} | {cpu(r, 'bids2table_cpu_s')} | "
                f"{cratio(r, 'pybids_cpu_s')} | {cratio(r, 'ancpbids_cpu_s')} | {cratio(r, 'bids2table_cpu_s')} |"
            )
    c = result.get("convert")
    if c:
        lines += [
            "",
            "| conversion (one process) | NIfTI files | MB | seconds | MB/s |",
            "|---|---:|---:|---:|---:|",
            f"| copy the NIfTI bytes | {c['nifti_files']} | {c['nifti_bytes'] / 1e6:.1f} | {c['copy_s']:.3f} | {c['copy_mb_s']:.0f} |",
            f"| nb bids convert | {c['nifti_files']} | {c['nifti_bytes'] / 1e6:.1f} | {c['convert_s']:.3f} | {c['convert_mb_s']:.0f} |",
        ]
    return "\n".join(lines)
