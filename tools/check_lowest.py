#!/usr/bin/env python3
"""Test one package's wheel alone, at the oldest (or newest) dependency versions it admits.

A floor such as ``mne>=1.6`` is a promise: the package works with MNE 1.6. Nothing in the
workspace checks it, since the lock holds the newest versions. For one package this script:

1. builds every workspace wheel (``uv build --all-packages --no-sources``);
2. creates an empty venv and installs the package's wheel with its ``test`` extra, resolving with
   ``--resolution lowest-direct`` (default) or ``highest``. The package's own third-party
   requirements (base and ``test`` extra, expanded through its own extras) are passed as direct
   requirements, so they get their lowest admitted version; siblings come from the wheels built;
3. runs the package's own tests against the installed wheel (not the checkout's sources).

Usage:
    python tools/check_lowest.py nb-core
    python tools/check_lowest.py nb-hub --resolution highest --keep /tmp/nb-lowest --workers 0

Exit code: pytest's, or 1 when the environment cannot be built.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_wheels", ROOT / "tools" / "check_wheels.py")
assert _spec is not None and _spec.loader is not None
check_wheels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_wheels)


def own_requirements(name: str, extras: set[str]) -> list[Requirement]:
    """Third-party requirements of ``name`` with ``extras``, following its self-references."""
    project = tomllib.loads((ROOT / "packages" / name / "pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    out: list[Requirement] = []
    todo, seen = sorted(extras), set()
    reqs = [Requirement(r) for r in project.get("dependencies", [])]
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in optional:
            raise SystemExit(f"{name} has no extra {extra!r}")
        for text in optional[extra]:
            req = Requirement(text)
            if req.name == name:
                todo.extend(sorted(req.extras))
            else:
                reqs.append(req)
    for req in reqs:
        if not req.name.startswith("nb-") and str(req) not in {str(r) for r in out}:
            out.append(req)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("package", help="distribution name, e.g. nb-core")
    parser.add_argument("--resolution", choices=("lowest-direct", "highest"), default="lowest-direct")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    parser.add_argument("--workers", default="auto", help="pytest-xdist workers (-n), default auto")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="nb-lowest-"))
    work.mkdir(parents=True, exist_ok=True)
    uv = check_wheels._uv()
    wheels = check_wheels.build(work / "dist")
    if args.package not in wheels:
        raise SystemExit(f"no workspace package {args.package!r}")
    venv = work / f"venv-{args.package}-{args.resolution}"
    check_wheels._run([uv, "venv", "-q", "--clear", "--python", sys.executable, str(venv)])
    py = venv / "bin" / "python"
    direct = [str(r) for r in own_requirements(args.package, {"test"})]
    cmd = [uv, "pip", "install", "-q", "--python", str(py), "--resolution", args.resolution]
    cmd += ["--find-links", str(work / "dist"), f"{wheels[args.package]}[test]", *direct]
    check_wheels._run(cmd)
    versions = check_wheels._run([uv, "pip", "list", "--python", str(py), "--format", "freeze"]).stdout
    names = {Requirement(d).name.lower().replace("_", "-") for d in direct}
    print(f"{args.package} at {args.resolution}:")
    for line in versions.splitlines():
        if line.split("==")[0].lower().replace("_", "-") in names:
            print(f"  {line}")
    # The tests import the installed wheel: copy them away from the sources.
    tests = work / f"tests-{args.package}"
    shutil.rmtree(tests, ignore_errors=True)
    shutil.copytree(ROOT / "packages" / args.package / "tests", tests)
    res = subprocess.run(
        [
            str(py),
            "-m",
            "pytest",
            str(tests),
            "-q",
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            "-n",
            args.workers,
        ],
        cwd=work,
    )
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
