from __future__ import annotations

import contextlib
import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from nb_core import Sample
from nb_core.errors import ChecksumMismatchError
from nb_shards import IndexedShards, ShardDataset, ShardLoader, SkippedSampleWarning
from nb_shards.source import ShardCache


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """A local HTTP server over ``root`` (127.0.0.1), for https-style streaming."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_file_urls(shards: Path) -> None:
    keys = [s["__key__"] for s in ShardDataset(f"file://{shards}")]
    assert keys == [f"w{i:05d}" for i in range(120)]
    one = IndexedShards([f"file://{shards}/train-000002.tar"])
    assert len(one) == 25 and one[0]["__key__"] == "w00050"


def test_http_streaming_with_bounded_cache(shards: Path, tmp_path: Path, eeg_samples: list[Sample]) -> None:
    cache = tmp_path / "cache"
    shard_size = (shards / "train-000000.tar").stat().st_size
    with serve(shards.parent) as base:
        ds = ShardDataset(
            f"{base}/ds",
            shuffle=True,
            seed=2,
            shuffle_window=1,
            cache_dir=cache,
            cache_size=2 * shard_size + 1,
        )
        got = {s["__key__"]: s for s in ds}
        assert len(got) == 120
        np.testing.assert_array_equal(got["w00077"]["eeg"], eeg_samples[77].arrays["eeg"])
        files = [p for p in cache.iterdir() if p.is_file()]
        assert 1 <= len(files) <= 2  # the cache never holds more than its bound
        assert ShardCache(cache, 2 * shard_size + 1).total_bytes() <= 2 * shard_size + 1
        # a list of shard URLs works too, and the loader resumes over http as well
        urls = [f"{base}/ds/train-{i:06d}.tar" for i in range(5)]
        assert len(IndexedShards(urls, cache_dir=cache)) == 120
        ld = ShardLoader(f"{base}/ds", batch_size=8, shuffle=True, seed=2, cache_dir=cache, decode="numpy")
        full = [b["__key__"] for b in ld]
        ld2 = ShardLoader(f"{base}/ds", batch_size=8, shuffle=True, seed=2, cache_dir=cache, decode="numpy")
        it = iter(ld2)
        head = [next(it)["__key__"] for _ in range(4)]
        st = ld2.state_dict()
        ld3 = ShardLoader(f"{base}/ds", batch_size=8, shuffle=True, seed=2, cache_dir=cache, decode="numpy")
        ld3.load_state_dict(st)
        assert head + [b["__key__"] for b in ld3] == full


def test_download_is_verified_against_the_manifest(shards: Path, tmp_path: Path) -> None:
    p = shards / "train-000003.tar"
    data = bytearray(p.read_bytes())
    data[-2000] ^= 0xFF  # same size, different bytes
    p.write_bytes(bytes(data))
    with serve(shards.parent) as base:
        ds = IndexedShards(f"{base}/ds", cache_dir=tmp_path / "c")
        assert ds[0]["__key__"] == "w00000"
        with pytest.raises(ChecksumMismatchError, match="train-000003.tar: sha256"):
            ds[80]
        skipping = ShardDataset(f"{base}/ds", cache_dir=tmp_path / "c", on_error="skip")
        with pytest.warns(SkippedSampleWarning, match="sha256"):
            keys = [s["__key__"] for s in skipping]
        assert len(keys) == 95 and skipping.skipped == 25
    assert not [q for q in (tmp_path / "c").iterdir() if "000003" in q.name]


def test_hub_streaming_through_hf_urls(shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("nb_hub.testing")
    from huggingface_hub import HfApi

    from nb_hub.testing import HubEmulator

    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    with HubEmulator() as emu, emu.configure_clients():
        api = HfApi(endpoint=emu.endpoint, token="t")
        api.create_repo("org/eeg-shards", repo_type="dataset")
        api.upload_folder(folder_path=str(shards), repo_id="org/eeg-shards", repo_type="dataset")
        opts = {"endpoint": emu.endpoint, "token": "t"}
        url = "hf://datasets/org/eeg-shards"
        ld = ShardLoader(
            url,
            batch_size=10,
            shuffle=True,
            seed=4,
            storage_options=opts,
            cache_dir=tmp_path / "c",
            decode="numpy",
        )
        keys = [k for b in ld for k in b["__key__"]]
        assert sorted(keys) == [f"w{i:05d}" for i in range(120)]
        from huggingface_hub import HfFileSystem

        fs = HfFileSystem(endpoint=emu.endpoint, token="t")
        assert "datasets/org/eeg-shards/train-000004.tar" in fs.ls("datasets/org/eeg-shards", detail=False)
        one = IndexedShards(
            ["hf://datasets/org/eeg-shards/train-000004.tar"], storage_options=opts, cache_dir=tmp_path / "c2"
        )
        assert one.key(19) == "w00119"


def test_cache_dir_default_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from nb_shards.source import default_cache_dir

    monkeypatch.setenv("NB_SHARDS_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("NB_SHARDS_CACHE")
    assert default_cache_dir() == Path(os.path.expanduser("~")) / ".cache" / "nb-shards"


def test_s3_without_s3fs_says_what_to_install() -> None:
    import importlib.util

    from nb_core.errors import DependencyMissingError

    if importlib.util.find_spec("s3fs") is not None:
        pytest.skip("s3fs is installed")
    with pytest.raises(DependencyMissingError, match="s3fs"):
        ShardDataset("s3://bucket/eeg-shards")


@pytest.mark.parametrize("kind", ["error", "drop"])
def test_streamed_read_failures_are_hub_errors(
    shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A 5xx or a dropped connection while a streamed dataset downloads a shard is a HubError
    (try again), not a CorruptDataError nor a raw HTTP client exception."""
    pytest.importorskip("nb_hub.testing")
    import time
    import types

    from huggingface_hub import HfApi
    from huggingface_hub.utils import _http

    from nb_core.errors import HubError, IntegrityError
    from nb_hub.testing import HubEmulator

    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    # huggingface_hub retries 5xx and dropped connections with backoff: the same retries, no waits
    monkeypatch.setattr(_http, "time", types.SimpleNamespace(**{**vars(time), "sleep": lambda s: None}))
    with HubEmulator() as emu, emu.configure_clients():
        api = HfApi(endpoint=emu.endpoint, token="t")
        api.create_repo("org/eeg-shards", repo_type="dataset")
        api.upload_folder(folder_path=str(shards), repo_id="org/eeg-shards", repo_type="dataset")
        opts = {"endpoint": emu.endpoint, "token": "t"}
        ds = IndexedShards("hf://datasets/org/eeg-shards", storage_options=opts, cache_dir=tmp_path / "c")
        emu.inject("resolve", kind=kind, status=503, times=50, path_contains="train-000002.tar", method="GET")
        with pytest.raises(HubError, match=r"train-000002.tar: could not download the shard") as info:
            ds[60]
        assert not isinstance(info.value, IntegrityError)
        assert ("503" in str(info.value)) == (kind == "error")


def test_parsed_indexes_are_bounded(shards: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A source keeps at most MAX_INDEXES parsed indexes (least recently used dropped): an epoch
    over more shards still reads every sample, parsing a dropped index again when needed."""
    import nb_shards.source as source_mod

    monkeypatch.setattr(source_mod, "MAX_INDEXES", 2)
    ds = ShardDataset(shards, shuffle=True, seed=1, shuffle_window=1)
    keys = [s["__key__"] for s in ds]
    assert sorted(keys) == sorted(s["__key__"] for s in ShardDataset(shards))
    held = ds.source._indexes
    assert len(held) == 2
    oldest = next(iter(held))
    ds.source.index(oldest)  # used again: now the most recent
    assert list(held)[-1] == oldest and len(held) == 2
