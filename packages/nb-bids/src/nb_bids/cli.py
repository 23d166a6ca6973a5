"""``nb bids index|convert|export|bench``.

Heavy libraries are imported inside the handlers, so ``nb --help`` stays fast.

Example:
    $ nb bids index bids-ds/
    $ nb bids convert bids-ds/ -o bids-hf/ --split train=0.8,test=0.2 --seed 0
    $ nb bids export bids-hf/ rebuilt/
    $ nb bids verify bids-hf/
    $ nb bids bench --sizes 1000
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nb_core.cli import add_command, add_group

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``bids`` command group to ``nb``."""
    _, sub = add_group(
        subparsers,
        "bids",
        help="fast BIDS indexing and BIDS → Hugging Face conversion",
        description="Index BIDS datasets, convert them to Hugging Face datasets and back.",
        examples="nb bids index bids-ds/\nnb bids convert bids-ds/ -o bids-hf/",
    )
    i = add_command(
        sub,
        "index",
        "index a BIDS dataset: one row per file with entities and inherited metadata",
        """
        nb bids index bids-ds/                          # summary and problems
        nb bids index bids-ds/ -o index.parquet         # the whole table
        nb bids index bids-ds/ --derivatives --json
        """,
    )
    i.add_argument("root", help="BIDS dataset root (with dataset_description.json)")
    i.add_argument("-o", "--output", default=None, help="write the table as Parquet (or .csv) here")
    # the former spelling, kept working for existing scripts; not shown in --help
    i.add_argument("--out", dest="deprecated_out", default=None, help=argparse.SUPPRESS)
    i.add_argument("--derivatives", action="store_true", help="also index derivatives/*")
    i.add_argument("--no-cache", action="store_true", help="do not use or write the index cache")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.set_defaults(func=_index)

    _add_convert(sub)

    e = add_command(
        sub,
        "export",
        "rebuild the BIDS tree from a converted dataset (byte-identical files)",
        "nb bids export bids-hf/ rebuilt/",
    )
    e.add_argument("artifact", help="a directory written by nb bids convert")
    e.add_argument("bids_root", help="where to write the BIDS dataset")
    e.add_argument("--overwrite", action="store_true", help="replace an existing bids_root")
    e.set_defaults(func=_export)

    n = add_command(
        sub,
        "inspect",
        "summarise a converted dataset: configs, rows per split, counts, unreadable files",
        "nb bids inspect bids-hf/\nnb bids inspect bids-hf/ --json",
    )
    n.add_argument("artifact", help="a directory written by nb bids convert")
    n.add_argument("--json", action="store_true", help="print JSON")
    n.set_defaults(func=_inspect)

    v = add_command(
        sub,
        "verify",
        "check a converted dataset: checksums, Parquet shards, row counts",
        "nb bids verify bids-hf/",
    )
    v.add_argument("artifact", help="a directory written by nb bids convert")
    v.set_defaults(func=_verify)

    b = add_command(
        sub,
        "bench",
        "benchmark indexing against pybids (and ancpbids/bids2table if installed) and the scandir floor",
        """
        nb bids bench --sizes 300 --repeat 1 --no-convert     # a quick look at indexing speed
        nb bids bench --sizes 300 --repeat 1 --json bench.json
        """,
        note="The README table: nb bids bench --sizes 1000,5000,20000 (pybids takes minutes there).",
    )
    b.add_argument("--sizes", default="1000", help="tree sizes in files, comma-separated (default 1000)")
    b.add_argument("--no-pybids", action="store_true", help="skip pybids (slow on large trees)")
    b.add_argument(
        "--pybids-max-files", type=int, default=None, help="skip pybids on trees larger than this many files"
    )
    b.add_argument("--no-convert", action="store_true", help="skip the conversion-speed row")
    b.add_argument("--repeat", type=int, default=3, help="runs per tool, best kept (default 3)")
    b.add_argument("--dir", default=None, help="where to generate the trees (default: temp directory)")
    b.add_argument("--json", default=None, help="also write the result as JSON to this file")
    b.set_defaults(func=_bench)


