"""Resumable writes: a ledger of finished pieces kept beside an interrupted write.

``nb_formats.write(..., resume=True)`` (NumPy+Parquet layout and Zarr directory
stores) writes into a fixed work directory next to the destination,
``.nb-tmp-resume-<name>`` (a neurobridge temporary: readers skip it and
``nb_core.atomic.clean_temporaries`` removes it), instead of a fresh temporary
that is deleted on error. Each finished piece — a recording's ``.npy`` or
Zarr array, a shard of materialized windows — is flushed (``fsync=True``) and
then recorded in ``.nb-resume.json`` with a digest of the input it was made
from. A re-run with ``resume=True`` and the same options keeps every recorded
piece whose input digest still matches (it is not rewritten) and writes the
rest; the result is byte-for-byte the artifact an uninterrupted write gives.
The ledger is removed and the work directory renamed into place only at the
very end, after the manifest.

Example:
    >>> import tempfile, pathlib
    >>> led = ResumeLedger.open(pathlib.Path(tempfile.mkdtemp()) / "w", {"format": "zarr"})
    >>> led.done("recording", 0, "abc"), led.add("recording", 0, "abc", []), led.done("recording", 0, "abc")
    (False, None, True)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.atomic import TMP_PREFIX, atomic_write_json, fsync_path, remove_path
from nb_core.errors import CorruptDataError, UserError
from nb_core.validation import load_json

__all__ = ["LEDGER_NAME", "ResumeLedger", "digest", "resume_dir"]

#: The ledger file inside the work directory (removed before the artifact is renamed into place).
LEDGER_NAME = ".nb-resume.json"


def resume_dir(final: Path) -> Path:
    """The work directory of a resumable write of ``final``."""
    return final.with_name(f"{TMP_PREFIX}resume-{final.name}")


def digest(*parts: Any) -> str:
    """A digest of an input piece: arrays by dtype, shape and bytes, other parts by their JSON."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        if isinstance(p, np.ndarray):
            a = np.ascontiguousarray(p)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.data)
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()


class ResumeLedger:
    """Pieces finished in a work directory, by kind and index, with their input digests."""

    def __init__(
        self, root: Path, options: dict[str, Any], state: dict[str, Any], *, fsync: bool = True
    ) -> None:
        self.root = root
        self.options = options
        self.state = state
        self.fsync = fsync
        #: True when earlier work was found and is being resumed.
        self.resuming = bool(state.get("pieces"))

    @classmethod
    def open(cls, root: Path, options: dict[str, Any], *, fsync: bool = True) -> ResumeLedger:
        """Open (or start) the ledger of ``root``.

        A work directory without a ledger (e.g. the crash came after the ledger was removed) is
        cleared and started again.

        Raises:
            UserError: the earlier work used other options (named); remove it or use the same ones.
        """
        path = root / LEDGER_NAME
        state: dict[str, Any] = {"options": options, "pieces": {}}
        if path.is_file():
            try:
                old = load_json(path.read_bytes(), where=str(path))
            except (OSError, CorruptDataError):
                old = None
            if isinstance(old, dict) and isinstance(old.get("pieces"), dict):
                if old.get("options") != options:
                    diff = sorted(
                        k
                        for k in set(options) | set(old.get("options") or {})
                        if options.get(k) != (old.get("options") or {}).get(k)
                    )
                    raise UserError(
                        f"{root}: an interrupted write with other options ({', '.join(diff)}) is there; "
                        "resume with the same options, or remove that directory to start over"
                    )
                state = old
            else:
                remove_path(root)
        elif root.exists():
            remove_path(root)
        root.mkdir(parents=True, exist_ok=True)
        return cls(root, options, state, fsync=fsync)

    def _key(self, kind: str, index: int) -> str:
        return f"{kind}/{index}"

    def done(self, kind: str, index: int, dig: str) -> bool:
        """True if piece ``kind``/``index`` was finished from an input with digest ``dig``."""
        return bool(self.state["pieces"].get(self._key(kind, index)) == dig)

    def add(self, kind: str, index: int, dig: str, files: list[Path]) -> None:
        """Record a finished piece (after flushing its ``files`` when ``fsync``)."""
        if self.fsync:
            for f in files:
                fsync_path(f)
        self.state["pieces"][self._key(kind, index)] = dig
        self._save()

    def forget(self, kind: str) -> None:
        """Drop every recorded piece of ``kind`` (its container was recreated)."""
        pieces = self.state["pieces"]
        for k in [k for k in pieces if k.startswith(f"{kind}/")]:
            del pieces[k]
        self._save()

    def _save(self) -> None:
        atomic_write_json(self.root / LEDGER_NAME, self.state)

    def close(self) -> None:
        """Remove the ledger (the work is complete)."""
        (self.root / LEDGER_NAME).unlink(missing_ok=True)
