"""Push an artifact to the Hugging Face Hub: resumable, batched, idempotent.

:func:`push` uploads every data file listed in the artifact's ``nb-manifest.json``,
then the card (``README.md``), its preview image and the manifest itself, in that order:
a repository that has a manifest is complete. Data files go in commits of at most
``limits.max_files_per_commit`` files, so a large artifact never hits the Hub's per-commit
limits, and each commit is durable on its own: an interrupted push is resumed by calling
:func:`push` again, which lists the remote tree, skips every file whose sha256 is already
there, and lets the Git LFS batch API skip blobs that were uploaded before the
interruption (no byte is sent twice). Pushing unchanged data makes no commit at all.

This is the same resumable strategy as ``HfApi.upload_large_folder`` (many small commits,
already-uploaded files skipped), without writing a ``.cache`` folder into the artifact:
what is already uploaded is read from the Hub itself, and the sha256 of each file comes
from the manifest, so nothing is re-hashed.

Example:
    >>> # url = push("out/eeg-shards", "me/eeg", private=True)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from nb_core.checksums import sha256_file
from nb_core.errors import ChecksumMismatchError, HubLimitError, UserError
from nb_core.manifest import MANIFEST_NAME, Manifest, find_manifest
from nb_core.progress import progress
from nb_core.validation import soft_import
from nb_hub._endpoint import hub_cache_dir, resolve_endpoint, xet_off_for
from nb_hub._errors import hub_errors
from nb_hub.card import PREVIEW_NAME, card
from nb_hub.limits import RepoLimits, check_limits

__all__ = ["push"]

_REPO_TYPE = "dataset"


def _git_blob_sha1(path: Path) -> str:
    import hashlib

    h = hashlib.sha1(usedforsecurity=False)
    h.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _same_remote(local: Path, sha256: str | None, remote: Any) -> bool:
    """Is the remote file (a ``RepoFile``) the same content as ``local``?"""
    if remote is None or remote.size != local.stat().st_size:
        return False
    if remote.lfs is not None:
        return remote.lfs.sha256 == (sha256 or sha256_file(local))
    return bool(remote.blob_id == _git_blob_sha1(local))


def push(
    path: str | os.PathLike[str],
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    create_pr: bool = False,
    endpoint: str | None = None,
    limits: RepoLimits | None = None,
    preview: bool = True,
    show_progress: bool | None = None,
) -> str:
    """Push an artifact (a directory with ``nb-manifest.json``) to a dataset repository.

    Args:
        path (`str` or `os.PathLike`): the artifact directory (or its manifest).
        repo_id (`str`): ``"namespace/name"``; created (as a dataset repo) if needed.
        private (`bool`, *optional*): the repo's visibility. `True`: private (a new repo is
            created private, an existing public one is made private before any file is
            uploaded); `False`: public (an existing private repo is made public); `None` (the
            default): a new repo is public, an existing one keeps its visibility.
        revision (`str`, *optional*): branch to push to (created from ``main`` if missing).
        commit_message (`str`, *optional*): summary of the commits (numbered per batch).
        token (`str`, *optional*): Hub token; by default the usual ``huggingface_hub``
            sources (``HF_TOKEN``, ``hf auth login``). Never logged or put in messages.
        create_pr (`bool`, *optional*, defaults to `False`): push as a pull request.
        endpoint (`str`, *optional*): Hub URL (default ``HF_ENDPOINT`` or huggingface.co).
        limits (`RepoLimits`, *optional*): Hub limits to respect (files per commit, ...).
        preview (`bool`, *optional*, defaults to `True`): upload a preview PNG with the card
            (needs matplotlib).
        show_progress (`bool`, *optional*): progress bar over commits (default: on a terminal).

    Returns:
        `str`: URL of the last commit (of the current head if nothing changed).

    Raises:
        ManifestNotFoundError: ``path`` is not an artifact.
        ChecksumMismatchError: a listed file is missing or has another size than the manifest says.
        HubLimitError: the artifact or the push would break a Hub limit (nothing is uploaded).
        HubAuthError: the token is missing, wrong, or cannot write to the repo (or change its
            visibility).
        HubConnectionError: the Hub cannot be reached or dropped the connection (a re-run resumes).
        HubError: any other Hub failure (a re-run resumes where it stopped).

    A loopback ``endpoint`` (the emulator) is talked to without Xet; files read back from an
    endpoint other than huggingface.co are cached in that endpoint's own folder (see the README).
    """
    hub = soft_import("huggingface_hub", "pushing to the Hub", extra="nb-hub")
    mpath = find_manifest(path)
    root = mpath.parent
    manifest = Manifest.read(mpath)
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise UserError(f"repo_id must be 'namespace/name'; got {repo_id!r}")
    for f in manifest.files:
        p = root / f.path
        if not p.is_file():
            raise ChecksumMismatchError(
                f"{p}: listed in the manifest but missing; the artifact is incomplete"
            )
        if p.stat().st_size != f.size:
            raise ChecksumMismatchError(f"{p}: size {p.stat().st_size} bytes, the manifest says {f.size}")
    lim = limits or RepoLimits()
    check_limits(manifest, lim, n_to_upload=0)

    api = hub.HfApi(endpoint=endpoint, token=token)
    what = f"push {root} to {repo_id}"
    message = commit_message or f"Upload {manifest.name} with nb-hub"
    cache_dir = hub_cache_dir(endpoint, None)
    with (
        xet_off_for(endpoint),
        hub_errors(what, token=token, write=True, endpoint=resolve_endpoint(endpoint)),
    ):
        api.create_repo(repo_id, repo_type=_REPO_TYPE, private=bool(private), exist_ok=True)
        if private is not None:
            _apply_visibility(api, repo_id, private=private, what=what)
        target = revision or "main"
        if revision is not None and not create_pr:
            refs = api.list_repo_refs(repo_id, repo_type=_REPO_TYPE)
            if revision not in {b.name for b in refs.branches}:
                api.create_branch(repo_id, branch=revision, repo_type=_REPO_TYPE, exist_ok=True)
        remote = {
            f.path: f
            for f in api.list_repo_tree(repo_id, repo_type=_REPO_TYPE, revision=target, recursive=True)
            if isinstance(f, hub.hf_api.RepoFile)
        }
        todo = [f for f in manifest.files if not _same_remote(root / f.path, f.sha256, remote.get(f.path))]
        n_batches = -(-len(todo) // lim.max_files_per_commit)
        if n_batches + 1 > lim.max_commits_per_hour:
            raise HubLimitError(
                f"{what}: {len(todo)} files at {lim.max_files_per_commit} per commit need {n_batches + 1} "
                f"commits, over the {lim.max_commits_per_hour} commits per hour the Hub allows; pack the data "
                "into fewer, larger files (nb-shards) or raise RepoLimits.max_files_per_commit"
            )
        old_manifest: Manifest | None = None
        existing_card: str | None = None
        if MANIFEST_NAME in remote:
            local = api.hf_hub_download(
                repo_id, MANIFEST_NAME, repo_type=_REPO_TYPE, revision=target, cache_dir=cache_dir
            )
            try:
                old_manifest = Manifest.read(local)
            except Exception:
                old_manifest = None
        if "README.md" in remote:
            readme = api.hf_hub_download(
                repo_id, "README.md", repo_type=_REPO_TYPE, revision=target, cache_dir=cache_dir
            )
            existing_card = Path(readme).read_text(encoding="utf-8")

        last = None
        pr_revision: str | None = None
        pr_url: str | None = None
        batches = [
            todo[i : i + lim.max_files_per_commit] for i in range(0, len(todo), lim.max_files_per_commit)
        ]
        for i, batch in enumerate(
            progress(batches, desc=f"push {repo_id}", unit="commit", disable=_off(show_progress))
        ):
            ops = [
                hub.CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(root / f.path)) for f in batch
            ]
            last = api.create_commit(
                repo_id,
                ops,
                commit_message=f"{message} (data {i + 1}/{len(batches)})",
                repo_type=_REPO_TYPE,
                revision=pr_revision or target,
                create_pr=create_pr and pr_revision is None,
            )
            if create_pr and pr_revision is None:
                pr_revision, pr_url = last.pr_revision, last.pr_url

        with tempfile.TemporaryDirectory(prefix="nb-hub-card-") as tmp:
            final: list[Any] = []
            preview_rel: str | None = None
            if preview:
                from nb_hub.preview import render_preview

                png = render_preview(root, Path(tmp) / PREVIEW_NAME, manifest=manifest)
                if png is not None:
                    preview_rel = PREVIEW_NAME
                    if not _same_remote(png, None, remote.get(PREVIEW_NAME)):
                        final.append(
                            hub.CommitOperationAdd(path_in_repo=PREVIEW_NAME, path_or_fileobj=str(png))
                        )
            text = str(card(manifest, repo_id=repo_id, existing=existing_card, preview=preview_rel))
            if text != existing_card:
                final.append(
                    hub.CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=text.encode("utf-8"))
                )
            if not _same_remote(mpath, None, remote.get(MANIFEST_NAME)):
                final.append(hub.CommitOperationAdd(path_in_repo=MANIFEST_NAME, path_or_fileobj=str(mpath)))
            if old_manifest is not None:
                listed = {f.path for f in manifest.files}
                for old in old_manifest.files:
                    if old.path not in listed and old.path in remote:
                        final.append(hub.CommitOperationDelete(path_in_repo=old.path))
            if final:
                last = api.create_commit(
                    repo_id,
                    final,
                    commit_message=f"{message} (card and manifest)",
                    repo_type=_REPO_TYPE,
                    revision=pr_revision or target,
                    create_pr=create_pr and pr_revision is None,
                )
                pr_url = pr_url or last.pr_url
        if pr_url is not None:
            return str(pr_url)
        if last is not None:
            return str(last.commit_url)
        info = api.repo_info(repo_id, repo_type=_REPO_TYPE, revision=target)
        return f"{api.endpoint}/datasets/{repo_id}/commit/{info.sha}"


def _apply_visibility(api: Any, repo_id: str, *, private: bool, what: str) -> None:
    """Make an existing repo private (or public) as asked, before anything is uploaded."""
    info = api.repo_info(repo_id, repo_type=_REPO_TYPE)
    if info.private is None or bool(info.private) == private:
        return
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.update_repo_settings(repo_id, repo_type=_REPO_TYPE, private=private)
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status in (401, 403, 404, 405, 501):
            from nb_core.errors import HubAuthError

            now, want = ("private", "public") if info.private else ("public", "private")
            raise HubAuthError(
                f"{what}: the repository exists and is {now}; making it {want} was refused "
                f"(HTTP {status}); nothing was uploaded. Change its visibility in the repo settings, "
                f"or push to another repo"
            ) from None
        raise
    info = api.repo_info(repo_id, repo_type=_REPO_TYPE)
    if info.private is not None and bool(info.private) != private:
        from nb_core.errors import HubError

        raise HubError(
            f"{what}: the Hub accepted the visibility change but the repository is still "
            f"{'private' if info.private else 'public'}; nothing was uploaded"
        )


def _off(show: bool | None) -> bool | None:
    return None if show is None else not show
