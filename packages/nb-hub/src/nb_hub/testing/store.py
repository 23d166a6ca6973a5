"""Repository storage of the Hub emulator: repos, commits, refs and content-addressed blobs.

Blobs are stored once by sha256 (in memory, or as files under ``storage/blobs`` when a
directory is given); each commit is a full snapshot ``path -> TreeFile``, so any revision
can be listed and read. With a storage directory the repository state is also saved as
JSON after every change, so an emulator restarted on the same directory keeps its repos.

This module is an implementation detail of :class:`nb_hub.testing.HubEmulator`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_core.hubspec import git_blob_sha1

__all__ = [
    "GITATTRIBUTES",
    "LFS_EXTENSIONS",
    "BlobStore",
    "Commit",
    "Repo",
    "RepoStore",
    "TreeFile",
    "git_blob_sha1",
    "lfs_pointer",
]

#: Extensions stored through LFS regardless of size (as the Hub's default ``.gitattributes``).
LFS_EXTENSIONS = (
    ".7z",
    ".arrow",
    ".bin",
    ".bz2",
    ".ckpt",
    ".ftz",
    ".gz",
    ".h5",
    ".hdf5",
    ".joblib",
    ".lz4",
    ".mlmodel",
    ".model",
    ".msgpack",
    ".npy",
    ".npz",
    ".onnx",
    ".ot",
    ".parquet",
    ".pb",
    ".pickle",
    ".pkl",
    ".pt",
    ".pth",
    ".rar",
    ".safetensors",
    ".tar",
    ".tflite",
    ".tgz",
    ".wasm",
    ".xz",
    ".zip",
    ".zst",
    ".png",
    ".jpg",
    ".jpeg",
    ".nii",
    ".mgz",
    ".edf",
    ".bdf",
    ".fif",
    ".zarr",
)

GITATTRIBUTES = "".join(f"*{ext} filter=lfs diff=lfs merge=lfs -text\n" for ext in LFS_EXTENSIONS).encode()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The Git LFS pointer file text of an object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass
class TreeFile:
    """A file in a commit's tree."""

    sha256: str
    size: int
    lfs: bool
    git_oid: str  # git blob id: of the content (regular) or of the LFS pointer (lfs)
    last_commit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "lfs": self.lfs,
            "git_oid": self.git_oid,
            "last_commit": self.last_commit,
        }


