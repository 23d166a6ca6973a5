"""HTTP plumbing of the Hub emulator: request bodies, answers, errors, users and repo access.

:class:`RequestContext` is the base of the emulator's request handler: it reads bodies
(``Content-Length`` or chunked), answers with JSON or bytes, turns an :class:`HTTPError`
into the Hub's error answer (``X-Error-Code``/``X-Error-Message`` headers and a JSON body),
authenticates Bearer tokens, and finds the repository and revision a request names, with
the Hub's visibility and namespace rules. The endpoint handlers build on it.

This module is an implementation detail of :class:`nb_hub.testing.HubEmulator`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from nb_hub.testing.store import Commit, Repo

if TYPE_CHECKING:
    from nb_hub.testing.emulator import HubEmulator

__all__ = ["TYPES", "URL_PREFIX", "HTTPError", "RequestContext", "iso"]

#: Repo type of each ``/api/{type}`` segment.
TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
#: URL prefix of each repo type outside ``/api`` (models have none).
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


class HTTPError(Exception):
    """An error answer: HTTP ``status``, a message, and the Hub's ``X-Error-Code`` if any."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def iso(t: float) -> str:
    """A timestamp as the Hub writes it (``2024-01-31T12:00:00.000Z``)."""
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def query_flag(query: Mapping[str, list[str]], name: str, default: str = "false") -> bool:
    """A boolean query parameter (``1``/``true``, any case)."""
    return query.get(name, [default])[0].lower() in ("1", "true")


class RequestContext(BaseHTTPRequestHandler):
    """One request: its body, its answer, its user and the repository it names."""

    protocol_version = "HTTP/1.1"
    server_version = "nb-hub-emulator/1"
    emu: HubEmulator  # set on the subclass made per emulator
    _body: bytes | None = None
    _status: int = 0
    _repo_id: str | None = None
    _user: str | None = None
    _query: dict[str, list[str]]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        """Log nothing (the emulator keeps its own request log)."""

    # -- bodies -------------------------------------------------------------------------------
    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            line = self.rfile.readline()
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    continue
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _read_body(self, limit: int | None = None) -> bytes:
        if self._body is not None:
            return self._body
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = self._read_chunked()
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
            raise HTTPError(400, "request body is not valid JSON") from None

    # -- answers ------------------------------------------------------------------------------
    def _send_headers(self, status: int, content_type: str, headers: Mapping[str, str], length: int) -> None:
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._send_headers(status, content_type, headers or {}, len(body))
        if body and self.command != "HEAD":  # a HEAD answer has headers only
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers=headers)

    def _send_error(self, method: str, err: HTTPError) -> None:
        """Answer an :class:`HTTPError` as the Hub does (reading an unread request body first)."""
        if self._body is None and method in ("POST", "PUT", "DELETE"):
            try:
                self._read_body()
            except (OSError, ValueError):  # a dropped or malformed body: answer anyway
                self.close_connection = True
        headers = dict(err.headers)
        if err.code:
            headers["X-Error-Code"] = err.code
        headers["X-Error-Message"] = err.message.replace("\n", " ")[:500]
        self._send_json(err.status, {"error": err.message}, headers=headers)

    # -- users --------------------------------------------------------------------------------
    def _auth(self) -> str | None:
        header = self.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        tokens = self.emu.tokens
        if tokens is None:
            return self.emu.default_user
        if token is None:
            return None
        if token not in tokens:
            raise HTTPError(401, "Invalid credentials in Authorization header")
        return tokens[token]

    def _need_user(self) -> str:
        if self._user is None:
            raise HTTPError(401, "You must be authenticated to do this: pass a token")
        return self._user

    def _may_write(self, user: str | None, namespace: str) -> bool:
        """May ``user`` write to repos of ``namespace`` (its own, or an organization of its)?"""
        emu = self.emu
        if emu.tokens is None:
            return True  # no tokens: every request is the one (all-powerful) default user
        return user is not None and (namespace == user or user in emu.orgs.get(namespace, ()))

    # -- repositories -------------------------------------------------------------------------
    def _repo(self, rtype: str, rid: str, *, write: bool = False) -> Repo:
        repo = self.emu.store.repos.get((rtype, rid))
        ns = rid.split("/")[0]
        if repo is None or (
            repo.private and self._user != repo.owner and not self._may_write(self._user, ns)
        ):
            raise HTTPError(404, f"Repository Not Found: {rtype} {rid}", code="RepoNotFound")
        if write:
            user = self._need_user()
            if not self._may_write(user, ns):
                raise HTTPError(
                    403, f"You don't have the rights to write to {rid}: {ns!r} is not your namespace"
                )
        return repo

    def _commit_of(self, repo: Repo, revision: str | None) -> Commit:
        rev = revision or "main"
        cid = repo.resolve(rev)
        if cid is None:
            raise HTTPError(404, f"Invalid rev id: {rev}", code="RevisionNotFound")
        return repo.commits[cid]

    def _url(self, rtype: str, rid: str) -> str:
        return f"{self.emu.endpoint}/{URL_PREFIX[rtype]}{rid}"
