"""Mixtures: the spec (YAML, errors with line and field), filters on the metadata index, column
mapping checks, weights and epoch semantics, exact and elastic resume through ShardLoader, the
metadata cache (counted scans), and every kind of source (shards, hf://, nb-formats, Parquet)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nb_shards
from nb_core import Sample
from nb_core.errors import IncompatibleDataError, NBError, SchemaError, UserError
from nb_shards import Mixture, ShardLoader, ShardWriter
from nb_shards.mixfilter import compile_filter
from nb_shards.mixsources import SCANS, bids_entities

SPEC = """\
seed: 0
epoch: {samples: 2000}          # or {until: largest} / {until: smallest}
sources:
  - path: shards/a              # local artifact, hf://datasets/org/name, or an nb-formats / Parquet artifact
    weight: 0.7
    filter: {subject: {in: ["01", "02"]}, target: {ge: 1}}
    columns: {x: eeg, y: json.target}
  - path: shards/b
    weight: 0.3
    columns: {x: eeg, y: json.target}
"""


def _write(out: Path, samples: list[Sample], prefix: str, *, shape: tuple[int, int] | None = None) -> Path:
    with ShardWriter(out, max_count=16, overwrite=True) as w:
        for i, s in enumerate(samples):
            x = s.arrays["eeg"] if shape is None else np.zeros(shape, "float32")
            subject = f"{i % 4 + 1:02d}"
            w.write(
                Sample(f"{prefix}{i:04d}", {"eeg": x}, {"subject": subject, "target": i % 3, "run": i % 2})
            )
    return out


@pytest.fixture
def mixdir(tmp_path: Path, eeg_samples: list[Sample]) -> Path:
    """``shards/a`` (60 samples) and ``shards/b`` (40), simulated EEG 4×50, subject/target/run metadata,
    and the issue's spec verbatim as ``mix.yaml``."""
    _write(tmp_path / "shards" / "a", eeg_samples[:60], "a")
    _write(tmp_path / "shards" / "b", eeg_samples[60:100], "b")
    (tmp_path / "mix.yaml").write_text(SPEC)
    return tmp_path


def _spec(root: Path, **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "seed": 0,
        "epoch": {"samples": 200},
        "sources": [
            {"path": str(root / "shards/a"), "weight": 0.7, "columns": {"x": "eeg", "y": "json.target"}},
            {"path": str(root / "shards/b"), "weight": 0.3, "columns": {"x": "eeg", "y": "json.target"}},
        ],
    }
    d.update(over)
    return d


def _keys(loader: Any) -> list[list[str]]:
    return [list(b["__key__"]) for b in loader]


def test_mix_spec_verbatim_through_shardloader(mixdir: Path) -> None:
    loader = ShardLoader(mixdir / "mix.yaml", batch_size=64, cache_dir=mixdir / "cache")
    mix = loader.dataset
    kept = sum(1 for i in range(60) if f"{i % 4 + 1:02d}" in ("01", "02") and i % 3 >= 1)
    assert [(p["total"], p["kept"], p["per_epoch"]) for p in mix.plan()] == [(60, kept, 1400), (40, 40, 600)]
    batches = list(loader)
    assert len(batches) == len(loader) == 32  # ceil(2000 / 64)
    b = batches[0]
    assert set(b) == {"x", "y", "__key__", "__source__"}
    assert tuple(b["x"].shape) == (64, 4, 50) and str(b["x"].dtype) == "torch.float32"
    assert str(b["y"].dtype) == "torch.int64"
    seen = Counter(s for b in batches for s in b["__source__"])
    assert seen == {"a": 1400, "b": 600}
    # the filter holds: every sample of a is subject 01/02 with target >= 1
    a_keys = {k for b in batches for k, s in zip(b["__key__"], b["__source__"]) if s == "a"}
    assert {int(k[1:]) % 4 + 1 for k in a_keys} <= {1, 2} and all(int(k[1:]) % 3 >= 1 for k in a_keys)
    assert all(int(y) >= 1 for b in batches for y, s in zip(b["y"], b["__source__"]) if s == "a")


