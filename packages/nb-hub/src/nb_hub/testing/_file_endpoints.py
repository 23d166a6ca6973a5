"""Endpoint handlers of the Hub emulator about files: upload, commit, listing and download.

``preupload`` (regular or LFS per file), the Git LFS batch API with its upload and verify
URLs, the ndjson ``commit`` (the steps are in :mod:`nb_hub.testing._commits`), ``tree`` and
``paths-info`` listings, and ``resolve`` downloads with ``HEAD`` and ``Range``. Each handler
takes the HTTP method and the captures of its route (see :mod:`nb_hub.testing._routing`).

This module is an implementation detail of :class:`nb_hub.testing.HubEmulator`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlencode

from nb_hub.testing._commits import (
    NewCommit,
    apply_ops,
    branch_head,
    check_commit_rate,
    check_tree_limits,
    move_ref,
    parse_commit,
    record_commit,
)
from nb_hub.testing._http import HTTPError, RequestContext, iso, query_flag
from nb_hub.testing.store import LFS_EXTENSIONS, Commit, Repo, TreeFile, lfs_pointer

__all__ = ["FileEndpoints", "byte_range"]


def folders(files: Iterable[str]) -> set[str]:
    """Every folder that holds one of ``files`` (at any depth)."""
    out: set[str] = set()
    for p in files:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def byte_range(header: str, size: int) -> tuple[int, int]:
    """``(start, end)`` (inclusive) of a ``Range: bytes=...`` header on a file of ``size`` bytes."""
    try:
        unit, _, spec = header.partition("=")
        if unit.strip() != "bytes" or "," in spec:
            raise ValueError
        a, _, b = spec.strip().partition("-")
        if a == "":
            start, end = max(size - int(b), 0), size - 1
        else:
            start = int(a)
            end = min(int(b), size - 1) if b else size - 1
    except ValueError:
        raise HTTPError(400, f"invalid Range header: {header}") from None
    if start >= size or start > end:
        raise HTTPError(
            416,
            f"range {header} not satisfiable for {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


def _lfs_object_error(oid: str, size: int, limit: int) -> dict[str, Any]:
    return {
        "oid": oid,
        "size": size,
        "error": {"code": 422, "message": f"file size {size} exceeds the limit of {limit} bytes"},
    }


class FileEndpoints(RequestContext):
    """Handlers of the file endpoints."""

    # -- listing entries ----------------------------------------------------------------------
    def _file_entry(self, repo: Repo, path: str, f: TreeFile, expand: bool) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "file", "oid": f.git_oid, "size": f.size, "path": path}
        if f.lfs:
            d["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": len(lfs_pointer(f.sha256, f.size))}
        if expand:
            d["lastCommit"] = self._last_commit(repo, f.last_commit)
        return d

    def _dir_entry(self, repo: Repo, commit: Commit, path: str, expand: bool) -> dict[str, Any]:
        h = hashlib.sha1(usedforsecurity=False)
        last = ""
        prefix = path + "/"
        for p in sorted(commit.files):
            if p.startswith(prefix):
                h.update(f"{p}\0{commit.files[p].git_oid}\0".encode())
                last = max(last, commit.files[p].last_commit)
        d: dict[str, Any] = {"type": "directory", "oid": h.hexdigest(), "size": 0, "path": path}
        if expand:
            d["lastCommit"] = self._last_commit(repo, last or commit.id)
        return d

    def _last_commit(self, repo: Repo, cid: str) -> dict[str, Any] | None:
        c = repo.commits.get(cid)
        if c is None:
            return None
        return {"id": c.id, "title": c.title, "date": iso(c.date)}

    # -- upload -------------------------------------------------------------------------------
    def _upload_mode(self, path: str, size: int, sample: bytes) -> str:
        if size >= self.emu.limits.lfs_threshold:
            return "lfs"
        if any(path.lower().endswith(ext) for ext in LFS_EXTENSIONS):
            return "lfs"
        if b"\0" in sample:
            return "lfs"
        return "regular"

    def _preupload_entry(self, f: Any, current: dict[str, TreeFile]) -> dict[str, Any]:
        path, size = f.get("path"), f.get("size")
        if not isinstance(path, str) or not isinstance(size, int):
            raise HTTPError(400, 'each file needs "path" (string) and "size" (integer)')
        mode = self._upload_mode(path, size, base64.b64decode(f.get("sample") or ""))
        remote = current.get(path)
        oid = None
        if remote is not None:
            oid = remote.sha256 if remote.lfs else remote.git_oid
            if remote.lfs:  # a file stored through LFS stays in LFS
                mode = "lfs"
        return {"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid}

    def _preupload(self, method: str, rtype: str, rid: str, revision: str) -> None:
        repo = self._repo(rtype, rid, write=True)
        files = self._json_body().get("files")
        if not isinstance(files, list):
            raise HTTPError(400, '"files" must be a list')
        cid = repo.resolve(revision)
        current = repo.commits[cid].files if cid is not None else {}
        out = [self._preupload_entry(f, current) for f in files]
        self._send_json(200, {"files": out, "commitOid": cid})

    def _lfs_object(self, rtype: str, rid: str, o: Any) -> dict[str, Any]:
        """The batch answer for one object: an error, nothing to do, or where to upload it."""
        oid, size = o.get("oid"), o.get("size")
        if not isinstance(oid, str) or not isinstance(size, int):
            raise HTTPError(400, 'each object needs "oid" and "size"')
        emu = self.emu
        limit = emu.limits.max_file_size
        if limit is not None and size > limit:
            return _lfs_object_error(oid, size, limit)
        if emu.store.blobs.has(oid):
            return {"oid": oid, "size": size}
        up = f"{emu.endpoint}/_lfs/{rtype}s/{rid}/{oid}?sig={emu._sign(rtype, rid, oid)}"
        verify = f"{emu.endpoint}/_lfs/verify/{rtype}s/{rid}/{oid}"
        return {
            "oid": oid,
            "size": size,
            "authenticated": True,
            "actions": {"upload": {"href": up, "header": {}}, "verify": {"href": verify, "header": {}}},
        }

    def _lfs_batch(self, method: str, rtype: str, rid: str) -> None:
        self._repo(rtype, rid, write=True)
        body = self._json_body()
        if body.get("operation") != "upload":
            raise HTTPError(400, "only the upload operation is supported by the emulator")
        if "basic" not in (body.get("transfers") or ["basic"]):
            raise HTTPError(400, "the emulator speaks only the LFS basic transfer")
        objects = [self._lfs_object(rtype, rid, o) for o in body.get("objects") or []]
        self._send(
            200,
            json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode(),
            content_type="application/vnd.git-lfs+json",
        )

    def _lfs_upload(self, method: str, rtype: str, rid: str, oid: str) -> None:
        # Like the Hub's pre-signed storage URLs: no Authorization header, a signature instead.
        if self._query.get("sig", [""])[0] != self.emu._sign(rtype, rid, oid):
            self._read_body()
            raise HTTPError(403, "invalid or missing upload signature")
        data = self._read_body()
        expected = int(self.headers.get("Content-Length") or len(data))
        if len(data) != expected:
            raise HTTPError(400, f"incomplete upload: {len(data)} of {expected} bytes")
        actual = hashlib.sha256(data).hexdigest()
        if actual != oid:
            raise HTTPError(400, f"uploaded content has sha256 {actual}, expected {oid}")
        self.emu.store.blobs.put(data)
        self._send(200, b"", content_type="text/plain")

    def _lfs_verify(self, method: str, rtype: str, rid: str, oid: str) -> None:
        self._repo(rtype, rid, write=True)
        body = self._json_body()
        store = self.emu.store
        if not store.blobs.has(oid):
            raise HTTPError(404, f"LFS object {oid} was not uploaded")
        if body.get("size") is not None and store.blobs.size(oid) != body["size"]:
            raise HTTPError(422, f"LFS object {oid} has size {store.blobs.size(oid)}, not {body['size']}")
        self._send_json(200, {"success": True})

    # -- commit -------------------------------------------------------------------------------
    def _commit(self, method: str, rtype: str, rid: str, revision: str) -> None:
        repo = self._repo(rtype, rid, write=True)
        user = self._need_user()
        limits = self.emu.limits
        header, ops = parse_commit(self._read_body(), limits)
        create_pr = self._query.get("create_pr", ["0"])[0] in ("1", "true")
        store = self.emu.store
        with store.lock:
            now = time.time()
            check_commit_rate(repo, limits, now, rid)
            head = branch_head(repo, revision, header.get("parentCommit"))
            files = dict(head.files)
            new = apply_ops(store, files, ops, limits)
            check_tree_limits(files, limits)
            title = str(header.get("summary") or "Upload files")
            about = NewCommit(head.id, title, str(header.get("description") or ""), user, now)
            cid = record_commit(store, repo, about, files, new).id
            pr = move_ref(repo, revision, cid, create_pr=create_pr)
            store.save()
        out = {"success": True, "commitOid": cid, "commitUrl": f"{self._url(rtype, rid)}/commit/{cid}"}
        if pr is not None:
            out["pullRequestUrl"] = f"{self._url(rtype, rid)}/discussions/{pr}"
        self._send_json(200, out)

    # -- listing ------------------------------------------------------------------------------
    def _tree_names(self, commit: Commit, dirs: set[str], path: str, recursive: bool) -> list[str]:
        """The entries under ``path`` (folders first, then files, each sorted)."""
        prefix = path + "/" if path else ""
        names = [
            p
            for p in list(commit.files) + list(dirs)
            if p.startswith(prefix) and p != path and (recursive or "/" not in p[len(prefix) :])
        ]
        names.sort(key=lambda p: (p not in dirs, p))
        return names

    def _next_page_link(self, cursor: int) -> dict[str, str]:
        q = {k: v[0] for k, v in self._query.items()}
        q["cursor"] = str(cursor)
        base = self.path.partition("?")[0]
        return {"Link": f'<{self.emu.endpoint}{base}?{urlencode(q)}>; rel="next"'}

    def _tree(self, method: str, rtype: str, rid: str, revision: str, path: str) -> None:
        repo = self._repo(rtype, rid)
        commit = self._commit_of(repo, revision)
        expand = query_flag(self._query, "expand")
        path = path.strip("/")
        dirs = folders(commit.files)
        if path and path not in dirs:
            raise HTTPError(
                404,
                f"{path}: no such folder in {rid}@{revision}",
                code="EntryNotFound",
                headers={"X-Repo-Commit": commit.id},
            )
        names = self._tree_names(commit, dirs, path, query_flag(self._query, "recursive"))
        cursor = int(self._query.get("cursor", ["0"])[0] or 0)
        size = self.emu.limits.page_size
        entries = [
            self._dir_entry(repo, commit, p, expand)
            if p in dirs
            else self._file_entry(repo, p, commit.files[p], expand)
            for p in names[cursor : cursor + size]
        ]
        headers = self._next_page_link(cursor + size) if cursor + size < len(names) else {}
        self._send_json(200, entries, headers=headers)

    def _paths_info_request(self) -> tuple[list[str], bool]:
        raw = self._read_body().decode("utf-8")
        if "json" in self.headers.get("Content-Type", ""):
            body = json.loads(raw or "{}")
            return body.get("paths") or [], bool(body.get("expand"))
        form = parse_qs(raw)
        return form.get("paths", []), (form.get("expand", ["false"])[0]).lower() in ("1", "true")

    def _paths_info(self, method: str, rtype: str, rid: str, revision: str) -> None:
        repo = self._repo(rtype, rid)
        commit = self._commit_of(repo, revision)
        paths, expand = self._paths_info_request()
        dirs = folders(commit.files)
        out = []
        for p in (p.strip("/") for p in paths):
            if p in commit.files:
                out.append(self._file_entry(repo, p, commit.files[p], expand))
            elif p in dirs:
                out.append(self._dir_entry(repo, commit, p, expand))
        self._send_json(200, out)

    # -- download -----------------------------------------------------------------------------
    def _resolve(self, method: str, rtype: str, rid: str, revision: str, path: str) -> None:
        repo = self._repo(rtype, rid)
        commit = self._commit_of(repo, revision)
        f = commit.files.get(path)
        if f is None:
            raise HTTPError(
                404,
                f"Entry not found: {path} in {rid}@{revision}",
                code="EntryNotFound",
                headers={"X-Repo-Commit": commit.id},
            )
        etag = f'"{f.sha256}"' if f.lfs else f'"{f.git_oid}"'
        headers = {"X-Repo-Commit": commit.id, "ETag": etag, "Accept-Ranges": "bytes"}
        if f.lfs:
            headers["X-Linked-Etag"] = etag
            headers["X-Linked-Size"] = str(f.size)
        start, end, status = 0, f.size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            start, end = byte_range(rng, f.size)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{f.size}"
        ctype = "application/octet-stream"
        if method == "HEAD":
            self._send_headers(status, ctype, headers, max(end - start + 1, 0))
            return
        data = self.emu.store.blobs.get(f.sha256)
        self._send(status, data[start : end + 1], content_type=ctype, headers=headers)
