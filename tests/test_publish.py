"""scripts/publish.py end to end against the Hub emulator: a spec of several datasets (MNE-simulated
EEG, a generated BIDS tree, an existing artifact) with failures in the middle, a rerun that skips
what is done and retries what failed, the dry run, bad specs, Dask, and the examples of --help
and of scripts/README.md run as printed."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "publish.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nb_publish_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Dask workers find convert_task by its module's name
    spec.loader.exec_module(module)
    return module


publish = _load_script()


# -- data: simulated EEG, a BIDS tree, an existing artifact, an unreadable file ----------------------
def _make_data(d: Path) -> Path:
    import nb_formats
    from nb_bids.testing import make_bids_tree
    from nb_core.testing import simulate_raw

    (d / "recordings").mkdir(parents=True)
    raws = []
    for i in range(3):  # 4 channels, 100 Hz, 6 s: six 1-s windows each
        raw = simulate_raw(n_channels=4, sfreq=100.0, duration=6.0, seed=i, subject=f"0{i + 1}")
        raw.save(d / "recordings" / f"sub-0{i + 1}_raw.fif", verbose="error")
        raws.append(raw)
    make_bids_tree(d / "bids", n_subjects=2, eeg=False, dwi=False, derivatives=False)
    nb_formats.write(raws[:1], d / "artifact", format="parquet", show_progress=False, license="cc0-1.0")
    (d / "broken").mkdir()
    (d / "broken" / "sub-09_raw.fif").write_bytes(b"not a FIF file at all" * 10)
    return d


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_data(tmp_path_factory.mktemp("publish-data"))


@pytest.fixture(autouse=True)
def private_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hugging Face and nb-bids caches inside the test's folder; no progress bars."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hf-home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("NB_BIDS_CACHE", str(tmp_path / "bids-cache"))
    monkeypatch.setenv("NB_PROGRESS", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("NB_DEBUG", raising=False)


def _spec(work: Path, data: Path, text: str) -> Path:
    work.mkdir(exist_ok=True)
    link = work / "data"
    if not link.exists():
        link.symlink_to(data, target_is_directory=True)
    path = work / "publish.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _main(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    rc = publish.main(list(args), out=out)
    return rc, out.getvalue()


def _state(spec: Path) -> dict[str, Any]:
    import json

    return json.loads((spec.parent / "publish.state.json").read_text())["datasets"]


SPEC = """\
defaults:
  private: true
  card:
    license: cc-by-4.0
    citation: "@misc{{sim2026, title={{Simulated EEG}}}}"
