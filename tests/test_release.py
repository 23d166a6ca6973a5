"""tools/release.py releases one package: version, changelog, sibling ranges, sdist and wheel, tag."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("release", ROOT / "tools" / "release.py")
assert spec is not None and spec.loader is not None
release = importlib.util.module_from_spec(spec)
sys.modules["release"] = release
spec.loader.exec_module(release)

_IGNORE = shutil.ignore_patterns(".venv", ".git", "dist", "__pycache__", "*.egg-info", ".*_cache")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the workspace's release-relevant files (no venv, no git)."""
    dst = tmp_path / "repo"
    dst.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(ROOT / name, dst / name)
    shutil.copytree(ROOT / "packages", dst / "packages", ignore=_IGNORE)
    return dst


def _version(repo: Path, pkg: str) -> str:
    return tomllib.loads((repo / "packages" / pkg / "pyproject.toml").read_text())["project"]["version"]


def test_bumps() -> None:
    v = release.Version("0.1.3")
    assert [str(release.bumped(v, b)) for b in release.BUMPS] == ["1.0.0", "0.2.0", "0.1.4", "0.1.3"]
    assert release.compatible_range(release.Version("0.2.0")) == ">=0.2,<0.3"
    assert release.compatible_range(release.Version("1.4.0")) == ">=1.4,<2"


def test_changelog_moves_unreleased_section(tmp_path: Path) -> None:
    text = "# Changelog\n\n## 0.1.0 (unreleased)\n\n- new thing\n\n## 0.0.9 (2026-01-01)\n\n- old\n"
    out = release.moved_changelog(text, release.Version("0.1.0"), "2026-12-02", path=tmp_path)
    assert out == (
        "# Changelog\n\n## Unreleased\n\n## 0.1.0 (2026-12-02)\n\n- new thing\n\n## 0.0.9 (2026-01-01)\n\n- old\n"
    )
    again = release.moved_changelog(
        out.replace("## Unreleased\n", "## Unreleased\n\n- fix\n"),
        release.Version("0.1.1"),
        "2026-12-03",
        path=tmp_path,
    )
    assert "## Unreleased\n\n## 0.1.1 (2026-12-03)\n\n- fix\n\n## 0.1.0 (2026-12-02)" in again
    with pytest.raises(release.ReleaseError, match="empty"):
        release.moved_changelog(out, release.Version("0.1.1"), "2026-12-03", path=tmp_path)
    with pytest.raises(release.ReleaseError, match="no unreleased section"):
        release.moved_changelog("# Changelog\n", release.Version("0.1.1"), "d", path=tmp_path)


def test_patch_release_builds_one_package(repo: Path) -> None:
    old = _version(repo, "nb-core")
    p = release.release(repo, "nb-core", "patch", date="2026-12-02", out=repo / "out")
    major, minor, patch = (int(x) for x in old.split("."))
    new = f"{major}.{minor}.{patch + 1}"
    assert str(p.new) == new and p.tag == f"nb-core-v{new}" and p.range_problems == []
    assert _version(repo, "nb-core") == new
    assert f'name = "nb-core"\nversion = "{new}"' in (repo / "uv.lock").read_text()
    changelog = (repo / "packages/nb-core/CHANGELOG.md").read_text()
    assert f"## Unreleased\n\n## {new} (2026-12-02)" in changelog
    built = sorted(f.name for f in (repo / "out").glob("nb_*"))
    assert built == [f"nb_core-{new}-py3-none-any.whl", f"nb_core-{new}.tar.gz"]
    assert _version(repo, "nb-shards") == _version(repo, "nb-formats")  # nothing else moved


def test_minor_release_checks_and_updates_sibling_ranges(repo: Path) -> None:
    with pytest.raises(release.ReleaseError, match="nb-demo requires 'nb-shards>=0.1,<0.2'"):
        release.release(repo, "nb-shards", "minor", date="2026-12-02", build=False)
    assert _version(repo, "nb-shards") == "0.1.0"  # a refused release changes nothing
    p = release.release(repo, "nb-shards", "minor", date="2026-12-02", build=False, fix_ranges=True)
    assert str(p.new) == "0.2.0"
    demo = tomllib.loads((repo / "packages/nb-demo/pyproject.toml").read_text())["project"]
    assert "nb-shards>=0.2,<0.3" in demo["dependencies"]
    assert "nb-shards[torch]>=0.2,<0.3" in demo["optional-dependencies"]["train"]
    assert release.range_problems(release.packages(repo), "nb-shards", p.new) == []


def test_cli_errors_are_one_line(repo: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "release.py"), "nb-nope", "patch", "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1
    assert res.stderr.startswith("release: error: no workspace package 'nb-nope'")
    res = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "release.py"), "nb-hub", "patch", "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert "would release nb-hub 0.1.0 -> 0.1.1" in res.stdout and "tag: nb-hub-v0.1.1" in res.stdout
