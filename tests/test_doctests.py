"""Every docstring example of every package runs, in the default test command.

Each module of ``packages/*/src`` is imported and its doctests run as ``python -m doctest``
would, one test per module (so ``pytest -n auto`` spreads them), in an empty working folder.
MNE's log level is ``ERROR`` while they run: MNE prints its log lines to standard output,
where doctest would read them as output of the example (``simulate_raw`` makes MNE warn about
a missing average reference), and examples do not show MNE's chatter.
"""

from __future__ import annotations

import doctest
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_names() -> list[str]:
    """Every importable module of every package's ``src`` folder, as a dotted name."""
    names: list[str] = []
    for src in sorted((ROOT / "packages").glob("*/src")):
        for path in sorted(src.rglob("*.py")):
            parts = path.relative_to(src).with_suffix("").parts
            if parts[-1] == "__main__":
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(parts))
    return names


MODULES = module_names()


@pytest.fixture
def quiet_mne() -> Iterator[None]:
    mne = pytest.importorskip("mne")
    before = mne.set_log_level("ERROR", return_old_level=True)
    try:
        yield
    finally:
        mne.set_log_level(before)


def test_modules_are_found() -> None:
    assert {"nb_core", "nb_core.errors", "nb_shards.writer", "nb_hub", "nb_demo"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(
    name: str, quiet_mne: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    runner = doctest.DocTestRunner(verbose=False)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{name}: {results.failed} docstring example(s) failed\n" + "".join(report)
