"""Push an artifact to the Hugging Face Hub: resumable, batched, idempotent, and exact.

:func:`push` uploads every data file listed in the artifact's ``nb-manifest.json``,
then, in one final commit, the card (``README.md``), its preview image and the manifest itself,
and deletes every file of the repository that the artifact no longer has: after a push the
repository equals the artifact (a shrunken artifact leaves no stale shard behind for
``datasets`` to load), and a repository that has a manifest is complete.

Data files go in commits of at most ``limits.max_files_per_commit`` files, so a large artifact
never hits the Hub's per-commit limits, and each commit is durable on its own: an interrupted
push is resumed by calling :func:`push` again, which lists the remote tree, skips every file
whose sha256 is already there, and lets the Git LFS batch API skip blobs that were uploaded
before the interruption (no byte is sent twice). Pushing unchanged data makes no commit at all.

This is the same resumable strategy as ``HfApi.upload_large_folder`` (many small commits,
already-uploaded files skipped), without writing a ``.cache`` folder into the artifact:
what is already uploaded is read from the Hub itself. The sha256 of each file comes from the
manifest and is handed to ``huggingface_hub``, which therefore does not hash the files again;
``verify=True`` (the default) checks the bytes of the files about to be uploaded against the
manifest first (one read each), ``verify=False`` trusts the manifest (no file is hashed).

Example:
    >>> # url = push("out/eeg-shards", "me/eeg", private=True, license="cc-by-4.0")
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb_core.checksums import sha256_file
from nb_core.errors import HubError, NBError, UserError
from nb_core.hubspec import git_blob_sha1_file
from nb_core.manifest import MANIFEST_NAME, FileEntry, Manifest, find_manifest
from nb_core.progress import progress
from nb_core.validation import soft_import
from nb_hub._endpoint import hub_bars, hub_cache_dir, resolve_endpoint, xet_off_for
from nb_hub._errors import hub_errors
from nb_hub.card import PREVIEW_NAME, UNKNOWN_LICENSE, card, card_license
from nb_hub.limits import RepoLimits, TooManySmallFilesWarning, check_limits

__all__ = ["NoLicenseWarning", "ReplacedRemoteWarning", "push"]

_REPO_TYPE = "dataset"
#: Files of the repository that are not data files of the artifact (never deleted as stale).
_CARD_FILES = frozenset({".gitattributes", "README.md", PREVIEW_NAME, MANIFEST_NAME})


class NoLicenseWarning(UserWarning):
    """The pushed card says ``license: unknown``: neither the manifest nor ``license=`` gave one."""


class ReplacedRemoteWarning(UserWarning):
    """``force=True`` replaced a repository whose content nb-hub could not account for."""


def _same_remote(local: Path, sha256: str | None, remote: Any) -> bool:
    """Is the remote file (a ``RepoFile``) the same content as ``local``?"""
    if remote is None or remote.size != local.stat().st_size:
        return False
    if remote.lfs is not None:
        return remote.lfs.sha256 == (sha256 or sha256_file(local))
    return bool(remote.blob_id == git_blob_sha1_file(local))


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
    license: str | None = None,
    force: bool = False,
    verify: bool = True,
) -> str:
    """Push an artifact (a directory with ``nb-manifest.json``) to a dataset repository, so that
    the repository equals the artifact.

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
        show_progress (`bool`, *optional*): progress bars: nb-hub's over commits and
            ``huggingface_hub``'s over uploaded files (default: on a terminal).
        license (`str`, *optional*): the license the card states (SPDX id such as
            ``"cc-by-4.0"``); by default the manifest's, else the one already on the Hub's card,
            else ``unknown`` with a :class:`NoLicenseWarning`.
        force (`bool`, *optional*, defaults to `False`): replace a repository whose content
            cannot be accounted for (an unreadable ``nb-manifest.json``, or files of something
            that is not a neurobridge artifact), with a :class:`ReplacedRemoteWarning`; without
            it such a push is refused before anything is uploaded.
        verify (`bool`, *optional*, defaults to `True`): check the sha256 of each file to upload
            against the manifest first; `False` trusts the manifest (sizes are always checked).

    Returns:
        `str`: URL of the last commit (of the current head if nothing changed).

    Raises:
        ManifestNotFoundError: ``path`` is not an artifact.
        ChecksumMismatchError: a listed file is missing, or its size (or, with ``verify``, its
            sha256) differs from the manifest.
        HubLimitError: the artifact or the push would break a Hub limit (nothing is uploaded).
        HubAuthError: the token is missing, wrong, or cannot write to the repo (or change its
            visibility).
        HubConnectionError: the Hub cannot be reached or dropped the connection (a re-run resumes).
        HubError: the repository's content cannot be accounted for (see ``force``), or any other
            Hub failure (a re-run resumes where it stopped).

    A loopback ``endpoint`` (the emulator) is talked to without Xet; files read back from an
    endpoint other than huggingface.co are cached in that endpoint's own folder (see the README).

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> import nb_formats, nb_hub
        >>> from nb_hub.testing import HubEmulator
        >>> path = tempfile.mkdtemp() + "/ds"
        >>> _ = nb_formats.write((np.zeros((4, 2, 10), "float32"), [0, 1, 0, 1]), path, sfreq=100.0)
        >>> with HubEmulator() as hub:  # an offline Hub; leave out endpoint= for huggingface.co
        ...     url = nb_hub.push(path, "me/demo", endpoint=hub.endpoint, license="cc0-1.0", preview=False)
        ...     files = sorted(hub.repo_files("me/demo"))
        >>> "/datasets/me/demo/commit/" in url
        True
        >>> files
        ['.gitattributes', 'README.md', 'data.h5', 'nb-manifest.json']
    """
    hub = soft_import("huggingface_hub", "pushing to the Hub", extra="nb-hub")
    if repo_id.count("/") != 1:
        raise UserError(f"repo_id must be 'namespace/name'; got {repo_id!r}")
    mpath = find_manifest(path)
    root = mpath.parent
    manifest = Manifest.read(mpath)
    manifest.verify(root, checksums=False)  # complete, consistent, every size right
    lim = limits or RepoLimits()
    check_limits(manifest, lim, n_to_upload=0)  # hard limits, before talking to the Hub
    api = hub.HfApi(endpoint=endpoint, token=token)
    what = f"push {root} to {repo_id}"
    with (
        xet_off_for(endpoint),
        hub_bars(show_progress),
        hub_errors(what, token=token, write=True, endpoint=resolve_endpoint(endpoint)),
    ):
        target = _prepare_repo(
            api, repo_id, private=private, revision=revision, create_pr=create_pr, what=what
        )
        plan = _plan(
            _Fetcher(
                api, repo_id, target, hub_cache_dir(endpoint, None), _remote_files(api, hub, repo_id, target)
            ),
            root,
            manifest,
            lim,
            verify=verify,
            force=force,
            license=license,
            what=what,
        )
        commits = _Commits(
            api, repo_id, target, create_pr, commit_message or f"Upload {manifest.name} with nb-hub"
        )
        _upload_data(hub, commits, root, plan.todo, lim.max_files_per_commit, show_progress)
        _final_commit(hub, commits, root, manifest, plan, preview=preview)
        return commits.url() or _head_url(api, repo_id, target)


def _prepare_repo(
    api: Any, repo_id: str, *, private: bool | None, revision: str | None, create_pr: bool, what: str
) -> str:
    """Create the repo (and branch) if needed, apply the visibility; return the target revision."""
    api.create_repo(repo_id, repo_type=_REPO_TYPE, private=bool(private), exist_ok=True)
    if private is not None:
        _apply_visibility(api, repo_id, private=private, what=what)
    if revision is not None and not create_pr:
        refs = api.list_repo_refs(repo_id, repo_type=_REPO_TYPE)
        if revision not in {b.name for b in refs.branches}:
            api.create_branch(repo_id, branch=revision, repo_type=_REPO_TYPE, exist_ok=True)
    return revision or "main"


def _remote_files(api: Any, hub: Any, repo_id: str, target: str) -> dict[str, Any]:
    """Every file of the remote tree at ``target`` (path → ``RepoFile``)."""
    return {
        f.path: f
        for f in api.list_repo_tree(repo_id, repo_type=_REPO_TYPE, revision=target, recursive=True)
        if isinstance(f, hub.hf_api.RepoFile)
    }


@dataclass
class _Fetcher:
    """Reads the repository's own manifest and card."""

    api: Any
    repo_id: str
    target: str
    cache_dir: str | None
    remote: dict[str, Any]

    def _download(self, name: str) -> str:
        return str(
            self.api.hf_hub_download(
                self.repo_id, name, repo_type=_REPO_TYPE, revision=self.target, cache_dir=self.cache_dir
            )
        )

    def text(self, name: str) -> str | None:
        return Path(self._download(name)).read_text(encoding="utf-8") if name in self.remote else None

    def manifest(self, *, force: bool, what: str, stacklevel: int = 3) -> Manifest | None:
        """The remote manifest, `None` if there is none; an unreadable one is an error (or, with
        ``force``, a warning and `None`)."""
        if MANIFEST_NAME not in self.remote:
            return None
        try:
            return Manifest.read(self._download(MANIFEST_NAME))
        except NBError as err:
            problem = f"the repository's {MANIFEST_NAME} cannot be read ({err})"
        if not force:
            raise HubError(
                f"{what}: {problem}, so the files it lists cannot be told apart from foreign ones; "
                "nothing was uploaded. Push with force=True (--force) to replace the repository's "
                "content with this artifact (files it does not list are deleted)"
            )
        warnings.warn(
            f"{what}: {problem}; replacing it (force=True): files this artifact does not list are deleted",
            ReplacedRemoteWarning,
            stacklevel=stacklevel,
        )
        return None


