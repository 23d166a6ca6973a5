"""Fuzz: mutated Recording dicts and manifests raise only NBError subclasses, and nothing hangs."""

from __future__ import annotations

import contextlib
import copy
import json
import random
import time
from typing import Any

import pytest

from nb_core import Manifest, ModalitySpec, Recording, RecordingEntry, annotation_spans
from nb_core.errors import NBError
from nb_core.testing import simulate_raw

_JUNK: list[Any] = [
    None,
    -1,
    0,
    2**70,
    1e308,
    -0.5,
    "",
    "x",
    "9" * 60,
    "../up",
    True,
    [],
    {},
    [1, [2]],
    {"a": {}},
]


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:4]):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(obj: Any, rng: random.Random) -> Any:
    d = copy.deepcopy(obj)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(d) if p]
        path = rng.choice(paths)
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        if isinstance(parent, dict) and rng.random() < 0.2:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(_JUNK))
    return d


def test_mutated_recordings_raise_only_nb_errors() -> None:
    raw = simulate_raw(n_channels=3, duration=1.0, seed=5)
    rec = Recording.from_mne(raw)
    base = rec.to_dict()
    rng = random.Random(8)
    t0, built = time.monotonic(), 0
    for _ in range(300):
        d = _mutate(base, rng)
        with contextlib.suppress(NBError):
            annotation_spans(d)
        try:
            back = Recording.from_dict(d, data=rec.data)
        except NBError:
            continue
        if built >= 25:  # MNE conversions are the slow part; 25 cover the valid mutations
            continue
        try:
            back.to_mne()
            built += 1
        except NBError:
            pass
    assert built > 10  # the mutations that stay valid still convert
    assert time.monotonic() - t0 < 60


def test_mutated_manifests_raise_only_nb_errors() -> None:
    m = Manifest(
        name="x",
        layout="shards",
        modalities={"eeg": ModalitySpec("float32", [2, 10], unit="V", sfreq=100.0, ch_names=["a", "b"])},
        recordings=[RecordingEntry("r", {"subject": "01"}, n_times=10, sfreq=100.0, n_channels=2)],
        splits={"train": 2},
        extra={
            "nb_shards": {
                "format_version": 1,
                "shards": [{"path": "a.tar", "split": "train", "n_samples": 2}],
            }
        },
    )
    m.add_entry(m.files[0] if m.files else __import__("nb_core").FileEntry("a.tar", 3, "0" * 64))
    base = m.to_dict()
    text = m.to_json().encode()
    rng = random.Random(3)
    for _ in range(300):
        d = _mutate(base, rng)
        with contextlib.suppress(NBError):
            Manifest.from_dict(d).check_consistency()
        raw = bytearray(text)
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        with contextlib.suppress(NBError):
            Manifest.from_json(bytes(raw)).check_consistency()
    with pytest.raises(NBError):
        Manifest.from_json(json.dumps(_mutate(base, random.Random(0)) | {"schema_version": "x"}))
