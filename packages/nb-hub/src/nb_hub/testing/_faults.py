"""Fault injection and the request log of the Hub emulator.

:class:`Fault` describes an injected failure, :class:`FaultBoard` holds the pending ones
and picks the one a request triggers, and :class:`RequestRecord` is one entry of the
emulator's request log.

This module is an implementation detail of :class:`nb_hub.testing.HubEmulator`; use
:meth:`~nb_hub.testing.HubEmulator.inject` to inject a fault.

Example:
    >>> board = FaultBoard()
    >>> f = board.add(Fault("commit", after=1))
    >>> board.take("commit", "POST", "/api/...") is None, board.take("commit", "POST", "/api/...") is f
    (True, True)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote

__all__ = ["FAULT_KINDS", "Fault", "FaultBoard", "RequestRecord"]

#: What an injected fault does (see :class:`Fault`).
FAULT_KINDS = ("error", "slow", "drop")


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

    def matches(self, endpoint: str, method: str, path: str) -> bool:
        """Does a request to ``endpoint`` with this method and (raw) path fall under this fault?"""
        return (
            self.endpoint == endpoint
            and self.fired < self.times
            and (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in unquote(path))
        )


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


class FaultBoard:
    """The pending faults of one emulator (thread-safe)."""

    def __init__(self, lock: threading.Lock | None = None) -> None:
        self.faults: list[Fault] = []
        self._lock = lock or threading.Lock()

    def add(self, fault: Fault) -> Fault:
        """Add a pending fault."""
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be 'error', 'slow' or 'drop'; got {fault.kind!r}")
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self.faults.clear()

    def take(self, endpoint: str, method: str, path: str) -> Fault | None:
        """The fault this request triggers (counting it as fired), or `None`."""
        with self._lock:
            for f in self.faults:
                if f.matches(endpoint, method, path):
                    f.seen += 1
                    if f.seen > f.after:
                        f.fired += 1
                        return f
        return None
