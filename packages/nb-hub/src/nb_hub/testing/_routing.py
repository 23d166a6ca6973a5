"""The routing table of the Hub emulator: (methods, path pattern) -> endpoint.

A pattern is a list of ``/``-separated segments, matched against the URL-decoded segments
of a request path (so an encoded revision such as ``refs%2Fpr%2F1`` is one segment):

- a literal matches itself;
- ``{type}`` matches ``models``, ``datasets`` or ``spaces`` and gives the repo type;
- ``{ns}``/``{name}`` give the repo id ``ns/name``; ``{name.git}`` matches ``name.git``;
- ``{owner}`` is ``{ns}`` for model URLs outside ``/api``: any segment but the reserved
  first segments (``api``, ``_lfs``, ``datasets``, ``spaces``);
- ``{x}`` matches one segment, ``{x+}`` one or more, ``{x*}`` any number (joined with ``/``).

Each match yields the endpoint's log name, the name of its handler method and its
arguments: ``(repo_type, repo_id, *other captures)`` for repo routes, the captures otherwise.

Example:
    >>> m = match("GET", ["api", "datasets", "me", "demo", "tree", "main", "a", "b"])
    >>> m.name, m.handler, m.args
    ('tree', '_tree', ('dataset', 'me/demo', 'main', 'a/b'))
    >>> match("GET", ["me", "demo.git", "info"]) is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass

from nb_hub.testing._http import TYPES

__all__ = ["ROUTES", "Match", "Route", "match"]

_RESERVED = frozenset({"api", "_lfs", "datasets", "spaces"})
_PREFIX_TYPES = {"datasets": "dataset", "spaces": "space"}


@dataclass(frozen=True)
class Match:
    """A matched route: log name, handler method name, arguments, and the repo id if any."""

    name: str
    handler: str
    args: tuple[str | None, ...]
    repo_id: str | None


@dataclass(frozen=True)
class Route:
    """One row of the table: log name, HTTP methods, path pattern, handler method name."""

    name: str
    methods: frozenset[str]
    pattern: tuple[str, ...]
    handler: str
    repo_type: str | None = None  # fixed repo type (URLs outside /api)
    defaults: tuple[str | None, ...] = ()  # trailing arguments the pattern does not capture

    def match(self, method: str, segs: list[str]) -> Match | None:
        if method not in self.methods:
            return None
        caps = _match_segments(self.pattern, segs)
        if caps is None:
            return None
        rtype = caps.pop("type", self.repo_type)
        rid = f"{caps.pop('ns')}/{caps.pop('name')}" if "ns" in caps else None
        rest = tuple(caps.values()) + self.defaults
        args = (rtype, rid, *rest) if rid is not None else rest
        return Match(self.name, self.handler, args, rid)


def _capture(var: str, seg: str, caps: dict[str, str], first: bool) -> bool:
    """Match one variable segment, recording its capture; `False` if it does not fit."""
    if var == "type":
        if seg not in TYPES:
            return False
        caps["type"] = TYPES[seg]
    elif var == "name.git":
        if not seg.endswith(".git"):
            return False
        caps["name"] = seg[:-4]
    elif var == "owner":
        if first and seg in _RESERVED:
            return False
        caps["ns"] = seg
    else:
        caps[var] = seg
    return True


def _match_segments(pattern: tuple[str, ...], segs: list[str]) -> dict[str, str] | None:
    """The captures of ``pattern`` on ``segs`` (in pattern order), or `None`."""
    caps: dict[str, str] = {}
    for i, part in enumerate(pattern):
        if part.endswith(("+}", "*}")):  # the rest of the path (always the last part)
            rest = segs[i:]
            if part.endswith("+}") and not rest:
                return None
            caps[part[1:-2]] = "/".join(rest)
            return caps
        if i >= len(segs):
            return None
        if not part.startswith("{"):
            if segs[i] != part:
                return None
        elif not _capture(part[1:-1], segs[i], caps, first=i == 0):
            return None
    return caps if len(segs) == len(pattern) else None


def _route(
    name: str,
    methods: str,
    path: str,
    handler: str,
    *,
    repo_type: str | None = None,
    defaults: tuple[str | None, ...] = (),
) -> Route:
    pattern = tuple(path.strip("/").split("/"))
    return Route(name, frozenset(methods.split()), pattern, handler, repo_type, defaults)


def _repo_urls(name: str, methods: str, tail: str, handler: str) -> list[Route]:
    """A route under ``/{prefix}{id}/`` for each repo type (models have no prefix)."""
    out = [
        _route(name, methods, f"/{p}/{{ns}}/{tail}", handler, repo_type=t) for p, t in _PREFIX_TYPES.items()
    ]
    out.append(_route(name, methods, f"/{{owner}}/{tail}", handler, repo_type="model"))
    return out


_API = "/api/{type}/{ns}/{name}"

#: Every endpoint, in matching order (the first match wins).
ROUTES: tuple[Route, ...] = (
    _route("whoami", "GET", "/api/whoami-v2", "_whoami"),
    _route("create-repo", "POST", "/api/repos/create", "_create_repo"),
    _route("delete-repo", "DELETE", "/api/repos/delete", "_delete_repo"),
    _route("validate-yaml", "POST", "/api/validate-yaml", "_validate_yaml"),
    _route("repo-info", "GET", _API, "_repo_info", defaults=(None,)),
    _route("repo-info", "GET", f"{_API}/revision/{{rev}}", "_repo_info"),
    _route("preupload", "POST", f"{_API}/preupload/{{rev}}", "_preupload"),
    _route("commit", "POST", f"{_API}/commit/{{rev}}", "_commit"),
    _route("tree", "GET", f"{_API}/tree/{{rev}}/{{path*}}", "_tree"),
    _route("paths-info", "POST", f"{_API}/paths-info/{{rev}}", "_paths_info"),
    _route("refs", "GET", f"{_API}/refs", "_refs"),
    _route("settings", "PUT", f"{_API}/settings", "_settings"),
    _route("commits", "GET", f"{_API}/commits/{{rev}}", "_commits"),
    _route("branch", "POST DELETE", f"{_API}/branch/{{branch+}}", "_branch"),
    _route("tag", "POST DELETE", f"{_API}/tag/{{tag+}}", "_tag"),
    _route("lfs-verify", "POST", "/_lfs/verify/{type}/{ns}/{name}/{oid}", "_lfs_verify"),
    _route("lfs-upload", "PUT", "/_lfs/{type}/{ns}/{name}/{oid}", "_lfs_upload"),
    *_repo_urls("lfs-batch", "POST", "{name.git}/info/lfs/objects/batch", "_lfs_batch"),
    *_repo_urls("resolve", "GET HEAD", "{name}/resolve/{rev}/{path+}", "_resolve"),
    *_repo_urls("commit-page", "GET", "{name}/commit/{oid}", "_commit_page"),
)


def match(method: str, segs: list[str]) -> Match | None:
    """The first route of :data:`ROUTES` that matches ``method`` and the path segments."""
    for route in ROUTES:
        m = route.match(method, segs)
        if m is not None:
            return m
    return None
