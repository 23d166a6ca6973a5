"""The API conventions of ``docs/conventions.md``, checked on every installed package.

The ``nb`` command tree (each package's command group, each subcommand's ``--help``) and each
package's public API (its ``__all__``) are walked:

- verbs: a subcommand is one of the shared verbs (``write``, ``open``, ``convert``, ``verify``,
  ``inspect``, ``bench``) or a verb its package alone has (``EXTRA_VERBS``), never a synonym of
  a shared verb (``info``, ``check``, ...); a Python verb has its command and the other way round;
  a group that writes artifacts can also ``verify`` and ``inspect`` them;
- shared options are spelled the same: ``-o/--output`` for what a command writes, ``--overwrite``,
  ``--workers``/``--scheduler``, ``--json``; ``bench`` has ``--json`` and ``--dir`` and the same
  size options; in Python ``overwrite``, ``show_progress``, ``max_workers``, ``scheduler``;
- every command's ``--help`` shows an example of that command (they are run by
  ``tests/test_help_examples.py``);
- every public function and class has a docstring with an example (``>>>``); exceptions and
  warnings have a docstring;
- no ``__all__`` name is also the name of a standard-library module (``inspect``), no internals
  are exported, ``__version__`` is;
- every public error subclasses ``nb_core.errors.NBError``.

Violations that are known and belong to another piece of work are listed in ``KNOWN`` with the
reason; such an entry may be removed as soon as it is fixed (a fixed entry does not fail). A new
violation fails with a message that says what to change.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import inspect
import re
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from nb_core.cli import build_parser
from nb_core.errors import NBError

#: The shared verbs: the same word means the same action in every package.
VERBS = ("write", "open", "convert", "verify", "inspect", "bench")
#: Verbs only one package has (an action none of the shared verbs describes).
EXTRA_VERBS: dict[str, set[str]] = {
    "bids": {"index", "export"},  # index a BIDS tree; write a BIDS tree back from an artifact
    "hub": {"push", "pull", "card", "emulator"},
    "shards": {"mix"},  # the plan of a training mixture
}
#: Words that must not be used for a shared verb's action.
SYNONYMS = {
    "info": "inspect",
    "show": "inspect",
    "stat": "inspect",
    "stats": "inspect",
    "describe": "inspect",
    "summary": "inspect",
    "check": "verify",
    "validate": "verify",
    "benchmark": "bench",
    "load": "open",
    "read": "open",
    "save": "write",
    "dump": "write",
    "create": "write",
    "build": "write",
    "transcode": "convert",
}
#: The Python name of a command verb (``inspect`` would shadow the standard-library module).
PY_NAMES = {"inspect": ("inspect_artifact", "inspect")}
#: Commands with no Python function of their name (a command-line tool only, or a class).
CLI_ONLY = {"bench", "emulator", "index", "mix", "open"}
#: Python verbs with no command (``nb_hub.open`` gives a Python object).
PY_ONLY = {("hub", "open")}
#: argparse destinations that name what a command writes.
OUTPUT_DESTS = {"out", "output", "out_dir", "output_dir", "dst", "dest"}
#: Internals that must stay out of ``__all__`` (importable from their modules).
INTERNALS = {"build_index", "resolve_source", "epoch_order", "ShardIndex", "ShardCache", "write_inputs"}
#: Option spellings that are synonyms of the shared ones.
BAD_OPTIONS = {
    "--out-dir": "-o/--output",
    "--outdir": "-o/--output",
    "--output-dir": "-o/--output",
    "--force-overwrite": "--overwrite",
    "--clobber": "--overwrite",
    "--jobs": "--workers",
    "-j": "--workers",
    "--n-jobs": "--workers",
    "--num-workers": "--workers",
    "--n-workers": "--workers",
    "--progress-bar": "--no-progress",
    "--samples": "--n-samples",
    "--n-channels": "--channels",
    "--n-times": "--times",
    "--json-out": "--json",
    "--output-json": "--json",
}
#: Python parameter names that are synonyms of the shared ones.
BAD_PARAMS = {
    "progress_bar": "show_progress",
    "progressbar": "show_progress",
    "progress": "show_progress",
    "clobber": "overwrite",
    "overwrite_existing": "overwrite",
    "n_jobs": "max_workers",
    "jobs": "max_workers",
    "workers": "max_workers",
}

#: Known violations: what is wrong -> why it is still there (whose work fixes it).
KNOWN: dict[str, str] = {
    # What the verbs return. nb-shards' verify also checks bare shard paths (no manifest to
    # return) and gives the counts `nb shards verify` prints; callers (the CLI, tests) read them.
    "return: nb_shards.verify returns dict[str, Any] (convention: Manifest)": "nb-shards (kept: shard "
    "paths without a manifest have no Manifest to return; the counts are what callers print)",
    # nb-bids keeps its dicts on purpose: the conversion report carries counts per subject/session/
    # datatype, missing modalities, unreadable files and naming problems, and verify gives rows per
    # config, none of which a Manifest holds; callers (scripts/publish.py, nb-demo) read those keys.
    "return: nb_bids.convert returns dict[str, Any] (convention: Manifest)": "nb-bids (kept: the report "
    "dict carries counts and problems a Manifest does not; callers use it)",
    "return: nb_bids.verify returns dict[str, int] (convention: Manifest)": "nb-bids (kept: rows per "
    "config, which a Manifest does not give)",
}


# -- what is walked ----------------------------------------------------------------------------------
def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def commands() -> Iterator[tuple[str, str | None, argparse.ArgumentParser]]:
    """(group, subcommand or None for a group without subcommands, parser) for every command."""
    for group, gp in _subparsers(build_parser()).items():
        subs = _subparsers(gp)
        if not subs:
            yield group, None, gp
        for name, sp in subs.items():
            yield group, name, sp


def _name(group: str, sub: str | None) -> str:
    return f"nb {group}" + (f" {sub}" if sub else "")


def groups() -> dict[str, argparse.ArgumentParser]:
    return _subparsers(build_parser())


def package_of(group: str) -> ModuleType:
    """The package whose ``nb.commands`` entry point adds the group (``shards`` -> ``nb_shards``)."""
    ep = {e.name: e for e in importlib.metadata.entry_points(group="nb.commands")}.get(group)
    top = ep.value.split(":", 1)[0].split(".", 1)[0] if ep is not None else f"nb_{group}"
    return importlib.import_module(top)


PACKAGES = sorted(
    {
        ep.value.split(".", 1)[0].split(":", 1)[0]
        for ep in importlib.metadata.entry_points(group="nb.commands")
        if ep.value.startswith("nb_")
    }
    | {"nb_core"}
)


def public(module: ModuleType) -> Iterator[tuple[str, object]]:
    for name in module.__all__:
        yield name, getattr(module, name)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a for a in parser._actions if not isinstance(a, argparse._SubParsersAction | argparse._HelpAction)
    ]


# -- the checks: each returns violations as sentences -------------------------------------------------
def verb_violations() -> list[str]:
    out: list[str] = []
    for group, gp in groups().items():
        subs = set(_subparsers(gp))
        for sub in sorted(subs):
            if sub in SYNONYMS:
                out.append(f"verb: `nb {group} {sub}` should be `nb {group} {SYNONYMS[sub]}`")
            elif sub not in VERBS and sub not in EXTRA_VERBS.get(group, set()):
                out.append(
                    f"verb: `nb {group} {sub}` is neither a shared verb {VERBS} nor listed for its package "
                    "(add it to EXTRA_VERBS here and to docs/conventions.md if it is a new kind of action)"
                )
        if subs & {"write", "convert"}:
            out += [
                f"verb: `nb {group}` writes artifacts but has no `nb {group} {v}`"
                for v in ("verify", "inspect")
                if v not in subs
            ]
        pkg = package_of(group)
        exported = set(getattr(pkg, "__all__", ()))
        for sub in sorted(subs - CLI_ONLY):
            names = PY_NAMES.get(sub, (sub,))
            if not exported & set(names):
                out.append(f"verb: `nb {group} {sub}` has no Python function {pkg.__name__}.{names[0]}")
        for verb in ("write", "open", "convert", "verify"):
            if verb in exported and verb not in subs and (group, verb) not in PY_ONLY:
                out.append(f"verb: {pkg.__name__}.{verb} has no command `nb {group} {verb}`")
    return out


#: What each verb returns (the annotation's text): the written or verified artifact's manifest, and
#: for ``inspect`` a JSON-able summary (what ``--json`` prints).
RETURNS = {
    "write": "Manifest",
    "convert": "Manifest",
    "verify": "Manifest",
    "inspect": "dict",
    "inspect_artifact": "dict",
}


def return_violations() -> list[str]:
    out: list[str] = []
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for name, want in RETURNS.items():
            if name not in pkg.__all__:  # (a deprecated alias outside __all__ may warn on access)
                continue
            fn = getattr(pkg, name, None)
            if not callable(fn):
                continue
            ret = inspect.signature(fn).return_annotation
            text = ret if isinstance(ret, str) else getattr(ret, "__name__", str(ret))
            if not str(text).startswith(want):
                out.append(f"return: {pkg_name}.{name} returns {text} (convention: {want})")
    return out


def _output_violation(where: str, action: argparse.Action) -> str | None:
    if not action.option_strings:
        if action.dest in OUTPUT_DESTS:
            return (
                f"option: `{where}` takes its output as a positional argument "
                f"{action.metavar or action.dest.upper()} (convention: -o/--output)"
            )
        return None
    if action.dest in OUTPUT_DESTS and not {"-o", "--output"} <= set(action.option_strings):
        return f"option: `{where}` spells its output option {'/'.join(action.option_strings)} (convention: -o/--output)"
    return None


def option_violations() -> list[str]:
    out: list[str] = []
    for group, sub, parser in commands():
        where = _name(group, sub)
        opts = _options(parser)
        for action in opts:
            bad = _output_violation(where, action)
            if bad:
                out.append(bad)
            for s in action.option_strings:
                if s in BAD_OPTIONS:
                    out.append(f"option: `{where}` has {s} (convention: {BAD_OPTIONS[s]})")
                if "overwrite" in s and s != "--overwrite":
                    out.append(f"option: `{where}` has {s} (convention: --overwrite)")
            if "--overwrite" in action.option_strings and not isinstance(action, argparse._StoreTrueAction):
                out.append(f"option: `{where}` --overwrite must be a flag")
        spelled = {s for a in opts for s in a.option_strings}
        if sub == "bench":
            out += [f"option: `{where}` lacks {o}" for o in ("--json", "--dir") if o not in spelled]
        if sub == "inspect" and "--json" not in spelled:
            out.append(f"option: `{where}` lacks --json")
    return out


def _signature_params(obj: object) -> list[str]:
    try:
        return list(inspect.signature(obj).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []


def param_violations() -> list[str]:
    out: list[str] = []
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for name, obj in public(pkg):
            if not callable(obj) or (inspect.isclass(obj) and issubclass(obj, BaseException)):
                continue
            for p in _signature_params(obj):
                if p in BAD_PARAMS:
                    out.append(f"param: {pkg_name}.{name}({p}=...) (convention: {BAD_PARAMS[p]})")
    # Commands and their Python form take the shared options under the shared names.
    for group, sub, parser in commands():
        if sub in CLI_ONLY:
            continue
        pkg = package_of(group)
        fn_name = next((n for n in PY_NAMES.get(sub or "", (sub or "",)) if n in pkg.__all__), None)
        if sub is None:  # a command without subcommands (``nb demo``): its package's run_* function
            fn_name = next((n for n in pkg.__all__ if n.startswith("run_")), None)
        if fn_name is None:
            continue
        params = set(_signature_params(getattr(pkg, fn_name)))
        spelled = {s for a in _options(parser) for s in a.option_strings}
        for option, param in (
            ("--overwrite", "overwrite"),
            ("--workers", "max_workers"),
            ("--scheduler", "scheduler"),
        ):
            if option in spelled and param not in params:
                out.append(
                    f"param: `{_name(group, sub)}` has {option} but {pkg.__name__}.{fn_name} has no `{param}`"
                )
    return out


def example_violations() -> list[str]:
    out: list[str] = []
    for group, sub, parser in commands():
        where = _name(group, sub)
        epilog = parser.epilog or ""
        lines = epilog.split("examples:", 1)[1].splitlines() if "examples:" in epilog else []
        calls = [ln for ln in lines if re.search(rf"(^|\s){re.escape(where)}(\s|$)", ln.strip())]
        if not calls:
            out.append(f"help: `{where} --help` shows no example of `{where}` (an `examples:` section)")
    return out


def _has_example(obj: object) -> bool:
    docs = [inspect.getdoc(obj) or ""]
    if inspect.isclass(obj):
        docs.append(inspect.getdoc(obj.__init__) or "")
    return any(">>>" in d for d in docs)


def module_docstring_violations(pkg_name: str, module: ModuleType) -> list[str]:
    out: list[str] = []
    for name, obj in public(module):
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj)):
            continue  # constants and ``__version__``
        if not (inspect.getdoc(obj) or "").strip():
            out.append(f"docstring: {pkg_name}.{name} has no docstring")
        elif inspect.isclass(obj) and issubclass(obj, BaseException):
            continue  # an error or warning: a docstring is enough (docs/conventions.md lists them)
        elif not _has_example(obj):
            out.append(f"example: {pkg_name}.{name} has no docstring example (>>>)")
    return out


def docstring_violations() -> list[str]:
    return [v for p in PACKAGES for v in module_docstring_violations(p, importlib.import_module(p))]


def module_export_violations(pkg_name: str, pkg: ModuleType) -> list[str]:
    out: list[str] = []
    names = list(getattr(pkg, "__all__", []))
    if not names:
        return [f"export: {pkg_name} has no __all__"]
    if "__version__" not in names:
        out.append(f"export: {pkg_name}.__all__ lacks __version__")
    for name in names:
        if not hasattr(pkg, name):
            out.append(f"export: {pkg_name}.__all__ names {name}, which {pkg_name} does not have")
        if name.startswith("_") and name != "__version__":
            out.append(f"export: {pkg_name}.__all__ exports the private name {name}")
        if name in INTERNALS:
            out.append(f"export: {pkg_name}.__all__ exports the internal {name} (import it from its module)")
        if name in sys.stdlib_module_names:
            out.append(
                f"stdlib: {pkg_name}.{name} has the name of a standard-library module (use {name}_artifact)"
            )
    if len(set(names)) != len(names):
        out.append(f"export: {pkg_name}.__all__ lists a name twice")
    return out


def export_violations() -> list[str]:
    out: list[str] = []
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        out += module_export_violations(pkg_name, pkg)
        installed = importlib.metadata.version(pkg_name.replace("_", "-"))
        if getattr(pkg, "__version__", None) != installed:
            out.append(f"export: {pkg_name}.__version__ is not the installed version {installed}")
    return out


def _error_modules(pkg_name: str) -> list[ModuleType]:
    mods = [importlib.import_module(pkg_name)]
    if importlib.util.find_spec(f"{pkg_name}.errors") is not None:
        mods.append(importlib.import_module(f"{pkg_name}.errors"))
    return mods


def module_error_violations(module: ModuleType) -> list[str]:
    out: list[str] = []
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name, None)
        if not (inspect.isclass(obj) and issubclass(obj, BaseException)) or issubclass(obj, Warning):
            continue
        if not issubclass(obj, NBError):
            out.append(f"error: {module.__name__}.{name} does not subclass nb_core.errors.NBError")
    return out


def error_violations() -> list[str]:
    return [v for p in PACKAGES for m in _error_modules(p) for v in module_error_violations(m)]


CHECKS = {
    "verbs": verb_violations,
    "options": option_violations,
    "params": param_violations,
    "help-examples": example_violations,
    "returns": return_violations,
    "docstrings": docstring_violations,
    "exports": export_violations,
    "errors": error_violations,
}


# -- the tests -----------------------------------------------------------------------------------------
def test_the_walk_finds_every_package_and_command() -> None:
    assert {"nb_core", "nb_formats", "nb_shards", "nb_hub"} <= set(PACKAGES)
    found = {(g, s) for g, s, _ in commands()}
    assert {("formats", "write"), ("shards", "inspect"), ("hub", "push"), ("demo", None)} <= found


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_conventions(check: str) -> None:
    found = CHECKS[check]()
    new = [v for v in found if v not in KNOWN]
    assert not new, f"{len(new)} new convention violation(s) (see docs/conventions.md):\n" + "\n".join(new)


def test_known_violations_are_well_formed() -> None:
    """Every ``KNOWN`` entry is a sentence a check can produce, with whose work fixes it."""
    prefixes = (
        "return: ",
        "verb: ",
        "option: ",
        "param: ",
        "help: ",
        "docstring: ",
        "example: ",
        "export: ",
        "stdlib: ",
        "error: ",
    )
    for violation, owner in KNOWN.items():
        assert violation.startswith(prefixes), violation
        assert owner.startswith("nb-"), owner


def test_the_checks_catch_violations() -> None:
    """The checks are not vacuous: a parser and an API that break the conventions are caught."""
    p = argparse.ArgumentParser(prog="nb x info")
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--out-dir", dest="out_dir")
    p.add_argument("-o", "--output", dest="output")
    by_dest = {a.dest: a for a in p._actions}
    assert _output_violation("nb x info", by_dest["out_dir"]) == (
        "option: `nb x info` spells its output option --out-dir (convention: -o/--output)"
    )
    assert _output_violation("nb x info", by_dest["out"]) == (
        "option: `nb x info` takes its output as a positional argument OUT (convention: -o/--output)"
    )
    assert _output_violation("nb x info", by_dest["output"]) is None
    assert _output_violation("nb x info", by_dest["src"]) is None

    def documented(path: str) -> None:
        """Documented.

        Example:
            >>> documented("x")
        """

    def undocumented(path: str) -> None:
        """No example here."""

    class BadError(Exception):
        """Not an NBError."""

    fake = ModuleType("nb_fake")
    fake.documented = documented  # type: ignore[attr-defined]
    fake.undocumented = undocumented  # type: ignore[attr-defined]
    fake.inspect = documented  # type: ignore[attr-defined]
    fake.build_index = documented  # type: ignore[attr-defined]
    fake.BadError = BadError  # type: ignore[attr-defined]
    fake.__all__ = ["BadError", "build_index", "documented", "inspect", "undocumented", "missing"]  # type: ignore[attr-defined]
    exports = module_export_violations("nb_fake", fake)
    assert exports == [
        "export: nb_fake.__all__ lacks __version__",
        "export: nb_fake.__all__ exports the internal build_index (import it from its module)",
        "stdlib: nb_fake.inspect has the name of a standard-library module (use inspect_artifact)",
        "export: nb_fake.__all__ names missing, which nb_fake does not have",
    ]
    fake.__all__.remove("missing")
    assert module_docstring_violations("nb_fake", fake) == [
        "example: nb_fake.undocumented has no docstring example (>>>)"
    ]
    assert module_error_violations(fake) == [
        "error: nb_fake.BadError does not subclass nb_core.errors.NBError"
    ]
