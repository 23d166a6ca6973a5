#!/usr/bin/env python3
"""Release one workspace package: bump, changelog, range check, build, tag.

Every package of the workspace has its own static version, its own CHANGELOG.md and
its own tag (``nb-shards-v0.2.0``). This script prepares the release of one of them:

1. bumps the version in ``packages/PACKAGE/pyproject.toml`` (``uv version --bump``, which
   also updates ``uv.lock``); ``keep`` releases the current version as it is (a first release);
2. moves the CHANGELOG's unreleased section (``## Unreleased`` or ``## X.Y.Z (unreleased)``)
   under ``## NEW_VERSION (DATE)`` and opens a new empty ``## Unreleased`` section;
3. checks that every sibling's requirement on the package (extras included) still admits the
   new version; with ``--update-ranges`` it rewrites those ranges (``>=0.2,<0.3``) and says which
   siblings now need a release of their own;
4. builds the package's sdist and wheel alone with ``uv build --package PACKAGE --no-sources``;
5. prints the tag to push. Pushing the tag runs ``.github/workflows/release.yml``, which tests
   the wheel alone and publishes it.

Nothing is committed or tagged by the script: review the diff, commit, then tag.

Usage:
    python tools/release.py nb-shards minor
    python tools/release.py nb-core patch --dry-run
    python tools/release.py nb-core minor --update-ranges --out dist/

Exit code 0 when the release is ready; 1 with a message otherwise.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
BUMPS = ("major", "minor", "patch", "keep")
#: The unreleased section of a CHANGELOG: ``## Unreleased`` or ``## 0.1.0 (unreleased)``.
_UNRELEASED = re.compile(r"^## +(?:(?P<version>\d+\.\d+\.\d+) +\()?unreleased\)? *$", re.I | re.M)


class ReleaseError(Exception):
    """The release cannot go ahead; the message says why and what to do."""


@dataclass
class Plan:
    package: str
    old: Version
    new: Version
    tag: str
    changelog: str
    range_problems: list[str]


def packages(root: Path) -> dict[str, Path]:
    """``{distribution name: package folder}`` for every workspace member."""
    out = {}
    for d in sorted((root / "packages").iterdir()):
        pp = d / "pyproject.toml"
        if pp.exists():
            out[tomllib.loads(pp.read_text())["project"]["name"]] = d
    return out


def current_version(folder: Path) -> Version:
    return Version(tomllib.loads((folder / "pyproject.toml").read_text())["project"]["version"])


def bumped(old: Version, bump: str) -> Version:
    major, minor, patch = old.release[:3]
    if bump == "major":
        return Version(f"{major + 1}.0.0")
    if bump == "minor":
        return Version(f"{major}.{minor + 1}.0")
    if bump == "patch":
        return Version(f"{major}.{minor}.{patch + 1}")
    return old


def moved_changelog(text: str, new: Version, date: str, *, path: Path) -> str:
    """The CHANGELOG with its unreleased section renamed ``## NEW (DATE)`` and a new empty one above."""
    m = _UNRELEASED.search(text)
    if m is None:
        raise ReleaseError(f"{path}: no unreleased section ('## Unreleased'); write the changes there first")
    body_end = text.find("\n## ", m.end())
    body = text[m.end() : body_end if body_end >= 0 else len(text)].strip()
    if not body:
        raise ReleaseError(f"{path}: the unreleased section is empty; say what changed before releasing")
    if re.search(rf"^## +{re.escape(str(new))}\b(?! +\(unreleased)", text, re.I | re.M):
        raise ReleaseError(f"{path}: version {new} is already in the changelog; choose another bump")
    return text[: m.start()] + f"## Unreleased\n\n## {new} ({date})" + text[m.end() :]


def sibling_ranges(members: dict[str, Path], name: str, new: Version) -> list[tuple[Path, str, Requirement]]:
    """Every requirement on ``name`` in siblings' pyproject files (dependencies and extras)."""
    found = []
    for other, folder in members.items():
        if other == name:
            continue
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        reqs = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            reqs.extend(extra)
        for text in reqs:
            req = Requirement(text)
            if req.name == name:
                found.append((folder / "pyproject.toml", text, req))
    return found


def range_problems(members: dict[str, Path], name: str, new: Version) -> list[str]:
    return [
        f"{pp.parent.name} requires {text!r}, which does not admit {name} {new}"
        for pp, text, req in sibling_ranges(members, name, new)
        if not req.specifier.contains(new, prereleases=True)
    ]