def _stale_files(
    manifest: Manifest,
    remote: dict[str, Any],
    old: Manifest | None,
    *,
    force: bool,
    what: str,
    stacklevel: int = 3,
) -> list[str]:
    """Remote files the artifact does not have (deleted by the final commit).

    A repository without a manifest that holds such files is not (yet) a neurobridge artifact:
    replacing it needs ``force``.
    """
    listed = {f.path for f in manifest.files}
    stale = sorted(p for p in remote if p not in listed and p not in _CARD_FILES)
    if stale and old is None and MANIFEST_NAME not in remote:
        shown = ", ".join(stale[:3]) + (", ..." if len(stale) > 3 else "")
        if not force:
            raise HubError(
                f"{what}: the repository has no {MANIFEST_NAME} but holds {len(stale)} file(s) this "
                f"artifact does not have ({shown}); nothing was uploaded. Push to another repo, or "
                "with force=True (--force) to make it equal to the artifact (those files are deleted)"
            )
        warnings.warn(
            f"{what}: deleting {len(stale)} file(s) that are not part of the artifact ({shown}) (force=True)",
            ReplacedRemoteWarning,
            stacklevel=stacklevel,
        )
    return stale


@dataclass
class _Plan:
    """What a push does, decided before anything is uploaded."""

    remote: dict[str, Any]  # the remote files (path -> ``RepoFile``)
    todo: list[FileEntry]  # data files to upload
    stale: list[str]  # remote files to delete
    existing_card: str | None  # the remote README.md
    license: str  # the license the card states


