"""The documentation site builds: ``mkdocs build --strict`` (Material theme, API pages generated
from the docstrings by mkdocstrings), with no network.

Strict mode turns every warning into a failure: a broken link between pages, a page missing
from the navigation, an API object that cannot be found. The built site goes to a temporary
folder. Nothing is fetched: the theme's web fonts are off and its ``social``/``privacy`` plugins
(which download at build time) are not used, which this test also checks in ``mkdocs.yml``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _config() -> str:
    return (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_build_needs_no_network() -> None:
    config = _config()
    assert re.search(r"^\s+font: false\s*$", config, re.M), "web fonts must be off (theme.font: false)"
    plugins = re.findall(r"^  - (\w[\w-]*)", config.split("\nplugins:", 1)[1].split("\n\n", 1)[0], re.M)
    assert "social" not in plugins and "privacy" not in plugins, plugins


def test_every_page_is_in_the_navigation() -> None:
    config = _config()
    pages = {
        p.relative_to(ROOT / "docs").as_posix()
        for p in (ROOT / "docs").rglob("*.md")
        if "_ext" not in p.parts
    }
    missing = sorted(p for p in pages if f": {p}" not in config)
    assert not missing, f"pages missing from mkdocs.yml's nav: {missing}"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(NO_MKDOCS_2_WARNING="1", PYTHONWARNINGS="ignore::DeprecationWarning")
    site = tmp_path / "site"
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, f"mkdocs build --strict failed:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}"
    for page in ("index.html", "getting-started/index.html", "api/nb-shards/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api/nb-shards/index.html").read_text(encoding="utf-8")
    # The API page is generated from the docstrings, examples included.
    assert "ShardWriter" in api and "ShardLoader" in api and "&gt;&gt;&gt;" in api
    html = "\n".join(p.read_text(encoding="utf-8") for p in site.rglob("*.html"))
    assert "fonts.googleapis.com" not in html
