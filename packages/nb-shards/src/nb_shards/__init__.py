"""nb-shards: WebDataset-compatible tar shards and an exactly resumable, distributed loader.

Importing this package does not import torch, datasets, huggingface_hub or mne.

Example:
    >>> import tempfile, numpy as np
    >>> import nb_shards
    >>> out = tempfile.mkdtemp()
    >>> with nb_shards.ShardWriter(out, max_count=4) as w:
    ...     for i in range(6):
    ...         w.write({"__key__": f"k{i}", "eeg.npy": np.zeros((2, 8), "float32"), "json": {"y": i}})
    >>> len(nb_shards.IndexedShards(out))
    6
"""

from importlib.metadata import version as _version
from typing import Any as _Any

from nb_shards.convert import write
from nb_shards.dataset import IndexedShards, ShardDataset, SkippedSampleWarning, collate
from nb_shards.errors import IncompleteArtifactError
from nb_shards.loader import ShardLoader
from nb_shards.mixture import Mixture
from nb_shards.verify import inspect_artifact, verify
from nb_shards.writer import ShardWriter

__version__ = _version("nb-shards")

# The user API. Internals stay importable from their modules: ``nb_shards.index.build_index`` /
# ``ShardIndex``, ``nb_shards.source.resolve_source`` / ``ShardCache``, ``nb_shards.order.epoch_order``.
__all__ = [
    "IncompleteArtifactError",
    "IndexedShards",
    "Mixture",
    "ShardDataset",
    "ShardLoader",
    "ShardWriter",
    "SkippedSampleWarning",
    "__version__",
    "collate",
    "inspect_artifact",
    "verify",
    "write",
]


def __getattr__(name: str) -> _Any:
    """``nb_shards.inspect``: the former name of :func:`inspect_artifact` (deprecated)."""
    if name == "inspect":
        import warnings

        warnings.warn(
            "nb_shards.inspect is deprecated (its name is the standard-library module's); "
            "use nb_shards.inspect_artifact",
            DeprecationWarning,
            stacklevel=2,
        )
        return inspect_artifact
    raise AttributeError(f"module 'nb_shards' has no attribute {name!r}")
