"""Pull an artifact from the Hub: pinned to one commit, cached, verified.

Example:
    >>> # path = pull("me/eeg", allow_patterns=["train-*"])
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from pathlib import Path

from nb_core.errors import HubNotFoundError
from nb_core.manifest import MANIFEST_NAME, Manifest
from nb_core.validation import soft_import
from nb_hub._endpoint import hub_bars, hub_cache_dir, resolve_endpoint
from nb_hub._errors import HubConnectionError, hub_errors

__all__ = ["pull", "resolve_commit"]

_REPO_TYPE = "dataset"


def _offline() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE")
    if env is not None:
        return env.strip().upper() in ("1", "ON", "YES", "TRUE")
    return bool(constants.is_offline_mode())


def resolve_commit(
    repo_id: str, *, revision: str | None = None, token: str | None = None, endpoint: str | None = None
) -> str:
    """The commit id that ``revision`` (default ``main``) of a dataset repo points to now.

    Raises:
        HubNotFoundError: the repo or revision does not exist (or is not visible).
        HubAuthError: the token was refused.
    """
    hub = soft_import("huggingface_hub", "reading from the Hub", extra="nb-hub")
    api = hub.HfApi(endpoint=endpoint, token=token)
    with hub_errors(
        f"resolve {repo_id}@{revision or 'main'}", token=token, endpoint=resolve_endpoint(endpoint)
    ):
        info = api.repo_info(repo_id, repo_type=_REPO_TYPE, revision=revision)
    if not info.sha:
        raise HubNotFoundError(f"resolve {repo_id}@{revision or 'main'}: the Hub returned no commit id")
    return str(info.sha)


def _matches(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or (p.endswith("/") and path.startswith(p)) for p in patterns)


def pull(
    repo_id: str,
    *,
    revision: str | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    allow_patterns: str | list[str] | None = None,
    verify: bool = True,
    token: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    show_progress: bool | None = None,
) -> Path:
    """Download an artifact (or part of it) and verify it against its manifest.

    The revision is resolved to a commit id once and every file is downloaded from that
    commit (the snapshot directory is named by it), so a push happening at the same time cannot
    mix versions. Files go to the ``huggingface_hub`` cache (or ``local_dir``); files already
    there are not downloaded again. With ``HF_HUB_OFFLINE=1`` nothing is requested and the cached
    snapshot is used. An endpoint other than huggingface.co (an emulator, a mirror) has a cache
    folder of its own, ``<HF_HUB_CACHE>/../nb-endpoints/<host>-<port>``, so its repos never mix
    with the real Hub's in the usual cache.

    Args:
        repo_id (`str`): dataset repository (``"namespace/name"``).
        revision (`str`, *optional*): branch, tag or commit (default ``main``).
        local_dir (`str` or `os.PathLike`, *optional*): download into this directory
            instead of the cache.
        allow_patterns (`str` or `list[str]`, *optional*): only files matching these glob
            patterns (``"sub-01/*"``, ``"train-*"``); the manifest always comes too.
        verify (`bool`, *optional*, defaults to `True`): check size and sha256 of every
            downloaded data file against the manifest.
        token (`str`, *optional*): Hub token (default: the usual ``huggingface_hub`` sources).
        endpoint (`str`, *optional*): Hub URL.
        cache_dir (`str` or `os.PathLike`, *optional*): ``huggingface_hub`` cache directory
            (default: the usual cache for huggingface.co, the endpoint's own folder otherwise).
        show_progress (`bool`, *optional*): ``huggingface_hub``'s download bars (default: on a
            terminal).

    Returns:
        `Path`: the artifact directory (with ``nb-manifest.json``).

    Raises:
        HubNotFoundError: repo, revision or file missing (or not cached when offline).
        HubAuthError: the token was refused.
        HubConnectionError: the Hub cannot be reached (and nothing is cached), or dropped the connection.
        HubServerError, HubLimitError: the Hub kept answering 5xx, or 429 (rate limit).
        ChecksumMismatchError: a downloaded file does not match the manifest (named).

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> import nb_formats, nb_hub
        >>> from nb_hub.testing import HubEmulator
        >>> path = tempfile.mkdtemp() + "/ds"
        >>> _ = nb_formats.write((np.zeros((4, 2, 10), "float32"), [0, 1, 0, 1]), path, sfreq=100.0)
        >>> with HubEmulator() as hub:
        ...     _ = nb_hub.push(path, "me/demo", endpoint=hub.endpoint, license="cc0-1.0", preview=False)
        ...     local = nb_hub.pull("me/demo", endpoint=hub.endpoint, local_dir=tempfile.mkdtemp())
        >>> nb_formats.verify(local).n_samples
        4
    """
    hub = soft_import("huggingface_hub", "pulling from the Hub", extra="nb-hub")
    patterns = [allow_patterns] if isinstance(allow_patterns, str) else list(allow_patterns or [])
    what = f"pull {repo_id}@{revision or 'main'}"
    offline = _offline()
    cache_dir = hub_cache_dir(endpoint, cache_dir)
    if not offline:
        # Ask the Hub first: snapshot_download would silently fall back to a cached copy on a
        # refused token or a deleted repo; nb-hub reports those (a network failure still falls
        # back to the cache, and is reported if nothing is cached).
        with contextlib.suppress(HubConnectionError):
            resolve_commit(repo_id, revision=revision, token=token, endpoint=endpoint)
    with hub_bars(show_progress), hub_errors(what, token=token, endpoint=resolve_endpoint(endpoint)):
        # snapshot_download resolves the revision to one commit id and downloads every file from
        # that commit (the snapshot directory is named by it); it also records the branch -> commit
        # ref in the cache, which offline pulls use.
        snapshot = hub.snapshot_download(
            repo_id,
            repo_type=_REPO_TYPE,
            revision=revision,
            local_dir=local_dir,
            cache_dir=cache_dir,
            allow_patterns=[*patterns, MANIFEST_NAME] if patterns else None,
            token=token,
            endpoint=endpoint,
            local_files_only=offline,
        )
    root = Path(snapshot)
    if not (root / MANIFEST_NAME).is_file():
        if verify:
            raise HubNotFoundError(
                f"{what}: the repository has no {MANIFEST_NAME}: it is not a (complete) neurobridge artifact; "
                "an interrupted push is completed by running the push again (or pass verify=False)"
            )
        return root
    if verify:
        manifest = Manifest.read(root)
        paths = [f.path for f in manifest.files if not patterns or _matches(f.path, patterns)]
        manifest.verify(root, paths=paths)
    return root
