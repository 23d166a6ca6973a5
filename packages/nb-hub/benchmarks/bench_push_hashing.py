"""Bytes hashed and time of ``nb_hub.push`` on a ~100 MB artifact (emulator, in memory): before
(``huggingface_hub`` hashes every file itself), now with ``verify=True`` (nb-hub checks each file
against the manifest once, the upload reuses the manifest's sha256) and with ``verify=False``.

Run: flock /tmp/nb-bench.lock .venv/bin/python packages/nb-hub/benchmarks/bench_push_hashing.py [MB] [FILES]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("NB_PROGRESS", "0")

import huggingface_hub.lfs as lfs
import numpy as np

import nb_core.manifest as manifest_mod
import nb_hub
from nb_core import Manifest
from nb_hub.testing import HubEmulator

push_mod = sys.modules["nb_hub.push"]
hashed = {"huggingface_hub": 0, "nb-hub": 0}


def main() -> None:
    total_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    n_files = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    root = Path(tempfile.mkdtemp()) / "art"
    root.mkdir()
    rng = np.random.default_rng(0)
    m = Manifest(name="bench", layout="bench-files", license="mit")
    for i in range(n_files):
        (root / f"part-{i}.bin").write_bytes(
            rng.integers(0, 255, total_mb * 10**6 // n_files, np.uint8).tobytes()
        )
        m.add_file(root, f"part-{i}.bin")
    m.write(root)

    real_hub, real_nb, real_add = lfs.sha_fileobj, manifest_mod.sha256_file, push_mod._add_op

    def hub_hash(f: Any, *a: Any, **k: Any) -> Any:
        out = real_hub(f, *a, **k)
        hashed["huggingface_hub"] += f.tell()
        return out

    def nb_hash(p: Any) -> str:
        hashed["nb-hub"] += Path(p).stat().st_size
        return real_nb(p)

    def add_without_sha(hub: Any, path_in_repo: str, local: Any, sha256: str | None = None) -> Any:
        return real_add(hub, path_in_repo, local, None)  # what push did before: the client hashes

    lfs.sha_fileobj, manifest_mod.sha256_file = hub_hash, nb_hash  # type: ignore[assignment]
    print("| push | seconds | MB hashed by huggingface_hub | MB hashed by nb-hub |\n|---|---|---|---|")
    with HubEmulator() as emu, emu.configure_clients():
        cases = [
            ("before: the client hashes each file", {"verify": False}, add_without_sha),
            ("now, verify=True (default)", {}, real_add),
            ("now, verify=False", {"verify": False}, real_add),
        ]
        for i, (label, kw, add) in enumerate(cases):
            hashed.update({k: 0 for k in hashed})
            push_mod._add_op = add
            t = time.perf_counter()
            nb_hub.push(root, f"me/bench-{i}", endpoint=emu.endpoint, preview=False, **kw)
            dt = time.perf_counter() - t
            print(
                f"| {label} | {dt:.2f} | {hashed['huggingface_hub'] / 1e6:.0f} | {hashed['nb-hub'] / 1e6:.0f} |"
            )


if __name__ == "__main__":
    main()