def _add_convert(sub: Any) -> None:
    """Add ``nb bids convert``."""
    c = add_command(
        sub,
        "convert",
        "convert a BIDS dataset into a Hugging Face dataset directory (Parquet, no loading script)",
        """
        nb bids convert bids-ds/ -o bids-hf/
        nb bids convert bids-ds/ -o bids-hf/ --rows session --derivatives
        nb bids convert bids-ds/ -o bids-hf/ --split train=0.5,test=0.5 --seed 1 --expect bids-counts.json
        nb bids convert bids-ds/ -o bids-hf/ --resume --workers 2
        nb bids convert bids-ds/ -o bids-hf/ --split-column participant_group
        nb bids convert bids-ds/ -o bids-shards/ --to shards
        nb bids convert bids-ds/ -o bids-h5/ --to formats --format hdf5
        """,
    )
    c.add_argument("root", help="BIDS dataset root")
    c.add_argument("-o", "--output", metavar="OUT", default=None, help="output directory")
    # the former positional form (nb bids convert ROOT OUT), kept working for existing scripts
    c.add_argument(
        "legacy_out",
        nargs="?",
        default=None,
        metavar="OUT",
        help="output directory (older form of -o/--output)",
    )
    c.add_argument(
        "--rows", choices=["file", "session"], default="file", help="MRI rows per file or per session"
    )
    c.add_argument(
        "--derivatives", action="store_true", help="also convert derivatives/* (joined to sources)"
    )
    c.add_argument(
        "--split", default=None, help="subject splits, e.g. train=0.8,test=0.2 (default: all train)"
    )
    c.add_argument(
        "--split-column", default=None, help="take each subject's split from this column (participant_split)"
    )
    c.add_argument("--seed", type=int, default=0, help="seed of the subject split (default 0)")
    c.add_argument(
        "--segment-seconds", type=float, default=60.0, help="EEG seconds per row at most (default 60)"
    )
    c.add_argument("--expect", default=None, help="JSON file of counts the dataset must have")
    c.add_argument("--strict", action="store_true", help="fail on any naming problem or unreadable file")
    c.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    c.add_argument("--resume", action="store_true", help="continue an interrupted conversion")
    c.add_argument("--workers", type=int, default=None, help="local processes (0: inline; default: CPUs)")
    c.add_argument("--scheduler", default=None, help="Dask scheduler address instead of local processes")
    c.add_argument("--name", default=None, help="dataset name (default: from dataset_description.json)")
    c.add_argument(
        "--carry",
        default="code,sourcedata,stimuli",
        help="free-content folders kept as files, comma-separated, or 'none' (default code,sourcedata,stimuli)",
    )
    c.add_argument(
        "--to",
        choices=["hf", "shards", "formats"],
        default="hf",
        help="EEG/MEG/iEEG as Parquet rows (hf, default), nb-shards (eeg/) or nb-formats files (eeg/<split>/)",
    )
    c.add_argument(
        "--format",
        choices=["hdf5", "zarr", "parquet"],
        default=None,
        help="nb-formats layout with --to formats",
    )
    c.set_defaults(func=_convert)


def _index_output(args: argparse.Namespace) -> str | None:
    """The table file: ``-o/--output``, or the deprecated ``--out`` (with a note on stderr)."""
    if args.deprecated_out is None:
        return args.output
    if args.output is not None and args.output != args.deprecated_out:
        from nb_core.errors import UserError

        raise UserError(
            f"nb bids index: both -o/--output ({args.output}) and the deprecated --out "
            f"({args.deprecated_out}) were given; pass only -o/--output"
        )
    print("nb: warning: `nb bids index --out` is deprecated; use -o/--output", file=sys.stderr)
    return str(args.deprecated_out)


