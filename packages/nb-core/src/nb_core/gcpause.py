"""`gc_paused`: run a block with Python's cyclic garbage collector off.

Building a large index makes hundreds of thousands of small dicts, lists and tuples and no
reference cycles. Each allocation burst can start a collection that walks every object the
process holds (after ``import torch``, about a million), which cost 100 ms in a 20 ms shard-index
parse here. Reference counting still frees everything as usual inside the block.

Example:
    >>> import gc
    >>> from nb_core.gcpause import gc_paused
    >>> with gc_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (restored after it, also on errors;
    nested uses leave it as the outermost found it).

    Example:
        >>> with gc_paused():
        ...     table = [{"i": i} for i in range(1000)]
        >>> len(table)
        1000
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