def test_mix_proportions_within_tolerance_in_every_batch(mixdir: Path) -> None:
    """The realised share of a source is exact over the epoch (to one sample) and within
    ±2 samples per source in every batch: the stated tolerance."""
    spec = _spec(mixdir, epoch={"samples": 1000})
    loader = ShardLoader(Mixture(spec, cache_dir=mixdir / "c"), batch_size=50, decode="numpy")
    per_batch = [Counter(b["__source__"]) for b in loader]
    total = sum(per_batch, Counter())
    assert total == {"a": 700, "b": 300}
    for c in per_batch:
        assert abs(c["a"] - 35) <= 2 and abs(c["b"] - 15) <= 2


def test_mix_every_rank_gets_the_weights(mixdir: Path) -> None:
    """50/50 on 2 ranks: each rank sees both sources about equally (a regular a,b,a,b interleave
    would give rank 0 only a); within 5 points at 1000 samples per rank."""
    spec = _spec(mixdir, epoch={"samples": 2000})
    spec["sources"][0]["weight"] = spec["sources"][1]["weight"] = 0.5
    mix = Mixture(spec, cache_dir=mixdir / "c")
    for rank in range(2):
        loader = ShardLoader(mix, batch_size=50, decode="numpy", rank=rank, world_size=2)
        got = Counter(s for b in loader for s in b["__source__"])
        assert sum(got.values()) == 1000 and abs(got["a"] - 500) <= 50, got


def test_mix_deterministic_given_seed_and_new_order_each_epoch(mixdir: Path) -> None:
    spec = _spec(mixdir)
    one = _keys(ShardLoader(Mixture(spec, cache_dir=mixdir / "c"), batch_size=16, decode="numpy"))
    two = _keys(ShardLoader(Mixture(spec, cache_dir=mixdir / "c"), batch_size=16, decode="numpy"))
    assert one == two
    other = _keys(
        ShardLoader(Mixture({**spec, "seed": 1}, cache_dir=mixdir / "c"), batch_size=16, decode="numpy")
    )
    assert other != one
    loader = ShardLoader(Mixture(spec, cache_dir=mixdir / "c"), batch_size=16, decode="numpy")
    assert _keys(loader) == one
    assert _keys(loader) != one  # epoch 1: another order


@pytest.mark.parametrize(
    ("epoch", "counts"),
    [
        ({"until": "largest"}, [94, 40]),  # b lasts longest: 40 / 0.3 → 134 samples
        ({"until": "smallest"}, [59, 26]),  # a runs out first: 60 / 0.7 → 85 samples
        ({"samples": 10}, [7, 3]),
    ],
)
def test_mix_epoch_semantics(mixdir: Path, epoch: dict[str, Any], counts: list[int]) -> None:
    mix = Mixture(_spec(mixdir, epoch=epoch), cache_dir=mixdir / "c")
    assert [p["per_epoch"] for p in mix.plan()] == counts
    got = Counter(s["__source__"] for s in mix)
    assert [got["a"], got["b"]] == counts


def test_mix_until_largest_repeats_the_smaller_source_and_smallest_repeats_nothing(mixdir: Path) -> None:
    spec = _spec(mixdir)
    spec["sources"][1]["weight"] = 0.7
    spec["sources"][0]["weight"] = 0.3  # a: 60 at 0.3 → 200 samples; b (40) at 0.7 gives 140
    largest = Mixture({**spec, "epoch": {"until": "largest"}}, cache_dir=mixdir / "c")
    keys = [s["__key__"] for s in largest]
    assert len(keys) == 200 and Counter(k[0] for k in keys) == {"a": 60, "b": 140}
    assert len({k for k in keys if k[0] == "a"}) == 60  # every sample of a once
    assert len({k for k in keys if k[0] == "b"}) == 40  # b repeats (3.5 passes)
    smallest = Mixture({**spec, "epoch": {"until": "smallest"}}, cache_dir=mixdir / "c")
    keys = [s["__key__"] for s in smallest]
    assert len(keys) == len(set(keys)) == 57  # b runs out after 40: 40/0.7 → 57 samples


