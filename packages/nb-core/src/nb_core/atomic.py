"""Atomic writes: nothing half-written is ever visible under its final name.

Every writer in neurobridge writes to a temporary name in the destination
directory and renames it into place only when complete (``os.replace`` is
atomic on POSIX and Windows within one file system). A crash leaves at most a
``.nb-tmp-*`` entry, which :func:`clean_temporaries` removes and which readers
ignore.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "data.bin") as tmp:
    ...     _ = tmp.write_bytes(b"payload")
    >>> (d / "data.bin").read_bytes()
    b'payload'
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from nb_core.errors import OutputExistsError

__all__ = [
    "TMP_PREFIX",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_output",
    "clean_temporaries",
    "dumps_json",
    "fsync_path",
    "is_temporary",
    "remove_path",
    "start_writeback",
]

#: Prefix of every temporary name; readers skip entries that start with it.
TMP_PREFIX = ".nb-tmp-"


def is_temporary(name: str) -> bool:
    """True if a file or directory name is a neurobridge temporary."""
    return Path(name).name.startswith(TMP_PREFIX)


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{path.name}")


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file (or directory entry table) to stable storage, where the OS allows."""
    p = Path(path)
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if p.is_dir() else 0)
    try:
        fd = os.open(p, flags)
    except OSError:  # pragma: no cover - e.g. directories on Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on dirs
        pass
    finally:
        os.close(fd)


_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range: Any = None  # resolved on first use: libc's function, or False where there is none


def start_writeback(fd: int, offset: int, nbytes: int) -> bool:
    """Ask the OS to start writing ``nbytes`` of an open file from ``offset`` to disk now,
    without waiting for it; return whether it could be asked.

    A writer that fsyncs each file when it is complete calls this as it goes, so the disk works
    while the file is being written and the final fsync has little left to wait for (Linux
    otherwise starts writing back only when dirty pages pass a share of the memory, gigabytes
    on a large machine). Linux's ``sync_file_range(SYNC_FILE_RANGE_WRITE)``; elsewhere nothing
    (`False`). Never a substitute for the fsync: it guarantees nothing.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryFile() as f:
        ...     _ = f.write(b"x" * 8192)
        ...     f.flush()
        ...     _ = start_writeback(f.fileno(), 0, 8192)  # (True on Linux)
    """
    global _sync_file_range
    if _sync_file_range is None:
        _sync_file_range = _find_sync_file_range()
    if not _sync_file_range or nbytes <= 0:
        return False
    return bool(_sync_file_range(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE) == 0)


