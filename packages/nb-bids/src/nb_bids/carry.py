"""The folders BIDS leaves free (``code/``, ``sourcedata/``, ``stimuli/``), carried as plain files.

The BIDS specification allows these top-level folders with any content: ``sourcedata/`` for the
data before conversion to BIDS (e.g. DICOM), ``code/`` for the scripts that made the dataset and
``stimuli/`` for the stimulus files that events refer to. Their files follow no naming rules, so
the index (like pybids) does not look into them; a conversion keeps them byte for byte in the
``files`` config (one unit per folder and first-level subfolder, so that memory stays bounded
by a subfolder such as ``sourcedata/sub-01``) and ``export`` writes them back.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "code").mkdir(); _ = (root / "code" / "make.py").write_text("print(1)")
    >>> units, counts = carried_files(root)
    >>> sorted(units), counts
    (['_code'], {'code': 1})
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nb_core.errors import UserError

__all__ = ["CARRIED_DIRS", "CARRYABLE_DIRS", "carried_files"]

#: The folders carried by default: those of the BIDS specification with free content.
CARRIED_DIRS = ("code", "sourcedata", "stimuli")
#: Every top-level folder the index skips that a conversion can carry.
CARRYABLE_DIRS = (*CARRIED_DIRS, "models")


def _unit(rel: str) -> str:
    top, _, rest = rel.partition("/")
    first = rest.partition("/")[0] if "/" in rest else ""
    return "_" + re.sub(r"[^A-Za-z0-9_-]+", "_", top + (f"-{first}" if first else ""))


def carried_files(
    root: str | os.PathLike[str], carry: Sequence[str] = CARRIED_DIRS
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int | str]]:
    """The files of the carried folders as conversion units, and the count per folder.

    A carryable folder that exists but is not in ``carry`` is counted as ``"not carried"``.
    Links are followed to files, never into directories (no loops); dot-files are skipped.

    Raises:
        UserError: ``carry`` names a folder that cannot be carried.
    """
    bad = [d for d in carry if d not in CARRYABLE_DIRS]
    if bad:
        raise UserError(f"carry: {bad} cannot be carried; choose from {', '.join(CARRYABLE_DIRS)}")
    base = Path(root)
    units: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, int | str] = {}
    for top in CARRYABLE_DIRS:
        if not (base / top).is_dir():
            continue
        if top not in carry:
            counts[top] = "not carried"
            continue
        n = 0
        for dirpath, dirnames, filenames in os.walk(base / top):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                p = Path(dirpath) / f
                if f.startswith(".") or not p.is_file():
                    continue
                rel = p.relative_to(base).as_posix()
                st = p.stat()
                units.setdefault(_unit(rel), []).append(
                    {"path": rel, "size": st.st_size, "mtime": st.st_mtime_ns}
                )
                n += 1
        counts[top] = n
    return units, counts
