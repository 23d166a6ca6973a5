"""``nb demo``: the whole neurobridge pipeline on generated data, in one command."""

from __future__ import annotations

import argparse
from typing import Any

from nb_core.cli import add_command

__all__ = ["register"]

EXAMPLES = """
nb demo                                              # simulate, convert, shard, push, pull, train
nb demo --subjects 3 --duration 20 --epochs 2        # a quicker run
nb demo --out demo-zarr --format zarr --no-train     # Zarr layout; no training (no torch needed)
"""


def register(subparsers: Any) -> None:
    """Add ``nb demo`` to the ``nb`` command."""
    p = add_command(
        subparsers,
        "demo",
        "run the end-to-end pipeline on generated EEG",
        EXAMPLES,
        description="Simulate EEG with MNE, convert it with nb-formats, shard it with nb-shards, push it "
        "to the offline Hub emulator and pull it back with nb-hub, then train a small model from the "
        "shards. Prints a timed report and writes OUT/report.json. A folder that is not empty and was "
        "not written by nb demo is refused unless --overwrite; nothing but the demo's own entries "
        "(listed in OUT/.nb-demo.json) is ever removed.",
    )
    p.add_argument(
        "--out",
        default="nb-demo-out",
        help="output folder: new, empty, or an earlier demo output (default: %(default)s)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="also write into a non-empty folder that nb demo did not write (only the demo's own "
        "entries in it are replaced)",
    )
    p.add_argument("--subjects", type=int, default=6, help="simulated subjects (default: %(default)s)")
    p.add_argument(
        "--test-subjects", type=int, default=2, help="subjects held out for testing (default: %(default)s)"
    )
    p.add_argument(
        "--duration", type=float, default=60.0, help="seconds per recording (default: %(default)s)"
    )
    p.add_argument("--channels", type=int, default=21, help="EEG channels (default: %(default)s)")
    p.add_argument(
        "--format",
        choices=("hdf5", "zarr", "parquet"),
        default="hdf5",
        help="nb-formats layout for the conversion step (default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, default=8, help="training epochs (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--no-train", action="store_true", help="skip training (torch not needed)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import warnings

    from nb_demo.pipeline import DemoSkipWarning, run_demo

    # skipped steps are printed by the demo itself ("skipped: ...") and listed in the report
    warnings.simplefilter("ignore", DemoSkipWarning)

    report = run_demo(
        args.out,
        n_subjects=args.subjects,
        n_test_subjects=args.test_subjects,
        duration=args.duration,
        n_channels=args.channels,
        format=args.format,
        epochs=args.epochs,
        seed=args.seed,
        train=not args.no_train,
        overwrite=args.overwrite,
    )
    print()
    print(report.table())
    print(f"\nreport: {args.out}/report.json")
    return 0