def test_mix_filters() -> None:
    cols = {
        "json.subject": ["01", "02", "03", None],
        "json.target": [0, 1, 2, 3],
        "json.entities.task": ["rest", "rest", "mi", "mi"],
        "json.run": [1, 2, 3, 4],
    }

    def keep(flt: dict[str, Any]) -> list[int]:
        return np.flatnonzero(compile_filter(flt, cols)).tolist()

    assert keep({"subject": {"in": ["01", "03"]}}) == [0, 2]
    assert keep({"subject": ["01", "02"]}) == [0, 1]  # a list means "in"
    assert keep({"subject": "02"}) == [1]  # a value means "eq"
    assert keep({"subject": {"not_in": ["01"]}}) == [1, 2, 3]  # a missing value is not in the list
    assert keep({"subject": {"ne": "01"}}) == [1, 2, 3]
    assert keep({"subject": {"exists": False}}) == [3]
    assert keep({"target": {"ge": 1, "lt": 3}}) == [1, 2]
    assert keep({"target": {"gt": 0, "le": 2}}) == [1, 2]
    assert keep({"run": {"range": [2, 4]}}) == [1, 2]  # half-open
    assert keep({"run": {"between": [2, 4]}}) == [1, 2, 3]
    assert keep({"task": "mi", "json.target": {"eq": 3}}) == [3]  # BIDS entities, full names
    assert keep({"subject": {"gt": "01"}}) == [1, 2]  # a missing value fails comparisons
    with pytest.raises(
        IncompatibleDataError,
        match=r"filter\.subject\.ge: cannot compare .1. \(int\) with the values of .json.subject. \(str\)",
    ):
        compile_filter({"subject": {"ge": 1}}, cols)
    with pytest.raises(
        SchemaError, match="no sample has the field 'age'; fields of this source: json.entities"
    ):
        compile_filter({"age": {"gt": 3}}, cols)


def test_mix_filter_keeping_nothing_and_unknown_field_name_the_line(mixdir: Path) -> None:
    spec = mixdir / "mix.yaml"
    spec.write_text(SPEC.replace("target: {ge: 1}", "target: {ge: 9}"))
    with pytest.raises(UserError, match=r"mix.yaml line 6: sources\[0\].filter: the filter keeps no sample"):
        Mixture(spec, cache_dir=mixdir / "c")
    spec.write_text(SPEC.replace("target: {ge: 1}", "age: {ge: 9}"))
    with pytest.raises(
        SchemaError, match=r"mix.yaml line 6: sources\[0\].filter.age: no sample has the field"
    ):
        Mixture(spec, cache_dir=mixdir / "c")


