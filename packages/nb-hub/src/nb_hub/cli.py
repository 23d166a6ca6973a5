"""``nb hub``: push, pull and card commands, and a Hub emulator for manual tests.

Tokens come from the usual ``huggingface_hub`` sources (``HF_TOKEN``, ``hf auth login``);
there is deliberately no ``--token`` option, so a token never lands in shell history or logs.

Commands that talk to a loopback endpoint (the emulator) disable Xet themselves, and files
pulled from any endpoint other than huggingface.co are cached in a folder of that endpoint
(``<HF_HUB_CACHE>/../nb-endpoints/<host>-<port>``), never among the real Hub's repos.

Example:
    $ nb hub push out/eeg-shards me/eeg --private
    $ nb hub pull me/eeg --include "train-*"
    $ nb hub card out/eeg-shards -o README.md
    $ nb hub emulator --port 8765
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from nb_core.cli import add_command, add_group

__all__ = ["register"]


def _emulator(args: argparse.Namespace) -> int:
    from nb_core.errors import UserError
    from nb_hub.testing import HubEmulator, HubLimits

    tokens = None
    if args.token:
        tokens = {}
        for t in args.token:
            tok, _, user = t.partition(":")
            if not tok:
                raise UserError(f"--token {t!r}: expected TOKEN or TOKEN:USER")
            tokens[tok] = user or tok
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: a TCP port is 0..65535 (0 picks a free one)")
    try:
        emu = HubEmulator(port=args.port, storage=args.storage, tokens=tokens, limits=HubLimits())
        emu.start()
    except OSError as err:
        what = f"--storage {args.storage}" if args.storage and err.filename else f"127.0.0.1:{args.port}"
        hint = (
            "choose another --port (0 picks a free one) or stop what is serving there"
            if not err.filename
            else "choose a folder you can write to"
        )
        raise UserError(f"cannot serve the Hub emulator on {what}: {err.strerror or err}; {hint}") from None
    print(f"Hub emulator serving at {emu.endpoint} (Ctrl-C to stop)", flush=True)
    print(f"  export HF_ENDPOINT={emu.endpoint} HF_HUB_DISABLE_XET=1", flush=True)
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        print(f"nb: warning: {w.message}", file=sys.stderr)


def _push(args: argparse.Namespace) -> int:
    from nb_hub.limits import RepoLimits
    from nb_hub.push import push

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        url = push(
            args.path,
            args.repo_id,
            private=True if args.private else None,
            revision=args.revision,
            commit_message=args.message,
            create_pr=args.create_pr,
            endpoint=args.endpoint,
            limits=RepoLimits(max_files_per_commit=args.files_per_commit),
            preview=not args.no_preview,
            show_progress=None,
            license=args.license,
            force=args.force,
            verify=not args.no_verify,
        )
    _print_warnings(caught)
    print(url)
    return 0


def _pull(args: argparse.Namespace) -> int:
    from nb_hub.pull import pull

    path = pull(
        args.repo_id,
        revision=args.revision,
        local_dir=args.local_dir,
        allow_patterns=args.include or None,
        verify=not args.no_verify,
        endpoint=args.endpoint,
    )
    print(path)
    return 0


def _card(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nb_core.atomic import atomic_write_bytes
    from nb_core.manifest import Manifest
    from nb_hub.card import PREVIEW_NAME, card

    m = Manifest.read(args.path)
    existing = (
        Path(args.output).read_text(encoding="utf-8") if args.output and Path(args.output).is_file() else None
    )
    text = str(
        card(
            m,
            repo_id=args.repo_id,
            existing=existing,
            preview=PREVIEW_NAME if args.preview else None,
            license=args.license,
        )
    )
    if args.output:
        # the folder of --output is created (a card often goes next to a new artifact)
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    if args.preview and args.output:
        from nb_hub.preview import render_preview

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            render_preview(args.path, Path(args.output).parent / PREVIEW_NAME, manifest=m)
        _print_warnings(caught)
    if args.output:
        atomic_write_bytes(args.output, text.encode("utf-8"))
        print(args.output)
    else:
        print(text)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``hub`` command group to ``nb``."""
    _, sub = add_group(
        subparsers,
        "hub",
        help="push/pull artifacts to the Hugging Face Hub, dataset cards, Hub emulator",
        description="Share neurobridge artifacts on the Hugging Face Hub.",
        examples="nb hub push out/eeg-shards me/eeg-demo --license cc-by-4.0\nnb hub pull me/eeg-demo --local-dir data/eeg",
    )
    _add_push(sub)
    _add_pull(sub)
    _add_card(sub)
    _add_emulator(sub)


