"""Endpoint handlers of the Hub emulator about users and repositories (not their files).

``whoami``, repo creation and deletion, ``validate-yaml`` (the production card checks of
:mod:`nb_hub._cardyaml`), repo info, settings, refs, commit history, branches, tags and the
commit page. Each handler takes the HTTP method and the captures of its route (see
:mod:`nb_hub.testing._routing`) and answers the request.

This module is an implementation detail of :class:`nb_hub.testing.HubEmulator`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from nb_hub._cardyaml import split_front_matter, validate_card_metadata
from nb_hub.testing._http import URL_PREFIX, HTTPError, RequestContext, iso, query_flag
from nb_hub.testing.store import Commit, Repo, lfs_pointer

__all__ = ["RepoEndpoints", "card_data"]


def card_data(readme: bytes) -> dict[str, Any] | None:
    """The YAML metadata of a README, if it has a well-formed mapping (what ``cardData`` shows)."""
    import yaml

    front, _ = split_front_matter(readme.decode("utf-8", "replace"))
    if not front:
        return None
    try:
        loaded = yaml.safe_load(front)
    except yaml.YAMLError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _card_tags(data: dict[str, Any] | None) -> list[str]:
    t = (data or {}).get("tags")
    if isinstance(t, str):
        return [t]
    try:
        return list(t or [])
    except TypeError:  # a scalar: not a tag list
        return []


def _short_id(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:24]


class RepoEndpoints(RequestContext):
    """Handlers of the user and repository endpoints."""

    def _whoami(self, method: str) -> None:
        user = self._need_user()
        orgs = [
            {"type": "org", "name": org, "fullname": org}
            for org, members in sorted(self.emu.orgs.items())
            if user in members
        ]
        self._send_json(
            200,
            {
                "type": "user",
                "id": _short_id(user),
                "name": user,
                "fullname": user,
                "orgs": orgs,
                "auth": {"type": "access_token", "accessToken": {"displayName": "emulator", "role": "write"}},
            },
        )

    def _new_repo_target(self, user: str, body: Any) -> tuple[str, str, str]:
        """The ``(type, id, namespace)`` a create-repo request asks for, if the user may create it."""
        name = body.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise HTTPError(400, "repo name is missing or invalid")
        ns = body.get("organization") or user
        rtype = body.get("type") or "model"
        if rtype not in URL_PREFIX:
            raise HTTPError(400, f"invalid repo type {rtype!r}")
        rid = f"{ns}/{name}"
        self._repo_id = rid
        if not self._may_write(user, ns):
            raise HTTPError(
                403,
                f"You don't have the rights to create a {rtype} under the namespace {ns!r}: "
                f"the token belongs to {user!r}",
            )
        return rtype, rid, ns

    def _create_repo(self, method: str) -> None:
        user = self._need_user()
        body = self._json_body()
        rtype, rid, _ = self._new_repo_target(user, body)
        private = bool(body.get("private")) or body.get("visibility") == "private"
        store = self.emu.store
        with store.lock:
            existing = store.repos.get((rtype, rid))
            if existing is not None:
                if existing.private and existing.owner != user:
                    raise HTTPError(409, "Cannot create repo: the name is already taken")
                self._send_json(
                    409,
                    {"error": f"You already created this {rtype} repo", "url": self._url(rtype, rid)},
                    headers={"X-Error-Message": f"You already created this {rtype} repo"},
                )
                return
            repo = store.create_repo(rtype, rid, owner=user, private=private)
        self._send_json(200, {"url": self._url(rtype, rid), "name": rid, "id": repo.branches["main"]})

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
            raise HTTPError(400, '"content" must be a string')
        errors, warnings = validate_card_metadata(content, body.get("repoType") or "model")
        self.emu.validations.append({"content": content, "errors": errors, "warnings": warnings})
        payload = {"errors": [{"message": e} for e in errors], "warnings": [{"message": w} for w in warnings]}
        self._send_json(400 if errors else 200, payload)

    def _siblings(self, commit: Commit, blobs: bool) -> list[dict[str, Any]]:
        siblings = []
        for p in sorted(commit.files):
            f = commit.files[p]
            sib: dict[str, Any] = {"rfilename": p}
            if blobs:
                sib.update(size=f.size, blobId=f.git_oid)
                if f.lfs:
                    pointer = len(lfs_pointer(f.sha256, f.size))
                    sib["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": pointer}
            siblings.append(sib)
        return siblings

    def _repo_info(self, method: str, rtype: str, rid: str, revision: str | None) -> None:
        repo = self._repo(rtype, rid)
        commit = self._commit_of(repo, revision)
        readme = commit.files.get("README.md")
        data = card_data(self.emu.store.blobs.get(readme.sha256)) if readme is not None else None
        info: dict[str, Any] = {
            "_id": _short_id(rid),
            "id": rid,
            "author": rid.split("/")[0],
            "sha": commit.id,
            "lastModified": iso(commit.date),
            "createdAt": iso(repo.created),
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": _card_tags(data),
            "siblings": self._siblings(commit, query_flag(self._query, "blobs")),
            "usedStorage": sum(f.size for f in commit.files.values()),
        }
        if rtype == "model":
            info["modelId"] = rid
        if data is not None:
            info["cardData"] = data
        self._send_json(200, info)

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

    @staticmethod
    def _visibility(body: Any) -> bool | None:
        """The ``private`` flag a settings request asks for (`None`: unchanged)."""
        if not isinstance(body, dict):
            raise HTTPError(400, "settings must be a JSON object")
        private: bool | None = None
        if "visibility" in body:
            if body["visibility"] not in ("public", "private"):
                raise HTTPError(400, f"invalid visibility {body['visibility']!r}: 'public' or 'private'")
            private = body["visibility"] == "private"
        elif "private" in body:
            if not isinstance(body["private"], bool):
                raise HTTPError(400, '"private" must be a boolean')
            private = body["private"]
        if "gated" in body and body["gated"] not in ("auto", "manual", False):
            raise HTTPError(400, f"invalid gated value {body['gated']!r}")
        return private

    def _settings(self, method: str, rtype: str, rid: str) -> None:
        repo = self._repo(rtype, rid, write=True)
        private = self._visibility(self._json_body())
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
                    "date": iso(commit.date),
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
                    raise HTTPError(404 if branch != "main" else 403, f"cannot delete branch {branch}")
                del repo.branches[branch]
            else:
                body = self._json_body()
                if branch in repo.branches:
                    raise HTTPError(409, f"Reference already exists: {branch}")
                start = self._commit_of(repo, body.get("startingPoint") or "main")
                repo.branches[branch] = start.id
            store.save()
        self._send_json(200, {})

    def _add_tag(self, repo: Repo, revision: str) -> None:
        tag = self._json_body().get("tag")
        if not isinstance(tag, str) or not tag:
            raise HTTPError(400, '"tag" is required')
        if tag in repo.tags:
            raise HTTPError(409, f"Tag already exists: {tag}")
        repo.tags[tag] = self._commit_of(repo, revision).id

    def _tag(self, method: str, rtype: str, rid: str, name: str) -> None:
        repo = self._repo(rtype, rid, write=True)
        store = self.emu.store
        with store.lock:
            if method == "DELETE":
                if name not in repo.tags:
                    raise HTTPError(404, f"no such tag {name}", code="RevisionNotFound")
                del repo.tags[name]
            else:
                self._add_tag(repo, name)
            store.save()
        self._send_json(200, {})

    def _commit_page(self, method: str, rtype: str, rid: str, oid: str) -> None:
        repo = self._repo(rtype, rid)
        c = repo.commits.get(oid)
        if c is None:
            raise HTTPError(404, f"no commit {oid}", code="RevisionNotFound")
        self._send(
            200,
            f"<html><body><h1>{c.title}</h1><p>{c.id}</p></body></html>".encode(),
            content_type="text/html",
        )