def test_mix_columns_disagreeing_sources_fail_before_training(
    mixdir: Path, eeg_samples: list[Sample]
) -> None:
    _write(mixdir / "shards" / "c", eeg_samples[:10], "c", shape=(4, 60))
    spec = mixdir / "mix.yaml"
    spec.write_text(SPEC.replace("path: shards/b", "path: shards/c"))
    with pytest.raises(
        IncompatibleDataError,
        match=r"line 10: sources\[1\].columns.x: input 'x' is float32 \[4, 60\] in source 'c' but float32 \[4, 50\] in source 'a'",
    ):
        ShardLoader(spec, batch_size=8, cache_dir=mixdir / "cc")
    # a free axis (null) lets them agree, a declared dtype is checked
    long = "columns: {x: {field: eeg, dtype: float32, shape: [4, null]}, y: json.target}"
    spec.write_text(SPEC.replace("columns: {x: eeg, y: json.target}", long))
    assert Mixture(spec, cache_dir=mixdir / "cc").n_samples == 2000
    spec.write_text(SPEC.replace("columns: {x: eeg, y: json.target}", long.replace("float32", "float64")))
    with pytest.raises(
        IncompatibleDataError,
        match=r"line 7: sources\[0\].columns.x: source 'a' gives float32 \[4, 50\], not float64",
    ):
        Mixture(spec, cache_dir=mixdir / "cc")
    spec.write_text(SPEC.replace("y: json.target}\n  - path: shards/b", "y: json.label}\n  - path: shards/b"))
    with pytest.raises(
        SchemaError,
        match=r"line 7: sources\[0\].columns.y: source 'a' has no field 'json.label'; its fields: eeg, json.run, json.subject, json.target",
    ):
        Mixture(spec, cache_dir=mixdir / "cc")
    spec.write_text(
        SPEC.replace(
            "columns: {x: eeg, y: json.target}\n  - path: shards/b",
            "columns: {x: eeg, y: json.subject}\n  - path: shards/b",
        )
    )
    with pytest.raises(
        IncompatibleDataError, match="input 'y' is a number in source 'b' but a string in source 'a'"
    ):
        Mixture(spec, cache_dir=mixdir / "cc")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seed: 0\nsources: [\n", r"mix.yaml line 3: not valid YAML"),
        ("seed: -1\nsources: [{path: a}]\n", r"mix.yaml line 1: seed: must be a non-negative integer"),
        ("sources: []\n", r"mix.yaml line 1: sources: must be a non-empty list"),
        (
            "sources:\n  - path: a\n    wieght: 1\n",
            r"mix.yaml line 3: sources\[0\].wieght: unknown key 'wieght'",
        ),
        (
            "sources:\n  - path: a\n    weight: -0.5\n",
            r"mix.yaml line 3: sources\[0\].weight: must be a positive number",
        ),
        (
            "sources:\n  - path: a\n  - weight: 1\n",
            r"mix.yaml line 3: sources\[1\].path: must be a path or URL",
        ),
        (
            "epoch: {until: forever}\nsources: [{path: a}]\n",
            r"mix.yaml line 1: epoch.until: must be largest or smallest",
        ),
        ("epoch: {samples: 0}\nsources: [{path: a}]\n", r"line 1: epoch.samples: must be a positive integer"),
        (
            "sources:\n  - path: a\n    filter:\n      subject: {like: '0%'}\n",
            r"mix.yaml line 4: sources\[0\].filter.subject.like: unknown condition 'like'",
        ),
        (
            "sources:\n  - path: a\n    filter: {run: {range: [1]}}\n",
            r"line 3: sources\[0\].filter.run.range: must be \[low, high\]",
        ),
        (
            "sources:\n  - path: a\n    filter: {subject: {in: '01'}}\n",
            r"line 3: sources\[0\].filter.subject.in: must be a list of values",
        ),
        (
            "sources:\n  - path: a\n    columns: {x: {field: eeg, dtype: floaty}}\n",
            r"line 3: sources\[0\].columns.x.dtype: must be a NumPy dtype name",
        ),
        (
            "sources:\n  - {path: a, name: s}\n  - {path: b, name: s}\n",
            r"line 3: sources\[1\].name: two sources are named 's'",
        ),
        ("sources: [{path: a}]\nsources: [{path: b}]\n", r"mix.yaml line 2: duplicate key 'sources'"),
        ("!!python/object:os.system {}\n", r"mix.yaml line 1: not valid YAML"),  # never code
        ("- 1\n- 2\n", r"mix.yaml line 1: a mixture spec must be a mapping"),
        ("? [a, b]\n: 1\n", r"mix.yaml line 1: not valid YAML \(found unhashable key\)"),
    ],
)
def test_mix_bad_specs_name_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "mix.yaml").write_text(text)
    with pytest.raises(SchemaError, match=message):
        Mixture(tmp_path / "mix.yaml", cache_dir=tmp_path / "c")


