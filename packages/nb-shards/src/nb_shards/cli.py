"""``nb shards write|inspect|verify|mix|bench``.

Heavy libraries are imported inside the handlers, so ``nb --help`` stays fast.

Example:
    $ nb shards write rec1.edf rec2.fif -o shards/ --window 2 --max-count 1000 --target-from annotations
    $ nb shards inspect shards/
    $ nb shards verify shards/
    $ nb shards mix mix.yaml --dry-run
    $ nb shards bench --n-samples 2000
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nb_core.cli import add_command, add_group

__all__ = ["register"]


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().rstrip("b").rstrip("i")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def register(subparsers: Any) -> None:
    """Add the ``shards`` command group to ``nb``."""
    _, sub = add_group(
        subparsers,
        "shards",
        help="WebDataset-compatible tar shards and a resumable loader",
        description="Write, inspect, verify and benchmark WebDataset-compatible tar shards.",
        examples="nb shards write sub-01.edf -o one/\nnb shards verify shards/",
    )
    _add_write(sub)
    _add_inspect(sub)
    _add_verify(sub)
    _add_mix(sub)
    _add_bench(sub)


def _add_write(sub: Any) -> None:
    w = add_command(
        sub,
        "write",
        "convert recordings, nb-formats artifacts, NPY/NPZ arrays or NWB files into shards",
        """
        nb shards write sub-01.edf sub-02.edf -o shards/ --window 2.0 --max-count 1000
        nb shards write sub-01.edf -o labelled/ --target-from annotations   # targets from annotations
        nb shards write data.h5/ -o from-h5/ --split valid         # an nb-formats artifact
        nb shards write X.npz -o arrays/ --compression zst         # arrays n×...; 1-D arrays → JSON
        nb shards write sub-01_raw.fif -o meg/ --allow-maxshield   # MNE reader options
        nb shards write *.nwb -o nwb/ --workers 2                  # --scheduler tcp://HOST:8786 for Dask
        """,
    )
    w.add_argument("inputs", nargs="+", help="input files or nb-formats artifact directories")
    w.add_argument("-o", "--out", "--output", dest="out", required=True, help="artifact directory to write")
    w.add_argument("--split", default="train", help="split name (default: train)")
    w.add_argument("--max-count", type=int, default=10_000, help="samples per shard at most (default 10000)")
    w.add_argument(
        "--max-bytes", type=_size, default=1 << 30, help="bytes per shard at most, e.g. 512M (default 1G)"
    )
    w.add_argument("--compression", choices=["gz", "zst"], default=None, help="compress whole shards")
    w.add_argument(
        "--window",
        type=float,
        default=None,
        help="window length in seconds: recordings (default 2.0); an nb-formats artifact is cut into "
        "windows of this length instead of its stored items",
    )
    w.add_argument(
        "--stride", type=float, default=None, help="seconds between window starts (default: --window)"
    )
    w.add_argument(
        "--target-from",
        choices=["annotations"],
        default=None,
        help="label each window with the annotation containing its first sample (-1: none; "
        "the classes are listed in the manifest)",
    )
    w.add_argument(
        "--modality",
        default=None,
        help="modality name (default: from the channel types of recordings, e.g. eeg or meg; eeg for arrays)",
    )
    w.add_argument(
        "--allow-maxshield",
        action="store_true",
        help="read MaxShield (unprocessed, SSS not applied) FIF recordings",
    )
    w.add_argument(
        "--reader-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of MNE's reader (repeatable; VALUE as JSON, else text), e.g. preload=false",
    )
    w.add_argument(
        "--workers", type=int, default=None, help="local processes (0: inline; default: CPU count)"
    )
    w.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address (tcp://host:8786) instead of local processes",
    )
    w.add_argument(
        "--items-per-task",
        type=int,
        default=10_000,
        help="split an nb-formats artifact or .npy with more items into tasks of this many (default 10000)",
    )
    w.add_argument("--overwrite", action="store_true", help="replace the split if the artifact has it")
    w.add_argument("--name", default=None, help="dataset name in the manifest")
    w.set_defaults(func=_write)


def _add_inspect(sub: Any) -> None:
    i = add_command(
        sub,
        "inspect",
        "summarise a shard artifact (splits, modalities, shards, first keys)",
        "nb shards inspect shards/",
    )
    i.add_argument("path", nargs="+", help="artifact directory, or shard files")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_inspect)


def _add_verify(sub: Any) -> None:
    v = add_command(
        sub,
        "verify",
        "check checksums, each index against its tar, and that every sample decodes",
        "nb shards verify shards/\nnb shards verify shards/ --no-decode",
    )
    v.add_argument("path", nargs="+", help="artifact directory, or shard files")
    v.add_argument("--no-decode", action="store_true", help="skip decoding every sample")
    v.set_defaults(func=_verify)


def _add_mix(sub: Any) -> None:
    m = add_command(
        sub,
        "mix",
        "check a mixture spec (YAML) and print its plan, or read one epoch of it",
        "nb shards mix mix.yaml --dry-run          # per source: samples before/after the filter, share, columns\n"
        "nb shards mix mix.yaml --dry-run --json   # the plan as JSON\n"
        "nb shards mix mix.yaml --n-samples 50     # read 50 samples: realised share of each source",
    )
    m.add_argument("spec", help="mixture spec (YAML: seed, epoch, sources with path/weight/filter/columns)")
    m.add_argument(
        "--dry-run",
        action="store_true",
        help="only print the plan (reads the metadata index and one sample per source for the column check)",
    )
    m.add_argument("--n-samples", type=int, default=None, help="samples to read (default: one epoch)")
    m.add_argument("--json", action="store_true", help="print JSON")
    m.add_argument("--cache-dir", default=None, help="cache of remote shards and of the metadata index")
    m.set_defaults(func=_mix)


def _add_bench(sub: Any) -> None:
    b = add_command(
        sub,
        "bench",
        "benchmark nb-shards against webdataset, MosaicML streaming, litdata and the raw-read floor",
        "nb shards bench --n-samples 200 --channels 8 --times 100 --repeat 1    # a quick run\n"
        "nb shards bench --n-samples 200 --channels 8 --times 100 --json result.json   "
        "# default: 20,000 × 64×1000 (≈5 GB)",
    )
    b.add_argument("--n-samples", type=int, default=20_000, help="samples (default 20000)")
    b.add_argument("--channels", type=int, default=64, help="channels per sample (default 64)")
    b.add_argument("--times", type=int, default=1000, help="time points per sample (default 1000)")
    b.add_argument("--shard-count", type=int, default=1000, help="samples per shard (default 1000)")
    b.add_argument("--batch-size", type=int, default=32, help="batch size of the loaders (default 32)")
    b.add_argument(
        "--workers", type=int, default=2, help="workers of the rows compared with the peers (default 2)"
    )
    b.add_argument(
        "--worker-counts",
        default="0,1,2,4",
        help="workers of the ShardLoader rows, plain and with a transform (default 0,1,2,4)",
    )
    b.add_argument("--no-transform", action="store_true", help="skip the ~100 µs per-sample transform rows")
    b.add_argument("--no-peers", action="store_true", help="skip MosaicML streaming and litdata")
    b.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of the readers, each once per round; rows and ratios are medians (default 3)",
    )
    b.add_argument("--dir", default=None, help="where to write the data (default: the temp directory)")
    b.add_argument("--keep", action="store_true", help="keep the generated shards")
    b.add_argument("--json", default=None, help="also write the result as JSON to this file")
    b.set_defaults(func=_bench)


def _write(args: argparse.Namespace) -> int:
    from nb_shards.convert import write

    m = write(
        args.inputs,
        args.out,
        split=args.split,
        max_count=args.max_count,
        max_bytes=args.max_bytes,
        compression=args.compression,
        window=args.window,
        stride=args.stride,
        modality=args.modality,
        target_from=args.target_from,
        reader_kwargs=_reader_kwargs(args),
        scheduler=args.scheduler,
        max_workers=args.workers,
        overwrite=args.overwrite,
        name=args.name,
        items_per_task=args.items_per_task,
    )
    n_shards = sum(1 for f in m.files if ".tar" in f.path)
    print(f"wrote {m.splits} samples in {n_shards} shards to {args.out}")
    return 0


def _reader_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from nb_core.mne_adapter import parse_reader_options

    out = parse_reader_options(args.reader_option)
    if args.allow_maxshield:
        out["allow_maxshield"] = True
    return out


def _one(paths: list[str]) -> Any:
    return paths[0] if len(paths) == 1 else paths


def _inspect(args: argparse.Namespace) -> int:
    from nb_shards.verify import inspect_artifact

    info = inspect_artifact(_one(args.path))
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    for k, v in info.items():
        print(f"{k}: {json.dumps(v) if not isinstance(v, str) else v}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from nb_shards.verify import verify

    r = verify(_one(args.path), decode=not args.no_decode)
    what = "checksums, indexes" + ("" if args.no_decode else " and samples") if r["checksums"] else "indexes"
    print(f"ok: {r['shards']} shards, {r['samples']} samples, {r['bytes']:,} bytes ({what} verified)")
    return 0


def _mix(args: argparse.Namespace) -> int:
    from nb_shards.mixture import Mixture

    mix = Mixture(args.spec, cache_dir=args.cache_dir)
    plan = mix.plan()
    out: dict[str, Any] = {
        "spec": args.spec,
        "seed": mix.seed,
        "epoch_samples": mix.n_samples,
        "sources": plan,
    }
    if not args.dry_run:
        out["read"] = _read_mix(mix, args.n_samples)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.spec}: {mix.n_samples} samples per epoch, seed {mix.seed}")
    print(
        f"{'source':<16} {'kind':<8} {'total':>8} {'kept':>8} {'weight':>7} {'epoch':>8} {'share':>6}  columns"
    )
    for p in plan:
        cols = ", ".join(f"{k}<-{v}" for k, v in p["columns"].items()) or "(all fields)"
        print(
            f"{p['source'][:16]:<16} {p['kind']:<8} {p['total']:>8} {p['kept']:>8} {p['weight']:>7.3g} "
            f"{p['per_epoch']:>8} {p['share']:>6.1%}  {cols}"
        )
    if mix.inputs:
        print("inputs: " + ", ".join(f"{k} {v}" for k, v in mix.inputs.items()))
    if "read" in out:
        got = out["read"]
        shares = ", ".join(f"{k} {v / max(1, got['samples']):.1%}" for k, v in got["per_source"].items())
        print(f"read {got['samples']} samples: {shares}")
    return 0


def _read_mix(mix: Any, limit: int | None) -> dict[str, Any]:
    from collections import Counter

    per: Counter[str] = Counter({p["source"]: 0 for p in mix.plan()})
    n = 0
    for s in mix:
        if limit is not None and n >= limit:
            break
        per[s["__source__"]] += 1
        n += 1
    return {"samples": n, "per_source": dict(per)}


def _counts(text: str) -> list[int]:
    from nb_core.errors import UserError

    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        counts = [-1]
    if not counts or min(counts) < 0:
        raise UserError(f"worker_counts must be a comma-separated list of integers >= 0; got {text!r}")
    return counts


def _bench(args: argparse.Namespace) -> int:
    from nb_shards.bench import format_table, run_bench

    result = run_bench(
        n_samples=args.n_samples,
        channels=args.channels,
        times=args.times,
        shard_count=args.shard_count,
        batch_size=args.batch_size,
        workers=args.workers,
        worker_counts=_counts(args.worker_counts),
        transform=not args.no_transform,
        peers=not args.no_peers,
        repeat=args.repeat,
        directory=args.dir,
        keep=args.keep,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(format_table(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0
