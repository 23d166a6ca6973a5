"""``nb formats``: write, open, convert, verify, inspect and bench from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nb_core.cli import add_command, add_group

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``formats`` command group to the ``nb`` parser."""
    _, sub = add_group(
        subparsers,
        "formats",
        help="HDF5 / Zarr / NumPy+Parquet codecs with lazy random access",
        description="Write, open, convert, verify, inspect and benchmark nb-formats artifacts.",
        examples="nb formats write sub-01_raw.fif -o out/ds --format zarr --overwrite\nnb formats verify out/ds",
    )
    _add_write(sub)
    _add_open(sub)
    _add_convert(sub)
    _add_verify(sub)
    _add_inspect(sub)
    _add_bench(sub)


def _add_write(sub: Any) -> None:
    w = add_command(
        sub,
        "write",
        "write MNE-readable recordings (.fif, .edf, .vhdr, CTF .ds, ...) to an artifact",
        "nb formats write sub-01_raw.fif sub-02_raw.fif -o out/ds --format hdf5 --compression blosc-zstd --overwrite\n"
        "nb formats write sub-01_raw.fif -o out/ds-fif --allow-maxshield --reader-option on_split_missing=warn --overwrite",
    )
    w.add_argument(
        "inputs",
        nargs="+",
        help="recordings MNE reads (files, or CTF .ds / EGI .mff / BTi directories)",
    )
    w.add_argument("-o", "--output", required=True, help="artifact directory to write")
    w.add_argument(
        "--allow-maxshield",
        action="store_true",
        help="read MaxShield (IAS) FIF files not yet processed with SSS",
    )
    w.add_argument(
        "--reader-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help='an option of the MNE reader (repeatable); VALUE is JSON (1, true, ["EOG"]) or text',
    )
    _write_opts(w)
    w.set_defaults(func=_cmd_write)


def _add_open(sub: Any) -> None:
    o = add_command(
        sub,
        "open",
        "open an artifact lazily and show items",
        "nb formats open out/ds --window-size 500 --show 3\n"
        "nb formats open out/ds --window-size 500 --stride 250 --target-from annotations",
    )
    o.add_argument("path")
    o.add_argument("--window-size", type=int, default=None, help="window the recordings now (samples)")
    o.add_argument("--stride", type=int, default=None, help="samples between window starts")
    o.add_argument(
        "--target-from",
        choices=["annotations"],
        default=None,
        help="label open-time windows with the annotation containing their first sample",
    )
    o.add_argument("--show", type=int, default=3, help="items to print (default 3)")
    o.add_argument("--verify", action="store_true", help="check checksums first")
    o.set_defaults(func=_cmd_open)


def _add_convert(sub: Any) -> None:
    c = add_command(
        sub,
        "convert",
        "convert an artifact to another layout or compression",
        "nb formats convert out/ds -o out/ds-parquet --format parquet --overwrite",
    )
    c.add_argument("src", help="the artifact to convert")
    c.add_argument("-o", "--output", required=True, help="artifact directory to write")
    _write_opts(c, dtype_default=None)
    c.add_argument("--verify", action="store_true", help="check the source's checksums first")
    c.set_defaults(func=_cmd_convert)


def _add_verify(sub: Any) -> None:
    v = add_command(
        sub,
        "verify",
        "check that an artifact is complete, consistent and intact (sizes and sha256 of every file)",
        "nb formats verify out/ds",
    )
    v.add_argument("path")
    v.set_defaults(func=_cmd_verify)


def _add_inspect(sub: Any) -> None:
    i = add_command(
        sub,
        "inspect",
        "summarise an artifact (and verify its files)",
        "nb formats inspect out/ds\nnb formats inspect out/ds --verify --json",
    )
    i.add_argument("path")
    i.add_argument("--verify", action="store_true", help="check size and sha256 of every data file")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_cmd_inspect)


