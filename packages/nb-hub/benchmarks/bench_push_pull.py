"""Push/pull throughput of nb-hub against the local Hub emulator, with the floor (a file copy)
and the plain huggingface_hub calls (upload_folder / snapshot_download) for comparison.

Run: flock /tmp/nb-bench.lock .venv/bin/python packages/nb-hub/benchmarks/bench_push_pull.py [MB] [FILES]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("NB_PROGRESS", "0")

import numpy as np
from huggingface_hub import HfApi, snapshot_download

import nb_hub
from nb_core import Manifest
from nb_hub.testing import HubEmulator


def main() -> None:
    total_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    n_files = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    tmp = Path(tempfile.mkdtemp(prefix="nb-hub-bench-"))
    art = tmp / "art"
    art.mkdir()
    rng = np.random.default_rng(0)
    m = Manifest(name="bench", layout="shards")
    per = total_mb * 1024 * 1024 // n_files
    for i in range(n_files):
        (art / f"train-{i:06d}.tar").write_bytes(rng.integers(0, 255, per, dtype=np.uint8).tobytes())
        m.add_file(art, f"train-{i:06d}.tar")
    m.write(art)
    size = m.total_size / 1e6
    rows = []

    def timed(name: str, fn) -> None:
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        rows.append((name, dt, size / dt))

    timed("floor: shutil.copytree", lambda: shutil.copytree(art, tmp / "copy"))
    with HubEmulator(storage=tmp / "hub0") as emu0:  # separate blob store: no cross-repo dedup
        api = HfApi(endpoint=emu0.endpoint, token="t")
        api.create_repo("b/plain", repo_type="dataset")
        timed(
            "huggingface_hub upload_folder",
            lambda: api.upload_folder(folder_path=art, repo_id="b/plain", repo_type="dataset"),
        )
        timed(
            "huggingface_hub snapshot_download",
            lambda: snapshot_download(
                "b/plain", repo_type="dataset", endpoint=emu0.endpoint, cache_dir=tmp / "c1"
            ),
        )
    with HubEmulator(storage=tmp / "hub") as emu:
        timed(
            "nb_hub.push (new repo)", lambda: nb_hub.push(art, "b/nb", endpoint=emu.endpoint, preview=False)
        )
        timed(
            "nb_hub.push (unchanged, no-op)",
            lambda: nb_hub.push(art, "b/nb", endpoint=emu.endpoint, preview=False),
        )
        timed(
            "nb_hub.pull (download + sha256 verify)",
            lambda: nb_hub.pull("b/nb", endpoint=emu.endpoint, cache_dir=tmp / "c2"),
        )
        timed(
            "nb_hub.pull (cached, verify only)",
            lambda: nb_hub.pull("b/nb", endpoint=emu.endpoint, cache_dir=tmp / "c2"),
        )
    print(f"{n_files} files, {size:.0f} MB total; load: {os.getloadavg()[0]:.2f}")
    print("| operation | seconds | MB/s |\n|---|---|---|")
    for name, dt, rate in rows:
        print(f"| {name} | {dt:.2f} | {rate:.0f} |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
