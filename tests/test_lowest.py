"""Packages tested alone at the oldest dependency versions they admit (``--resolution lowest-direct``).

The workspace lock holds the newest versions; a floor like ``huggingface_hub>=2.0`` is only a
promise until the package's own tests pass against exactly that version. ``tools/check_lowest.py``
builds the wheels, installs one package alone with its ``test`` extra at the lowest admitted
versions of its own requirements, and runs that package's tests against the installed wheel.

Packages whose tests need torch (nb-formats, nb-shards, nb-demo) are checked the same way by the
``lowest`` job of ``.github/workflows/ci.yml``: a CUDA build of each torch version is several GB.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("package", ["nb-core", "nb-hub", "nb-bids"])
def test_package_passes_its_tests_at_lowest_direct(package: str, tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "check_lowest.py"),
            package,
            "--keep",
            str(tmp_path),
            "--workers",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    tail = (res.stdout + res.stderr)[-4000:]
    assert res.returncode == 0, tail
    assert f"{package} at lowest-direct:" in res.stdout
    assert " passed" in res.stdout and " failed" not in res.stdout, tail
