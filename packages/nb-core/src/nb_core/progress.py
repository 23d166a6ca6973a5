"""Progress bars for long work (tqdm), quiet when asked or when not on a terminal and in CI.

Every public function that can show a bar takes one keyword, ``show_progress: bool | None = None``:
`True` shows it, `False` hides it, `None` (the default) decides from the environment
(:func:`progress_enabled`). Pass it straight on: ``progress(it, desc=..., show_progress=show_progress)``.

Example:
    >>> total = sum(progress(range(3), desc="demo", show_progress=False))
    >>> total
    3
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress", "progress_disabled", "progress_enabled"]

T = TypeVar("T")


def progress_disabled() -> bool:
    """True when bars should be hidden: ``NB_PROGRESS=0``, or stderr is not a terminal
    (``NB_PROGRESS=1`` forces them on)."""
    env = os.environ.get("NB_PROGRESS")
    if env is not None:
        return env.strip().lower() in ("0", "false", "no", "off")
    return not sys.stderr.isatty()


def progress_enabled(show_progress: bool | None = None) -> bool:
    """Whether to show a bar for a ``show_progress`` argument: the flag itself when given,
    else the environment (see :func:`progress_disabled`).

    Example:
        >>> progress_enabled(True), progress_enabled(False)
        (True, False)
    """
    if show_progress is None:
        return not progress_disabled()
    return bool(show_progress)


def progress(
    iterable: Iterable[T],
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    disable: bool | None = None,
    show_progress: bool | None = None,
    **kwargs: Any,
) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar labelled ``desc``.

    Args:
        show_progress (`bool`, *optional*): the public ``show_progress`` flag, passed on
            unchanged (`None`: decide from the environment, see :func:`progress_enabled`).
        disable (`bool`, *optional*): the opposite, tqdm-style; used when ``show_progress``
            is `None`.

    Example:
        >>> [x * 2 for x in progress(range(3), desc="doubling", show_progress=False)]
        [0, 2, 4]
    """
    if show_progress is not None:
        off = not show_progress
    elif disable is not None:
        off = disable
    else:
        off = progress_disabled()
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, disable=off, **kwargs))