def _add_bench(sub: Any) -> None:
    b = add_command(
        sub,
        "bench",
        "benchmark every layout against memmap, naive h5py/zarr/Parquet and MNE .fif",
        "nb formats bench --n-samples 20 --channels 4 --times 100 --reads 10 --defaults-only --stream-seconds 2 --plot b.png\n"
        "nb formats bench --n-samples 20 --times 100 --reads 10 --defaults-only --no-mne --no-unaligned --stream-seconds 0 --dir tmp --plot c.png",
    )
    b.add_argument("--n-samples", type=int, default=2000, help="windows (default 2000)")
    b.add_argument("--channels", type=int, default=21, help="channels per window (default 21)")
    b.add_argument("--times", type=int, default=1000, help="time points per window (default 1000)")
    b.add_argument("--reads", type=int, default=500, help="random reads per row (default 500)")
    b.add_argument("--dir", default=None, help="where to write the data (default: the temp directory)")
    b.add_argument(
        "--plot", default="nb-formats-bench.png", help="PNG to save (default nb-formats-bench.png)"
    )
    b.add_argument("--json", default=None, help="also write the result as JSON to this file")
    b.add_argument("--no-mne", action="store_true", help="skip the MNE .fif baseline")
    b.add_argument(
        "--defaults-only", action="store_true", help="each layout with its default compression only (quick)"
    )
    b.add_argument("--no-unaligned", action="store_true", help="skip random windows that straddle chunks")
    b.add_argument(
        "--stream-seconds",
        type=float,
        default=600.0,
        help="length of the recording whose write memory is measured (default 600; 0 skips)",
    )
    b.add_argument("--stream-channels", type=int, default=64, help="its channels (default 64)")
    b.set_defaults(func=_cmd_bench)


def _write_opts(p: argparse.ArgumentParser, *, dtype_default: str | None = "float32") -> None:
    p.add_argument("--format", choices=("hdf5", "zarr", "parquet"), default="hdf5")
    p.add_argument("--compression", default=None, help="codec (default: blosc-lz4; parquet: zstd tables)")
    p.add_argument("--zip-store", action="store_true", help="zarr: one data.zarr.zip instead of a directory")
    p.add_argument("--dtype", choices=("float32", "float64"), default=dtype_default)
    p.add_argument("--chunk-samples", type=int, default=None, help="time chunk of recordings")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument(
        "--resume",
        action="store_true",
        help="parquet / zarr directory: keep an interrupted run's finished pieces (re-run with --resume)",
    )