datasets:
  - name: eeg-shards
    repo: lab/{{name}}
    layout: shards
    splits:
      train: data/recordings/sub-0[12]_raw.fif
      test: data/recordings/sub-03_raw.fif
    options: {{window: 1.0, max_count: 4}}
    expect: {{samples: 18, splits: {{train: 12, test: 6}}}}
    card: {{pretty_name: Simulated EEG windows, description: MNE-simulated EEG in 1-second windows.}}
  - name: eeg-hdf5
    repo: lab/{{name}}
    layout: hdf5
    source: data/recordings/*.fif
    expect: {{recordings: {hdf5_recordings}}}
  - name: eeg-zarr
    repo: lab/{{name}}
    layout: zarr
    source: [data/recordings/sub-01_raw.fif, {zarr_source}]
  - name: missing
    repo: lab/{{name}}
    layout: shards
    source: {missing_source}
    options: {{window: 1.0}}
  - name: mri
    repo: lab/mri
    layout: bids-parquet
    source: data/bids
    splits: {{train: 0.5, test: 0.5}}
    expect: {{n_subjects: 2}}
  - name: existing
    repo: lab/existing
    layout: artifact
    source: data/artifact
    private: false
    card: {{pretty_name: An existing artifact}}
"""
BROKEN = {
    "hdf5_recordings": 4,  # there are 3: the check fails, nothing is pushed
    "zarr_source": "data/broken/sub-09_raw.fif",  # MNE cannot read it
    "missing_source": "data/nowhere/*.edf",  # matches nothing
}
FIXED = {
    "hdf5_recordings": 3,
    "zarr_source": "data/recordings/sub-02_raw.fif",
    "missing_source": "data/recordings/sub-03_raw.fif",
}
DONE = ("eeg-shards", "mri", "existing")
FAILED = {"eeg-hdf5": "validate", "eeg-zarr": "convert", "missing": "source"}


def _commits(emu: Any, repo: str) -> int:
    return len([c for c in emu.calls("commit") if c.repo_id == repo])


def _check_hub(emu: Any, tmp_path: Path) -> None:
    """What the run put on the Hub, seen by the real huggingface_hub and datasets clients."""
    import datasets
    from huggingface_hub import DatasetCard, HfApi

    api = HfApi(endpoint=emu.endpoint)
    for name in FAILED:
        assert not api.repo_exists(f"lab/{name}", repo_type="dataset"), name
    assert api.repo_info("lab/eeg-shards", repo_type="dataset").private is True
    assert api.repo_info("lab/existing", repo_type="dataset").private is False
    card = DatasetCard.load("lab/eeg-shards", repo_type="dataset")
    assert card.data.license == "cc-by-4.0" and card.data.pretty_name == "Simulated EEG windows"
    assert "@misc{sim2026" in card.text and "1-second windows" in card.text
    existing = DatasetCard.load("lab/existing", repo_type="dataset")
    assert existing.data.pretty_name == "An existing artifact" and existing.data.license == "cc-by-4.0"
    ds = datasets.load_dataset("lab/eeg-shards", cache_dir=str(tmp_path / "ds-cache"))
    assert ds["train"].num_rows == 12 and ds["test"].num_rows == 6
    assert len(ds["train"][0]["eeg.npy"]) == 4  # channels
    mri = datasets.load_dataset("lab/mri", "mri", cache_dir=str(tmp_path / "ds-cache"))
    assert set(mri) == {"train", "test"}
    assert {r["subject"] for r in mri["train"]}.isdisjoint({r["subject"] for r in mri["test"]})


def test_publish_failures_in_the_middle_then_rerun(hub_emulator: Any, data: Path, tmp_path: Path) -> None:
    from nb_core import Manifest

    original = (data / "artifact" / "nb-manifest.json").read_bytes()
    spec = _spec(tmp_path / "work", data, SPEC.format(**BROKEN))
    rc, out = _main(str(spec), "--jobs", "0", "--no-preview")
    assert rc == 1, out
    state = _state(spec)
    for name in DONE:
        assert state[name]["status"] == "done" and state[name]["pushes"] == 1, (name, state[name])
    for name, stage in FAILED.items():
        assert state[name]["status"] == "failed" and state[name]["stage"] == stage, (name, state[name])
    assert state["eeg-hdf5"]["error"] == "recordings: expected 4, got 3"
    assert "sub-09_raw.fif" in state["eeg-zarr"]["error"]
    assert "matches no file" in state["missing"]["error"]
    assert state["eeg-shards"]["counts"]["splits"] == {"train": 12, "test": 6}
    assert state["mri"]["counts"]["n_subjects"] == 2
    assert re.search(r"^eeg-hdf5 +hdf5 +FAILED +3 +lab/eeg-hdf5 +validate: recordings", out, re.M), out
    assert "3 of 6 published, 3 failed" in out
    _check_hub(hub_emulator, tmp_path)
    # the card fields went into a copy's manifest, never into the source artifact
    assert (data / "artifact" / "nb-manifest.json").read_bytes() == original
    assert Manifest.read(spec.parent / "publish.work" / "existing").license == "cc-by-4.0"

    # the spec is fixed; a dry run shows the plan and changes nothing
    spec.write_text(SPEC.format(**FIXED), encoding="utf-8")
    before = {name: _commits(hub_emulator, f"lab/{name}") for name in (*DONE, *FAILED)}
    state_bytes = (spec.parent / "publish.state.json").read_bytes()
    work = sorted(p.name for p in (spec.parent / "publish.work").iterdir())
    rc, out = _main(str(spec), "--dry-run")
    assert rc == 0
    for name in DONE:
        assert re.search(rf"^  {name} +skip: done", out, re.M), out
    for name in FAILED:
        assert re.search(rf"^  {name} +convert .* \[retry: failed at {FAILED[name]}", out, re.M), out
    assert (spec.parent / "publish.state.json").read_bytes() == state_bytes
    assert sorted(p.name for p in (spec.parent / "publish.work").iterdir()) == work
    assert {name: _commits(hub_emulator, f"lab/{name}") for name in before} == before

    # the rerun converts and pushes only what failed
    rc, out = _main(str(spec), "--jobs", "0", "--no-preview")
    assert rc == 0, out
    state = _state(spec)
    for name in DONE:
        assert (state[name]["conversions"], state[name]["pushes"]) == (1, 1), (name, state[name])
        assert _commits(hub_emulator, f"lab/{name}") == before[name]
        assert re.search(rf"^{name} .* skipped ", out, re.M), out
    for name in ("eeg-hdf5", "eeg-zarr"):
        assert (state[name]["status"], state[name]["conversions"], state[name]["pushes"]) == ("done", 2, 1)
    assert (state["missing"]["status"], state["missing"]["conversions"]) == ("done", 1)
    assert "6 of 6 published, 0 failed" in out
    h5 = Manifest.read(spec.parent / "publish.work" / "eeg-hdf5")
    assert h5.license == "cc-by-4.0" and len(h5.recordings) == 3

    # a converted artifact that is gone is converted again, and not pushed when it is the same
    shutil.rmtree(spec.parent / "publish.work" / "eeg-shards")
    rc, out = _main(str(spec), "--jobs", "0", "--only", "eeg-shards")
    assert rc == 0 and "up to date" in out, out
    assert _commits(hub_emulator, "lab/eeg-shards") == before["eeg-shards"]
    assert _state(spec)["eeg-shards"]["conversions"] == 2


def test_dry_run_changes_nothing(hub_emulator: Any, data: Path, tmp_path: Path) -> None:
    spec = _spec(tmp_path / "work", data, SPEC.format(**BROKEN))
    rc, out = _main(str(spec), "--dry-run")
    assert rc == 0
    assert sorted(p.name for p in spec.parent.iterdir()) == ["data", "publish.yaml"]
    assert not hub_emulator.calls()
    assert re.search(
        r"^  eeg-shards +convert 3 sources to shards, check, push to lab/eeg-shards@main", out, re.M
    )
    assert re.search(r"^  missing +would fail: source 'data/nowhere/\*.edf' .* matches no file", out, re.M)
    assert "5 to publish, 0 to push again, 0 to skip, 1 failing" in out


def test_changed_source_or_force_publishes_again(hub_emulator: Any, data: Path, tmp_path: Path) -> None:
    own = tmp_path / "own"
    shutil.copytree(data / "recordings", own)
    spec = _spec(
        tmp_path / "work",
        data,
        f"datasets:\n  - {{name: a, repo: lab/a, layout: parquet, source: {own}/sub-01_raw.fif}}\n",
    )
    rc, out = _main(str(spec), "--jobs", "0", "--no-preview")
    assert rc == 0 and "a: warning: the card says 'license: unknown': set card.license" in out, out
    assert "skip: done" in _main(str(spec), "--dry-run")[1]
    shutil.copy2(own / "sub-02_raw.fif", own / "sub-01_raw.fif")  # other bytes, same name
    assert "the spec entry, its sources or the endpoint changed" in _main(str(spec), "--dry-run")[1]
    assert _main(str(spec), "--jobs", "0", "--no-preview")[0] == 0
    assert _main(str(spec), "--jobs", "0", "--no-preview", "--force")[0] == 0
    assert _state(spec)["a"]["conversions"] == 3
    assert _commits(hub_emulator, "lab/a") >= 2


def test_bids_eeg_as_shards_or_formats(hub_emulator: Any, tmp_path: Path) -> None:
    """A BIDS dataset whose EEG goes to nb-shards (``to: shards``) or nb-formats (``to: formats``)
    instead of the Parquet ``eeg`` config: converted, checked and pushed like any other."""
    from huggingface_hub import HfApi

    from nb_bids.testing import make_bids_tree

    data = tmp_path / "data"
    make_bids_tree(
        data / "bids-eeg", n_subjects=2, anat=False, func=False, dwi=False, derivatives=False, missing_modality=False,
        eeg_formats=("BrainVision",),
    )  # fmt: skip
    text = (
        "datasets:\n"
        "  - {name: eeg-in-shards, repo: lab/eeg-in-shards, layout: bids-parquet, source: data/bids-eeg,\n"
        "     options: {to: shards}, expect: {n_subjects: 2}}\n"
        "  - {name: eeg-in-zarr, repo: lab/eeg-in-zarr, layout: bids-parquet, source: data/bids-eeg,\n"
        "     options: {to: formats, format: zarr}}\n"
    )
    spec = _spec(tmp_path / "work", data, text)
    rc, out = _main(str(spec), "--jobs", "0", "--no-preview")
    assert rc == 0, out
    state = _state(spec)
    assert state["eeg-in-shards"]["status"] == state["eeg-in-zarr"]["status"] == "done", state
    api = HfApi(endpoint=hub_emulator.endpoint)
    shards = api.list_repo_files("lab/eeg-in-shards", repo_type="dataset")
    assert any(f.startswith("eeg/") and f.endswith(".tar") for f in shards), shards
    assert "eeg/nb-manifest.json" in shards
    stores = api.list_repo_files("lab/eeg-in-zarr", repo_type="dataset")
    assert any(f.startswith("eeg/train/") and ".zarr" in f for f in stores), stores


def test_dask_local_scheduler(hub_emulator: Any, data: Path, tmp_path: Path) -> None:
    from nb_core import Manifest

    distributed = pytest.importorskip("distributed")
    spec = _spec(
        tmp_path / "work",
        data,
        "datasets:\n"
        "  - {name: w, repo: lab/w, layout: shards, source: data/recordings/*.fif,"
        " options: {window: 2.0}, expect: {samples: 9}}\n"
        "  - {name: x, repo: lab/x, layout: artifact, source: data/artifact}\n"
        "  - {name: y, repo: lab/y, layout: zarr, source: data/artifact, expect: {recordings: 1}}\n"
        "defaults: {card: {license: cc0-1.0}}\n",
    )
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        rc, out = _main(str(spec), "--scheduler", cluster.scheduler_address, "--no-preview")
    assert rc == 0, out
    state = _state(spec)
    assert state["w"]["counts"]["samples"] == 9 and state["x"]["status"] == "done"
    assert state["y"]["status"] == "done"  # an nb-formats artifact converted to Zarr
    assert Manifest.read(spec.parent / "publish.work" / "y").layout == "zarr"
    assert _commits(hub_emulator, "lab/w") >= 1 and _commits(hub_emulator, "lab/x") >= 1


def test_refused_push_fails_that_dataset_only(
    hub_emulator_factory: Any, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = hub_emulator_factory(tokens={"hf_alice_secret": "alice"})
    monkeypatch.setenv("HF_TOKEN", "hf_alice_secret")
    spec = _spec(
        tmp_path / "work",
        data,
        "defaults: {layout: artifact, source: data/artifact}\n"
        "datasets:\n  - {name: theirs, repo: bob/x}\n  - {name: mine, repo: alice/x}\n",
    )
    rc, out = _main(str(spec), "--jobs", "0", "--no-preview", "--endpoint", emu.endpoint)
    assert rc == 1, out
    state = _state(spec)
    assert (state["theirs"]["status"], state["theirs"]["stage"]) == ("failed", "push")
    assert state["mine"]["status"] == "done"
    assert "hf_alice_secret" not in out + (spec.parent / "publish.state.json").read_text()
    assert "403" in state["theirs"]["error"] or "may not" in state["theirs"]["error"], state["theirs"]
    assert [c.status for c in emu.calls("commit") if c.repo_id == "bob/x"] == []


def test_failed_push_is_retried_without_converting(hub_emulator: Any, data: Path, tmp_path: Path) -> None:
    spec = _spec(
        tmp_path / "work",
        data,
        "datasets:\n  - {name: w, repo: lab/w, layout: parquet, source: data/recordings/sub-01_raw.fif,"
        " card: {license: cc0-1.0}}\n",
    )
    hub_emulator.inject("commit", status=403, times=1)  # the Hub refuses the first commit
    rc, out = _main(str(spec), "--jobs", "0", "--no-preview")
    assert rc == 1 and "FAILED at push" in out, out
    assert (_state(spec)["w"]["stage"], _state(spec)["w"]["conversions"]) == ("push", 1)
    rc, out = _main(str(spec), "--dry-run")
    assert re.search(r"^  w +push to lab/w@main \[retry the push", out, re.M), out
    rc, out = _main(str(spec), "--jobs", "0", "--no-preview")
    assert rc == 0 and "converting" not in out, out
    rec = _state(spec)["w"]
    assert (rec["status"], rec["conversions"], rec["pushes"]) == ("done", 1, 2)
    assert rec["counts"]["recordings"] == 1
    assert "1 of 1 published" in out


# -- bad specs --------------------------------------------------------------------------------------
OK = "    repo: me/a\n    layout: shards\n    source: x.fif\n"
BAD_SPECS = [
    (
        "datasets:\n  - name: a\n    repo: me/a\n    layout: hdf6\n    source: x\n",
        4,
        "datasets[0].layout: unknown layout 'hdf6'",
    ),
    (
        "datasets:\n  - name: a\n" + OK + "    options:\n      window: -1\n",
        7,
        "datasets[0].options.window: must be a number > 0; got -1",
    ),
    (
        "datasets:\n  - name: a\n    repo: me/a\n    layout: bids-parquet\n    source: x\n    options:\n      rows: subject\n",
        7,
        "datasets[0].options.rows: must be one of file, session; got 'subject'",
    ),
    (
        "datasets:\n  - name: a\n    repo: me/a\n    layout: bids-parquet\n    source: x\n    options:\n      to: nwb\n",
        7,
        "datasets[0].options.to: must be one of hf, shards, formats; got 'nwb'",
    ),
    (
        "datasets:\n  - name: a\n" + OK + "    options: {windw: 2}\n",
        6,
        "datasets[0].options.windw: not an option of layout shards",
    ),
    (
        "defaults:\n  options: {zip_store: true}\ndatasets:\n  - name: a\n" + OK,
        2,
        "defaults.options.zip_store: not an option of layout shards (options: window, stride",
    ),
    (
        "datasets:\n  - name: a\n" + OK + "  - name: a\n" + OK,
        6,
        "datasets[1].name: dataset name 'a' is used twice (also line 2)",
    ),
    ("datasets:\n  - name: a\n    name: b\n", 3, "datasets[0].name: given twice (first on line 2)"),
    (
        "datasets:\n  - name: a\n    repo: me\n    layout: shards\n    source: x\n",
        3,
        "datasets[0].repo: 'me' is not a repo id",
    ),
    ("datasets:\n  - name: a\n    layout: shards\n    source: x\n", 2, "datasets[0]: missing field `repo`"),
    (
        "datasets:\n  - name: a\n    repo: me/a\n    layout: shards\n",
        2,
        "datasets[0]: missing field `source`",
    ),
    ("datasets:\n  - name: a\n" + OK + "    privat: true\n", 6, "datasets[0].privat: unknown field"),
    (
        "datasets:\n  - name: a\n" + OK + "    private: yes please\n",
        6,
        "datasets[0].private: must be true or false",
    ),
    (
        "datasets:\n  - name: a\n    repo: me/a\n    layout: hdf5\n    source: x\n    expect: {n_subjects: 3}\n",
        6,
        "datasets[0].expect.n_subjects: layout hdf5 has no n_subjects count",
    ),
    (
        "datasets:\n  - name: a\n    repo: me/a\n    layout: bids-parquet\n    source: x\n    splits: {train: 0.5, test: 0.2}\n",
        6,
        "datasets[0].splits: the fractions must sum to 1",
    ),
    (
        "datasets:\n  - name: a\n    repo: me/a\n    layout: hdf5\n    splits: {train: x}\n",
        5,
        "datasets[0].splits: layout hdf5 holds one split",
    ),
    (
        "datasets:\n  - name: a\n" + OK + "  - name: b\n" + OK,
        7,
        "datasets[1].repo: me/a@main is also the target of datasets[0] (line 2)",
    ),
    (
        "datasets:\n  - name: a\n" + OK + "    card: {licence: mit}\n",
        6,
        "datasets[0].card.licence: unknown field",
    ),
    ("datasets: [\n", 2, "invalid YAML"),
    ("datasets:\n  - name: a\n\trepo: x\n", 3, "invalid YAML"),
    ("datasets: []\n", 1, "datasets: must be a non-empty list of datasets"),
    ("dataset:\n  - name: a\n", 1, "dataset: unknown field; expected one of: defaults, datasets"),
    ("", 1, "the spec is empty"),
    ("a: &a [*a]\n", 1, "an alias refers to itself"),
    (
        "datasets: !!python/object/apply:os.system [echo hi]\n",
        1,
        "invalid YAML: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed",
    ),
    ("x: !!python/name:os.system\n", 1, "could not determine a constructor for the tag"),
    (
        "x: &a [1,1,1,1,1,1,1,1,1,1]\ny: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nz: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "w: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\nv: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
        1,
        "expands to more than",
    ),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_SPECS, ids=[m for _, _, m in BAD_SPECS])
def test_bad_spec_names_line_and_field(
    text: str, line: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "publish.yaml"
    spec.write_text(text, encoding="utf-8")
    rc, out = _main(str(spec), "--dry-run")
    err = capsys.readouterr().err
    assert rc == 2 and out == ""
    assert err.startswith(f"publish: error: {spec}:{line}: ") and message in err, err
    assert err.count("\n") == 1  # one line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["publish.yaml"]


def test_defaults_error_names_the_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "publish.yaml"
    spec.write_text(
        "defaults:\n  options: {zip_store: true}\ndatasets:\n"
        "  - {name: a, repo: me/a, layout: zarr, source: x}\n"
        "  - {name: b, repo: me/b, layout: shards, source: x}\n"
    )
    assert _main(str(spec))[0] == 2
    assert "(merged into datasets[1], line 5)" in capsys.readouterr().err


def test_bad_state_file_and_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "publish.yaml"
    spec.write_text("datasets:\n  - {name: a, repo: me/a, layout: artifact, source: a/}\n")
    (tmp_path / "publish.state.json").write_text('{"version": 1, "datasets": [')
    # the command itself: exit status 2, one line, no traceback
    env = {k: v for k, v in os.environ.items() if k != "NB_DEBUG"}
    r = subprocess.run(
        [sys.executable, str(SCRIPT), str(spec)], capture_output=True, text=True, env=env, timeout=120
    )
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert (
        r.stderr.startswith(f"publish: error: {tmp_path / 'publish.state.json'}: ")
        and r.stderr.count("\n") == 1
    )
    assert "Traceback" not in r.stderr
    cases = [
        (
            [str(spec), "--state", str(tmp_path / "s.json"), "--only", "b"],
            "--only b: no dataset of that name",
        ),
        ([str(spec), "--state", str(tmp_path / "s.json"), "--jobs", "-1"], "--jobs must be 0 or more"),
        ([str(tmp_path / "nope.yaml")], "nope.yaml: no such spec file"),
        ([str(tmp_path)], "is a directory"),
        ([str(spec), "--state", "/dev/null/publish.state.json"], "/dev/null"),
        ([str(spec), "--state", str(tmp_path / "odd.json")], "odd.json: not a publish state file"),
    ]
    (tmp_path / "odd.json").write_text('{"version": 1, "datasets": {"a": {"conversions": "many"}}}')
    for args, message in cases:
        assert _main(*args)[0] == 2, args
        err = capsys.readouterr().err
        assert err.startswith("publish: error: ") and message in err, err
    assert not (tmp_path / "s.json").exists()
    # a second run on one state file waits for none: it stops
    import fcntl

    with (tmp_path / "s.json.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert _main(str(spec), "--state", str(tmp_path / "s.json"))[0] == 2
    assert "another publish run is using this state file" in capsys.readouterr().err


# -- the examples of --help and of scripts/README.md, as printed ------------------------------------
def _help_examples() -> list[str]:
    lines, inside = [], False
    for raw in publish.build_parser().format_help().splitlines():
        if raw.strip() == "examples:":
            inside = True
        elif inside and raw.startswith("  ") and raw.strip():
            lines.append(re.split(r"\s{2,}|\s#\s", raw.strip(), maxsplit=1)[0])
        elif inside:
            break
    return lines


def _readme_spec() -> str:
    text = (ROOT / "scripts" / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M)
    assert len(blocks) == 1
    return blocks[0]


@contextlib.contextmanager
def _example_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder with the README's spec as publish.yaml, the inputs it names, and scripts/."""
    work = tmp_path / "example"
    _make_data(work)
    shutil.rmtree(work / "artifact")
    shutil.rmtree(work / "broken")
    (work / "publish.yaml").write_text(_readme_spec(), encoding="utf-8")
    (work / "scripts").symlink_to(ROOT / "scripts", target_is_directory=True)
    yield work


@pytest.mark.slow
def test_help_and_readme_examples_run_as_printed(hub_emulator: Any, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    examples = _help_examples()
    assert len(examples) >= 3 and all(e.startswith("python scripts/publish.py ") for e in examples)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "NB_DEBUG"))}
    env.update(
        hub_emulator.client_env({}),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NB_PROGRESS="0",
        NB_BIDS_CACHE=str(tmp_path / "bids-cache"),
        MPLBACKEND="Agg",
    )
    with _example_folder(tmp_path) as work:
        for line in examples:
            r = subprocess.run(
                ["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=300
            )
            assert r.returncode == 0, (
                f"`{line}` exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
            )
            assert "Traceback" not in r.stderr, r.stderr
            if "--jobs 2" in shlex.split(line):
                assert "3 of 3 published, 0 failed" in r.stdout, r.stdout
    api = HfApi(endpoint=hub_emulator.endpoint)
    for repo in ("my-lab/rest-windows", "my-lab/rest-hdf5", "my-lab/rest-mri"):
        assert api.repo_exists(repo, repo_type="dataset"), repo
    assert api.repo_info("my-lab/rest-windows", repo_type="dataset").private is True
    assert api.repo_info("my-lab/rest-mri", repo_type="dataset").private is False
    assert (work / "runs" / "publish.state.json").is_file()  # the --state example


def test_docstring_examples() -> None:
    import doctest

    assert doctest.testmod(publish).failed == 0


def test_readme_spec_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "publish.yaml"
    path.write_text(_readme_spec(), encoding="utf-8")
    by_name = {d.name: d for d in publish.load_spec(path).datasets}
    assert list(by_name) == ["rest-windows", "rest-hdf5", "rest-mri"]
    assert by_name["rest-windows"].repo == "my-lab/rest-windows"
    assert by_name["rest-windows"].card["license"] == "cc-by-4.0"  # from defaults
    assert by_name["rest-mri"].private is False and by_name["rest-hdf5"].private is True
    assert by_name["rest-mri"].fractions == {"train": 0.5, "test": 0.5}
