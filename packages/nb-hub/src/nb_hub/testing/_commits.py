r"""The commit endpoint of the Hub emulator, one step per function, and the Hub limits it enforces.

A commit body is ndjson: a ``header`` line, then one operation per line (``file`` with inline
base64 content, ``lfsFile`` naming an uploaded LFS object, ``deletedFile``, ``deletedFolder``).
:func:`parse_commit` reads it, :func:`branch_head` checks the branch and ``parentCommit``,
:func:`apply_ops` builds the new tree, :func:`check_tree_limits` checks it against
:class:`HubLimits`, and :func:`record_commit` stores the commit and moves the branch (or opens
a pull request).

This module is an implementation detail of :class:`nb_hub.testing.HubEmulator`.

Example:
    >>> header, ops = parse_commit(b'{"key": "header", "value": {"summary": "s"}}\n', HubLimits())
    >>> header, ops
    ({'summary': 's'}, [])
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from nb_hub.testing._http import HTTPError
from nb_hub.testing.store import Commit, Repo, RepoStore, TreeFile

__all__ = [
    "HubLimits",
    "apply_ops",
    "branch_head",
    "check_commit_rate",
    "check_tree_limits",
    "move_ref",
    "parse_commit",
    "record_commit",
]

#: Regular (non-LFS) files in a commit are limited to this many bytes, as on the Hub.
REGULAR_FILE_MAX = 10 * 1024 * 1024


@dataclass
class HubLimits:
    """Repository limits the emulator enforces (`None`: unlimited).

    Args:
        max_files_per_commit (`int`, *optional*): operations in one commit.
        max_files_per_repo (`int`, *optional*): files in a revision after a commit.
        max_files_per_folder (`int`, *optional*): entries directly in one folder.
        max_file_size (`int`, *optional*): bytes of one file.
        max_commits_per_hour (`int`, *optional*): commits to one repo in any hour (429 beyond).
        lfs_threshold (`int`): files at least this big are uploaded through LFS (10 MiB, as the Hub).
        page_size (`int`): entries per page of tree listings (the Hub uses 1000).
    """

    max_files_per_commit: int | None = None
    max_files_per_repo: int | None = None
    max_files_per_folder: int | None = None
    max_file_size: int | None = None
    max_commits_per_hour: int | None = None
    lfs_threshold: int = 10 * 1024 * 1024
    page_size: int = 1000


def parse_commit(raw: bytes, limits: HubLimits) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the operations of an ndjson commit body."""
    try:
        lines = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    except ValueError:
        raise HTTPError(400, "commit body must be ndjson") from None
    if not lines or lines[0].get("key") != "header":
        raise HTTPError(400, "the first ndjson line must be the header")
    ops = lines[1:]
    if limits.max_files_per_commit is not None and len(ops) > limits.max_files_per_commit:
        raise HTTPError(
            422,
            f"too many files in one commit: {len(ops)} > {limits.max_files_per_commit}; split the commit",
        )
    return lines[0].get("value") or {}, ops


def check_commit_rate(repo: Repo, limits: HubLimits, now: float, rid: str) -> None:
    if limits.max_commits_per_hour is None:
        return
    recent = [t for t in repo.commit_times if now - t < 3600]
    if len(recent) >= limits.max_commits_per_hour:
        raise HTTPError(
            429,
            f"You have exceeded the rate limit of {limits.max_commits_per_hour} commits per hour "
            f"on {rid}; retry later",
        )


def branch_head(repo: Repo, branch: str, parent: Any) -> Commit:
    """The head commit of the branch a commit goes to (checking ``parentCommit``)."""
    if branch not in repo.branches:
        raise HTTPError(404, f"Invalid rev id: {branch} (commits go to a branch)", code="RevisionNotFound")
    head = repo.commits[repo.branches[branch]]
    if parent is not None and parent != head.id:
        raise HTTPError(412, f"A commit has happened since {parent}: the head of {branch} is {head.id}")
    return head