def _convert_output(args: argparse.Namespace) -> str:
    """The output directory: ``-o/--output``, or the positional OUT of the older form."""
    from nb_core.errors import UserError

    if args.output is None and args.legacy_out is None:
        raise UserError(
            "nb bids convert: no output directory; give it with -o/--output, "
            "e.g. nb bids convert bids-ds/ -o bids-hf/"
        )
    if args.output is not None and args.legacy_out is not None and args.output != args.legacy_out:
        raise UserError(
            f"nb bids convert: two different output directories: -o/--output {args.output} and "
            f"the positional {args.legacy_out}; pass only -o/--output"
        )
    return str(args.output if args.output is not None else args.legacy_out)


def _index(args: argparse.Namespace) -> int:
    from nb_bids.discovery import index, index_report

    out = _index_output(args)
    t = index(args.root, derivatives=args.derivatives, cache=not args.no_cache)
    rep = index_report(t)
    if out:
        from nb_core.atomic import atomic_path

        with atomic_path(out) as tmp:
            if str(out).endswith(".csv"):
                import pyarrow.csv as pcsv

                pcsv.write_csv(t, tmp)
            else:
                import pyarrow.parquet as pq

                pq.write_table(t, tmp)
    if args.json:
        print(json.dumps(rep, indent=2, sort_keys=True))
        return 0
    print(
        f"{rep['n_files']} files, {rep['n_subjects']} subjects, {rep['n_sessions']} sessions (BIDS {rep['bids_version']})"
    )
    for k, v in rep["files_per_datatype_suffix"].items():
        print(f"  {k}: {v}")
    for p in rep["problems"]:
        print(f"problem: {p['path']}: {p['problem']}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from nb_bids.converter import convert

    out = _convert_output(args)
    rep = convert(
        args.root,
        out,
        rows=args.rows,
        derivatives=args.derivatives,
        split=args.split,
        split_column=args.split_column,
        seed=args.seed,
        segment_seconds=args.segment_seconds,
        expect=args.expect,
        strict=args.strict,
        overwrite=args.overwrite,
        resume=args.resume,
        max_workers=args.workers,
        scheduler=args.scheduler,
        name=args.name,
        to=args.to,
        format=args.format,
        carry=()
        if args.carry.strip() == "none"
        else tuple(d.strip() for d in args.carry.split(",") if d.strip()),
    )
    rows = ", ".join(f"{cfg}: {sum(v.values())}" for cfg, v in rep["configs"].items())
    print(f"wrote {out} ({rows} rows; {rep['n_subjects']} subjects, {rep['n_sessions']} sessions)")
    if rep.get("eeg", {}).get("path"):
        e = rep["eeg"]
        print(
            f"EEG: {sum(e['rows'].values())} {'samples' if e['to'] == 'shards' else 'recordings'} in {e['path']}/"
        )
    for folder, n in rep.get("carried", {}).items():
        if n == "not carried":
            print(f"warning: {folder}/ is not carried (--carry); nb bids export will not give it back")
    for u in rep["unreadable"]:
        print(f"unreadable: {u['path']}: {u['reason']}")
    for unit, dts in rep["missing_datatypes"].items():
        print(f"missing: {unit}: {', '.join(dts)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from nb_bids.exporter import export

    n = export(args.artifact, args.bids_root, overwrite=args.overwrite)
    print(f"wrote {n} files to {args.bids_root}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from nb_bids.exporter import inspect_artifact

    info = inspect_artifact(args.artifact)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    for k, v in info.items():
        print(f"{k}: {json.dumps(v) if not isinstance(v, str) else v}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from nb_bids.exporter import verify

    rows = verify(args.artifact)
    print("ok: " + ", ".join(f"{k}: {v} rows" for k, v in rows.items()) + " (checksums verified)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from nb_bids.bench import format_table, run_bench

    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        from nb_core.errors import UserError

        raise UserError(
            f"--sizes: give file counts separated by commas, e.g. 1000,10000; got {args.sizes!r}"
        ) from None
    result = run_bench(
        sizes=sizes,
        pybids=not args.no_pybids,
        convert=not args.no_convert,
        directory=args.dir,
        repeat=args.repeat,
        pybids_max_files=args.pybids_max_files,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(format_table(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0
