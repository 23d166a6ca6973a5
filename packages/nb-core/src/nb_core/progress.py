"""Progress bars for long work (tqdm), quiet when asked or when not on a terminal and in CI.

Example:
    >>> total = sum(progress(range(3), desc="demo", disable=True))
    >>> total
    3
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress", "progress_disabled"]

T = TypeVar("T")


def progress_disabled() -> bool:
    """True when bars should be hidden: ``NB_PROGRESS=0``, or stderr is not a terminal
    (``NB_PROGRESS=1`` forces them on)."""
    env = os.environ.get("NB_PROGRESS")
    if env is not None:
        return env.strip().lower() in ("0", "false", "no", "off")
    return not sys.stderr.isatty()


def progress(
    iterable: Iterable[T],
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    disable: bool | None = None,
    **kwargs: Any,
) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar labelled ``desc``."""
    return iter(
        tqdm(
            iterable,
            desc=desc,
            total=total,
            unit=unit,
            disable=progress_disabled() if disable is None else disable,
            **kwargs,
        )
    )
