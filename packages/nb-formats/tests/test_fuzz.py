"""Fuzz: mutated HDF5, Zarr and NumPy+Parquet artifacts (fixed seed, bounded time).

Every case copies a small artifact, damages one file (flipped bytes, a zeroed range, a
truncation, garbage appended, or a JSON field of the manifest or metadata replaced by a value of
another type), then opens it, reads every item and recording, converts it and verifies it. Only
``NBError`` subclasses may escape, and no case may hang (``SIGALRM`` per case).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nb_formats
from nb_core.errors import NBError
from nb_core.testing import DeadlineExceeded, deadline, simulate_windows

#: Wall-clock budget of the whole fuzz run, and of one case.
BUDGET_S = 18.0
CASE_S = 5
_ODD_VALUES: list[Any] = [None, -1, 10**30, "x", [], {}, True, 1.5, "../../etc/passwd", [1, 2], {"a": 1}]


def _mutate_bytes(path: Path, rng: np.random.Generator) -> str:
    data = bytearray(path.read_bytes())
    kind = rng.choice(["flip", "zero", "truncate", "append"])
    if not data:
        kind = "append"
    if kind == "flip":
        for _ in range(int(rng.integers(1, 9))):
            data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
    elif kind == "zero":
        a = int(rng.integers(len(data)))
        data[a : a + int(rng.integers(1, 256))] = bytes(min(len(data) - a, 256))[: len(data[a : a + 256])]
    elif kind == "truncate":
        data = data[: int(rng.integers(len(data)))]
    else:
        data += bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8))
    path.write_bytes(bytes(data))
    return f"{kind} {path.name}"


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:4]):
            out += _paths(v, (*prefix, i))
    return out


def _mutate_json(path: Path, rng: np.random.Generator) -> str:
    doc = json.loads(path.read_bytes())
    paths = _paths(doc)
    where = paths[int(rng.integers(len(paths)))]
    parent = doc
    for k in where[:-1]:
        parent = parent[k]
    parent[where[-1]] = _ODD_VALUES[int(rng.integers(len(_ODD_VALUES)))]
    path.write_text(json.dumps(doc))
    return f"json {path.name} {'.'.join(map(str, where))}"


def _exercise(path: Path, tmp: Path) -> None:
    ds = nb_formats.open(path)
    for i in range(len(ds)):
        ds[i]
        ds.sample(i)
    for j in range(ds.n_recordings):
        ds.recording(j)
    ds.close()
    shutil.rmtree(tmp / "conv", ignore_errors=True)
    nb_formats.convert(path, tmp / "conv", format="parquet")
    nb_formats.verify(path)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("fuzz")
    data = simulate_windows(1, n_channels=3, sfreq=100.0, duration=2.0, window_size=50, seed=9)
    raw_recs = data[0]

    def write(data: Any, out: Path, **options: Any) -> Path:
        nb_formats.write(data, out, **options)
        return out

    return {
        "hdf5": write(data, base / "h5", format="hdf5"),
        "hdf5-none": write(raw_recs, base / "h5n", format="hdf5", compression="none"),
        "zarr": write(data, base / "zarr", format="zarr", compression="zstd"),
        "zarr-zip": write(data, base / "zip", format="zarr", zip_store=True),
        "parquet": write(data, base / "pq", format="parquet"),
        "arrays": write((np.ones((4, 2, 10), np.float32), [0, 1, 2, 3]), base / "arr", format="hdf5"),
    }


def test_mutated_artifacts_raise_only_nb_errors(tmp_path: Path, artifacts: dict[str, Path]) -> None:
    rng = np.random.default_rng(20260101)
    names = sorted(artifacts)
    start = time.monotonic()
    cases = 0
    escaped: list[str] = []
    while time.monotonic() - start < BUDGET_S and cases < 400:
        name = names[cases % len(names)]
        case = tmp_path / f"case{cases}"
        shutil.copytree(artifacts[name], case)
        files = sorted(p for p in case.rglob("*") if p.is_file())
        target = files[int(rng.integers(len(files)))]
        json_file = target.name in ("nb-manifest.json", "meta.json", "zarr.json")
        what = _mutate_json(target, rng) if json_file and rng.random() < 0.7 else _mutate_bytes(target, rng)
        try:
            with deadline(CASE_S):
                _exercise(case, tmp_path)
        except NBError:
            pass
        except DeadlineExceeded as err:
            escaped.append(f"{name}: {what}: HANG {err}")
        except Exception as err:  # noqa: BLE001  (any other exception is what this test catches)
            escaped.append(f"{name}: {what}: {type(err).__name__}: {err}")
        shutil.rmtree(case, ignore_errors=True)
        cases += 1
    assert cases >= 30, f"only {cases} cases ran in {BUDGET_S} s"
    assert not escaped, "\n".join(escaped[:20])
