"""Every Python example in a README or docs page runs as printed.

The ```python blocks of one page run in order, in one fresh interpreter, in an empty working
folder (so ``"out/ds"`` is written there), against a Hub emulator: ``HF_ENDPOINT`` points at it,
``HF_TOKEN`` is the token of user ``me`` and the Hugging Face caches live in the test's temporary
folder. Nothing reaches the internet. A page whose examples need something else says so in the
page, and the example itself sets it up.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)


def _pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    pages += sorted((ROOT / "packages").glob("*/README.md"))
    return [p for p in pages if _BLOCK.search(p.read_text(encoding="utf-8"))]


def blocks(page: Path) -> list[str]:
    """The ```python blocks of a page, in order."""
    return [m.group(1) for m in _BLOCK.finditer(page.read_text(encoding="utf-8"))]


def test_pages_with_examples_are_found() -> None:
    names = {str(p.relative_to(ROOT)) for p in _pages()}
    assert "packages/nb-shards/README.md" in names and "packages/nb-core/README.md" in names


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run_as_printed(page: Path, tmp_path: Path, hub_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    emu = hub_emulator_factory(tokens={"hf_example_token": "me"})
    code = "\n\n".join(f"# --- block {i}\n{b}" for i, b in enumerate(blocks(page)))
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "NB_"))}
    env.update(
        HF_ENDPOINT=emu.endpoint,
        HF_TOKEN="hf_example_token",
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        MPLBACKEND="Agg",
    )
    res = subprocess.run(
        [sys.executable, str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, f"{page.relative_to(ROOT)}: examples failed\n{res.stderr[-3000:]}"