def apply_ops(
    store: RepoStore, files: dict[str, TreeFile], ops: list[dict[str, Any]], limits: HubLimits
) -> dict[str, TreeFile]:
    """Apply the operations to ``files`` (in place); return the files added or changed."""
    new: dict[str, TreeFile] = {}
    for op in ops:
        key, value = op.get("key"), op.get("value") or {}
        path = value.get("path")
        if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
            raise HTTPError(400, f"invalid path in commit: {path!r}")
        if key in ("deletedFile", "deletedFolder"):
            for p in _deleted(files, key, path):
                del files[p]
                new.pop(p, None)
            continue
        entry = _added(store, key, path, value)
        if limits.max_file_size is not None and entry.size > limits.max_file_size:
            raise HTTPError(
                422, f"{path}: file size {entry.size} exceeds the limit of {limits.max_file_size} bytes"
            )
        files[path] = entry
        new[path] = entry
    return new


def _deleted(files: dict[str, TreeFile], key: str, path: str) -> list[str]:
    """The paths a ``deletedFile`` / ``deletedFolder`` operation removes."""
    if key == "deletedFile":
        if path not in files:
            raise HTTPError(404, f"{path}: A file with this name doesn't exist", code="EntryNotFound")
        return [path]
    prefix = path.rstrip("/") + "/"
    gone = [p for p in files if p.startswith(prefix)]
    if not gone:
        raise HTTPError(404, f"{path}: no such folder", code="EntryNotFound")
    return gone


def _added(store: RepoStore, key: Any, path: str, value: dict[str, Any]) -> TreeFile:
    """The tree entry of a ``file`` (inline base64) or ``lfsFile`` (uploaded before) operation."""
    if key == "file":
        if value.get("encoding", "base64") != "base64":
            raise HTTPError(400, "only base64 file content is supported")
        data = base64.b64decode(value.get("content") or "")
        if len(data) > REGULAR_FILE_MAX:
            raise HTTPError(422, f"{path}: regular (non-LFS) files are limited to 10 MiB; use LFS")
        return store.add_file(data, lfs=False)
    if key == "lfsFile":
        oid = value.get("oid")
        if not isinstance(oid, str) or not store.blobs.has(oid):
            raise HTTPError(422, f"{path}: LFS object {oid} was not uploaded")
        size = store.blobs.size(oid)
        if value.get("size") is not None and value["size"] != size:
            raise HTTPError(422, f"{path}: LFS object size {size} is not {value['size']}")
        return store.lfs_file(oid, size)
    raise HTTPError(400, f"unknown commit operation {key!r}")


def check_tree_limits(files: dict[str, TreeFile], limits: HubLimits) -> None:
    """Files per repository and entries per folder of the tree a commit would make."""
    if limits.max_files_per_repo is not None and len(files) > limits.max_files_per_repo:
        raise HTTPError(422, f"too many files in the repository: {len(files)} > {limits.max_files_per_repo}")
    if limits.max_files_per_folder is None:
        return
    counts: dict[str, set[str]] = {}
    for p in files:
        parts = p.split("/")
        for i in range(len(parts)):
            counts.setdefault("/".join(parts[:i]), set()).add(parts[i])
    for folder, children in counts.items():
        if len(children) > limits.max_files_per_folder:
            raise HTTPError(
                422,
                f"too many entries in folder {folder or '/'!r}: {len(children)} > {limits.max_files_per_folder}",
            )


@dataclass
class NewCommit:
    """What a commit records besides its tree: its parent, header fields, author and time."""

    parent: str
    title: str
    message: str
    author: str
    date: float


def record_commit(
    store: RepoStore, repo: Repo, c: NewCommit, files: dict[str, TreeFile], new: dict[str, TreeFile]
) -> Commit:
    """Store a commit of ``files`` (``new``: the files it adds or changes, which it last touched)."""
    cid = store.new_commit_id(repo.repo_id, c.parent, c.title, json.dumps(sorted(new)))
    for p, e in new.items():
        files[p] = TreeFile(e.sha256, e.size, e.lfs, e.git_oid, cid)
    commit = Commit(
        id=cid, parent=c.parent, title=c.title, message=c.message, author=c.author, date=c.date, files=files
    )
    repo.commits[cid] = commit
    repo.commit_times.append(c.date)
    return commit


def move_ref(repo: Repo, branch: str, cid: str, *, create_pr: bool) -> int | None:
    """Point ``branch`` at ``cid``, or open a pull request on it; return the PR number if any."""
    if not create_pr:
        repo.branches[branch] = cid
        return None
    repo.n_prs += 1
    repo.branches[f"refs/pr/{repo.n_prs}"] = cid
    return repo.n_prs
