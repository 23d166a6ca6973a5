"""Executor set-up shared by every package that fans work out.

A local process pool by default; with ``scheduler`` set, a Dask cluster
(``dask.distributed``, and through it SLURM/PBS via dask-jobqueue). No
home-made cluster code: the result is a plain ``concurrent.futures.Executor``.

Example:
    >>> with get_executor(max_workers=0) as ex:
    ...     ex.submit(pow, 2, 10).result()
    1024
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from nb_core.validation import soft_import

__all__ = ["InlineExecutor", "default_workers", "get_executor"]


class InlineExecutor(cf.Executor):
    """Runs each call at submit time in this process (``max_workers=0``): easy to debug."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        fut: cf.Future[Any] = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        # Like concurrent.futures' own workers: whatever the call raises is delivered by its future.
        except BaseException as err:  # noqa: BLE001
            fut.set_exception(err)
        return fut


def default_workers() -> int:
    """CPUs available to this process."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def get_executor(*, scheduler: str | None = None, max_workers: int | None = None) -> Iterator[cf.Executor]:
    """Yield an executor for fan-out work, closed on exit.

    Args:
        scheduler (`str`, *optional*): address of a Dask scheduler (``tcp://host:8786``);
            needs ``pip install "nb-core[dask]"``.
        max_workers (`int`, *optional*): local processes; `0` runs inline; defaults to the CPU count.

    Example:
        >>> with get_executor(max_workers=0) as ex:  # 0: inline, in this process
        ...     list(ex.map(abs, [-1, 2]))
        [1, 2]
    """
    if scheduler:
        distributed = soft_import(
            "distributed", "Running on a Dask cluster (--scheduler)", extra="nb-core[dask]"
        )
        client = distributed.Client(scheduler)
        try:
            yield client.get_executor()
        finally:
            client.close()
        return
    if max_workers == 0:
        yield InlineExecutor()
        return
    with cf.ProcessPoolExecutor(max_workers=max_workers or default_workers()) as ex:
        yield ex