def _find_sync_file_range() -> Any:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # pragma: no cover - a libc without it
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def remove_path(path: str | os.PathLike[str]) -> None:
    """Remove a file or a directory tree; a missing path is fine."""
    p = Path(path)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def check_output(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Refuse an existing output unless ``overwrite``; return ``path`` as a `Path`.

    The one "exists and not overwrite" check: the message says to pass
    ``overwrite=True`` (the ``nb`` command shows it as ``--overwrite``, see
    :func:`nb_core.cli.cli_message`).

    Raises:
        OutputExistsError: ``path`` exists (a file, a directory or a dangling link) and
            ``overwrite`` is `False`.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> check_output(d / "new", overwrite=False).name
        'new'
        >>> try:
        ...     check_output(d, overwrite=False)
        ... except FileExistsError as err:
        ...     print(str(err).endswith("already exists; pass overwrite=True to replace it"))
        True
    """
    p = Path(path)
    if not overwrite and (p.exists() or p.is_symlink()):
        raise OutputExistsError(f"{p} already exists; pass overwrite=True to replace it")
    return p


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike[str], *, overwrite: bool = True, fsync: bool = True
) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto ``path`` when the block succeeds.

    Works for anything written *by path*: a file (h5py, pyarrow), or a directory
    (a Zarr store, an artifact folder). On error the temporary is removed and
    ``path`` is untouched.

    Args:
        path (`str` or `os.PathLike`): the final path.
        overwrite (`bool`, *optional*, defaults to `True`): replace an existing
            ``path``. When `False` an existing path raises
            :class:`~nb_core.errors.OutputExistsError` before anything is written.
        fsync (`bool`, *optional*, defaults to `True`): flush data before the rename.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is `False`.

    Example:
        >>> import tempfile, pathlib
        >>> import numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
        >>> with atomic_path(p) as tmp:  # written by path, e.g. by numpy
        ...     np.save(tmp, np.arange(3))
        >>> np.load(p).tolist()
        [0, 1, 2]
    """
    final = check_output(path, overwrite=overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(final)
    try:
        yield tmp
        if fsync and tmp.exists():
            if tmp.is_dir():
                for sub in tmp.rglob("*"):
                    if sub.is_file():
                        fsync_path(sub)
            fsync_path(tmp)
        if final.is_dir() and not final.is_symlink():
            # os.replace cannot replace a non-empty directory: move the old one
            # aside first, so that the final name is never missing for long and
            # never half-written.
            old = _tmp_sibling(final)
            os.replace(final, old)
            os.replace(tmp, final)
            remove_path(old)
        else:
            os.replace(tmp, final)
        if fsync:
            fsync_path(final.parent)
    except BaseException:
        remove_path(tmp)
        raise


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", *, overwrite: bool = True, **kwargs: Any
) -> Iterator[IO[Any]]:
    """Open a temporary sibling for writing; rename it onto ``path`` on success.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_open(p, "w", encoding="utf-8") as f:
        ...     _ = f.write("hello")
        >>> p.read_text()
        'hello'
    """
    if not any(c in mode for c in "wx"):
        raise ValueError(f"atomic_open is for writing; got mode {mode!r}")
    with (
        atomic_path(path, overwrite=overwrite) as tmp,
        tmp.open(mode.replace("x", "w"), **kwargs) as f,
    ):
        yield f
        f.flush()
        os.fsync(f.fileno())


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
        >>> atomic_write_bytes(p, b"abc")
        >>> p.read_bytes()
        b'abc'
    """
    with atomic_open(path, "wb", overwrite=overwrite) as f:
        f.write(data)


def dumps_json(obj: Any, *, indent: int | None = 2) -> str:
    """Canonical JSON: sorted keys, UTF-8 text (not ``\\u`` escapes), no NaN/Infinity.

    The same object always gives the same text, so two identical writes give
    identical bytes.

    Raises:
        ValueError: ``obj`` holds a non-finite float.

    Example:
        >>> dumps_json({"b": 1, "a": "é"}, indent=None)
        '{"a":"é","b":1}'
    """
    sep = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(obj, sort_keys=True, indent=indent, ensure_ascii=False, allow_nan=False, separators=sep)
    return text + "\n" if indent is not None else text


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, overwrite: bool = True) -> None:
    """Write ``obj`` as canonical JSON (:func:`dumps_json`) to ``path`` atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "meta.json"
        >>> atomic_write_json(p, {"b": 2, "a": 1})
        >>> p.read_text()
        '{\\n  "a": 1,\\n  "b": 2\\n}\\n'
    """
    atomic_write_bytes(path, dumps_json(obj).encode("utf-8"), overwrite=overwrite)


def clean_temporaries(directory: str | os.PathLike[str], *, recursive: bool = True) -> list[Path]:
    """Remove temporaries left by a crashed writer under ``directory``; return what was removed."""
    root = Path(directory)
    if not root.is_dir():
        return []
    found = [p for p in (root.rglob(f"{TMP_PREFIX}*") if recursive else root.glob(f"{TMP_PREFIX}*"))]
    # Deepest first, and skip children of a temporary directory already removed.
    removed: list[Path] = []
    for p in sorted(found, key=lambda q: len(q.parts)):
        if any(parent in removed for parent in p.parents):
            continue
        remove_path(p)
        removed.append(p)
    return removed
