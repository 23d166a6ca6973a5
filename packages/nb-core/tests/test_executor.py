from __future__ import annotations

import concurrent.futures as cf
import os

import pytest

from nb_core.errors import DependencyMissingError
from nb_core.executor import InlineExecutor, default_workers, get_executor


def _square(x: int) -> int:
    return x * x


def test_process_pool_and_inline() -> None:
    with get_executor(max_workers=2) as ex:
        assert isinstance(ex, cf.ProcessPoolExecutor)
        assert list(ex.map(_square, range(5))) == [0, 1, 4, 9, 16]
    with get_executor(max_workers=0) as ex:
        assert isinstance(ex, InlineExecutor)
        fut = ex.submit(int, "x")
        with pytest.raises(ValueError):
            fut.result()
    assert default_workers() >= 1


def test_dask_scheduler(tmp_path) -> None:  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
            local_directory=os.fspath(tmp_path),
        ) as cluster,
        get_executor(scheduler=cluster.scheduler_address) as ex,
    ):
        assert ex.submit(_square, 7).result() == 49


def test_dask_missing_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with (
        pytest.raises(DependencyMissingError, match="nb-core\\[dask\\]"),
        get_executor(scheduler="tcp://x:1"),
    ):
        pass
