#!/usr/bin/env python3
"""Build every workspace package's wheel and install each one alone into an empty venv.

uv does not check version ranges between workspace members when it locks; only
installing the built wheels together does. For each package this script:

1. builds all wheels with ``uv build --all-packages --no-sources``;
2. checks every ``nb-*`` requirement (extras included) against the versions built;
3. creates an empty venv and installs the package's wheel together with the
   wheels of the ``nb-*`` packages it needs (given as files, so a wrong range
   fails the install), third-party dependencies from the package index;
4. imports the package there (and runs ``nb --version``);
5. for nb-core, checks that none of the heavy libraries came along.

Usage:
    python tools/check_wheels.py [--out DIR] [--package nb-core ...]

Exit code 0 when every package passed.
"""

from __future__ import annotations

import argparse
import email.parser
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
#: Must not be installed by ``pip install nb-core`` (nb-core depends on numpy and little else).
NOT_IN_CORE = ["h5py", "zarr", "torch", "datasets", "huggingface-hub", "pyarrow", "mne"]


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if res.returncode != 0:
        raise SystemExit(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stdout}\n{res.stderr}")
    return res


def _uv() -> str:
    """The uv binary: the one running us (``uv run`` sets ``UV``), else the one on PATH."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is not installed: python -m pip install uv")
    return uv


def build(out: Path) -> dict[str, Path]:
    """Build all wheels into ``out``; return {distribution name: wheel path}."""
    _run([_uv(), "build", "--all-packages", "--no-sources", "--wheel", "-o", str(out)], cwd=ROOT)
    wheels = {}
    for whl in sorted(out.glob("*.whl")):
        name = whl.name.split("-")[0].replace("_", "-")
        wheels[name] = whl
    return wheels


def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(zf.read(meta).decode("utf-8"))


def sibling_requirements(wheel: Path) -> list[Requirement]:
    reqs = [Requirement(r) for r in metadata(wheel).get_all("Requires-Dist") or []]
    return [r for r in reqs if r.name.startswith("nb-")]


def check_ranges(wheels: dict[str, Path]) -> list[str]:
    """Every nb-* requirement (extras too) must admit the version built of that sibling."""
    versions = {n: Version(metadata(w)["Version"]) for n, w in wheels.items()}
    problems = []
    for name, whl in wheels.items():
        for req in sibling_requirements(whl):
            if req.name not in versions:
                problems.append(f"{name} requires {req} but no {req.name} wheel was built")
            elif not req.specifier.contains(versions[req.name], prereleases=True):
                problems.append(f"{name} requires {req} but {req.name} {versions[req.name]} was built")
    return problems


def closure(name: str, wheels: dict[str, Path]) -> list[str]:
    """``name`` and the nb-* packages its base requirements (no extras) pull in."""
    seen, todo = [], [name]
    while todo:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.append(cur)
        for req in sibling_requirements(wheels[cur]):
            if req.marker is None or not re.search(r"extra\s*==", str(req.marker)):
                todo.append(req.name)
    return seen


def install_alone(name: str, wheels: dict[str, Path], work: Path) -> None:
    venv = work / f"venv-{name}"
    _run([_uv(), "venv", "-q", "--python", sys.executable, str(venv)])
    py = venv / "bin" / "python"
    files = [str(wheels[n]) for n in closure(name, wheels)]
    _run([_uv(), "pip", "install", "-q", "--python", str(py), *files])
    module = name.replace("-", "_")
    _run([str(py), "-c", f"import {module}; print({module}.__version__)"])
    if name == "nb-core":
        installed = _run([_uv(), "pip", "list", "--python", str(py), "--format", "freeze"]).stdout.lower()
        pulled = [m for m in NOT_IN_CORE if re.search(rf"^{re.escape(m)}==", installed, re.M)]
        if pulled:
            raise SystemExit(f"pip install nb-core pulled in heavy dependencies: {pulled}")
        out = _run([str(venv / "bin" / "nb"), "--version"]).stdout
        if "nb-core" not in out:
            raise SystemExit(f"`nb --version` did not list nb-core: {out!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, help="folder for wheels and venvs (default: a temporary one)")
    parser.add_argument("--package", action="append", help="check only these packages (repeatable)")
    args = parser.parse_args(argv)
    work = args.out or Path(tempfile.mkdtemp(prefix="nb-wheels-"))
    work.mkdir(parents=True, exist_ok=True)
    wheels = build(work / "dist")
    expected = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())
    if sorted(wheels) != expected:
        raise SystemExit(f"built {sorted(wheels)}, expected {expected}")
    problems = check_ranges(wheels)
    if problems:
        raise SystemExit(
            "version ranges between siblings do not match the built versions:\n  " + "\n  ".join(problems)
        )
    for name in args.package or expected:
        install_alone(name, wheels, work)
        print(f"ok  {name}: wheel installs alone and imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
