"""The one error nb-shards defines on top of `nb_core.errors` (to move there).

`IncompleteArtifactError` is a `nb_core.errors.CorruptDataError` (so an `IntegrityError` and
a `ValueError`): code that catches nb-core's errors catches it too.

Example:
    >>> from nb_core.errors import IntegrityError
    >>> issubclass(IncompleteArtifactError, IntegrityError)
    True
"""

from __future__ import annotations

from nb_core.errors import CorruptDataError

__all__ = ["IncompleteArtifactError"]


class IncompleteArtifactError(CorruptDataError):
    """The artifact's write has not finished (no manifest yet); run the write again to finish it."""
