"""The request handler of the Hub emulator: route, inject faults, authenticate, answer, log.

:class:`Handler` finds the endpoint of a request in the routing table
(:mod:`nb_hub.testing._routing`), applies a pending injected fault
(:mod:`nb_hub.testing._faults`), authenticates the user, calls the endpoint's handler
(:mod:`nb_hub.testing._repo_endpoints`, :mod:`nb_hub.testing._file_endpoints`), turns an
``HTTPError`` into the Hub's error answer, and logs the request.

This module is an implementation detail of :class:`nb_hub.testing.HubEmulator`.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import parse_qs, unquote

from nb_hub.testing._faults import Fault, RequestRecord
from nb_hub.testing._file_endpoints import FileEndpoints
from nb_hub.testing._http import HTTPError
from nb_hub.testing._repo_endpoints import RepoEndpoints
from nb_hub.testing._routing import match

__all__ = ["Handler"]


def path_segments(raw_path: str) -> list[str]:
    """The URL-decoded ``/`` segments of a path (without a trailing empty one)."""
    segs = [unquote(s) for s in raw_path.split("/")[1:]]
    if segs and segs[-1] == "" and len(segs) > 1:
        segs = segs[:-1]
    return segs


class Handler(RepoEndpoints, FileEndpoints):
    """Serves one connection of the emulator (a subclass per emulator sets ``emu``)."""

    _endpoint: str = "unknown"
    _fault: str | None = None

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

    def _drop(self) -> None:
        """Read half of the request body, then close the connection without answering."""
        cl = int(self.headers.get("Content-Length") or 0)
        try:
            self._read_body(limit=cl // 2)
        except (OSError, ValueError):  # already gone or malformed: drop it anyway
            self.close_connection = True
        self._status = 0
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:  # the client went first
            self.close_connection = True

    def _apply_fault(self, fault: Fault, name: str) -> bool:
        """Act out an injected fault; `True` if the request is over (dropped)."""
        self._fault = fault.kind
        if fault.kind == "slow":
            time.sleep(fault.delay)
            return False
        if fault.kind == "drop":
            self._drop()
            return True
        self._read_body()
        raise HTTPError(fault.status, f"injected fault on {name}")

    def _serve(self, method: str, raw_path: str) -> None:
        m = match(method, path_segments(raw_path))
        if m is None:
            raise HTTPError(404, f"no such endpoint: {method} {raw_path}")
        self._endpoint, self._repo_id = m.name, m.repo_id
        fault = self.emu._faults.take(m.name, method, raw_path)
        if fault is not None and self._apply_fault(fault, m.name):
            return
        self._user = self._auth()
        getattr(self, m.handler)(method, *m.args)

    def _dispatch(self, method: str) -> None:
        self._body = None
        self._status = 0
        self._endpoint = "unknown"
        self._repo_id = None
        self._user = None
        self._fault = None
        raw_path, _, query = self.path.partition("?")
        self._query = parse_qs(query)
        self.emu._begin()
        try:
            self._serve(method, raw_path)
        except HTTPError as err:
            self._send_error(method, err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.emu._log(
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
