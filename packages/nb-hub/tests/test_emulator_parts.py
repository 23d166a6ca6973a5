"""The emulator's parts on their own (routing table, ranges, faults), the module size rules, and
that production code does not import the test emulator."""

from __future__ import annotations

import ast
import doctest
import re
import socket
import time
from pathlib import Path

import httpx2
import pytest

import nb_hub
import nb_hub.testing._commits
import nb_hub.testing._faults
import nb_hub.testing._routing
import nb_hub.testing.emulator
from nb_hub.testing import HubEmulator
from nb_hub.testing._file_endpoints import byte_range
from nb_hub.testing._http import HTTPError
from nb_hub.testing._routing import ROUTES, match

SRC = Path(nb_hub.__file__).parent


@pytest.mark.parametrize(
    ("method", "path", "name", "args"),
    [
        ("GET", "/api/whoami-v2", "whoami", ()),
        ("GET", "/api/datasets/me/d", "repo-info", ("dataset", "me/d", None)),
        ("GET", "/api/models/me/m/revision/v1", "repo-info", ("model", "me/m", "v1")),
        ("GET", "/api/datasets/me/d/tree/main", "tree", ("dataset", "me/d", "main", "")),
        ("GET", "/api/datasets/me/d/tree/refs%2Fpr%2F1/a/b", "tree", ("dataset", "me/d", "refs/pr/1", "a/b")),
        ("DELETE", "/api/spaces/me/s/branch/dev/x", "branch", ("space", "me/s", "dev/x")),
        ("POST", "/datasets/me/d.git/info/lfs/objects/batch", "lfs-batch", ("dataset", "me/d")),
        ("POST", "/me/m.git/info/lfs/objects/batch", "lfs-batch", ("model", "me/m")),
        ("HEAD", "/datasets/me/d/resolve/main/x/y.bin", "resolve", ("dataset", "me/d", "main", "x/y.bin")),
        ("GET", "/me/m/resolve/main/w.bin", "resolve", ("model", "me/m", "main", "w.bin")),
        ("GET", "/me/m/commit/abc", "commit-page", ("model", "me/m", "abc")),
        ("PUT", "/_lfs/datasets/me/d/0a1b", "lfs-upload", ("dataset", "me/d", "0a1b")),
        ("POST", "/_lfs/verify/datasets/me/d/0a1b", "lfs-verify", ("dataset", "me/d", "0a1b")),
    ],
)
def test_routing_table(method, path, name, args):
    from nb_hub.testing._handler import path_segments

    m = match(method, path_segments(path))
    assert m is not None and (m.name, m.args) == (name, args)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/whoami-v2"),  # wrong method
        ("GET", "/api/datasets/me/d/unknown"),
        ("GET", "/api/whatever/me/d"),  # not a repo type
        ("GET", "/api/x/resolve/main/f"),  # /api is never a model namespace
        ("GET", "/datasets/me/d/resolve/main"),  # no file path
        ("POST", "/me/m/info/lfs/objects/batch"),  # no .git
    ],
)
def test_routing_refuses(method, path):
    from nb_hub.testing._handler import path_segments

    assert match(method, path_segments(path)) is None


def test_every_route_is_documented_and_has_a_handler():
    from nb_hub.testing._handler import Handler

    doc = nb_hub.testing.emulator.__doc__ or ""
    for route in ROUTES:
        assert f"``{route.name}``" in doc, route.name
        assert callable(getattr(Handler, route.handler)), route.handler


def test_unknown_endpoint_is_a_logged_404():
    with HubEmulator() as emu:
        r = httpx2.get(f"{emu.endpoint}/api/nothing/here")
        assert r.status_code == 404 and "no such endpoint" in r.json()["error"]
        # The emulator logs a request once its response is sent, so a fast client (or a loaded
        # machine) can read the response first: wait for the record.
        deadline = time.monotonic() + 5.0
        while not emu.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [c.endpoint for c in emu.requests] == ["unknown"]


def test_byte_range():
    assert byte_range("bytes=0-9", 100) == (0, 9)
    assert byte_range("bytes=90-", 100) == (90, 99)
    assert byte_range("bytes=-10", 100) == (90, 99)
    assert byte_range("bytes=50-500", 100) == (50, 99)
    for bad in ("bytes=a-b", "items=0-1", "bytes=0-1,4-5"):
        with pytest.raises(HTTPError) as e:
            byte_range(bad, 100)
        assert e.value.status == 400
    with pytest.raises(HTTPError) as e:
        byte_range("bytes=100-", 100)
    assert e.value.status == 416 and e.value.headers["Content-Range"] == "bytes */100"


def test_drop_fault_closes_without_answer():
    with HubEmulator() as emu:
        emu.inject("whoami", kind="drop")
        host, port = emu.endpoint.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100) == b""
        deadline = time.monotonic() + 5  # the request is logged just after the connection closes
        while not emu.calls("whoami") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emu.calls("whoami")[0].fault == "drop"
        assert httpx2.get(f"{emu.endpoint}/api/whoami-v2").status_code == 200  # only once


@pytest.mark.parametrize("module", [nb_hub.testing._routing, nb_hub.testing._faults, nb_hub.testing._commits])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


def _functions(tree: ast.AST):
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_emulator_modules_stay_small():
    for path in sorted((SRC / "testing").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") <= 500, f"{path.name} has {text.count(chr(10))} lines"
        for f in _functions(ast.parse(text)):
            assert f.end_lineno - f.lineno + 1 <= 60, f"{path.name}: {f.name} is over 60 lines"


def test_production_code_does_not_import_the_emulator():
    # Only the `nb hub emulator` command (cli._emulator) starts the emulator, lazily.
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if "testing" in path.relative_to(SRC).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        allowed = {
            id(n)
            for f in _functions(tree)
            if path.name == "cli.py" and f.name == "_emulator"
            for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(re.match(r"nb_hub\.testing\b", n) for n in names) and id(node) not in allowed:
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