def _add_push(sub: Any) -> None:
    """The ``nb hub push`` command."""
    push = add_command(
        sub,
        "push",
        "push an artifact (a directory with nb-manifest.json) to a Hub dataset repo",
        """
        nb hub push out/eeg-shards me/eeg-demo --private --license cc-by-4.0
        HF_ENDPOINT=http://127.0.0.1:8765 nb hub push out/eeg-shards me/eeg-demo --license cc0-1.0   # to `nb hub emulator`
        """,
        note="The token comes from HF_TOKEN or `hf auth login`. Re-running resumes an interrupted push.\n"
        "The repo ends up equal to the artifact: files the artifact does not have are deleted.\n"
        "--private also makes an existing public repo private (before uploading anything).",
    )
    push.add_argument("path", help="artifact directory")
    push.add_argument("repo_id", help="namespace/name of the dataset repo (created if needed)")
    push.add_argument(
        "--private", action="store_true", help="make the repo private (new, or existing and public)"
    )
    push.add_argument("--revision", default=None, help="branch to push to (created if missing)")
    push.add_argument("--message", default=None, help="commit message")
    push.add_argument(
        "--create-pr", action="store_true", help="open a pull request instead of pushing to the branch"
    )
    push.add_argument("--files-per-commit", type=int, default=100, help="files per commit (default 100)")
    push.add_argument("--no-preview", action="store_true", help="do not render/upload a preview image")
    push.add_argument(
        "--license", default=None, help="license the card states, e.g. cc-by-4.0 (default: the manifest's)"
    )
    push.add_argument(
        "--force",
        action="store_true",
        help="replace a repo whose content cannot be accounted for (unreadable nb-manifest.json, foreign files)",
    )
    push.add_argument(
        "--no-verify",
        action="store_true",
        help="trust the manifest's sha256 (do not hash the files to upload)",
    )
    push.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT or huggingface.co)")
    push.set_defaults(func=_push)


def _add_pull(sub: Any) -> None:
    """The ``nb hub pull`` command."""
    pull = add_command(
        sub,
        "pull",
        "download an artifact from the Hub (cached, pinned to one commit) and verify its sha256",
        """
        nb hub pull me/eeg-demo
        nb hub pull me/eeg-demo --revision v1.0 --include "train-*" --local-dir data/eeg
        """,
        note="HF_HUB_OFFLINE=1 uses the local cache only.",
    )
    pull.add_argument("repo_id", help="namespace/name of the dataset repo")
    pull.add_argument("--revision", default=None, help="branch, tag or commit (default main)")
    pull.add_argument("--local-dir", default=None, help="download here instead of the Hugging Face cache")
    pull.add_argument(
        "--include", action="append", default=[], metavar="PATTERN", help="only matching files (repeatable)"
    )
    pull.add_argument("--no-verify", action="store_true", help="skip the sha256 check")
    pull.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT or huggingface.co)")
    pull.set_defaults(func=_pull)


def _add_card(sub: Any) -> None:
    """The ``nb hub card`` command."""
    card = add_command(
        sub,
        "card",
        "write the dataset card (README.md) of an artifact",
        """
        nb hub card out/eeg-shards --repo-id me/eeg-demo -o out/eeg-shards-card/README.md --preview
        """,
        note="An existing --output file keeps its user text (outside the nb-hub markers).",
    )
    card.add_argument("path", help="artifact directory")
    card.add_argument("--repo-id", default=None, help="repo id used in the loading examples")
    card.add_argument("-o", "--output", default=None, help="write here (default: print)")
    card.add_argument("--preview", action="store_true", help="also render nb-preview.png next to --output")
    card.add_argument(
        "--license", default=None, help="license the card states, e.g. cc-by-4.0 (default: the manifest's)"
    )
    card.set_defaults(func=_card)


def _add_emulator(sub: Any) -> None:
    """The ``nb hub emulator`` command."""
    emu = add_command(
        sub,
        "emulator",
        "serve an offline emulator of the Hub API on 127.0.0.1",
        """
        nb hub emulator --port 8765 --storage hub-data --token hf_test:alice
        # in another shell:
        HF_ENDPOINT=http://127.0.0.1:8765 HF_TOKEN=hf_test nb hub push out/eeg-shards alice/demo
        """,
        description="Serve an HTTP emulator of the Hugging Face Hub API on 127.0.0.1 (Git LFS, no Xet). "
        "With --token, a token may write only to its user's namespace (alice/...), as on the Hub.",
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