def _write_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The options declared by :func:`_write_opts`, as keyword arguments of write/convert."""
    return {
        "format": args.format,
        "compression": args.compression,
        "overwrite": args.overwrite,
        "dtype": args.dtype,
        "zip_store": args.zip_store,
        "chunk_samples": args.chunk_samples,
        "resume": args.resume,
    }


def _reader_options(args: argparse.Namespace) -> dict[str, Any]:
    from nb_core.mne_adapter import parse_reader_options

    opts = parse_reader_options(args.reader_option)
    if args.allow_maxshield:
        opts["allow_maxshield"] = True
    return opts


def _cmd_write(args: argparse.Namespace) -> int:
    import nb_formats
    from nb_core.atomic import check_output
    from nb_core.errors import UnsupportedFormatError, UserError
    from nb_core.manifest import MANIFEST_NAME
    from nb_core.mne_adapter import is_mne_input, read_raw

    srcs, dst = args.inputs, args.output
    opts = _reader_options(args)
    for src in srcs:  # everything is checked before anything is read or written
        p = Path(src)
        if (p / MANIFEST_NAME).is_file() or p.name == MANIFEST_NAME:
            raise UserError(
                f"{src}: a neurobridge artifact, not a recording; to change its layout use "
                f"`nb formats convert {src} -o OUT --format ...`"
            )
        if p.exists() and not is_mne_input(p):
            raise UnsupportedFormatError(
                f"{src}: not a recording MNE reads (EDF, BDF, FIF, BrainVision .vhdr, EEGLAB .set, CTF .ds, "
                "EGI .mff, ...; see `mne.io.read_raw`)"
            )
    check_output(dst, overwrite=args.overwrite)
    raws = (read_raw(s, preload=False, **opts) for s in srcs)
    nb_formats.write(raws, dst, **_write_kwargs(args))
    print(f"wrote {dst}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    import nb_formats

    nb_formats.convert(args.src, args.output, verify=args.verify, **_write_kwargs(args))
    print(f"wrote {args.output}")
    return 0


def _cmd_open(args: argparse.Namespace) -> int:
    import nb_formats

    ds = nb_formats.open(
        args.path,
        window_size=args.window_size,
        stride=args.stride,
        verify=args.verify,
        target_from=args.target_from,
    )
    print(repr(ds))
    if ds.classes:
        print(f"  classes: {json.dumps(ds.classes)}")
    for i in range(min(args.show, len(ds))):
        s = ds.sample(i)
        arr = next(iter(s.arrays.values()))
        md = {k: s.metadata[k] for k in ("recording_id", "start", "stop", "target") if k in s.metadata}
        print(f"  [{i}] {s.key}: {arr.dtype}{list(arr.shape)} {json.dumps(md)}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    import nb_formats

    m = nb_formats.verify(args.path)
    print(
        f"verified {args.path}: {len(m.files)} file(s), sizes and sha256 match; manifest, layout, metadata "
        "and window table consistent"
    )
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    import nb_formats

    s = nb_formats.inspect_artifact(args.path, verify=args.verify)
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    w = s["writer"]
    print(f"{s['name']}: layout {s['layout']}, written by {w.get('package')} {w.get('version')}")
    print(
        f"  kind {s['kind']}, dtype {s['dtype']}, compression {s['compression']}, "
        f"materialized windows: {s['materialized']}"
    )
    for name, spec in s["modalities"].items():
        print(
            f"  modality {name}: {spec.get('dtype')} shape {spec.get('shape')} sfreq {spec.get('sfreq')} "
            f"unit {spec.get('unit')}"
        )
    print(
        f"  items {s['n_samples']}, recordings {s['n_recordings']}, files {s['n_files']}, {s['bytes']} bytes"
    )
    if args.verify:
        print(
            f"verified: {s['n_files']} file(s), sizes and sha256 match; manifest, layout, metadata and "
            "window table consistent"
        )
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import os
    import shutil
    import tempfile

    from nb_formats.bench import (
        format_streaming,
        format_table,
        format_unaligned,
        make_windows,
        rows_as_dicts,
        run_bench,
        run_streaming,
        run_unaligned,
    )

    rows = run_bench(
        n_windows=args.n_samples,
        n_channels=args.channels,
        n_times=args.times,
        n_reads=args.reads,
        workdir=args.dir,
        plot=args.plot,
        log=lambda s: print(s, file=sys.stderr),
        skip_mne=args.no_mne,
        defaults_only=args.defaults_only,
    )
    load = os.getloadavg()
    print(
        f"\nnb-formats bench: {args.n_samples} windows of {args.channels}x{args.times} float32, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
    )
    print(format_table(rows))
    extra: dict[str, Any] = {}
    if not args.no_unaligned or args.stream_seconds > 0:
        base = Path(tempfile.mkdtemp(prefix="nb-formats-bench-", dir=args.dir))
        try:
            if not args.no_unaligned:
                x = make_windows(args.n_samples, args.channels, args.times)
                un = run_unaligned(
                    x,
                    base,
                    n_reads=args.reads,
                    log=lambda s: print(s, file=sys.stderr),
                    defaults_only=args.defaults_only,
                )
                del x
                print("\nrandom windows that straddle chunks (same signals as continuous recordings):\n")
                print(format_unaligned(un))
                extra["unaligned"] = rows_as_dicts(un)
            if args.stream_seconds > 0:
                st = run_streaming(
                    base,
                    seconds=args.stream_seconds,
                    n_channels=args.stream_channels,
                    log=lambda s: print(s, file=sys.stderr),
                )
                print("\nstreaming write of one recording read with preload=False (tracemalloc peak):\n")
                print(format_streaming(st))
                extra["streaming"] = rows_as_dicts(st)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        print(f"\nplot saved to {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows_as_dicts(rows), **extra}, indent=2) + "\n")
    return 0
