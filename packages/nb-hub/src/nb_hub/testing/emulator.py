"""An HTTP emulator of the Hugging Face Hub API, for offline tests with the real clients.

:class:`HubEmulator` serves, on ``127.0.0.1`` only, the part of the Hub API that
``huggingface_hub`` (2.x) and ``datasets`` use to create repos, upload (preupload,
Git LFS "basic" transfer, ndjson commits), list (repo info with siblings, tree,
paths-info, refs, commits) and download (``resolve`` with HEAD/GET and Range).
It keeps repositories in memory or under a directory, can require Bearer tokens,
enforces configurable Hub limits, injects faults, and logs every request so that
tests can assert which endpoints a client used.

**Xet is not implemented.** ``huggingface_hub`` uploads through Xet storage whenever
the ``hf_xet`` package is installed, unless ``HF_HUB_DISABLE_XET=1``. The emulator
speaks only the Git LFS *basic* transfer, so Xet must be disabled:
:meth:`HubEmulator.configure_clients` does it for the running process (it sets
``huggingface_hub.constants.HF_HUB_DISABLE_XET``, which the client checks at each
upload), and :meth:`HubEmulator.client_env` gives the environment for subprocesses.

Pointing clients at the emulator:

- ``HfApi(endpoint=emu.endpoint, token=...)``, ``HfFileSystem(endpoint=emu.endpoint)``,
  ``hf_hub_download(..., endpoint=emu.endpoint)``, ``snapshot_download(..., endpoint=...)``:
  pass ``endpoint=`` explicitly.
- ``datasets`` reads ``HF_ENDPOINT`` into ``datasets.config.HF_ENDPOINT`` when it is
  *imported*, and some of its URLs are built with ``huggingface_hub.hf_hub_url`` without
  an endpoint (so from ``huggingface_hub.constants.ENDPOINT``, also read at import).
  Either set ``HF_ENDPOINT`` (and ``HF_HUB_DISABLE_XET=1``) before the first import of
  either library (subprocesses: ``env=emu.client_env()``), or, in the running process,
  use ``with emu.configure_clients(): ...``, which patches those module constants
  (``huggingface_hub.constants.ENDPOINT``/``HUGGINGFACE_CO_URL_TEMPLATE``,
  ``datasets.config.HF_ENDPOINT``/``HUB_DATASETS_URL``) and restores them on exit.
- ``hf://`` URLs through fsspec: ``fsspec.filesystem("hf", endpoint=emu.endpoint)`` or
  ``storage_options={"endpoint": emu.endpoint}``.

Endpoints served (``{type}`` is ``models``, ``datasets`` or ``spaces``; the
``{prefix}`` of URLs outside ``/api`` is ``datasets/``, ``spaces/`` or nothing for models):

====================================================  ============  =====================
route                                                 method        log name
====================================================  ============  =====================
``/api/whoami-v2``                                    GET           ``whoami``
``/api/repos/create``                                 POST          ``create-repo``
``/api/repos/delete``                                 DELETE        ``delete-repo``
``/api/validate-yaml``                                POST          ``validate-yaml``
``/api/{type}/{id}`` and ``.../revision/{rev}``       GET           ``repo-info``
``/api/{type}/{id}/preupload/{rev}``                  POST          ``preupload``
``/api/{type}/{id}/commit/{rev}``                     POST          ``commit``
``/api/{type}/{id}/tree/{rev}[/{path}]``              GET           ``tree``
``/api/{type}/{id}/paths-info/{rev}``                 POST          ``paths-info``
``/api/{type}/{id}/refs``                             GET           ``refs``
``/api/{type}/{id}/commits/{rev}``                    GET           ``commits``
``/api/{type}/{id}/branch/{name}``                    POST, DELETE  ``branch``
``/api/{type}/{id}/settings``                         PUT           ``settings``
``/api/{type}/{id}/tag/{name}``                       POST, DELETE  ``tag``
``/{prefix}{id}.git/info/lfs/objects/batch``          POST          ``lfs-batch``
``/_lfs/{type}/{id}/{oid}?sig=...``                  PUT           ``lfs-upload``
``/_lfs/verify/{type}/{id}/{oid}``                    POST          ``lfs-verify``
``/{prefix}{id}/resolve/{rev}/{path}``                HEAD, GET     ``resolve``
``/{prefix}{id}/commit/{oid}``                        GET           ``commit-page``
====================================================  ============  =====================

Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``) and ``X-Error-Message`` headers and a JSON ``{"error": ...}`` body,
as the Hub does; a wrong token gets ``401`` with ``X-Error-Message: Invalid credentials
in Authorization header``. Private repos are invisible (``404 RepoNotFound``) to any
other user. With tokens, a user writes only to its own namespace (``alice/...``) and to the
organizations it belongs to (``orgs=``): creating or writing a repo elsewhere gets ``403``,
as on the Hub. ``PUT .../settings`` changes a repo's visibility (``{"visibility": "private"}``
or ``{"private": true}``), as ``HfApi.update_repo_settings`` sends it.

Example:
    >>> import os; os.environ["HF_HUB_DISABLE_XET"] = "1"
    >>> from huggingface_hub import HfApi
    >>> with HubEmulator() as emu, emu.configure_clients():
    ...     api = HfApi(endpoint=emu.endpoint, token="anything")
    ...     _ = api.create_repo("me/demo", repo_type="dataset")
    ...     _ = api.upload_file(path_or_fileobj=b"hi", path_in_repo="a.txt",
    ...                         repo_id="me/demo", repo_type="dataset")
    ...     [f.path for f in api.list_repo_tree("me/demo", repo_type="dataset")]
    ['.gitattributes', 'a.txt']
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

from nb_hub._cardyaml import (
    SIZE_CATEGORIES,
    TASK_CATEGORIES,
    split_front_matter,
    validate_card_metadata,
)
from nb_hub.testing.store import Commit, Repo, RepoStore, TreeFile, lfs_pointer

__all__ = [
    "SIZE_CATEGORIES",
    "TASK_CATEGORIES",
    "Fault",
    "HubEmulator",
    "HubLimits",
    "RequestRecord",
    "split_front_matter",
    "validate_card_metadata",
]

_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}

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

_GITATTRIBUTES = "".join(f"*{ext} filter=lfs diff=lfs merge=lfs -text\n" for ext in LFS_EXTENSIONS).encode()


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


@dataclass
class Fault:
    """An injected fault: on ``endpoint`` (a log name, see the module doc), the next ``times``
    matching requests fail.

    ``kind`` is ``"error"`` (answer ``status``), ``"slow"`` (wait ``delay`` seconds, then answer
    normally) or ``"drop"`` (read the request, then close the connection without answering).
    ``method`` restricts it to one HTTP method; ``path_contains`` to URLs containing a string;
    ``after`` lets that many matching requests through first (fail the *second* commit: ``after=1``).
    """

    endpoint: str
    kind: str = "error"
    times: int = 1
    status: int = 500
    delay: float = 1.0
    method: str | None = None
    path_contains: str | None = None
    after: int = 0
    fired: int = 0
    seen: int = 0


@dataclass
class RequestRecord:
    """One logged request (the token itself is never logged)."""

    method: str
    path: str
    query: str
    endpoint: str
    status: int
    user: str | None
    repo_id: str | None = None
    bytes_in: int = 0
    fault: str | None = None
    time: float = field(default_factory=time.time)


class _HTTPError(Exception):
    def __init__(
        self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nb-hub-emulator/1"
    emu: HubEmulator  # set on the subclass made per emulator
    _body: bytes | None = None

    # -- plumbing -------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self, limit: int | None = None) -> bytes:
        if self._body is not None:
            return self._body
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            parts = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(parts)
        else:
            n = int(self.headers.get("Content-Length") or 0)
            if limit is not None:
                n = min(n, limit)
            body = self.rfile.read(n) if n else b""
        self._body = body
        return body

    def _json_body(self) -> Any:
        raw = self._read_body()
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise _HTTPError(400, "request body is not valid JSON") from None

    def _send(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":  # a HEAD answer has headers only
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers=headers)

    def _dispatch(self, method: str) -> None:
        self._body = None
        self._status = 0
        self._endpoint = "unknown"
        self._repo_id: str | None = None
        self._user: str | None = None
        self._fault: str | None = None
        raw_path, _, query = self.path.partition("?")
        self._query = parse_qs(query)
        self._raw_query = query
        segs = [unquote(s) for s in raw_path.split("/")[1:]]
        if segs and segs[-1] == "" and len(segs) > 1:
            segs = segs[:-1]
        emu = self.emu
        try:
            route = self._route(method, segs)
            if route is None:
                raise _HTTPError(404, f"no such endpoint: {method} {raw_path}")
            name, func, args = route
            self._endpoint = name
            fault = emu._take_fault(name, method, raw_path)
            if fault is not None:
                self._fault = fault.kind
                if fault.kind == "slow":
                    time.sleep(fault.delay)
                elif fault.kind == "drop":
                    cl = int(self.headers.get("Content-Length") or 0)
                    with contextlib.suppress(Exception):
                        self._read_body(limit=cl // 2)
                    self._status = 0
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                else:
                    self._read_body()
                    raise _HTTPError(fault.status, f"injected fault on {name}")
            self._user = self._auth()
            func(method, *args)
        except _HTTPError as err:
            with contextlib.suppress(Exception):
                if self._body is None and method in ("POST", "PUT", "DELETE"):
                    self._read_body()
            headers = dict(err.headers)
            if err.code:
                headers["X-Error-Code"] = err.code
            headers["X-Error-Message"] = err.message.replace("\n", " ")[:500]
            self._send_json(err.status, {"error": err.message}, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            emu._log(
                RequestRecord(
                    method=method,
                    path=unquote(raw_path),
                    query=query,
                    endpoint=self._endpoint,
                    status=self._status,
                    user=self._user,
                    repo_id=self._repo_id,
                    bytes_in=len(self._body or b""),
                    fault=self._fault,
                )
            )

    # -- auth -----------------------------------------------------------------------------------
    def _auth(self) -> str | None:
        header = self.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        tokens = self.emu.tokens
        if tokens is None:
            return self.emu.default_user
        if token is None:
            return None
        if token not in tokens:
            raise _HTTPError(401, "Invalid credentials in Authorization header")
        return tokens[token]

    def _need_user(self) -> str:
        if self._user is None:
            raise _HTTPError(401, "You must be authenticated to do this: pass a token")
        return self._user

    def _may_write(self, user: str | None, namespace: str) -> bool:
        """May ``user`` write to repos of ``namespace`` (its own, or an organization of its)?"""
        emu = self.emu
        if emu.tokens is None:
            return True  # no tokens: every request is the one (all-powerful) default user
        return user is not None and (namespace == user or user in emu.orgs.get(namespace, ()))

    # -- routing --------------------------------------------------------------------------------
    def _route(self, method: str, s: list[str]) -> tuple[str, Any, tuple[Any, ...]] | None:
        if not s:
            return None
        if s[0] == "api":
            if s[1:] == ["whoami-v2"] and method == "GET":
                return "whoami", self._whoami, ()
            if s[1:] == ["repos", "create"] and method == "POST":
                return "create-repo", self._create_repo, ()
            if s[1:] == ["repos", "delete"] and method == "DELETE":
                return "delete-repo", self._delete_repo, ()
            if s[1:] == ["validate-yaml"] and method == "POST":
                return "validate-yaml", self._validate_yaml, ()
            if len(s) >= 4 and s[1] in _TYPES:
                rtype, rid, rest = _TYPES[s[1]], f"{s[2]}/{s[3]}", s[4:]
                self._repo_id = rid
                if not rest and method == "GET":
                    return "repo-info", self._repo_info, (rtype, rid, None)
                if len(rest) == 2 and rest[0] == "revision" and method == "GET":
                    return "repo-info", self._repo_info, (rtype, rid, rest[1])
                if len(rest) == 2 and rest[0] == "preupload" and method == "POST":
                    return "preupload", self._preupload, (rtype, rid, rest[1])
                if len(rest) == 2 and rest[0] == "commit" and method == "POST":
                    return "commit", self._commit, (rtype, rid, rest[1])
                if len(rest) >= 2 and rest[0] == "tree" and method == "GET":
                    return "tree", self._tree, (rtype, rid, rest[1], "/".join(rest[2:]))
                if len(rest) == 2 and rest[0] == "paths-info" and method == "POST":
                    return "paths-info", self._paths_info, (rtype, rid, rest[1])
                if rest == ["refs"] and method == "GET":
                    return "refs", self._refs, (rtype, rid)
                if rest == ["settings"] and method == "PUT":
                    return "settings", self._settings, (rtype, rid)
                if len(rest) == 2 and rest[0] == "commits" and method == "GET":
                    return "commits", self._commits, (rtype, rid, rest[1])
                if len(rest) >= 2 and rest[0] == "branch" and method in ("POST", "DELETE"):
                    return "branch", self._branch, (rtype, rid, "/".join(rest[1:]))
                if len(rest) >= 2 and rest[0] == "tag" and method in ("POST", "DELETE"):
                    return "tag", self._tag, (rtype, rid, "/".join(rest[1:]))
            return None
        if s[0] == "_lfs":
            if len(s) == 6 and s[1] == "verify" and s[2] in _TYPES and method == "POST":
                self._repo_id = f"{s[3]}/{s[4]}"
                return "lfs-verify", self._lfs_verify, (_TYPES[s[2]], self._repo_id, s[5])
            if len(s) == 5 and s[1] in _TYPES and method == "PUT":
                self._repo_id = f"{s[2]}/{s[3]}"
                return "lfs-upload", self._lfs_upload, (_TYPES[s[1]], self._repo_id, s[4])
            return None
        rtype = "model"
        if s[0] in ("datasets", "spaces"):
            rtype, s = _TYPES[s[0]], s[1:]
        if len(s) < 3:
            return None
        ns, name, rest = s[0], s[1], s[2:]
        if name.endswith(".git") and rest == ["info", "lfs", "objects", "batch"] and method == "POST":
            self._repo_id = f"{ns}/{name[:-4]}"
            return "lfs-batch", self._lfs_batch, (rtype, self._repo_id)
        self._repo_id = f"{ns}/{name}"
        if len(rest) >= 3 and rest[0] == "resolve" and method in ("GET", "HEAD"):
            return "resolve", self._resolve, (rtype, self._repo_id, rest[1], "/".join(rest[2:]))
        if len(rest) == 2 and rest[0] == "commit" and method == "GET":
            return "commit-page", self._commit_page, (rtype, self._repo_id, rest[1])
        return None

    # -- helpers --------------------------------------------------------------------------------
    def _repo(self, rtype: str, rid: str, *, write: bool = False) -> Repo:
        repo = self.emu.store.repos.get((rtype, rid))
        ns = rid.split("/")[0]
        if repo is None or (
            repo.private and self._user != repo.owner and not self._may_write(self._user, ns)
        ):
            raise _HTTPError(404, f"Repository Not Found: {rtype} {rid}", code="RepoNotFound")
        if write:
            user = self._need_user()
            if not self._may_write(user, ns):
                raise _HTTPError(
                    403, f"You don't have the rights to write to {rid}: {ns!r} is not your namespace"
                )
        return repo

    def _commit_of(self, repo: Repo, revision: str | None) -> Commit:
        rev = revision or "main"
        cid = repo.resolve(rev)
        if cid is None:
            raise _HTTPError(404, f"Invalid rev id: {rev}", code="RevisionNotFound")
        return repo.commits[cid]

    def _url(self, rtype: str, rid: str) -> str:
        return f"{self.emu.endpoint}/{_URL_PREFIX[rtype]}{rid}"

    @staticmethod
    def _dirs(files: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for p in files:
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                out.add("/".join(parts[:i]))
        return out

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
        return {"id": c.id, "title": c.title, "date": _iso(c.date)}

    # -- endpoints ------------------------------------------------------------------------------
    def _whoami(self, method: str) -> None:
        user = self._need_user()
        self._send_json(
            200,
            {
                "type": "user",
                "id": hashlib.sha1(user.encode(), usedforsecurity=False).hexdigest()[:24],
                "name": user,
                "fullname": user,
                "orgs": [
                    {"type": "org", "name": org, "fullname": org}
                    for org, members in sorted(self.emu.orgs.items())
                    if user in members
                ],
                "auth": {"type": "access_token", "accessToken": {"displayName": "emulator", "role": "write"}},
            },
        )

    def _create_repo(self, method: str) -> None:
        user = self._need_user()
        body = self._json_body()
        name = body.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise _HTTPError(400, "repo name is missing or invalid")
        ns = body.get("organization") or user
        rtype = body.get("type") or "model"
        if rtype not in _URL_PREFIX:
            raise _HTTPError(400, f"invalid repo type {rtype!r}")
        rid = f"{ns}/{name}"
        self._repo_id = rid
        if not self._may_write(user, ns):
            raise _HTTPError(
                403,
                f"You don't have the rights to create a {rtype} under the namespace {ns!r}: "
                f"the token belongs to {user!r}",
            )
        visibility = body.get("visibility")
        private = bool(body.get("private")) or visibility == "private"
        store = self.emu.store
        with store.lock:
            existing = store.repos.get((rtype, rid))
            if existing is not None:
                if existing.private and existing.owner != user:
                    raise _HTTPError(409, "Cannot create repo: the name is already taken")
                self._send_json(
                    409,
                    {"error": f"You already created this {rtype} repo", "url": self._url(rtype, rid)},
                    headers={"X-Error-Message": f"You already created this {rtype} repo"},
                )
                return
            now = time.time()
            repo = Repo(repo_type=rtype, repo_id=rid, owner=user, private=private, created=now)
            f = store.add_file(_GITATTRIBUTES, lfs=False)
            cid = store.new_commit_id(rid, "initial")
            f.last_commit = cid
            repo.commits[cid] = Commit(
                id=cid,
                parent=None,
                title="initial commit",
                message="",
                author=user,
                date=now,
                files={".gitattributes": f},
            )
            repo.branches["main"] = cid
            store.repos[(rtype, rid)] = repo
            store.save()
        self._send_json(200, {"url": self._url(rtype, rid), "name": rid, "id": cid})

    def _delete_repo(self, method: str) -> None:
        user = self._need_user()
        body = self._json_body()
        rtype = body.get("type") or "model"
        rid = f"{body.get('organization') or user}/{body.get('name')}"
        self._repo_id = rid
        self._repo(rtype, rid, write=True)
        with self.emu.store.lock:
            del self.emu.store.repos[(rtype, rid)]
            self.emu.store.save()
        self._send_json(200, {})

    def _validate_yaml(self, method: str) -> None:
        body = self._json_body()
        content = body.get("content")
        if not isinstance(content, str):
            raise _HTTPError(400, '"content" must be a string')
        errors, warnings = validate_card_metadata(content, body.get("repoType") or "model")
        self.emu.validations.append({"content": content, "errors": errors, "warnings": warnings})
        payload = {"errors": [{"message": e} for e in errors], "warnings": [{"message": w} for w in warnings]}
        self._send_json(400 if errors else 200, payload)

    def _repo_info(self, method: str, rtype: str, rid: str, revision: str | None) -> None:
        import yaml

        repo = self._repo(rtype, rid)
        commit = self._commit_of(repo, revision)
        blobs = self._query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for p in sorted(commit.files):
            f = commit.files[p]
            sib: dict[str, Any] = {"rfilename": p}
            if blobs:
                sib.update(size=f.size, blobId=f.git_oid)
                if f.lfs:
                    sib["lfs"] = {
                        "sha256": f.sha256,
                        "size": f.size,
                        "pointerSize": len(lfs_pointer(f.sha256, f.size)),
                    }
            siblings.append(sib)
        card_data = None
        tags: list[str] = []
        readme = commit.files.get("README.md")
        if readme is not None:
            front, _ = split_front_matter(self.emu.store.blobs.get(readme.sha256).decode("utf-8", "replace"))
            with contextlib.suppress(Exception):
                loaded = yaml.safe_load(front) if front else None
                if isinstance(loaded, dict):
                    card_data = loaded
                    t = loaded.get("tags")
                    tags = [t] if isinstance(t, str) else list(t or [])
        info: dict[str, Any] = {
            "_id": hashlib.sha1(rid.encode(), usedforsecurity=False).hexdigest()[:24],
            "id": rid,
            "author": rid.split("/")[0],
            "sha": commit.id,
            "lastModified": _iso(commit.date),
            "createdAt": _iso(repo.created),
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": tags,
            "siblings": siblings,
            "usedStorage": sum(f.size for f in commit.files.values()),
        }
        if rtype == "model":
            info["modelId"] = rid
        if card_data is not None:
            info["cardData"] = card_data
        self._send_json(200, info)

    def _upload_mode(self, path: str, size: int, sample: bytes) -> str:
        if size >= self.emu.limits.lfs_threshold:
            return "lfs"
        if any(path.lower().endswith(ext) for ext in LFS_EXTENSIONS):
            return "lfs"
        if b"\0" in sample:
            return "lfs"
        return "regular"

    def _preupload(self, method: str, rtype: str, rid: str, revision: str) -> None:
        repo = self._repo(rtype, rid, write=True)
        body = self._json_body()
        files = body.get("files")
        if not isinstance(files, list):
            raise _HTTPError(400, '"files" must be a list')
        cid = repo.resolve(revision)
        current = repo.commits[cid].files if cid is not None else {}
        out = []
        for f in files:
            path, size = f.get("path"), f.get("size")
            if not isinstance(path, str) or not isinstance(size, int):
                raise _HTTPError(400, 'each file needs "path" (string) and "size" (integer)')
            sample = base64.b64decode(f.get("sample") or "")
            mode = self._upload_mode(path, size, sample)
            remote = current.get(path)
            oid = None
            if remote is not None:
                oid = remote.sha256 if remote.lfs else remote.git_oid
                if remote.lfs != (mode == "lfs"):
                    mode = "lfs" if remote.lfs else mode
            out.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        self._send_json(200, {"files": out, "commitOid": cid})

    def _lfs_batch(self, method: str, rtype: str, rid: str) -> None:
        self._repo(rtype, rid, write=True)
        body = self._json_body()
        if body.get("operation") != "upload":
            raise _HTTPError(400, "only the upload operation is supported by the emulator")
        transfers = body.get("transfers") or ["basic"]
        if "basic" not in transfers:
            raise _HTTPError(400, "the emulator speaks only the LFS basic transfer")
        objects = []
        limit = self.emu.limits.max_file_size
        for o in body.get("objects") or []:
            oid, size = o.get("oid"), o.get("size")
            if not isinstance(oid, str) or not isinstance(size, int):
                raise _HTTPError(400, 'each object needs "oid" and "size"')
            if limit is not None and size > limit:
                objects.append(
                    {
                        "oid": oid,
                        "size": size,
                        "error": {
                            "code": 422,
                            "message": f"file size {size} exceeds the limit of {limit} bytes",
                        },
                    }
                )
            elif self.emu.store.blobs.has(oid):
                objects.append({"oid": oid, "size": size})
            else:
                up = f"{self.emu.endpoint}/_lfs/{rtype}s/{rid}/{oid}?sig={self.emu._sign(rtype, rid, oid)}"
                verify = f"{self.emu.endpoint}/_lfs/verify/{rtype}s/{rid}/{oid}"
                objects.append(
                    {
                        "oid": oid,
                        "size": size,
                        "authenticated": True,
                        "actions": {
                            "upload": {"href": up, "header": {}},
                            "verify": {"href": verify, "header": {}},
                        },
                    }
                )
        self._send(
            200,
            json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode(),
            content_type="application/vnd.git-lfs+json",
        )

    def _lfs_upload(self, method: str, rtype: str, rid: str, oid: str) -> None:
        # Like the Hub's pre-signed storage URLs: no Authorization header, a signature instead.
        if self._query.get("sig", [""])[0] != self.emu._sign(rtype, rid, oid):
            self._read_body()
            raise _HTTPError(403, "invalid or missing upload signature")
        data = self._read_body()
        expected = int(self.headers.get("Content-Length") or len(data))
        if len(data) != expected:
            raise _HTTPError(400, f"incomplete upload: {len(data)} of {expected} bytes")
        actual = hashlib.sha256(data).hexdigest()
        if actual != oid:
            raise _HTTPError(400, f"uploaded content has sha256 {actual}, expected {oid}")
        self.emu.store.blobs.put(data)
        self._send(200, b"", content_type="text/plain")

    def _lfs_verify(self, method: str, rtype: str, rid: str, oid: str) -> None:
        self._repo(rtype, rid, write=True)
        body = self._json_body()
        store = self.emu.store
        if not store.blobs.has(oid):
            raise _HTTPError(404, f"LFS object {oid} was not uploaded")
        if body.get("size") is not None and store.blobs.size(oid) != body["size"]:
            raise _HTTPError(422, f"LFS object {oid} has size {store.blobs.size(oid)}, not {body['size']}")
        self._send_json(200, {"success": True})

    def _commit(self, method: str, rtype: str, rid: str, revision: str) -> None:
        repo = self._repo(rtype, rid, write=True)
        user = self._need_user()
        limits = self.emu.limits
        header, ops = _parse_commit(self._read_body(), limits)
        create_pr = self._query.get("create_pr", ["0"])[0] in ("1", "true")
        store = self.emu.store
        with store.lock:
            now = time.time()
            _check_commit_rate(repo, limits, now, rid)
            head = _branch_head(repo, revision, header.get("parentCommit"))
            files = dict(head.files)
            new = _apply_ops(store, files, ops, limits)
            _check_tree_limits(files, limits)
            title = str(header.get("summary") or "Upload files")
            cid = store.new_commit_id(rid, head.id, title, json.dumps(sorted(new)))
            for p, e in new.items():
                files[p] = TreeFile(e.sha256, e.size, e.lfs, e.git_oid, cid)
            repo.commits[cid] = Commit(
                id=cid,
                parent=head.id,
                title=title,
                message=str(header.get("description") or ""),
                author=user,
                date=now,
                files=files,
            )
            pr_url = None
            if create_pr:
                repo.n_prs += 1
                repo.branches[f"refs/pr/{repo.n_prs}"] = cid
                pr_url = f"{self._url(rtype, rid)}/discussions/{repo.n_prs}"
            else:
                repo.branches[revision] = cid
            repo.commit_times.append(now)
            store.save()
        out = {"success": True, "commitOid": cid, "commitUrl": f"{self._url(rtype, rid)}/commit/{cid}"}
        if pr_url is not None:
            out["pullRequestUrl"] = pr_url
        self._send_json(200, out)

    def _tree(self, method: str, rtype: str, rid: str, revision: str, path: str) -> None:
        repo = self._repo(rtype, rid)
        commit = self._commit_of(repo, revision)
        recursive = self._query.get("recursive", ["false"])[0].lower() in ("1", "true")
        expand = self._query.get("expand", ["false"])[0].lower() in ("1", "true")
        path = path.strip("/")
        dirs = self._dirs(commit.files)
        if path and path not in dirs:
            raise _HTTPError(
                404,
                f"{path}: no such folder in {rid}@{revision}",
                code="EntryNotFound",
                headers={"X-Repo-Commit": commit.id},
            )
        prefix = path + "/" if path else ""
        names: list[str] = []
        for p in list(commit.files) + list(dirs):
            if not p.startswith(prefix) or p == path:
                continue
            if recursive or "/" not in p[len(prefix) :]:
                names.append(p)
        names.sort(key=lambda p: (p not in dirs, p))
        cursor = int(self._query.get("cursor", ["0"])[0] or 0)
        size = self.emu.limits.page_size
        page = names[cursor : cursor + size]
        entries = [
            self._dir_entry(repo, commit, p, expand)
            if p in dirs
            else self._file_entry(repo, p, commit.files[p], expand)
            for p in page
        ]
        headers = {}
        if cursor + size < len(names):
            q = {k: v[0] for k, v in self._query.items()}
            q["cursor"] = str(cursor + size)
            base = self.path.partition("?")[0]
            headers["Link"] = f'<{self.emu.endpoint}{base}?{urlencode(q)}>; rel="next"'
        self._send_json(200, entries, headers=headers)

    def _paths_info(self, method: str, rtype: str, rid: str, revision: str) -> None:
        repo = self._repo(rtype, rid)
        commit = self._commit_of(repo, revision)
        raw = self._read_body().decode("utf-8")
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            body = json.loads(raw or "{}")
            paths, expand = body.get("paths") or [], bool(body.get("expand"))
        else:
            form = parse_qs(raw)
            paths = form.get("paths", [])
            expand = (form.get("expand", ["false"])[0]).lower() in ("1", "true")
        dirs = self._dirs(commit.files)
        out = []
        for p in paths:
            p = p.strip("/")
            if p in commit.files:
                out.append(self._file_entry(repo, p, commit.files[p], expand))
            elif p in dirs:
                out.append(self._dir_entry(repo, commit, p, expand))
        self._send_json(200, out)

    def _refs(self, method: str, rtype: str, rid: str) -> None:
        repo = self._repo(rtype, rid)
        prs = self._query.get("include_prs", ["0"])[0] in ("1", "true", "True")
        branches = [
            {"name": b, "ref": f"refs/heads/{b}", "targetCommit": c}
            for b, c in sorted(repo.branches.items())
            if not b.startswith("refs/pr/")
        ]
        out: dict[str, Any] = {
            "branches": branches,
            "converts": [],
            "tags": [
                {"name": t, "ref": f"refs/tags/{t}", "targetCommit": c} for t, c in sorted(repo.tags.items())
            ],
        }
        if prs:
            out["pullRequests"] = [
                {"name": b, "ref": b, "targetCommit": c}
                for b, c in sorted(repo.branches.items())
                if b.startswith("refs/pr/")
            ]
        self._send_json(200, out)

    def _settings(self, method: str, rtype: str, rid: str) -> None:
        repo = self._repo(rtype, rid, write=True)
        body = self._json_body()
        if not isinstance(body, dict):
            raise _HTTPError(400, "settings must be a JSON object")
        private: bool | None = None
        if "visibility" in body:
            if body["visibility"] not in ("public", "private"):
                raise _HTTPError(400, f"invalid visibility {body['visibility']!r}: 'public' or 'private'")
            private = body["visibility"] == "private"
        elif "private" in body:
            if not isinstance(body["private"], bool):
                raise _HTTPError(400, '"private" must be a boolean')
            private = body["private"]
        if "gated" in body and body["gated"] not in ("auto", "manual", False):
            raise _HTTPError(400, f"invalid gated value {body['gated']!r}")
        if private is not None:
            with self.emu.store.lock:
                repo.private = private
                self.emu.store.save()
        self._send_json(200, {"private": repo.private})

    def _commits(self, method: str, rtype: str, rid: str, revision: str) -> None:
        repo = self._repo(rtype, rid)
        commit: Commit | None = self._commit_of(repo, revision)
        out = []
        while commit is not None:
            out.append(
                {
                    "id": commit.id,
                    "title": commit.title,
                    "message": commit.message,
                    "authors": [{"user": commit.author, "avatar": None}],
                    "date": _iso(commit.date),
                    "formatted": {"title": commit.title, "message": commit.message},
                }
            )
            commit = repo.commits.get(commit.parent) if commit.parent else None
        self._send_json(200, out)

    def _branch(self, method: str, rtype: str, rid: str, branch: str) -> None:
        repo = self._repo(rtype, rid, write=True)
        store = self.emu.store
        with store.lock:
            if method == "DELETE":
                if branch not in repo.branches or branch == "main":
                    raise _HTTPError(404 if branch != "main" else 403, f"cannot delete branch {branch}")
                del repo.branches[branch]
            else:
                body = self._json_body()
                if branch in repo.branches:
                    raise _HTTPError(409, f"Reference already exists: {branch}")
                start = self._commit_of(repo, body.get("startingPoint") or "main")
                repo.branches[branch] = start.id
            store.save()
        self._send_json(200, {})

    def _tag(self, method: str, rtype: str, rid: str, name: str) -> None:
        repo = self._repo(rtype, rid, write=True)
        store = self.emu.store
        with store.lock:
            if method == "DELETE":
                if name not in repo.tags:
                    raise _HTTPError(404, f"no such tag {name}", code="RevisionNotFound")
                del repo.tags[name]
            else:
                body = self._json_body()
                tag = body.get("tag")
                if not isinstance(tag, str) or not tag:
                    raise _HTTPError(400, '"tag" is required')
                if tag in repo.tags:
                    raise _HTTPError(409, f"Tag already exists: {tag}")
                repo.tags[tag] = self._commit_of(repo, name).id
            store.save()
        self._send_json(200, {})

    def _commit_page(self, method: str, rtype: str, rid: str, oid: str) -> None:
        repo = self._repo(rtype, rid)
        c = repo.commits.get(oid)
        if c is None:
            raise _HTTPError(404, f"no commit {oid}", code="RevisionNotFound")
        self._send(
            200,
            f"<html><body><h1>{c.title}</h1><p>{c.id}</p></body></html>".encode(),
            content_type="text/html",
        )

    def _resolve(self, method: str, rtype: str, rid: str, revision: str, path: str) -> None:
        repo = self._repo(rtype, rid)
        commit = self._commit_of(repo, revision)
        f = commit.files.get(path)
        if f is None:
            raise _HTTPError(
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
            try:
                unit, _, spec = rng.partition("=")
                if unit.strip() != "bytes" or "," in spec:
                    raise ValueError
                a, _, b = spec.strip().partition("-")
                if a == "":
                    n = int(b)
                    start, end = max(f.size - n, 0), f.size - 1
                else:
                    start = int(a)
                    end = min(int(b), f.size - 1) if b else f.size - 1
                if start >= f.size or start > end:
                    raise _HTTPError(
                        416,
                        f"range {rng} not satisfiable for {f.size} bytes",
                        headers={"Content-Range": f"bytes */{f.size}"},
                    )
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{f.size}"
            except ValueError:
                raise _HTTPError(400, f"invalid Range header: {rng}") from None
        length = max(end - start + 1, 0)
        if method == "HEAD":
            self._status = status
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            return
        data = self.emu.store.blobs.get(f.sha256)
        self._send(status, data[start : end + 1], content_type="application/octet-stream", headers=headers)


class HubEmulator:
    """An HTTP emulator of the Hugging Face Hub API on ``127.0.0.1`` (see the module doc).

    Use it as a context manager (or :meth:`start`/:meth:`stop`); :attr:`endpoint` is the URL
    to give to clients.

    Args:
        port (`int`, *optional*, defaults to `0`): TCP port; 0 picks a free one.
        storage (`str` or `os.PathLike`, *optional*): keep blobs and repository state under
            this directory (they survive a restart on the same directory); in memory if `None`.
        tokens (`dict[str, str]` or `Iterable[str]`, *optional*): accepted Bearer tokens, as
            ``{token: user}`` (an iterable makes each token its own user name). With tokens,
            any other token gets 401, requests without one are anonymous (public reads only).
            Without tokens every request acts as ``default_user``, who may write anywhere; with
            tokens, a user writes only to its own namespace and to its ``orgs``.
        limits (`HubLimits`, *optional*): repository limits to enforce.
        default_user (`str`, *optional*, defaults to ``"nb-user"``): the user when no tokens
            are configured (the namespace of ``create_repo("name")``).
        orgs (`dict[str, list[str]]`, *optional*): organizations and their members
            (``{"neurobridge": ["alice"]}``): members may write to the organization's repos.

    Attributes:
        requests (`list[RequestRecord]`): every request served, in order.
        validations (`list[dict]`): every ``validate-yaml`` call with its errors/warnings.

    Example:
        >>> with HubEmulator(tokens={"hf_secret": "alice"}) as emu:
        ...     emu.endpoint.startswith("http://127.0.0.1:")
        True
    """

    def __init__(
        self,
        *,
        port: int = 0,
        storage: str | os.PathLike[str] | None = None,
        tokens: Mapping[str, str] | Iterable[str] | None = None,
        limits: HubLimits | None = None,
        default_user: str = "nb-user",
        orgs: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.port = port
        self.store = RepoStore(storage)
        if tokens is None:
            self.tokens: dict[str, str] | None = None
        elif isinstance(tokens, Mapping):
            self.tokens = dict(tokens)
        else:
            self.tokens = {t: t for t in tokens}
        self.limits = limits or HubLimits()
        self.default_user = default_user
        self.orgs: dict[str, set[str]] = {k: set(v) for k, v in (orgs or {}).items()}
        self.requests: list[RequestRecord] = []
        self.validations: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._secret = os.urandom(16)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` (available once started)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HubEmulator:
        """Start serving in a background thread."""
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"emu": self})
        server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="nb-hub-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> HubEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for ``nb hub emulator``)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    # -- clients ----------------------------------------------------------------------------------
    def client_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a subprocess whose clients should talk to the emulator
        (``HF_ENDPOINT``, ``HF_HUB_DISABLE_XET=1``, no telemetry or update checks)."""
        env = dict(os.environ if base is None else base)
        env.update(
            HF_ENDPOINT=self.endpoint,
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_UPDATE_CHECK="1",
        )
        return env

    @contextlib.contextmanager
    def configure_clients(self) -> Iterator[HubEmulator]:
        """Point ``huggingface_hub`` and ``datasets`` of this process at the emulator.

        Sets ``HF_ENDPOINT``/``HF_HUB_DISABLE_XET`` in ``os.environ`` and patches the module
        constants that both libraries read at import time (see the module doc); everything
        is restored on exit. Explicit ``endpoint=`` arguments work without this.
        """
        import importlib
        import importlib.util
        import sys

        saved_env = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HF_HUB_DISABLE_XET")}
        patches: list[tuple[Any, str, Any]] = []

        def patch(mod: Any, name: str, value: Any) -> None:
            patches.append((mod, name, getattr(mod, name)))
            setattr(mod, name, value)

        os.environ["HF_ENDPOINT"] = self.endpoint
        os.environ["HF_HUB_DISABLE_XET"] = "1"
        constants = importlib.import_module("huggingface_hub.constants")
        patch(constants, "ENDPOINT", self.endpoint)
        patch(
            constants,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            self.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        )
        patch(constants, "HF_HUB_DISABLE_XET", True)
        if "datasets" in sys.modules or importlib.util.find_spec("datasets") is not None:
            with contextlib.suppress(ImportError):
                dconfig = importlib.import_module("datasets.config")
                patch(dconfig, "HF_ENDPOINT", self.endpoint)
                patch(
                    dconfig,
                    "HUB_DATASETS_URL",
                    self.endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
                )
        try:
            yield self
        finally:
            for mod, name, value in reversed(patches):
                setattr(mod, name, value)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _sign(self, rtype: str, rid: str, oid: str) -> str:
        import hmac

        return hmac.new(self._secret, f"{rtype}/{rid}/{oid}".encode(), "sha256").hexdigest()[:32]

    # -- faults and log ---------------------------------------------------------------------------
    def inject(
        self,
        endpoint: str,
        *,
        kind: str = "error",
        times: int = 1,
        status: int = 500,
        delay: float = 1.0,
        method: str | None = None,
        path_contains: str | None = None,
        after: int = 0,
    ) -> Fault:
        """Make the next ``times`` requests to ``endpoint`` fail (see :class:`Fault`)."""
        if kind not in ("error", "slow", "drop"):
            raise ValueError(f"kind must be 'error', 'slow' or 'drop'; got {kind!r}")
        fault = Fault(endpoint, kind, times, status, delay, method, path_contains, after)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self.faults.clear()

    def _take_fault(self, endpoint: str, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if (
                    f.endpoint == endpoint
                    and f.fired < f.times
                    and (f.method is None or f.method == method)
                    and (f.path_contains is None or f.path_contains in unquote(path))
                ):
                    f.seen += 1
                    if f.seen > f.after:
                        f.fired += 1
                        return f
        return None

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def calls(
        self, endpoint: str | None = None, *, method: str | None = None, status: int | None = None
    ) -> list[RequestRecord]:
        """Logged requests, filtered by endpoint log name, method and status."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (endpoint is None or r.endpoint == endpoint)
                and (method is None or r.method == method)
                and (status is None or r.status == status)
            ]

    def clear_log(self) -> None:
        """Forget logged requests."""
        with self._lock:
            self.requests.clear()

    # -- direct inspection (no HTTP) --------------------------------------------------------------
    def repo_files(
        self, repo_id: str, *, repo_type: str = "dataset", revision: str = "main"
    ) -> dict[str, bytes]:
        """The files of a revision, read directly from the store (for assertions)."""
        repo = self.store.repos[(repo_type, repo_id)]
        cid = repo.resolve(revision)
        if cid is None:
            raise KeyError(revision)
        return {p: self.store.blobs.get(f.sha256) for p, f in repo.commits[cid].files.items()}

    def commit_count(self, repo_id: str, *, repo_type: str = "dataset", revision: str = "main") -> int:
        """Number of commits in the history of a revision (including the initial commit)."""
        repo = self.store.repos[(repo_type, repo_id)]
        cid = repo.resolve(revision)
        n = 0
        while cid:
            n += 1
            cid = repo.commits[cid].parent
        return n

    def url(self, repo_id: str, path: str = "", *, repo_type: str = "dataset", revision: str = "main") -> str:
        """The ``resolve`` URL of a file."""
        return f"{self.endpoint}/{_URL_PREFIX[repo_type]}{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"


# -- commits (the ndjson commit endpoint, one step per function) ---------------------------------


def _parse_commit(raw: bytes, limits: HubLimits) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the operations of an ndjson commit body."""
    try:
        lines = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    except ValueError:
        raise _HTTPError(400, "commit body must be ndjson") from None
    if not lines or lines[0].get("key") != "header":
        raise _HTTPError(400, "the first ndjson line must be the header")
    ops = lines[1:]
    if limits.max_files_per_commit is not None and len(ops) > limits.max_files_per_commit:
        raise _HTTPError(
            422,
            f"too many files in one commit: {len(ops)} > {limits.max_files_per_commit}; split the commit",
        )
    return lines[0].get("value") or {}, ops


def _check_commit_rate(repo: Repo, limits: HubLimits, now: float, rid: str) -> None:
    if limits.max_commits_per_hour is None:
        return
    recent = [t for t in repo.commit_times if now - t < 3600]
    if len(recent) >= limits.max_commits_per_hour:
        raise _HTTPError(
            429,
            f"You have exceeded the rate limit of {limits.max_commits_per_hour} commits per hour "
            f"on {rid}; retry later",
        )


def _branch_head(repo: Repo, branch: str, parent: Any) -> Commit:
    """The head commit of the branch a commit goes to (checking ``parentCommit``)."""
    if branch not in repo.branches:
        raise _HTTPError(404, f"Invalid rev id: {branch} (commits go to a branch)", code="RevisionNotFound")
    head = repo.commits[repo.branches[branch]]
    if parent is not None and parent != head.id:
        raise _HTTPError(412, f"A commit has happened since {parent}: the head of {branch} is {head.id}")
    return head


def _apply_ops(
    store: RepoStore, files: dict[str, TreeFile], ops: list[dict[str, Any]], limits: HubLimits
) -> dict[str, TreeFile]:
    """Apply the operations to ``files`` (in place); return the files added or changed."""
    new: dict[str, TreeFile] = {}
    for op in ops:
        key, value = op.get("key"), op.get("value") or {}
        path = value.get("path")
        if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
            raise _HTTPError(400, f"invalid path in commit: {path!r}")
        if key in ("deletedFile", "deletedFolder"):
            for p in _deleted(files, key, path):
                del files[p]
                new.pop(p, None)
            continue
        entry = _added(store, key, path, value)
        if limits.max_file_size is not None and entry.size > limits.max_file_size:
            raise _HTTPError(
                422, f"{path}: file size {entry.size} exceeds the limit of {limits.max_file_size} bytes"
            )
        files[path] = entry
        new[path] = entry
    return new


def _deleted(files: dict[str, TreeFile], key: str, path: str) -> list[str]:
    """The paths a ``deletedFile`` / ``deletedFolder`` operation removes."""
    if key == "deletedFile":
        if path not in files:
            raise _HTTPError(404, f"{path}: A file with this name doesn't exist", code="EntryNotFound")
        return [path]
    prefix = path.rstrip("/") + "/"
    gone = [p for p in files if p.startswith(prefix)]
    if not gone:
        raise _HTTPError(404, f"{path}: no such folder", code="EntryNotFound")
    return gone


def _added(store: RepoStore, key: Any, path: str, value: dict[str, Any]) -> TreeFile:
    """The tree entry of a ``file`` (inline base64) or ``lfsFile`` (uploaded before) operation."""
    if key == "file":
        if value.get("encoding", "base64") != "base64":
            raise _HTTPError(400, "only base64 file content is supported")
        data = base64.b64decode(value.get("content") or "")
        if len(data) > 10 * 1024 * 1024:
            raise _HTTPError(422, f"{path}: regular (non-LFS) files are limited to 10 MiB; use LFS")
        return store.add_file(data, lfs=False)
    if key == "lfsFile":
        oid = value.get("oid")
        if not isinstance(oid, str) or not store.blobs.has(oid):
            raise _HTTPError(422, f"{path}: LFS object {oid} was not uploaded")
        size = store.blobs.size(oid)
        if value.get("size") is not None and value["size"] != size:
            raise _HTTPError(422, f"{path}: LFS object size {size} is not {value['size']}")
        return store.lfs_file(oid, size)
    raise _HTTPError(400, f"unknown commit operation {key!r}")


def _check_tree_limits(files: dict[str, TreeFile], limits: HubLimits) -> None:
    """Files per repository and entries per folder of the tree a commit would make."""
    if limits.max_files_per_repo is not None and len(files) > limits.max_files_per_repo:
        raise _HTTPError(422, f"too many files in the repository: {len(files)} > {limits.max_files_per_repo}")
    if limits.max_files_per_folder is None:
        return
    counts: dict[str, set[str]] = {}
    for p in files:
        parts = p.split("/")
        for i in range(len(parts)):
            counts.setdefault("/".join(parts[:i]), set()).add(parts[i])
    for folder, children in counts.items():
        if len(children) > limits.max_files_per_folder:
            raise _HTTPError(
                422,
                f"too many entries in folder {folder or '/'!r}: {len(children)} > {limits.max_files_per_folder}",
            )
