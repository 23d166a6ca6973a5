"""Every Python example of the README and of docs/nb-bids.md runs as printed; doctests pass."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PAGES = [HERE.parent / "README.md", HERE.parents[2] / "docs" / "nb-bids.md"]


def _blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_examples_run(page, tmp_path, monkeypatch, capsys):
    pytest.importorskip("datasets")
    if not page.is_file():  # the package's tests run from an installed wheel (tools/check_lowest.py)
        pytest.skip(f"{page} is not here (not a checkout)")
    monkeypatch.chdir(tmp_path)
    blocks = _blocks(page)
    assert blocks
    for code in blocks:
        exec(compile(code, str(page), "exec"), {"__name__": "__example__"})
    assert capsys.readouterr().out


@pytest.mark.parametrize(
    "module",
    [
        "bidsschema",
        "discovery",
        "readers",
        "converter",
        "exporter",
        "testing",
        "pybids_engine",
        "eeg_out",
        "carry",
    ],
)
def test_doctests(module):
    mod = importlib.import_module(f"nb_bids.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
