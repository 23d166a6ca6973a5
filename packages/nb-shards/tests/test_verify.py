from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nb_core.errors import ChecksumMismatchError, CorruptDataError
from nb_shards import inspect_artifact, verify


def test_verify_and_inspect(shards: Path) -> None:
    r = verify(shards)
    assert r == {"shards": 5, "samples": 120, "bytes": r["bytes"], "checksums": True}
    info = inspect_artifact(shards)
    assert info["splits"] == {"train": 120} and info["n_shards"] == 5
    assert info["first_keys"] == ["w00000", "w00001", "w00002"] and info["members"] == ["eeg.npy", "json"]
    assert verify([str(shards / "train-000000.tar")])["checksums"] is False


def test_checksum_mismatch(shards: Path) -> None:
    p = shards / "train-000002.tar"
    data = bytearray(p.read_bytes())
    data[5000] ^= 1
    p.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match=r"train-000002\.tar: sha256"):
        verify(shards)


def test_index_that_disagrees_with_its_shard(shards: Path) -> None:
    from nb_core import Manifest

    ip = shards / "train-000001.idx"
    idx = json.loads(ip.read_text())
    idx["samples"][0], idx["samples"][1] = idx["samples"][1], idx["samples"][0]
    ip.write_text(json.dumps(idx))
    m = Manifest.read(shards)
    m.add_file(shards, "train-000001.idx")  # a consistent manifest over a wrong index
    m.write(shards)
    with pytest.raises(CorruptDataError, match=r"train-000001\.tar: the index sidecar does not match"):
        verify(shards)


def test_duplicate_keys_across_shards(tmp_path: Path, write: Any) -> None:
    import numpy as np

    x = np.zeros((2, 3), "float32")
    out = write(tmp_path / "d", [{"__key__": k, "eeg.npy": x} for k in ["a", "b", "c", "a"]], max_count=2)
    with pytest.raises(CorruptDataError, match="'a' appears twice"):
        verify(out)


def test_inspect_is_a_deprecated_alias(shards: Path) -> None:
    import importlib

    import nb_shards

    v = importlib.import_module("nb_shards.verify")  # the module (nb_shards.verify is the function)

    assert "inspect" not in nb_shards.__all__ and "inspect_artifact" in nb_shards.__all__
    for mod in (nb_shards, v):
        with pytest.warns(DeprecationWarning, match="inspect_artifact"):
            f = mod.inspect
        assert f is nb_shards.inspect_artifact
        assert f(shards)["n_shards"] == 5
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nb_shards.nope  # noqa: B018