@dataclass
class Commit:
    """One commit: a full snapshot of the tree."""

    id: str
    parent: str | None
    title: str
    message: str
    author: str
    date: float
    files: dict[str, TreeFile]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": self.parent,
            "title": self.title,
            "message": self.message,
            "author": self.author,
            "date": self.date,
            "files": {k: v.to_dict() for k, v in self.files.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Commit:
        return cls(
            id=d["id"],
            parent=d["parent"],
            title=d["title"],
            message=d["message"],
            author=d["author"],
            date=d["date"],
            files={k: TreeFile(**v) for k, v in d["files"].items()},
        )


@dataclass
class Repo:
    """A repository: type, id, owner, visibility, branches, tags and commits."""

    repo_type: str  # "model" | "dataset" | "space"
    repo_id: str
    owner: str
    private: bool
    created: float
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    commit_times: list[float] = field(default_factory=list)
    n_prs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_type": self.repo_type,
            "repo_id": self.repo_id,
            "owner": self.owner,
            "private": self.private,
            "created": self.created,
            "branches": self.branches,
            "tags": self.tags,
            "commits": {k: c.to_dict() for k, c in self.commits.items()},
            "commit_times": self.commit_times,
            "n_prs": self.n_prs,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Repo:
        out = cls(
            repo_type=d["repo_type"],
            repo_id=d["repo_id"],
            owner=d["owner"],
            private=d["private"],
            created=d["created"],
            branches=d["branches"],
            tags=d["tags"],
            commit_times=d.get("commit_times", []),
            n_prs=d.get("n_prs", 0),
        )
        out.commits = {k: Commit.from_dict(c) for k, c in d["commits"].items()}
        return out

    def resolve(self, revision: str) -> str | None:
        """The commit id of a branch, tag, ``refs/...`` name or (full) commit id; `None` if unknown."""
        rev = revision
        for prefix in ("refs/heads/", "refs/tags/"):
            if rev.startswith(prefix):
                rev = rev[len(prefix) :]
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.tags:
            return self.tags[rev]
        if revision.startswith("refs/pr/") and revision in self.branches:
            return self.branches[revision]
        if len(rev) == 40 and rev in self.commits:
            return rev
        return None


class BlobStore:
    """Content-addressed blob storage (sha256), in memory or under a directory."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._mem: dict[str, bytes] = {}
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        assert self.directory is not None
        return self.directory / sha256

    def has(self, sha256: str) -> bool:
        if self.directory is None:
            return sha256 in self._mem
        return self._path(sha256).is_file()

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if self.has(sha):
            return sha
        if self.directory is None:
            self._mem[sha] = bytes(data)
        else:
            tmp = self.directory / f".tmp-{sha}-{threading.get_ident()}"
            tmp.write_bytes(data)
            os.replace(tmp, self._path(sha))
        return sha

    def get(self, sha256: str) -> bytes:
        if self.directory is None:
            return self._mem[sha256]
        return self._path(sha256).read_bytes()

    def size(self, sha256: str) -> int:
        if self.directory is None:
            return len(self._mem[sha256])
        return self._path(sha256).stat().st_size


class RepoStore:
    """All repositories of one emulator, guarded by one lock."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.blobs = BlobStore(self.directory / "blobs" if self.directory is not None else None)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.RLock()
        self._counter = 0
        if self.directory is not None:
            state = self.directory / "repos.json"
            if state.is_file():
                data = json.loads(state.read_text(encoding="utf-8"))
                for r in data["repos"]:
                    repo = Repo.from_dict(r)
                    self.repos[(repo.repo_type, repo.repo_id)] = repo
                self._counter = data.get("counter", 0)

    def save(self) -> None:
        """Persist the repository state (no-op in memory)."""
        if self.directory is None:
            return
        with self.lock:
            text = json.dumps(
                {"counter": self._counter, "repos": [r.to_dict() for r in self.repos.values()]},
                sort_keys=True,
            )
            tmp = self.directory / ".tmp-repos.json"
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.directory / "repos.json")

    def new_commit_id(self, *parts: str) -> str:
        with self.lock:
            self._counter += 1
            h = hashlib.sha1(usedforsecurity=False)
            for p in (*parts, str(self._counter), repr(time.time())):
                h.update(p.encode())
                h.update(b"\0")
            return h.hexdigest()

    def add_file(self, data: bytes, *, lfs: bool) -> TreeFile:
        """Store content and describe it as a tree entry (without its last commit)."""
        sha = self.blobs.put(data)
        oid = git_blob_sha1(lfs_pointer(sha, len(data))) if lfs else git_blob_sha1(data)
        return TreeFile(sha256=sha, size=len(data), lfs=lfs, git_oid=oid)

    def lfs_file(self, sha256: str, size: int) -> TreeFile:
        """A tree entry for an already uploaded LFS object."""
        return TreeFile(sha256=sha256, size=size, lfs=True, git_oid=git_blob_sha1(lfs_pointer(sha256, size)))

    def create_repo(self, rtype: str, rid: str, *, owner: str, private: bool) -> Repo:
        """Make a repository with an initial commit of the Hub's default ``.gitattributes``."""
        with self.lock:
            now = time.time()
            repo = Repo(repo_type=rtype, repo_id=rid, owner=owner, private=private, created=now)
            f = self.add_file(GITATTRIBUTES, lfs=False)
            cid = self.new_commit_id(rid, "initial")
            f.last_commit = cid
            repo.commits[cid] = Commit(
                id=cid,
                parent=None,
                title="initial commit",
                message="",
                author=owner,
                date=now,
                files={".gitattributes": f},
            )
            repo.branches["main"] = cid
            self.repos[(rtype, rid)] = repo
            self.save()
            return repo
