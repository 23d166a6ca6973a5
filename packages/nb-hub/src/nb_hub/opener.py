"""Open a dataset from the Hub with the right reader, chosen from its manifest.

Example:
    >>> # ds = nb_hub.open("me/eeg-shards")            # streams shards over hf://
    >>> # ds = nb_hub.open("me/eeg-h5")                # pulls, then nb_formats.open
    >>> # ds = nb_hub.open("me/eeg-shards", reader="datasets", split="train")
"""

from __future__ import annotations

import os
from typing import Any

from nb_core.errors import UnsupportedFormatError, UserError
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

    The manifest (``nb-manifest.json``, downloaded alone first) decides the reader:

    - layout ``shards``: ``nb_shards.ShardDataset`` over ``hf://datasets/{repo_id}@{commit}``
      URLs (``streaming=True``, the default: shards are fetched through ``HfFileSystem`` as they
      are read, never the whole repo), or over a verified full download (``streaming=False``);
    - layouts ``hdf5``, ``zarr``, ``parquet``: pulled (verified), then ``nb_formats.open``;
    - layout ``hf`` (or ``reader="datasets"``): ``datasets.load_dataset`` on the pulled
      directory (on the ``configs:`` of its card), or with ``streaming=True`` on the repo itself.

    Args:
        repo_id (`str`): dataset repository.
        revision (`str`, *optional*): branch, tag or commit; pinned to its commit id.
        split (`str`, *optional*): split to read (shards, datasets).
        streaming (`bool`, *optional*): stream instead of downloading (default: `True` for shards).
        reader (`str`, *optional*, defaults to ``"auto"``): ``"auto"``, ``"nb"`` or ``"datasets"``.
        allow_patterns, local_dir: as for :func:`nb_hub.pull` (non-streaming reads).
        token (`str`, *optional*): Hub token. endpoint (`str`, *optional*): Hub URL.
        **kwargs: passed to the reader (``shuffle=``, ``seed=`` for shards...).

    Returns:
        The dataset object of the reader.

    Raises:
        HubNotFoundError, HubAuthError, HubConnectionError, HubServerError: as for :func:`nb_hub.pull`.
        UnsupportedFormatError: the layout has no reader here.
        DependencyMissingError: the reader's package (nb-shards, nb-formats, datasets) is missing.
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
    layout = manifest.layout
    if reader == "datasets" or (reader == "auto" and layout == "hf"):
        datasets = soft_import("datasets", "reading with the datasets library", extra="nb-hub[datasets]")
        if streaming:
            # datasets talks to datasets.config.HF_ENDPOINT (read from HF_ENDPOINT at import).
            with hub_errors(what, token=token, endpoint=where):
                return datasets.load_dataset(
                    repo_id, revision=commit, split=split, streaming=True, token=token, **kwargs
                )
        root = pull(repo_id, revision=commit, local_dir=local_dir, token=token, endpoint=endpoint)
        return datasets.load_dataset(str(root), split=split, **kwargs)
    if layout == "shards":
        nb_shards = soft_import("nb_shards", "reading nb-shards artifacts", extra="nb-shards")
        storage = {"endpoint": endpoint or hub.constants.ENDPOINT, "token": token}
        if streaming is None or streaming:
            url = f"hf://datasets/{repo_id}@{commit}"
            # opening reads the manifest and indexes over hf://: Hub and network errors become HubErrors
            with hub_errors(what, token=token, endpoint=where):
                return nb_shards.ShardDataset(url, split=split, storage_options=storage, **kwargs)
        root = pull(
            repo_id,
            revision=commit,
            local_dir=local_dir,
            allow_patterns=allow_patterns,
            token=token,
            endpoint=endpoint,
        )
        return nb_shards.ShardDataset(str(root), split=split, **kwargs)
    if layout in ("hdf5", "zarr", "parquet"):
        if streaming:
            raise UserError(
                f"layout {layout!r} is read from a local copy; streaming=True is for shards and datasets"
            )
        nb_formats = soft_import("nb_formats", f"reading {layout} artifacts", extra="nb-formats")
        root = pull(
            repo_id,
            revision=commit,
            local_dir=local_dir,
            allow_patterns=allow_patterns,
            token=token,
            endpoint=endpoint,
        )
        return nb_formats.open(root, **kwargs)
    raise UnsupportedFormatError(f"open {repo_id}: no reader for layout {layout!r}")
