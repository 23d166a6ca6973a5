"""The Hub's repository limits, checked before anything is uploaded.

The Hub rejects (or throttles) repositories with too many files, folders with too many
entries, very large files and bursts of commits; an artifact of tens of thousands of
small files is also slow to upload and to load. :func:`check_limits` finds these problems
from the manifest alone: hard limits raise :class:`~nb_core.errors.HubLimitError` before
any upload; "many small files" warns (:class:`TooManySmallFilesWarning`) with the fix:
pack them into WebDataset shards (``nb shards write``) or fewer, larger files.

Example:
    >>> from nb_core import Manifest, FileEntry
    >>> m = Manifest(name="x", layout="shards",
    ...              files=[FileEntry(f"s/{i}.npy", 10, "0" * 64) for i in range(5)])
    >>> check_limits(m, RepoLimits(max_files_per_folder=10)).n_commits
    1
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from dataclasses import dataclass

from nb_core.errors import HubLimitError
from nb_core.manifest import Manifest

__all__ = ["LimitReport", "RepoLimits", "TooManySmallFilesWarning", "check_limits"]


class TooManySmallFilesWarning(UserWarning):
    """An artifact has many small files: pack it before pushing."""


@dataclass
class RepoLimits:
    """Limits nb-hub respects when pushing (defaults follow the Hub's documented guidance).

    Args:
        max_files_per_repo (`int`): files in the repository (Hub: keep under 100k).
        max_files_per_folder (`int`): entries in one folder (Hub: keep under 10k).
        max_file_size (`int`): bytes of one file (Hub: 50 GB hard limit for LFS files).
        max_files_per_commit (`int`): files per commit; pushes are split into commits of this size.
        max_commits_per_hour (`int`): commits one push may make (the Hub rate-limits commits).
        small_file_size (`int`): files below this size count as "small".
        max_small_files (`int`): more small files than this triggers the packing warning.

    Example:
        >>> limits = RepoLimits(max_files_per_commit=50)
        >>> limits.max_files_per_commit, limits.max_files_per_folder
        (50, 10000)
    """

    max_files_per_repo: int = 100_000
    max_files_per_folder: int = 10_000
    max_file_size: int = 50 * 1000**3
    max_files_per_commit: int = 100
    max_commits_per_hour: int = 100
    small_file_size: int = 1024 * 1024
    max_small_files: int = 1000


@dataclass
class LimitReport:
    """What :func:`check_limits` found: file count, largest folder, commits needed, small files."""

    n_files: int
    largest_folder: tuple[str, int]
    n_commits: int
    n_small: int


_PACK_HINT = (
    "pack the data into fewer, larger files before pushing: WebDataset shards "
    "(`nb shards write ... --max-bytes 500MB`, nb_shards.ShardWriter) or one HDF5/Zarr/Parquet "
    "file per split (`nb formats convert`)"
)


def check_limits(
    manifest: Manifest,
    limits: RepoLimits | None = None,
    *,
    n_to_upload: int | None = None,
    extra_commits: int = 0,
) -> LimitReport:
    """Check an artifact against the Hub's limits before pushing it.

    Args:
        manifest (`Manifest`): the artifact's manifest.
        limits (`RepoLimits`, *optional*): the limits (defaults: :class:`RepoLimits`).
        n_to_upload (`int`, *optional*): files that actually need uploading (the rest is
            already on the Hub); defaults to all files.
        extra_commits (`int`, *optional*): commits made besides the data commits (the push's
            final card-and-manifest commit), counted against ``max_commits_per_hour``.

    Returns:
        `LimitReport`

    Raises:
        HubLimitError: a hard limit would be broken (the message says which and how to fix it).

    Example:
        >>> from nb_core import FileEntry, Manifest
        >>> from nb_core.errors import HubLimitError
        >>> m = Manifest(name="eeg-demo", layout="shards",
        ...              files=[FileEntry(f"train-{i:06d}.tar", 1_000_000, "0" * 64) for i in range(250)])
        >>> check_limits(m).n_commits  # 250 shards + card and manifest, 100 files per commit
        3
        >>> try:
        ...     check_limits(m, RepoLimits(max_files_per_folder=200))
        ... except HubLimitError as err:
        ...     print(str(err).split(";")[0])
        eeg-demo: folder '/' has 250 files, over the Hub's limit of 200 per folder
    """
    lim = limits or RepoLimits()
    n = len(manifest.files) + 3  # + manifest, card, preview
    folder, count = _check_file_counts(manifest, lim, n)
    _check_file_sizes(manifest, lim)
    n_commits = _check_commits(manifest, lim, n if n_to_upload is None else n_to_upload, extra_commits)
    n_small = sum(1 for f in manifest.files if f.size < lim.small_file_size)
    if n_small > lim.max_small_files:
        warnings.warn(
            f"{manifest.name}: {n_small} of {len(manifest.files)} files are smaller than "
            f"{lim.small_file_size} bytes; many small files make slow uploads, hit the Hub's commit-rate "
            "limit and load slowly; " + _PACK_HINT,
            TooManySmallFilesWarning,
            stacklevel=3,
        )
    return LimitReport(n_files=n, largest_folder=(folder, count), n_commits=n_commits, n_small=n_small)


def _check_file_counts(manifest: Manifest, lim: RepoLimits, n: int) -> tuple[str, int]:
    """Files per repository (``n``, with the card files) and per folder; return the fullest folder."""
    if n > lim.max_files_per_repo:
        raise HubLimitError(
            f"{manifest.name}: {n} files exceed the Hub's limit of {lim.max_files_per_repo} files per repository; "
            + _PACK_HINT
        )
    folders: Counter[str] = Counter()
    for f in manifest.files:
        parent = f.path.rsplit("/", 1)[0] if "/" in f.path else ""
        folders[parent] += 1
    folder, count = folders.most_common(1)[0] if folders else ("", 0)
    if count > lim.max_files_per_folder:
        raise HubLimitError(
            f"{manifest.name}: folder {folder or '/'!r} has {count} files, over the Hub's limit of "
            f"{lim.max_files_per_folder} per folder; " + _PACK_HINT
        )
    return folder, count


def _check_file_sizes(manifest: Manifest, lim: RepoLimits) -> None:
    for f in manifest.files:
        if f.size > lim.max_file_size:
            raise HubLimitError(
                f"{manifest.name}: {f.path} is {f.size} bytes, over the Hub's limit of {lim.max_file_size} "
                "bytes per file; split it (e.g. nb-shards with --max-bytes)"
            )


def _check_commits(manifest: Manifest, lim: RepoLimits, todo: int, extra_commits: int) -> int:
    """The commits a push of ``todo`` files makes, if the hourly commit limit allows them."""
    n_commits = (max(1, math.ceil(todo / lim.max_files_per_commit)) if todo else 0) + extra_commits
    if n_commits > lim.max_commits_per_hour:
        raise HubLimitError(
            f"{manifest.name}: uploading {todo} files at {lim.max_files_per_commit} per commit needs {n_commits} "
            f"commits, over the {lim.max_commits_per_hour} commits per hour the Hub allows; " + _PACK_HINT
        )
    return n_commits
