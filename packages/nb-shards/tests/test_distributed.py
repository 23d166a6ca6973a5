"""Rank and world size come from torch.distributed when it is initialised (2 real gloo processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nb_shards import ShardLoader

_RANK = r"""
import json, sys, torch.distributed as dist
from nb_shards import ShardLoader
rank, init, src, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
ld = ShardLoader(src, batch_size=7, shuffle=True, seed=9, decode="numpy")
keys = [list(b["__key__"]) for b in ld]
dist.barrier()
json.dump({"keys": keys, "len": len(ld)}, open(out, "w"))
dist.destroy_process_group()
"""


def test_rank_and_world_size_from_torch_distributed(shards: Path, tmp_path: Path) -> None:
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RANK, str(r), init, str(shards), str(tmp_path / f"r{r}.json")]
        )
        for r in range(2)
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0
    got = [json.loads((tmp_path / f"r{r}.json").read_text()) for r in range(2)]
    assert len(got[0]["keys"]) == len(got[1]["keys"]) == got[0]["len"] == 9  # ceil(60 / 7)
    for r in range(2):
        explicit = ShardLoader(
            shards, batch_size=7, shuffle=True, seed=9, decode="numpy", rank=r, world_size=2
        )
        assert [list(b["__key__"]) for b in explicit] == got[r]["keys"]
    seen = {k for g in got for b in g["keys"] for k in b}
    assert seen == {f"w{i:05d}" for i in range(120)}
