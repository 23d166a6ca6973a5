"""Open a dataset from the Hub with the reader its layout registers (``nb.layouts``).

nb-hub knows no layout by name: the manifest's ``layout`` is looked up in
:mod:`nb_core.layouts`, whose entries the installed packages provide (nb-shards, nb-formats,
nb-bids, or your own).

Example:
    >>> # ds = nb_hub.open("me/eeg-shards")            # streams shards over hf://
    >>> # ds = nb_hub.open("me/eeg-h5")                # pulls, then nb_formats.open
    >>> # ds = nb_hub.open("me/eeg-shards", reader="datasets", split="train")
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from nb_core.errors import UnsupportedFormatError, UserError
from nb_core.layouts import Layout, get_layout
from nb_core.manifest import MANIFEST_NAME, Manifest
from nb_core.validation import check_option, soft_import
from nb_hub._endpoint import hub_cache_dir, resolve_endpoint
from nb_hub._errors import hub_errors
from nb_hub.pull import _offline, pull, resolve_commit

__all__ = ["open"]

_READERS = ("auto", "nb", "datasets")


def open(
    repo_id: str,
    *,
    revision: str | None = None,
    split: str | None = None,
    streaming: bool | None = None,
    reader: str = "auto",
    allow_patterns: str | list[str] | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    **kwargs: Any,
) -> Any:
    """Open a neurobridge dataset on the Hub.

    The manifest (``nb-manifest.json``, downloaded alone first) names the layout, and the layout
    registered under that name (:func:`nb_core.layouts.get_layout`) opens it:

    - a layout that streams (``open_url``, e.g. nb-shards' ``shards``) is opened over
      ``hf://datasets/{repo_id}@{commit}`` URLs (files are fetched through ``HfFileSystem`` as they
      are read, never the whole repo) unless ``streaming=False``;
    - otherwise the repo is pulled (verified) and the layout's ``open`` reads the local copy
      (nb-formats' ``hdf5``, ``zarr``, ``parquet``: ``nb_formats.open``);
    - ``reader="datasets"``: ``datasets.load_dataset`` on the pulled directory (on the ``configs:``
      of its card), or with ``streaming=True`` on the repo itself.

    Args:
        repo_id (`str`): dataset repository.
        revision (`str`, *optional*): branch, tag or commit; pinned to its commit id.
        split (`str`, *optional*): split to read (shards, datasets).
        streaming (`bool`, *optional*): stream instead of downloading (default: stream when the
            layout can).
        reader (`str`, *optional*, defaults to ``"auto"``): ``"auto"``, ``"nb"`` or ``"datasets"``.
        allow_patterns, local_dir: as for :func:`nb_hub.pull` (non-streaming reads).
        token (`str`, *optional*): Hub token. endpoint (`str`, *optional*): Hub URL.
        **kwargs: passed to the layout's reader (``shuffle=``, ``seed=`` for shards...).

    Returns:
        The dataset object of the reader.

    Raises:
        HubNotFoundError, HubAuthError, HubConnectionError, HubServerError: as for :func:`nb_hub.pull`.
        UnsupportedFormatError: no installed package registers the layout (the message names the
            ``pip install`` that adds it).
        DependencyMissingError: ``datasets`` is missing (``reader="datasets"``).

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> import nb_formats, nb_hub
        >>> from nb_hub.testing import HubEmulator
        >>> path = tempfile.mkdtemp() + "/ds"
        >>> _ = nb_formats.write((np.zeros((4, 2, 10), "float32"), [0, 1, 0, 1]), path, sfreq=100.0)
        >>> with HubEmulator() as hub:
        ...     _ = nb_hub.push(path, "me/demo", endpoint=hub.endpoint, license="cc0-1.0", preview=False)
        ...     ds = nb_hub.open("me/demo", endpoint=hub.endpoint)  # the layout's reader: nb_formats.open
        ...     x, y = ds[1]
        >>> type(ds).__name__, len(ds), x.shape, y
        ('LazyDataset', 4, (2, 10), 1)
    """
    check_option(reader, _READERS, name="reader")
    hub = soft_import("huggingface_hub", "opening a Hub dataset", extra="nb-hub")
    commit = (
        revision if _offline() else resolve_commit(repo_id, revision=revision, token=token, endpoint=endpoint)
    )
    what = f"open {repo_id}@{revision or 'main'}"
    where = resolve_endpoint(endpoint)
    with hub_errors(what, token=token, endpoint=where):
        mpath = hub.hf_hub_download(
            repo_id,
            MANIFEST_NAME,
            repo_type="dataset",
            revision=commit,
            token=token,
            endpoint=endpoint,
            cache_dir=hub_cache_dir(endpoint, None),
        )
    manifest = Manifest.read(mpath)
    pulled: dict[str, Any] = {
        "revision": commit,
        "local_dir": local_dir,
        "token": token,
        "endpoint": endpoint,
    }
    if reader == "datasets":
        return _open_datasets(repo_id, what, where, split, streaming, pulled, kwargs)
    layout = _layout_of(manifest, repo_id)
    kwargs = _with_split(layout, split, kwargs)
    if streaming is not False and layout.open_url is not None:
        storage = {"endpoint": endpoint or hub.constants.ENDPOINT, "token": token}
        url = f"hf://datasets/{repo_id}@{commit}"
        # opening reads the manifest and indexes over hf://: Hub and network errors become HubErrors
        with hub_errors(what, token=token, endpoint=where):
            return layout.open_url(url, storage_options=storage, **kwargs)
    if streaming:
        raise UserError(
            f"layout {layout.name!r} is read from a local copy; streaming=True needs a layout that "
            "streams (one with open_url, such as 'shards') or reader='datasets'"
        )
    root = pull(repo_id, allow_patterns=allow_patterns, **pulled)
    return layout.open(root, **kwargs)


def _layout_of(manifest: Manifest, repo_id: str) -> Layout:
    """The registered layout of the manifest, or an error that says what to install."""
    try:
        return get_layout(manifest.layout)
    except UnsupportedFormatError as err:
        alt = (
            "; or read it with plain datasets: nb_hub.open(..., reader='datasets')"
            if manifest.extra.get("hf_configs")
            else ""
        )
        raise UnsupportedFormatError(f"open {repo_id}: {err}{alt}") from None


def _with_split(layout: Layout, split: str | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with ``split`` when given (refused for a reader that has no splits)."""
    if split is None:
        return kwargs
    params = inspect.signature(layout.open).parameters
    if "split" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise UserError(f"layout {layout.name!r} has no splits to choose; drop split={split!r}")
    return {**kwargs, "split": split}


def _open_datasets(
    repo_id: str,
    what: str,
    where: str,
    split: str | None,
    streaming: bool | None,
    pulled: dict[str, Any],
    kwargs: dict[str, Any],
) -> Any:
    """``datasets.load_dataset`` on the repo (streaming) or on a verified download."""
    datasets = soft_import("datasets", "reading with the datasets library", extra="nb-hub[datasets]")
    if streaming:
        # datasets talks to datasets.config.HF_ENDPOINT (read from HF_ENDPOINT at import).
        with hub_errors(what, token=pulled["token"], endpoint=where):
            return datasets.load_dataset(
                repo_id,
                revision=pulled["revision"],
                split=split,
                streaming=True,
                token=pulled["token"],
                **kwargs,
            )
    root = pull(repo_id, **pulled)
    return datasets.load_dataset(str(root), split=split, **kwargs)
