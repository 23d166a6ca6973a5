"""Fuzzing: mutated tars, index sidecars and manifests. Whatever the bytes, readers, ``verify``
and ``inspect_artifact`` raise only project errors (``NBError``) and never hang.

Fixed seed, bounded time (the loop stops after ``BUDGET_S``); each read runs under a deadline.
"""

from __future__ import annotations

import json
import random
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nb_core.errors import NBError
from nb_core.testing import deadline
from nb_shards import IndexedShards, ShardDataset, ShardWriter, inspect_artifact, verify

N_CASES = 300
BUDGET_S = 20.0


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "base"
    with ShardWriter(out, max_count=3) as w:
        for i in range(7):
            w.write(
                {"__key__": f"k{i}", "eeg.npy": np.full((2, 3), i, "float32"), "json": {"y": i, "s": "x" * i}}
            )
    return out


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    op = rng.randrange(6)
    if op == 0 and b:  # flip bytes
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 1 and b:  # truncate
        del b[rng.randrange(len(b)) :]
    elif op == 2:  # insert junk
        pos = rng.randrange(len(b) + 1)
        b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 600)))
    elif op == 3 and len(b) >= 512:  # a header field: size, checksum, type or name
        head = rng.randrange(len(b) // 512) * 512
        start, end = rng.choice([(124, 136), (148, 156), (156, 157), (0, 100), (345, 500)])
        field = rng.choice(
            [
                b"\xff" * (end - start),
                b"\x80" + bytes(end - start - 1),
                b"7" * (end - start),
                bytes(end - start),
            ]
        )
        b[head + start : head + end] = field
    elif op == 4 and b:  # duplicate a block elsewhere
        a = rng.randrange(len(b))
        b[rng.randrange(len(b)) :] = b[a : a + rng.randint(1, 1024)]
    else:  # swap two 512-byte blocks
        if len(b) >= 1024:
            i, j = rng.randrange(len(b) // 512) * 512, rng.randrange(len(b) // 512) * 512
            b[i : i + 512], b[j : j + 512] = b[j : j + 512], b[i : i + 512]
    return bytes(b)


_WEIRD: list[Any] = [
    None,
    True,
    -1,
    0,
    10**40,
    2.5,
    "",
    "../x",
    "/etc/passwd",
    "a" * 5000,
    [],
    {},
    [[1, 2]],
    {"a": [1]},
    "not-a-dtype",
]


def _mutate_json(rng: random.Random, obj: Any) -> Any:
    """Replace one random value somewhere in ``obj`` by a weird one."""
    paths: list[tuple[Any, Any]] = []
    stack = [obj]
    while stack:
        node = stack.pop()
        items = (
            list(node.items())
            if isinstance(node, dict)
            else list(enumerate(node))
            if isinstance(node, list)
            else []
        )
        for k, v in items:
            paths.append((node, k))
            stack.append(v)
    if not paths:
        return rng.choice(_WEIRD)
    node, k = rng.choice(paths)
    if isinstance(node, dict) and rng.random() < 0.2:
        del node[k]
    else:
        node[k] = rng.choice(_WEIRD)
    return obj


def _read_all(d: Path) -> None:
    for call in (
        lambda: [IndexedShards(d)[i] for i in range(len(IndexedShards(d)))],
        lambda: list(ShardDataset(d, shuffle=True, batch_size=2)),
        lambda: verify(d),
        lambda: inspect_artifact(d),
        lambda: list(ShardDataset(sorted(str(p) for p in d.glob("*.tar*")))),
    ):
        try:
            with deadline(3):
                call()
        except NBError:
            pass


def test_fuzz_only_project_errors_and_no_hang(base: Path, tmp_path: Path) -> None:
    rng = random.Random(20261202)
    t0 = time.monotonic()
    done = 0
    for case in range(N_CASES):
        if time.monotonic() - t0 > BUDGET_S:
            break
        d = tmp_path / f"c{case}"
        shutil.copytree(base, d)
        kind = case % 4
        if kind == 0:  # a tar, its index kept
            p = d / f"train-00000{rng.randrange(3)}.tar"
            p.write_bytes(_mutate_bytes(rng, p.read_bytes()))
        elif kind == 1:  # a tar without its index (read by scanning headers)
            k = rng.randrange(3)
            (d / f"train-00000{k}.idx").unlink()
            p = d / f"train-00000{k}.tar"
            p.write_bytes(_mutate_bytes(rng, p.read_bytes()))
        elif kind == 2:  # an index sidecar
            p = d / f"train-00000{rng.randrange(3)}.idx"
            if rng.random() < 0.5:
                p.write_bytes(_mutate_bytes(rng, p.read_bytes()))
            else:
                p.write_text(json.dumps(_mutate_json(rng, json.loads(p.read_text()))))
        else:  # the manifest
            p = d / "nb-manifest.json"
            if rng.random() < 0.3:
                p.write_bytes(_mutate_bytes(rng, p.read_bytes()))
            else:
                p.write_text(json.dumps(_mutate_json(rng, json.loads(p.read_text()))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _read_all(d)
            except Exception as err:  # pragma: no cover - the failure report
                raise AssertionError(
                    f"case {case} (kind {kind}, {p.name}): {type(err).__name__}: {err}"
                ) from err
        shutil.rmtree(d)
        done += 1
    print(f"{done} fuzz cases in {time.monotonic() - t0:.1f} s")
    assert done >= 60, f"only {done} cases ran in {BUDGET_S} s"
