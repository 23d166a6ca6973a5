"""The ``nb`` command: one entry point, one subcommand group per installed package.

Packages add a group by declaring an entry point in the ``nb.commands`` group
whose value is a ``register(subparsers)`` function::

    [project.entry-points."nb.commands"]
    shards = "nb_shards.cli:register"

``register`` adds its group with :func:`add_group` and each command with
:func:`add_command` (every command's ``--help`` ends with examples);
``handler(args)`` returns an exit code or `None`. ``pip install nb-shards`` is
all it takes for ``nb shards ...`` to appear::

    def register(subparsers):
        group, sub = add_group(subparsers, "shards", help="tar shards",
                               description="Write and read shards.", examples="nb shards verify out/")
        p = add_command(sub, "verify", help="check every shard", examples="nb shards verify out/")
        p.add_argument("path")
        p.set_defaults(func=_verify) Keep ``cli`` modules light: import heavy
libraries inside handlers, so ``nb --help`` stays fast.

Errors derived from :class:`~nb_core.errors.NBError` are printed as one clear
line (``nb: error: ...``) with exit code 2; ``NB_DEBUG=1`` shows the traceback.

Example:
    $ nb --version
    $ nb shards --help
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from importlib.metadata import distributions, entry_points
from typing import Any

from nb_core.errors import NBError

__all__ = [
    "ENTRY_POINT_GROUP",
    "add_command",
    "add_group",
    "build_parser",
    "examples_epilog",
    "installed_packages",
    "main",
]

#: Entry-point group through which packages add ``nb`` subcommand groups.
ENTRY_POINT_GROUP = "nb.commands"

_KNOWN_GROUPS = {
    "formats": "nb-formats",
    "shards": "nb-shards",
    "bids": "nb-bids",
    "hub": "nb-hub",
    "demo": "nb-demo",
}


def examples_epilog(examples: str) -> str:
    """The ``--help`` epilog for ``examples`` (one command a line, dedented): ``examples:`` + lines."""
    return "examples:\n" + textwrap.indent(textwrap.dedent(examples).strip("\n"), "  ") + "\n"


def add_group(
    subparsers: Any,
    name: str,
    *,
    help: str,
    description: str,
    examples: str,
) -> tuple[argparse.ArgumentParser, Any]:
    """Add the command group ``nb NAME``; return it and its sub-parsers.

    ``nb NAME`` alone prints the group's help (exit code 2).
    """
    group: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=examples_epilog(examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group.set_defaults(help_parser=group)
    return group, group.add_subparsers(dest=f"{name}_command", metavar="COMMAND")


def add_command(
    sub: Any,
    name: str,
    help: str,
    examples: str,
    *,
    description: str | None = None,
    note: str | None = None,
) -> argparse.ArgumentParser:
    """Add ``nb GROUP NAME``: its ``--help`` ends with ``examples`` (then ``note``, if any).

    Set ``func`` on the result (``parser.set_defaults(func=handler)``).
    """
    epilog = examples_epilog(examples) + ("" if note is None else textwrap.dedent(note).strip("\n") + "\n")
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def installed_packages() -> dict[str, str]:
    """Installed neurobridge distributions (``nb-*``) and their versions, sorted by name."""
    found: dict[str, str] = {}
    for dist in distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name.startswith("nb-"):
            found[name] = dist.version
    return dict(sorted(found.items()))


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(
            option_strings, dest=dest, nargs=0, help="show installed neurobridge packages and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        pkgs = installed_packages()
        width = max((len(k) for k in pkgs), default=0)
        print("\n".join(f"{k:<{width}}  {v}" for k, v in pkgs.items()))
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The ``nb`` parser with every installed subcommand group registered."""
    parser = argparse.ArgumentParser(
        prog="nb",
        description="neurobridge: neuroscience data into the Hugging Face ecosystem and PyTorch training.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    loaded = set()
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            register = ep.load()
            register(sub)
            loaded.add(ep.name)
        except Exception as err:
            print(
                f"nb: warning: could not load the {ep.name!r} commands ({ep.value}): {err}",
                file=sys.stderr,
            )
    missing = [f"  nb {g:<8} pip install {pkg}" for g, pkg in _KNOWN_GROUPS.items() if g not in loaded]
    parser.epilog = textwrap.dedent("""
        examples:
          nb --version                 list installed neurobridge packages
          nb COMMAND --help            help on one command group
        """)
    if missing:
        parser.epilog += "\nmore commands, once installed:\n" + "\n".join(missing) + "\n"
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nb``; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        # A group without a subcommand (``nb shards``) prints that group's help.
        helper = getattr(args, "help_parser", parser)
        helper.print_help()
        return 0 if args.command is None else 2
    try:
        code = func(args)
    except NBError as err:
        if os.environ.get("NB_DEBUG"):
            raise
        print(f"nb: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nb: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
