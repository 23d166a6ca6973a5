"""The `nb` command: discovery of subcommand groups, --version, errors."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

import pytest

import nb_core
from nb_core import cli
from nb_core.errors import SchemaError


def test_version_lists_packages(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "nb-core  " in out and nb_core.__version__ in out
    assert cli.installed_packages()["nb-core"] == nb_core.__version__


def _fake_group(subparsers: Any) -> None:
    _, sub = cli.add_group(
        subparsers, "fake", help="a test group", description="Fake things.", examples="nb fake ok"
    )
    ok = cli.add_command(sub, "ok", "do nothing", "nb fake ok", note="Nothing happens.")
    ok.set_defaults(func=lambda args: 0)
    bad = cli.add_command(sub, "bad", "fail", "nb fake bad")

    def _raise(args: argparse.Namespace) -> int:
        raise SchemaError("must be a string", field="manifest.name")

    bad.set_defaults(func=_raise)


def _broken_group(subparsers: Any) -> None:
    raise RuntimeError("boom")


class _EP:
    """Stands in for an installed package's entry point (name, value, load())."""

    def __init__(self, name: str, func: Any) -> None:
        self.name, self.value, self._func = name, f"tests:{func.__name__}", func

    def load(self) -> Any:
        return self._func


def test_discovers_entry_points(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    eps = [_EP("fake", _fake_group), _EP("broken", _broken_group)]
    monkeypatch.setattr(cli, "entry_points", lambda group: eps if group == cli.ENTRY_POINT_GROUP else [])
    assert cli.main(["fake", "ok"]) == 0
    assert cli.main(["fake", "bad"]) == 2
    err = capsys.readouterr().err
    assert "nb: error: manifest.name: must be a string" in err
    assert "could not load the 'broken' commands" in err
    assert cli.main(["fake"]) == 2  # group help, no subcommand
    assert "a test group" not in capsys.readouterr().err


def test_console_script_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nb_core.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: nb" in out.stdout
    assert "nb --version" in out.stdout


def test_commands_help_ends_with_examples(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "entry_points", lambda group: [_EP("fake", _fake_group)])
    with pytest.raises(SystemExit):
        cli.main(["fake", "ok", "--help"])
    out = capsys.readouterr().out
    assert "Do nothing." in out
    assert out.rstrip().endswith("examples:\n  nb fake ok\nNothing happens.")
    assert cli.main(["fake"]) == 2
    assert "examples:\n  nb fake ok" in capsys.readouterr().out