def _plan(
    fetch: _Fetcher,
    root: Path,
    manifest: Manifest,
    lim: RepoLimits,
    *,
    verify: bool,
    force: bool,
    license: str | None,
    what: str,
) -> _Plan:
    """Compare the artifact with the remote tree: the files to upload and to delete, the card's license.

    Raises before anything is uploaded when the push would break a limit, a file to upload does
    not match the manifest, or the remote content cannot be accounted for (see ``force``).
    """
    remote = fetch.remote
    todo = [f for f in manifest.files if not _same_remote(root / f.path, f.sha256, remote.get(f.path))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TooManySmallFilesWarning)  # already said before
        check_limits(manifest, lim, n_to_upload=len(todo), extra_commits=1)
    if verify and todo:
        manifest.verify(root, paths=[f.path for f in todo])
    old = fetch.manifest(force=force, what=what, stacklevel=4)
    stale = _stale_files(manifest, remote, old, force=force, what=what, stacklevel=4)
    existing_card = fetch.text("README.md")
    lic = card_license(manifest, license=license, existing=existing_card)
    if lic == UNKNOWN_LICENSE:
        warnings.warn(
            f"{what}: the card says 'license: unknown' (the manifest has no license); set one with "
            "--license (nb hub push ... --license cc-by-4.0) or push(..., license=...)",
            NoLicenseWarning,
            stacklevel=3,
        )
    return _Plan(remote, todo, stale, existing_card, lic)


