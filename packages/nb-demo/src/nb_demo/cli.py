"""``nb demo``: the whole neurobridge pipeline on generated data, in one command."""

from __future__ import annotations

import argparse
from typing import Any

from nb_core.cli import add_command
from nb_demo.pipeline import QUICK

__all__ = ["register"]

EXAMPLES = """
nb demo --quick --out demo-quick                     # everything, on less data (under a minute)
nb demo --out demo-zarr --format zarr --no-train --no-bids --subjects 2 --test-subjects 1 --duration 8
"""


def register(subparsers: Any) -> None:
    """Add ``nb demo`` to the ``nb`` command."""
    p = add_command(
        subparsers,
        "demo",
        "run the end-to-end pipeline on generated EEG",
        EXAMPLES,
        description="Simulate EEG with MNE, write it in every nb-formats layout, shard it with nb-shards, "
        "push it to the offline Hub emulator and pull it back with nb-hub, load it with datasets; convert a "
        "generated BIDS tree (NIfTI + EEG) with nb-bids, push it and load it with Nifti decoding; train a "
        "small model from the shards with a checkpoint/resume check, save it as safetensors and push it "
        "with a model card. Plain `nb demo` runs it on 6 subjects x 60 s (a few minutes). Ends with what was made and the command to look at each, and writes "
        "OUT/report.html (figures) and OUT/report.json. Everything, caches included, stays under OUT. "
        "A folder that is not empty and was not written by nb demo is refused unless --overwrite; "
        "nothing but the demo's own entries (listed in OUT/.nb-demo.json) is ever removed.",
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
    p.add_argument(
        "--quick",
        action="store_true",
        help="less data and fewer epochs (" + ", ".join(f"{k}={v:g}" for k, v in QUICK.items()) + ")",
    )
    p.add_argument("--subjects", type=int, help="simulated subjects (default: 6)")
    p.add_argument("--test-subjects", type=int, help="subjects held out for testing (default: 2)")
    p.add_argument("--duration", type=float, help="seconds per recording (default: 60)")
    p.add_argument("--channels", type=int, help="EEG channels (default: 21)")
    p.add_argument(
        "--format",
        choices=("hdf5", "zarr", "parquet"),
        default="hdf5",
        help="nb-formats layout the shards are made from; all three are written (default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, help="training epochs (default: 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--no-train", action="store_true", help="skip training and the model (torch not needed)")
    p.add_argument("--no-bids", action="store_true", help="skip the BIDS (NIfTI + EEG) step")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import warnings

    from nb_demo.pipeline import DemoSkipWarning, run_demo

    # skipped steps are printed by the demo itself ("skipped: ...") and listed in the report
    warnings.simplefilter("ignore", DemoSkipWarning)

    options = dict(QUICK) if args.quick else {}
    given = {
        "n_subjects": args.subjects,
        "n_test_subjects": args.test_subjects,
        "duration": args.duration,
        "n_channels": args.channels,
        "epochs": args.epochs,
    }
    options.update({k: v for k, v in given.items() if v is not None})
    report = run_demo(
        args.out,
        **options,
        format=args.format,
        seed=args.seed,
        train=not args.no_train,
        bids=not args.no_bids,
        overwrite=args.overwrite,
    )
    print()
    print(report.table())
    print()
    print(report.summary())
    return 0
