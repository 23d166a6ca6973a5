"""Every package's wheel builds, installs alone into an empty venv, and imports.

This is the only check that catches a wrong version range between workspace
siblings (uv does not check those when locking) and a missing dependency
declaration (the workspace venv has everything installed).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_wheels", ROOT / "tools" / "check_wheels.py")
assert spec is not None and spec.loader is not None
check_wheels = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_wheels)


@pytest.mark.slow
def test_every_wheel_installs_alone(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_wheels.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    packages = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())
    for name in packages:
        assert f"ok  {name}" in res.stdout


REPOSITORY = "https://github.com/neurobridge/neurobridge"
PACKAGES = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every package's wheel, built once for the tests of this module."""
    return check_wheels.build(tmp_path_factory.mktemp("dist"))


def test_every_wheel_carries_the_license_and_project_urls(wheels: dict[str, Path]) -> None:
    import zipfile

    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "BSD 3-Clause License" in license_text
    assert sorted(wheels) == PACKAGES
    for name, wheel in wheels.items():
        with zipfile.ZipFile(wheel) as z:
            licenses = [n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
            assert licenses, f"{wheel.name} carries no LICENSE"
            assert z.read(licenses[0]).decode("utf-8") == license_text, (
                f"{name}: LICENSE differs from the root one"
            )
        meta = check_wheels.metadata(wheel)
        assert meta["License-Expression"] == "BSD-3-Clause", name
        urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
        assert set(urls) >= {"Homepage", "Documentation", "Repository", "Issues", "Changelog"}, name
        assert urls["Repository"] == REPOSITORY, name
        assert urls["Changelog"] == f"{REPOSITORY}/blob/main/packages/{name}/CHANGELOG.md", name
        assert all(u.startswith("https://") for u in urls.values()), urls


def test_every_package_has_the_root_license() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    for name in PACKAGES:
        assert (ROOT / "packages" / name / "LICENSE").read_text(encoding="utf-8") == text, name


def test_readme_links_resolve_on_pypi() -> None:
    """A package README is its PyPI page: its links and images are absolute URLs (a relative path
    resolves against pypi.org, where the repository's files are not)."""
    import re

    link = re.compile(
        r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)|<img[^>]*\bsrc=\"([^\"]+)\"|^\[[^\]]+\]:\s*(\S+)", re.M
    )
    for name in PACKAGES:
        text = (ROOT / "packages" / name / "README.md").read_text(encoding="utf-8")
        text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # code blocks hold no links
        for m in link.finditer(text):
            target = next(g for g in m.groups() if g)
            assert target.startswith(("https://", "http://", "#", "mailto:")), (
                f"packages/{name}/README.md links to {target!r}: on PyPI only absolute URLs resolve "
                f"(use {REPOSITORY}/blob/main/...)"
            )


def test_range_check_catches_a_bad_range(wheels: dict[str, Path], tmp_path: Path) -> None:
    assert check_wheels.check_ranges(wheels) == []
    assert check_wheels.closure("nb-core", wheels) == ["nb-core"]
    assert "nb-core" in check_wheels.closure("nb-hub", wheels)
    # Rewrite nb-hub's metadata to need a future nb-core: the check must name it.
    import zipfile

    src = wheels["nb-hub"]
    bad = tmp_path / "bad" / src.name
    bad.parent.mkdir()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename.endswith("METADATA"):
                data = data.replace(b"nb-core<0.2,>=0.1", b"nb-core<0.3,>=0.2")
                assert b"nb-core<0.3,>=0.2" in data
            zout.writestr(item, data)
    problems = check_wheels.check_ranges({**wheels, "nb-hub": bad})
    assert problems and "nb-hub requires nb-core" in problems[0]


def test_static_versions_bump() -> None:
    """Each package has a static version that `uv version --bump` can change."""
    import tomllib

    version = tomllib.loads((ROOT / "packages/nb-shards/pyproject.toml").read_text())["project"]["version"]
    major, minor, _ = (int(x) for x in version.split("."))
    res = subprocess.run(
        [check_wheels._uv(), "version", "--package", "nb-shards", "--bump", "minor", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"nb-shards {version} => {major}.{minor + 1}.0" in res.stdout + res.stderr
