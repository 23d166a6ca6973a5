"""The torch wrapper of a `ShardDataset`: a `torch.utils.data.IterableDataset` (imports torch
only when used; `nb_shards.dataset` and `nb_shards.loader` both use it, neither imports the other
for it).

Example:
    >>> import tempfile, numpy as np
    >>> from nb_shards.writer import ShardWriter
    >>> from nb_shards.dataset import ShardDataset
    >>> out = tempfile.mkdtemp()
    >>> with ShardWriter(out) as w:
    ...     w.write({"__key__": "a", "x.npy": np.zeros(3, "float32")})
    >>> it = torch_iterable(ShardDataset(out))
    >>> len(it), next(iter(it))["__key__"]
    (1, 'a')
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from nb_core.validation import soft_import

if TYPE_CHECKING:
    from nb_shards.dataset import ShardDataset

__all__ = ["torch_iterable"]

_torch_cls: Any = None


def _iterable_class() -> Any:
    global _torch_cls
    if _torch_cls is None:
        torch = soft_import("torch", "ShardLoader / ShardDataset.to_torch()")

        class _TorchShards(torch.utils.data.IterableDataset):  # type: ignore[name-defined]
            def __init__(self, ds: ShardDataset, start: int | None = None) -> None:
                self.ds = ds
                self.begin = ds.start if start is None else start

            def __iter__(self) -> Iterator[Any]:
                return self.ds.iter_from(self.begin)

            def __len__(self) -> int:
                return self.ds.n_batches(self.begin)

        _torch_cls = _TorchShards
    return _torch_cls


def torch_iterable(ds: ShardDataset, start: int | None = None) -> Any:
    """Wrap a `ShardDataset` as a `torch.utils.data.IterableDataset` (from global position
    ``start``, default the dataset's own)."""
    return _iterable_class()(ds, start)