def _final_commit(
    hub: Any, commits: _Commits, root: Path, manifest: Manifest, plan: _Plan, *, preview: bool
) -> None:
    """The last commit: preview, card and manifest (when changed), deletion of the stale files."""
    repo_id, existing = commits.repo_id, plan.existing_card

    def card_text(preview_rel: str | None) -> str:
        return str(
            card(manifest, repo_id=repo_id, existing=existing, preview=preview_rel, license=plan.license)
        )

    with tempfile.TemporaryDirectory(prefix="nb-hub-card-") as tmp:
        final = _final_ops(
            hub,
            root,
            manifest,
            plan.remote,
            plan.stale,
            card_text=card_text,
            existing_card=existing,
            preview_png=_render_preview(root, manifest, Path(tmp)) if preview else None,
        )
        if final:
            commits.commit(final, "card and manifest")


def _add_op(hub: Any, path_in_repo: str, local: Path | bytes, sha256: str | None = None) -> Any:
    """A ``CommitOperationAdd``; with ``sha256`` (from the manifest) the file is not hashed again.

    ``huggingface_hub`` >= 2 computes the sha256 of a file lazily (``UploadInfo.sha256``), so
    setting it first spares a full read of the file; older versions hash when the operation is made.
    """
    op = hub.CommitOperationAdd(
        path_in_repo=path_in_repo, path_or_fileobj=local if isinstance(local, bytes) else str(local)
    )
    info = op.upload_info
    if sha256 is not None and not getattr(info, "is_hashed", True):
        info.sha256 = bytes.fromhex(sha256)
    return op


@dataclass
class _Commits:
    """Makes the push's commits, to the branch or to one pull request."""

    api: Any
    repo_id: str
    target: str
    create_pr: bool
    message: str
    last: Any = None
    pr_revision: str | None = None
    pr_url: str | None = None

    def commit(self, ops: list[Any], what: str) -> None:
        opens_pr = self.create_pr and self.pr_revision is None
        self.last = self.api.create_commit(
            self.repo_id,
            ops,
            commit_message=f"{self.message} ({what})",
            repo_type=_REPO_TYPE,
            revision=self.pr_revision or self.target,
            create_pr=opens_pr,
        )
        if opens_pr:
            self.pr_revision, self.pr_url = self.last.pr_revision, self.last.pr_url

    def url(self) -> str | None:
        if self.pr_url is not None:
            return str(self.pr_url)
        return None if self.last is None else str(self.last.commit_url)


def _upload_data(
    hub: Any, commits: _Commits, root: Path, todo: list[FileEntry], per_commit: int, show: bool | None
) -> None:
    """Upload the data files in commits of ``per_commit`` files."""
    batches = [todo[i : i + per_commit] for i in range(0, len(todo), per_commit)]
    disable = None if show is None else not show
    for i, batch in enumerate(
        progress(batches, desc=f"push {commits.repo_id}", unit="commit", disable=disable)
    ):
        ops = [_add_op(hub, f.path, root / f.path, f.sha256) for f in batch]
        commits.commit(ops, f"data {i + 1}/{len(batches)}")


def _render_preview(root: Path, manifest: Manifest, tmp: Path) -> Path | None:
    from nb_hub.preview import render_preview

    return render_preview(root, tmp / PREVIEW_NAME, manifest=manifest)


def _final_ops(
    hub: Any,
    root: Path,
    manifest: Manifest,
    remote: dict[str, Any],
    stale: list[str],
    *,
    card_text: Any,
    existing_card: str | None,
    preview_png: Path | None,
) -> list[Any]:
    """The last commit: preview, card, manifest (when changed) and the deletion of stale files."""
    ops: list[Any] = []
    if preview_png is not None and not _same_remote(preview_png, None, remote.get(PREVIEW_NAME)):
        ops.append(_add_op(hub, PREVIEW_NAME, preview_png))
    text = card_text(PREVIEW_NAME if preview_png is not None else None)
    if text != existing_card:
        ops.append(_add_op(hub, "README.md", text.encode("utf-8")))
    mpath = root / MANIFEST_NAME
    if not _same_remote(mpath, None, remote.get(MANIFEST_NAME)):
        ops.append(_add_op(hub, MANIFEST_NAME, mpath))
    ops.extend(hub.CommitOperationDelete(path_in_repo=p) for p in stale)
    return ops


def _head_url(api: Any, repo_id: str, target: str) -> str:
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
        raise HubError(
            f"{what}: the Hub accepted the visibility change but the repository is still "
            f"{'private' if info.private else 'public'}; nothing was uploaded"
        )
