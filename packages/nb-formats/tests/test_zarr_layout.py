"""The sharded Zarr v3 layout: few files, plain zarr reads it, shard index checks, legacy stores."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nb_formats
from nb_core.errors import CorruptDataError
from nb_core.manifest import Manifest
from nb_formats import zarr_layout


def _arrays(n: int = 11) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(5)
    return rng.normal(0, 1e-5, size=(n, 3, 40)).astype(np.float32), [k % 3 for k in range(n)]


@pytest.mark.parametrize("zipped", [False, True], ids=["dir", "zip"])
@pytest.mark.parametrize("comp", ["none", "blosc-lz4", "zstd"])
def test_sharded_windows_and_plain_zarr_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zipped: bool, comp: str
) -> None:
    import zarr

    # 4 windows per shard, blocks of 3 windows from the input: buffering must cut whole shards.
    monkeypatch.setattr(zarr_layout, "SHARD_BYTES", 4 * 3 * 40 * 4)
    monkeypatch.setattr(nb_formats.inputs, "BLOCK_WINDOWS", 3)
    x, y = _arrays()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a zip store written twice per member warns "Duplicate name"
        out = tmp_path / "ds"
        nb_formats.write((x, y), out, format="zarr", compression=comp, zip_store=zipped)
    ds = nb_formats.open(out)
    for i in range(len(x)):
        np.testing.assert_array_equal(ds[i][0], x[i])
    files = [f.path for f in Manifest.read(out).files]
    if zipped:
        assert files == ["data.zarr.zip"]
        store: Any = zarr.storage.ZipStore(out / "data.zarr.zip", mode="r")
    else:
        shards = [f for f in files if f.startswith("data.zarr/windows/c/")]
        assert shards == [f"data.zarr/windows/c/{s}/0/0" for s in range(3)]  # 11 windows / 4 per shard
        store = str(out / "data.zarr")
    arr: Any = zarr.open(store, mode="r")["windows"]
    assert arr.shards == (4, 3, 40) and arr.chunks == (1, 3, 40)
    np.testing.assert_array_equal(arr[...], x)  # plain zarr reads what our fast path reads


def test_recordings_are_one_shard_each(tmp_path: Path, raws: list[Any]) -> None:
    import zarr

    out = tmp_path / "ds"
    nb_formats.write(raws, out, format="zarr", chunk_samples=64)
    files = [f.path for f in Manifest.read(out).files]
    assert [f for f in files if "recordings/" in f and "/c/" in f] == [
        "data.zarr/recordings/000000/c/0/0",
        "data.zarr/recordings/000001/c/0/0",
    ]
    g: Any = zarr.open(str(out / "data.zarr"), mode="r")
    for j, raw in enumerate(raws):
        a = g[f"recordings/{j:06d}"]
        assert a.chunks == (6, 64) and a.shards == (6, 64 * 5)  # 300 samples -> 5 chunks of 64
        np.testing.assert_array_equal(a[...], raw.get_data().astype(np.float32))
    ds = nb_formats.open(out, window_size=70, stride=33)  # straddles inner chunks
    np.testing.assert_array_equal(ds[3][0], raws[0].get_data()[:, 99:169].astype(np.float32))


def test_damaged_shard_index_is_named(tmp_path: Path) -> None:
    x, y = _arrays()
    out = tmp_path / "ds"
    nb_formats.write((x, y), out, format="zarr")
    shard = out / "data.zarr/windows/c/0/0/0"
    raw = bytearray(shard.read_bytes())
    raw[-10] ^= 0xFF  # inside the index: crc32c no longer matches
    shard.write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError, match=r"windows/c/0/0/0.*crc32c"):
        nb_formats.open(out)[0]
    shard.write_bytes(bytes(raw[:10]))  # shorter than its index
    with pytest.raises(CorruptDataError, match="truncated"):
        nb_formats.open(out)[0]
    shard.unlink()
    with pytest.raises(CorruptDataError, match="shard is missing"):
        nb_formats.open(out)[0]


def test_unsharded_store_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raws: list[Any]
) -> None:
    """Stores written before sharding (one chunk per key) keep working."""
    orig = zarr_layout.ZarrSink._array

    def unsharded(self: Any, group: Any, name: str, shape: Any, chunks: Any, shards: Any) -> Any:
        return orig(self, group, name, shape, chunks, None)

    monkeypatch.setattr(zarr_layout.ZarrSink, "_array", unsharded)
    x, y = _arrays()
    out = tmp_path / "w"
    nb_formats.write((x, y), out, format="zarr")
    assert (out / "data.zarr/windows/c/10/0/0").is_file()  # one file per window
    ds = nb_formats.open(out)
    np.testing.assert_array_equal(np.stack([ds[i][0] for i in range(len(ds))]), x)
    out2 = tmp_path / "r"
    nb_formats.write(raws, out2, format="zarr", zip_store=True, chunk_samples=64)
    np.testing.assert_array_equal(nb_formats.open(out2)[1][0], raws[1].get_data().astype(np.float32))
