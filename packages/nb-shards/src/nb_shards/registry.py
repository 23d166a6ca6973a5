"""The ``shards`` layout (WebDataset tar shards) for the registry of nb-core.

Declared in the ``nb.layouts`` entry-point group, so ``nb_core.layouts.get_layout("shards")`` (and
through it ``nb_hub.open``, the dataset card and its preview) finds it once nb-shards is installed.
Local artifacts open as :class:`nb_shards.ShardDataset`; ``hf://`` and other fsspec URLs stream
without a full download (``open_url``).

Example:
    >>> from nb_core.layouts import get_layout
    >>> get_layout("shards").section_name
    'nb_shards'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.layouts import Layout, manifest_configs
from nb_core.manifest import Manifest

__all__ = ["SHARDS"]


def _open(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    from nb_shards.dataset import ShardDataset

    return ShardDataset(os.fspath(path), **kwargs)


def _open_url(url: str, *, storage_options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    from nb_shards.dataset import ShardDataset

    return ShardDataset(url, storage_options=storage_options, **kwargs)


def _preview(path: Path, manifest: Manifest) -> dict[str, np.ndarray]:
    """Named arrays of the first sample of the first shard (empty when there is none)."""
    from nb_shards.dataset import IndexedShards

    ds = IndexedShards(os.fspath(path))
    if len(ds) == 0:
        return {}
    return {k: v for k, v in ds[0].items() if isinstance(v, np.ndarray) and not k.startswith("__")}


def _verify(path: Path, manifest: Manifest) -> None:
    from nb_shards.verify import verify

    verify(os.fspath(path))


#: WebDataset-compatible tar shards with their index and manifest.
SHARDS = Layout(
    name="shards",
    package="nb-shards",
    open=_open,
    open_url=_open_url,
    section_name="nb_shards",
    hf_configs=manifest_configs,
    preview=_preview,
    verify=_verify,
    description="WebDataset tar shards (nb-shards): streaming, shuffled, distributed reads",
    card_tags=("webdataset",),
    card_text=(
        "The shards are WebDataset tar files (`key.<modality>.npy` + `key.json` per sample); they can "
        "be streamed with `nb_shards.ShardDataset` over `hf://` URLs without a full download."
    ),
)
