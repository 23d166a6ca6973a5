"""`IncompleteArtifactError`, re-exported from `nb_core.errors` (where it lives) for code that
imports it from nb-shards.

It is a `nb_core.errors.CorruptDataError` (so an `IntegrityError` and a `ValueError`): code that
catches nb-core's errors catches it too.

Example:
    >>> from nb_core.errors import IntegrityError
    >>> issubclass(IncompleteArtifactError, IntegrityError)
    True
"""

from __future__ import annotations

from nb_core.errors import IncompleteArtifactError

__all__ = ["IncompleteArtifactError"]
