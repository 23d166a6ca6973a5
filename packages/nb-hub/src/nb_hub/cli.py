"""``nb hub``: push, pull and card commands, and a Hub emulator for manual tests.

Example:
    $ nb hub emulator --port 8765
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any

__all__ = ["register"]


def _emulator(args: argparse.Namespace) -> int:
    from nb_hub.testing import HubEmulator, HubLimits

    tokens = None
    if args.token:
        tokens = {}
        for t in args.token:
            tok, _, user = t.partition(":")
            tokens[tok] = user or tok
    emu = HubEmulator(port=args.port, storage=args.storage, tokens=tokens, limits=HubLimits())
    emu.start()
    print(f"Hub emulator serving at {emu.endpoint} (Ctrl-C to stop)", flush=True)
    print(f"  export HF_ENDPOINT={emu.endpoint} HF_HUB_DISABLE_XET=1", flush=True)
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``hub`` command group to ``nb``."""
    hub = subparsers.add_parser(
        "hub",
        help="push/pull artifacts to the Hugging Face Hub, dataset cards, Hub emulator",
        description="Share neurobridge artifacts on the Hugging Face Hub.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hub.set_defaults(help_parser=hub)
    sub = hub.add_subparsers(dest="hub_command", metavar="COMMAND")

    emu = sub.add_parser(
        "emulator",
        help="serve an offline emulator of the Hub API on 127.0.0.1",
        description="Serve an HTTP emulator of the Hugging Face Hub API on 127.0.0.1 (Git LFS, no Xet).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""
            example:
              nb hub emulator --port 8765 --storage /tmp/hub --token hf_test:alice
              # in another shell:
              HF_ENDPOINT=http://127.0.0.1:8765 HF_HUB_DISABLE_XET=1 HF_TOKEN=hf_test nb hub push out/ alice/demo
            """),
    )
    emu.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port; default 8765)")
    emu.add_argument("--storage", default=None, help="keep repos under this directory (default: in memory)")
    emu.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN[:USER]",
        help="accepted token (repeatable); with tokens, others get 401",
    )
    emu.set_defaults(func=_emulator)
