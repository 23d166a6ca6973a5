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
Their messages name Python keywords (``pass overwrite=True``); for a command
made with :func:`add_command` they are reworded with that command's own flags
(``pass --overwrite``) by :func:`cli_message`.

Example:
    $ nb --version
    $ nb shards --help
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import distributions, entry_points
from typing import Any

from nb_core.errors import NBError

__all__ = [
    "CLI_FLAGS",
    "ENTRY_POINT_GROUP",
    "add_command",
    "add_group",
    "build_parser",
    "cli_errors",
    "cli_message",
    "command_flags",
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


#: Python keywords that error messages name, reworded as flags by :func:`cli_message` by default.
CLI_FLAGS = (
    "allow_maxshield",
    "allow_nonfinite",
    "chunk_samples",
    "compression",
    "dtype",
    "force",
    "format",
    "overwrite",
    "resume",
    "show_progress",
    "stride",
    "target_from",
    "verify",
    "window_size",
    "zip_store",
)


@functools.lru_cache(maxsize=64)
def _flag_patterns(flags: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    words = sorted({f for f in flags if re.fullmatch(r"[a-z][a-z0-9_]*", f)}, key=len, reverse=True)
    if not words:
        return None
    alt = "|".join(words)
    kw = re.compile(rf"\b({alt})=(True|False|'[^']*'|\"[^\"]*\"|[\w.+-]+)")
    bare_words = [w for w in words if "_" in w]
    bare = re.compile(rf"(?<![-\w])({'|'.join(bare_words)})\b") if bare_words else re.compile(r"(?!x)x")
    return kw, bare


def cli_message(text: str, flags: Iterable[str] = CLI_FLAGS) -> str:
    """An API error message in command-line terms: ``overwrite=True`` -> ``--overwrite``.

    ``name=True`` becomes ``--name``, ``name=False`` becomes ``without --name``,
    ``name=value`` becomes ``--name value``, and a bare ``snake_case`` keyword
    becomes ``--snake-case`` — for the keywords in ``flags`` only. Rewording
    twice changes nothing more.

    Args:
        text (`str`): the message.
        flags (iterable of `str`, *optional*): the keywords that are flags of the command
            (defaults to :data:`CLI_FLAGS`; :func:`command_flags` gives a parser's own).

    Example:
        >>> cli_message("out exists; pass overwrite=True to replace it (format='zarr', window_size 5)")
        'out exists; pass --overwrite to replace it (--format zarr, --window-size 5)'
        >>> cli_message("pass overwrite=True", flags=["resume"])
        'pass overwrite=True'
    """
    patterns = _flag_patterns(tuple(flags))
    if patterns is None:
        return text
    kw_re, bare_re = patterns

    def kw(m: re.Match[str]) -> str:
        flag = "--" + m.group(1).replace("_", "-")
        v = m.group(2)
        if v == "True":
            return flag
        if v == "False":
            return f"without {flag}"
        return f"{flag} {v.strip(chr(39) + chr(34))}"

    text = kw_re.sub(kw, text)
    return bare_re.sub(lambda m: "--" + m.group(1).replace("_", "-"), text)


def command_flags(parser: argparse.ArgumentParser) -> tuple[str, ...]:
    """The keywords of ``parser``'s long options: ``--window-size`` -> ``"window_size"``.

    Example:
        >>> p = argparse.ArgumentParser()
        >>> _ = p.add_argument("--window-size", type=int)
        >>> command_flags(p)
        ('help', 'window_size')
    """
    out: list[str] = []
    for action in parser._actions:
        for opt in action.option_strings:
            if opt.startswith("--") and len(opt) > 2:
                out.append(opt[2:].replace("-", "_"))
    return tuple(out)


def _reword(err: NBError, flags: Iterable[str]) -> None:
    msg = cli_message(str(err), flags)
    if msg != str(err):
        err.args = (msg, *err.args[1:])


def cli_errors(
    func: Callable[[argparse.Namespace], Any], *, flags: Iterable[str] = CLI_FLAGS
) -> Callable[[argparse.Namespace], int]:
    """Wrap a command handler so that its :class:`~nb_core.errors.NBError` messages use flags.

    Only needed for handlers of parsers not made with :func:`add_command` (which
    ``nb`` rewords by itself, with the command's own flags) or to reword more words.

    Example:
        >>> from nb_core.errors import OutputExistsError
        >>> def handler(args):
        ...     raise OutputExistsError("out/ already exists; pass overwrite=True to replace it")
        >>> try:
        ...     cli_errors(handler)(argparse.Namespace())
        ... except OutputExistsError as err:
        ...     print(err)
        out/ already exists; pass --overwrite to replace it
    """
    words = tuple(flags)

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except NBError as err:
            _reword(err, words)
            raise

    return run


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
    parser.set_defaults(nb_command_parser=parser)
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
        # An installed package whose commands fail to load (any error from its import or its
        # register()) must not break `nb` for the other packages: warn and go on.
        except Exception as err:  # noqa: BLE001
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
        command = getattr(args, "nb_command_parser", None)
        if isinstance(command, argparse.ArgumentParser):
            _reword(err, command_flags(command))
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