def test_mix_metadata_cache_avoids_a_rescan(mixdir: Path, eeg_samples: list[Sample]) -> None:
    cache = mixdir / "cache"
    a = str(mixdir / "shards/a")
    before = SCANS[a]
    Mixture(mixdir / "mix.yaml", cache_dir=cache)
    assert SCANS[a] == before + 1
    sidecars = sorted((cache / "meta").glob("*.parquet"))
    assert len(sidecars) == 2
    import pyarrow.parquet as pq

    t = pq.read_table(sidecars[0])
    assert {"__key__", "json.subject", "json.target"} <= set(t.column_names) and "eeg" not in t.column_names
    # a second mixture, and another filter: the index comes from the sidecar
    Mixture(mixdir / "mix.yaml", cache_dir=cache)
    spec = _spec(mixdir)
    spec["sources"][0]["filter"] = {"run": 1, "subject": {"ne": "03"}}
    Mixture(spec, cache_dir=cache)
    assert SCANS[a] == before + 1
    # new data (another manifest): scanned again
    _write(mixdir / "shards" / "a", eeg_samples[:30], "a")
    Mixture(mixdir / "mix.yaml", cache_dir=cache)
    assert SCANS[a] == before + 2


@pytest.mark.parametrize(("k", "workers", "rank_worlds"), [(3, 0, (1, 1)), (4, 0, (2, 3)), (2, 0, (3, 1))])
def test_mix_resume_exact_and_elastic(
    mixdir: Path, k: int, workers: int, rank_worlds: tuple[int, int]
) -> None:
    """State after k batches on W ranks; resume on W' ranks: the same remaining global sequence,
    equal batches per rank."""
    w_before, w_after = rank_worlds
    spec = _spec(mixdir, epoch={"samples": 203})
    mix = Mixture(spec, cache_dir=mixdir / "c")
    full = [s["__key__"] for s in mix]  # the global order (one process)
    bs = 5

    def loaders(world: int) -> list[ShardLoader]:
        return [
            ShardLoader(mix, batch_size=bs, decode="numpy", rank=r, world_size=world, num_workers=workers)
            for r in range(world)
        ]

    before = loaders(w_before)
    its = [iter(ld) for ld in before]
    consumed = []
    for _ in range(k):
        for it in its:
            consumed.append(next(it)["__key__"])
    states = [ld.state_dict() for ld in before]
    assert all(s == states[0] for s in states)
    after = loaders(w_after)
    for ld in after:
        ld.load_state_dict(states[0])
    rest = [_keys(ld) for ld in after]
    assert len({len(r) for r in rest}) == 1  # equal batches per rank
    pos = states[0]["position"]
    assert pos == k * bs * w_before
    # interleave the ranks back into the global order (rank r reads positions pos + r, pos + r + W', ...)
    flat = [[k for b in r for k in b] for r in rest]
    merged = [flat[g % w_after][g // w_after] for g in range(len(full) - pos)]
    assert merged == full[pos:]
    assert sorted(k for b in consumed for k in b) == sorted(full[:pos])


def test_mix_workers_same_sequence_and_resume_across_worker_counts(mixdir: Path) -> None:
    spec = mixdir / "mix.yaml"
    spec.write_text(SPEC.replace("samples: 2000", "samples: 120"))
    ref = _keys(ShardLoader(spec, batch_size=8, num_workers=0, decode="numpy", cache_dir=mixdir / "c"))
    with_workers = ShardLoader(spec, batch_size=8, num_workers=2, decode="numpy", cache_dir=mixdir / "c")
    it = iter(with_workers)
    head = [list(next(it)["__key__"]) for _ in range(5)]
    state = with_workers.state_dict()
    assert head == ref[:5]
    resumed = ShardLoader(spec, batch_size=8, num_workers=0, decode="numpy", cache_dir=mixdir / "c")
    resumed.load_state_dict(state)
    assert _keys(resumed) == ref[5:]
    again = ShardLoader(spec, batch_size=8, num_workers=2, decode="numpy", cache_dir=mixdir / "c")
    again.load_state_dict(state)
    assert _keys(again) == ref[5:]


def test_mix_state_of_another_mixture_is_refused(mixdir: Path) -> None:
    one = ShardLoader(Mixture(_spec(mixdir), cache_dir=mixdir / "c"), batch_size=8, decode="numpy")
    next(iter(one))
    spec = _spec(mixdir)
    spec["sources"][0]["filter"] = {"subject": "01"}
    other = ShardLoader(Mixture(spec, cache_dir=mixdir / "c"), batch_size=8, decode="numpy")
    with pytest.raises(NBError, match="fingerprint"):
        other.load_state_dict(one.state_dict())


def test_mix_hf_source_through_the_emulator(mixdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    from nb_hub.testing import HubEmulator

    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    with HubEmulator() as emu, emu.configure_clients():
        api = HfApi(endpoint=emu.endpoint, token="t")
        api.create_repo("org/eeg-a", repo_type="dataset")
        api.upload_folder(folder_path=str(mixdir / "shards/a"), repo_id="org/eeg-a", repo_type="dataset")
        spec = _spec(mixdir)
        spec["sources"][0]["path"] = "hf://datasets/org/eeg-a"
        spec["sources"][0]["filter"] = {"subject": {"in": ["01", "02"]}}
        opts = {"endpoint": emu.endpoint, "token": "t"}
        mix = Mixture(spec, cache_dir=mixdir / "c", storage_options=opts)
        assert [p["kept"] for p in mix.plan()] == [30, 40]
        batches = list(ShardLoader(mix, batch_size=20, decode="numpy"))
    keys = [k for b in batches for k, s in zip(b["__key__"], b["__source__"]) if s == "eeg-a"]
    assert len(keys) == 140 and {int(k[1:]) % 4 for k in keys} == {0, 1}


def test_mix_formats_and_parquet_sources(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import nb_formats
    from nb_core.testing import simulate_recordings

    recs = simulate_recordings(3, n_channels=4, duration=2.0, sfreq=100.0)
    fmt = tmp_path / "fmt"
    nb_formats.write(recs, fmt, format="zarr", show_progress=False)
    rng = np.random.default_rng(0)
    sig = [rng.normal(size=(4, 50)).astype("float32") for _ in range(12)]
    table = pa.table(
        {
            "subject": [f"{i % 3 + 1:02d}" for i in range(12)],
            "target": [i % 2 for i in range(12)],
            "signal": pa.array([s.tolist() for s in sig], pa.list_(pa.list_(pa.float32()))),
        }
    )
    (tmp_path / "pq").mkdir()
    pq.write_table(table, tmp_path / "pq" / "train-0.parquet", row_group_size=5)
    spec = {
        "seed": 3,
        "epoch": {"until": "smallest"},
        "sources": [
            {
                "path": str(fmt),
                "window_size": 50,
                "filter": {"subject": {"in": ["01", "02"]}},
                "columns": {"x": "eeg", "rec": "json.recording_id"},
            },
            {
                "path": str(tmp_path / "pq"),
                "filter": {"target": 1},
                "columns": {"x": "signal", "rec": "subject"},
            },
        ],
    }
    mix = Mixture(spec, cache_dir=tmp_path / "c")
    plan = mix.plan()
    assert [(p["kind"], p["total"], p["kept"]) for p in plan] == [("formats", 12, 8), ("parquet", 12, 6)]
    samples = list(mix)
    assert len(samples) == 12 and Counter(s["__source__"] for s in samples) == {"fmt": 6, "pq": 6}
    for s in samples:
        assert s["x"].shape == (4, 50) and s["x"].dtype == np.float32
        if s["__source__"] == "pq":
            row = int(s["__key__"].rsplit("_", 1)[1])
            np.testing.assert_array_equal(s["x"], sig[row])
        else:
            assert bids_entities(s["rec"])["subject"] in ("01", "02")
    batch = next(iter(ShardLoader(mix, batch_size=4)))
    assert tuple(batch["x"].shape) == (4, 4, 50)


def test_mix_cli_dry_run_and_read(
    mixdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from nb_core.cli import main

    monkeypatch.setenv("NB_SHARDS_CACHE", str(mixdir / "cache"))
    assert main(["shards", "mix", str(mixdir / "mix.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2000 samples per epoch" in out
    assert "a                shards         60" in out and "1400  70.0%  x<-eeg, y<-json.target" in out
    assert "inputs: x float32 [4, 50], y a number" in out
    assert main(["shards", "mix", str(mixdir / "mix.yaml"), "--n-samples", "100", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["read"] == {"samples": 100, "per_source": {"a": 70, "b": 30}}
    (mixdir / "bad.yaml").write_text(SPEC.replace("weight: 0.3", "weight: heavy"))
    assert main(["shards", "mix", str(mixdir / "bad.yaml"), "--dry-run"]) != 0
    err = capsys.readouterr().err
    assert (
        err.startswith("nb: error: ")
        and "bad.yaml line 9: sources[1].weight: must be a positive number" in err
    )
    assert "Traceback" not in err and err.count("\n") == 1


def test_mix_is_exported() -> None:
    assert nb_shards.Mixture is Mixture and "Mixture" in nb_shards.__all__


def _bids_like(out: Path) -> np.ndarray:
    """A dataset laid out as nb-bids writes one (``data/<config>/<split>-<unit>.parquet``, an
    ``hf`` manifest): two subjects, 4 segments each of simulated EEG in ``signal``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nb_core.manifest import Manifest
    from nb_core.testing import simulate_raw

    data = simulate_raw(n_channels=3, sfreq=100.0, duration=4.0).get_data().astype("float32")
    for sub in ("01", "02"):
        rows = [
            {
                "path": f"sub-{sub}/eeg/sub-{sub}_task-rest_eeg.edf",
                "subject": sub,
                "task": "rest",
                "segment": k,
                "signal": data[:, k * 100 : (k + 1) * 100].tolist(),
            }
            for k in range(4)
        ]
        t = pa.Table.from_pylist(
            rows,
            schema=pa.schema(
                [
                    ("path", pa.string()),
                    ("subject", pa.string()),
                    ("task", pa.string()),
                    ("segment", pa.int64()),
                    ("signal", pa.list_(pa.list_(pa.float32()))),
                ]
            ),
        )
        for cfg in ("eeg", "files"):
            (out / "data" / cfg).mkdir(parents=True, exist_ok=True)
            pq.write_table(t, out / "data" / cfg / f"train-sub-{sub}.parquet")
    m = Manifest(name="bids-like", layout="hf")
    for f in sorted(out.rglob("*.parquet")):
        m.add_file(out, f.relative_to(out).as_posix())
    m.write(out)
    return data


def test_mix_converted_bids_layout_reads_the_eeg_config(tmp_path: Path) -> None:
    """``eeg`` by default, its ``signal`` column (list of lists of float32) an array, its entity
    columns filterable."""
    data = _bids_like(tmp_path / "ds")
    mix = Mixture(
        {
            "sources": [
                {
                    "path": str(tmp_path / "ds"),
                    "filter": {"subject": "02", "segment": {"ge": 2}},
                    "columns": {"x": "signal", "seg": "segment"},
                }
            ]
        },
        cache_dir=tmp_path / "c",
    )
    assert [(p["kind"], p["total"], p["kept"]) for p in mix.plan()] == [("parquet", 8, 2)]
    got = sorted((s["seg"], s["x"].dtype.name, s["x"].shape) for s in mix)
    assert got == [(2, "float32", (3, 100)), (3, "float32", (3, 100))]
    for s in mix:
        np.testing.assert_array_equal(s["x"], data[:, s["seg"] * 100 : (s["seg"] + 1) * 100])
    with pytest.raises(UserError, match="pick a config with 'config:'"):
        Mixture({"sources": [{"path": str(tmp_path / "ds"), "config": "mri"}]}, cache_dir=tmp_path / "c")


def test_mix_pickles_for_worker_processes(mixdir: Path) -> None:
    """What a spawn/forkserver DataLoader worker receives: the same samples after a round trip."""
    import pickle

    mix = Mixture(_spec(mixdir, epoch={"samples": 20}), cache_dir=mixdir / "c", batch_size=4)
    next(iter(mix))  # open shards first: open maps must not travel
    again = pickle.loads(pickle.dumps(mix))
    assert [b["__key__"] for b in again] == [b["__key__"] for b in mix]


def test_mix_shuffle_keeps_reads_local(tmp_path: Path, eeg_samples: list[Sample]) -> None:
    """Each source is shuffled as ShardDataset shuffles (shards in a random order, samples mixed
    within 4 shards at a time): a cache of 4 open shards opens each shard once per pass."""
    with ShardWriter(tmp_path / "many", max_count=6) as w:  # 20 shards
        for i, s in enumerate(eeg_samples):
            w.write(Sample(f"m{i:04d}", s.arrays, {"subject": f"{i % 4 + 1:02d}"}))
    _write(tmp_path / "b", eeg_samples[:30], "b")
    spec = {
        "epoch": {"until": "largest"},
        "sources": [
            {"path": str(tmp_path / "many"), "weight": 0.5, "filter": {"subject": {"ne": "03"}}},
            {"path": str(tmp_path / "b"), "weight": 0.5},
        ],
    }
    mix = Mixture(spec, cache_dir=tmp_path / "c")
    order = mix.order()
    shards = [r // 6 for s, r in zip(order.source, order.row) if s == 0]
    assert sorted(set(shards)) == list(range(20)) and len(shards) == 90
    lru: list[int] = []
    opened = 0
    for sh in shards:
        if sh in lru:
            lru.remove(sh)
        else:
            opened += 1
        lru = [*lru, sh][-4:]
    assert opened == 20
    assert shards != sorted(shards)  # and still shuffled


def test_mix_yaml_anchors_are_read_once(tmp_path: Path) -> None:
    """Aliases may share a mapping between sources; a "billion laughs" document is not expanded."""
    from nb_shards.mixspec import parse_spec_text

    spec = parse_spec_text(
        "sources:\n  - path: a\n    columns: &c {x: eeg, y: json.target}\n  - path: b\n    columns: *c\n"
    )
    assert [sorted(s.columns or {}) for s in spec.sources] == [["x", "y"], ["x", "y"]]
    laughs = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9)
    )
    with pytest.raises(SchemaError, match="line 1: l0: unknown key 'l0'"):
        parse_spec_text(laughs, where="mix.yaml")


def test_mix_parquet_dataset_on_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A converted dataset pushed to the Hub (manifest layout ``hf``): its Parquet files are
    downloaded once into the cache (sha256 checked) and read as locally."""
    from huggingface_hub import HfApi

    from nb_hub.testing import HubEmulator

    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    data = _bids_like(tmp_path / "ds")
    with HubEmulator() as emu, emu.configure_clients():
        api = HfApi(endpoint=emu.endpoint, token="t")
        api.create_repo("org/bids", repo_type="dataset")
        api.upload_folder(folder_path=str(tmp_path / "ds"), repo_id="org/bids", repo_type="dataset")
        spec = {
            "sources": [
                {"path": "hf://datasets/org/bids", "filter": {"subject": "01"}, "columns": {"x": "signal"}}
            ]
        }
        opts = {"endpoint": emu.endpoint, "token": "t"}
        mix = Mixture(spec, cache_dir=tmp_path / "c", storage_options=opts)
        assert [(p["kind"], p["total"], p["kept"]) for p in mix.plan()] == [("parquet", 8, 4)]
        got = {s["__key__"]: s["x"] for s in mix}
    assert sorted(got) == [f"train-sub-01_{k:06d}" for k in range(4)]
    for k in range(4):
        np.testing.assert_array_equal(got[f"train-sub-01_{k:06d}"], data[:, k * 100 : (k + 1) * 100])