def compatible_range(new: Version) -> str:
    """``>=0.2,<0.3`` for 0.x (a minor is breaking), ``>=1.2,<2`` from 1.0 on."""
    major, minor = new.release[:2]
    if major == 0:
        return f">={major}.{minor},<{major}.{minor + 1}"
    return f">={major}.{minor},<{major + 1}"


def update_ranges(members: dict[str, Path], name: str, new: Version) -> list[str]:
    """Rewrite siblings' ranges on ``name`` that do not admit ``new``; return the siblings changed."""
    changed = []
    for pp, text, req in sibling_ranges(members, name, new):
        if req.specifier.contains(new, prereleases=True):
            continue
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        marker = f"; {req.marker}" if req.marker else ""
        repl = f"{req.name}{extras}{compatible_range(new)}{marker}"
        source = pp.read_text()
        pp.write_text(source.replace(f'"{text}"', f'"{repl}"'))
        if pp.parent.name not in changed:
            changed.append(pp.parent.name)
    return changed


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise ReleaseError("uv is not installed: python -m pip install uv")
    return uv


def _run(cmd: list[str], cwd: Path) -> str:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise ReleaseError(f"`{' '.join(cmd)}` failed:\n{res.stdout}{res.stderr}")
    return res.stdout + res.stderr


def plan(root: Path, name: str, bump: str, *, date: str) -> Plan:
    members = packages(root)
    if name not in members:
        raise ReleaseError(f"no workspace package {name!r}; choose one of {', '.join(members)}")
    folder = members[name]
    old = current_version(folder)
    new = bumped(old, bump)
    changelog = moved_changelog(
        (folder / "CHANGELOG.md").read_text(), new, date, path=folder / "CHANGELOG.md"
    )
    return Plan(name, old, new, f"{name}-v{new}", changelog, range_problems(members, name, new))


def release(
    root: Path,
    name: str,
    bump: str,
    *,
    date: str | None = None,
    out: Path | None = None,
    dry_run: bool = False,
    fix_ranges: bool = False,
    build: bool = True,
) -> Plan:
    """Prepare the release of one package (see the module docstring). Returns the plan carried out."""
    p = plan(root, name, bump, date=date or _dt.date.today().isoformat())
    if p.range_problems and not fix_ranges:
        raise ReleaseError(
            "siblings' ranges do not admit the new version (use --update-ranges to rewrite them):\n  "
            + "\n  ".join(p.range_problems)
        )
    if dry_run:
        return p
    folder = packages(root)[name]
    if bump != "keep":
        _run([_uv(), "version", "--package", name, "--bump", bump, "--no-sync"], root)
    (folder / "CHANGELOG.md").write_text(p.changelog)
    if fix_ranges and p.range_problems:
        update_ranges(packages(root), name, p.new)
        _run([_uv(), "lock"], root)
    if build:
        dist = out or root / "dist"
        _run([_uv(), "build", "--package", name, "--no-sources", "-o", str(dist)], root)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/release.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("package", help="distribution name, e.g. nb-shards")
    parser.add_argument("bump", choices=BUMPS, help="which part of the version to bump")
    parser.add_argument("--dry-run", action="store_true", help="check and print, change nothing")
    parser.add_argument(
        "--update-ranges", action="store_true", help="rewrite siblings' ranges that exclude the new version"
    )
    parser.add_argument("--no-build", action="store_true", help="skip building the sdist and wheel")
    parser.add_argument("--out", type=Path, help="folder for the sdist and wheel (default: dist/)")
    parser.add_argument("--date", help="release date for the changelog (default: today, YYYY-MM-DD)")
    args = parser.parse_args(argv)
    try:
        p = release(
            ROOT,
            args.package,
            args.bump,
            date=args.date,
            out=args.out,
            dry_run=args.dry_run,
            fix_ranges=args.update_ranges,
            build=not args.no_build,
        )
    except ReleaseError as err:
        print(f"release: error: {err}", file=sys.stderr)
        return 1
    verb = "would release" if args.dry_run else "prepared"
    print(f"{verb} {p.package} {p.old} -> {p.new}")
    if p.range_problems:
        print("siblings whose ranges were rewritten (they need a release too):")
        for line in p.range_problems:
            print(f"  {line}")
    if not args.dry_run:
        print(f"review and commit, then: git tag {p.tag} && git push origin {p.tag}")
    else:
        print(f"tag: {p.tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
