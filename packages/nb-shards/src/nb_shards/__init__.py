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

from nb_shards.dataset import IndexedShards, ShardDataset, SkippedSampleWarning, collate
from nb_shards.index import ShardIndex, build_index
from nb_shards.loader import ShardLoader
from nb_shards.order import epoch_order
from nb_shards.source import ShardCache, resolve_source
from nb_shards.verify import inspect, verify
from nb_shards.writer import ShardWriter

__version__ = _version("nb-shards")

__all__ = [
    "IndexedShards",
    "ShardCache",
    "ShardDataset",
    "ShardIndex",
    "ShardLoader",
    "ShardWriter",
    "SkippedSampleWarning",
    "__version__",
    "build_index",
    "collate",
    "epoch_order",
    "inspect",
    "resolve_source",
    "verify",
]
