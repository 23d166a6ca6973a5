"""push/pull end to end over HTTP against the emulator with the real huggingface_hub client."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, HfApi

import nb_hub
from nb_core import Manifest
from nb_core.errors import ChecksumMismatchError, HubAuthError, HubError, HubLimitError, HubNotFoundError
from nb_hub import RepoLimits, TooManySmallFilesWarning
from nb_hub.testing import HubLimits, validate_card_metadata

#: These tests push artifacts made without a license; the warning that says so is tested in
#: test_push_exact.py.
pytestmark = pytest.mark.filterwarnings("ignore::nb_hub.push.NoLicenseWarning")


def _same_tree(a: Path, b: Path, manifest: Manifest) -> None:
    for f in manifest.files:
        assert (a / f.path).read_bytes() == (b / f.path).read_bytes(), f.path


def test_push_then_pull_shards_byte_identical(hub_emulator, shards_artifact, hub_cache):
    url = nb_hub.push(shards_artifact, "me/eeg", endpoint=hub_emulator.endpoint)
    assert url.startswith(f"{hub_emulator.endpoint}/datasets/me/eeg/commit/")
    files = hub_emulator.repo_files("me/eeg")
    assert {"README.md", "nb-manifest.json", "nb-preview.png"} <= set(files)
    assert files["nb-preview.png"].startswith(b"\x89PNG")
    m = Manifest.read(shards_artifact)
    out = nb_hub.pull("me/eeg", endpoint=hub_emulator.endpoint)
    _same_tree(shards_artifact, out, m)
    assert (out / "nb-manifest.json").read_bytes() == (shards_artifact / "nb-manifest.json").read_bytes()
    # the card parses, and the emulator's YAML validation accepted it
    text = files["README.md"].decode()
    c = DatasetCard(text)
    assert c.data.license == "cc-by-4.0" and "eeg" in c.data.tags
    assert c.data.configs == m.extra["hf_configs"]
    assert validate_card_metadata(text, "dataset") == ([], [])
    assert hub_emulator.calls("validate-yaml", status=200)


def test_repush_unchanged_uploads_nothing(hub_emulator, shards_artifact):
    nb_hub.push(shards_artifact, "me/same", endpoint=hub_emulator.endpoint)
    n_commits = hub_emulator.commit_count("me/same")
    hub_emulator.clear_log()
    url = nb_hub.push(shards_artifact, "me/same", endpoint=hub_emulator.endpoint)
    assert hub_emulator.commit_count("me/same") == n_commits
    assert not hub_emulator.calls("lfs-upload") and not hub_emulator.calls("commit")
    assert url.endswith(HfApi(endpoint=hub_emulator.endpoint).dataset_info("me/same").sha)


def test_pull_partial_and_pinned(hub_emulator, shards_artifact, tmp_path):
    nb_hub.push(shards_artifact, "me/part", endpoint=hub_emulator.endpoint)
    out = nb_hub.pull(
        "me/part", endpoint=hub_emulator.endpoint, allow_patterns="test-*", local_dir=tmp_path / "part"
    )
    names = sorted(p.name for p in out.iterdir() if p.is_file())
    assert names == ["nb-manifest.json", "test-000000.idx", "test-000000.tar"]


def test_pull_detects_corruption(hub_emulator, shards_artifact, tmp_path):
    nb_hub.push(shards_artifact, "me/bad", endpoint=hub_emulator.endpoint)
    api = HfApi(endpoint=hub_emulator.endpoint, token="t")
    api.upload_file(
        path_or_fileobj=b"tampered", path_in_repo="train-000001.tar", repo_id="me/bad", repo_type="dataset"
    )
    with pytest.raises(ChecksumMismatchError, match="train-000001.tar"):
        nb_hub.pull("me/bad", endpoint=hub_emulator.endpoint, local_dir=tmp_path / "bad")
    ok = nb_hub.pull("me/bad", endpoint=hub_emulator.endpoint, local_dir=tmp_path / "bad2", verify=False)
    assert (ok / "train-000001.tar").read_bytes() == b"tampered"


def test_missing_repo_revision_and_file(hub_emulator, shards_artifact, tmp_path):
    with pytest.raises(HubNotFoundError, match="repository not found"):
        nb_hub.pull("me/none", endpoint=hub_emulator.endpoint)
    nb_hub.push(shards_artifact, "me/exists", endpoint=hub_emulator.endpoint)
    with pytest.raises(HubNotFoundError, match="revision not found"):
        nb_hub.pull("me/exists", revision="v9", endpoint=hub_emulator.endpoint)
    api = HfApi(endpoint=hub_emulator.endpoint, token="t")
    api.create_repo("me/plain", repo_type="dataset")
    with pytest.raises(HubNotFoundError, match="no nb-manifest.json"):
        nb_hub.pull("me/plain", endpoint=hub_emulator.endpoint, local_dir=tmp_path / "plain")


def test_private_repo_and_wrong_token(hub_emulator_factory, shards_artifact):
    emu = hub_emulator_factory(tokens={"hf_alice_secret": "alice", "hf_bob_secret": "bob"})
    nb_hub.push(
        shards_artifact, "alice/private-eeg", private=True, token="hf_alice_secret", endpoint=emu.endpoint
    )
    with pytest.raises(HubAuthError) as err:
        nb_hub.pull("alice/private-eeg", token="hf_wrong_token", endpoint=emu.endpoint)
    assert "401" in str(err.value) and "hf_wrong_token" not in str(err.value)
    with pytest.raises(HubNotFoundError) as err2:
        nb_hub.pull("alice/private-eeg", token="hf_bob_secret", endpoint=emu.endpoint)
    assert "hf_bob_secret" not in str(err2.value)
    with pytest.raises(HubAuthError):
        nb_hub.push(shards_artifact, "alice/other", token="hf_wrong_token", endpoint=emu.endpoint)
    out = nb_hub.pull("alice/private-eeg", token="hf_alice_secret", endpoint=emu.endpoint)
    assert (out / "nb-manifest.json").is_file()


def test_interrupted_push_resumes_without_duplicates(hub_emulator, tmp_path, build_files):
    art = tmp_path / "art"
    m = build_files(art, n_files=6)
    # the second data commit fails after its LFS blobs were uploaded (a non-retried 4xx)
    hub_emulator.inject("commit", kind="error", status=400, after=1)  # the 2nd commit fails
    with pytest.raises(HubError, match="injected fault"):
        nb_hub.push(
            art, "me/resume", endpoint=hub_emulator.endpoint, limits=RepoLimits(max_files_per_commit=3)
        )
    assert "nb-manifest.json" not in hub_emulator.repo_files("me/resume")
    first_puts = {c.path for c in hub_emulator.calls("lfs-upload", status=200)}
    assert len(first_puts) == 6  # all six blobs went up, only three were committed
    nb_hub.push(art, "me/resume", endpoint=hub_emulator.endpoint, limits=RepoLimits(max_files_per_commit=3))
    puts = [c.path for c in hub_emulator.calls("lfs-upload", status=200)]
    assert len(puts) == len(set(puts)) == 6  # nothing uploaded twice
    files = hub_emulator.repo_files("me/resume")
    for f in m.files:
        assert files[f.path] == (art / f.path).read_bytes()
    out = nb_hub.pull("me/resume", endpoint=hub_emulator.endpoint, local_dir=tmp_path / "back")
    assert Manifest.read(out).files == m.files


def test_dropped_upload_is_retried(hub_emulator, files_artifact):
    hub_emulator.inject("lfs-upload", kind="drop")
    nb_hub.push(files_artifact, "me/drop", endpoint=hub_emulator.endpoint)
    # LFS uploads run in parallel threads: the dropped one is not necessarily logged first.
    faults = [c.fault for c in hub_emulator.calls("lfs-upload")]
    assert faults.count("drop") == 1
    assert len(faults) == len(Manifest.read(files_artifact).files) + 1  # one retry, nothing else repeated
    m = Manifest.read(files_artifact)
    files = hub_emulator.repo_files("me/drop")
    assert all(files[f.path] == (files_artifact / f.path).read_bytes() for f in m.files)


def test_limits_checked_before_upload(hub_emulator_factory, tmp_path, build_files):
    emu = hub_emulator_factory(limits=HubLimits(max_commits_per_hour=2))
    art = tmp_path / "many"
    build_files(art, n_files=12, size=100)
    with pytest.raises(HubLimitError, match="commits per hour"):
        nb_hub.push(
            art,
            "me/many",
            endpoint=emu.endpoint,
            limits=RepoLimits(max_files_per_commit=2, max_commits_per_hour=5),
        )
    assert not emu.calls("lfs-upload")
    # without nb-hub knowing the limit, the Hub's 429 becomes a HubLimitError
    with pytest.raises(HubLimitError, match="429"):
        nb_hub.push(art, "me/many", endpoint=emu.endpoint, limits=RepoLimits(max_files_per_commit=4))
    with pytest.raises(HubLimitError, match="per folder"):
        nb_hub.check_limits(Manifest.read(art), RepoLimits(max_files_per_folder=5))
    with pytest.warns(TooManySmallFilesWarning, match="nb shards write"):
        nb_hub.check_limits(Manifest.read(art), RepoLimits(max_small_files=10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nb_hub.check_limits(Manifest.read(art))


def test_user_card_text_preserved_on_repush(hub_emulator, shards_artifact, tmp_path):
    nb_hub.push(shards_artifact, "me/card", endpoint=hub_emulator.endpoint)
    api = HfApi(endpoint=hub_emulator.endpoint, token="t")
    text = hub_emulator.repo_files("me/card")["README.md"].decode()
    text = text.replace("pretty_name:", "annotations_creators:\n- expert-generated\npretty_name:")
    text += "\n## Notes from the curator\n\nRecorded on a rainy day.\n"
    api.upload_file(
        path_or_fileobj=text.encode(), path_in_repo="README.md", repo_id="me/card", repo_type="dataset"
    )
    m = Manifest.read(shards_artifact)
    m.description = "Updated description."
    m.write(shards_artifact)
    nb_hub.push(shards_artifact, "me/card", endpoint=hub_emulator.endpoint)
    new = hub_emulator.repo_files("me/card")["README.md"].decode()
    assert "Recorded on a rainy day." in new and "Updated description." in new
    assert DatasetCard(new).data.annotations_creators == ["expert-generated"]
    assert new.count("Notes from the curator") == 1


def test_push_to_branch_and_pr(hub_emulator, shards_artifact):
    nb_hub.push(shards_artifact, "me/br", revision="dev", endpoint=hub_emulator.endpoint)
    assert "nb-manifest.json" in hub_emulator.repo_files("me/br", revision="dev")
    assert "nb-manifest.json" not in hub_emulator.repo_files("me/br", revision="main")
    url = nb_hub.push(shards_artifact, "me/br", create_pr=True, endpoint=hub_emulator.endpoint)
    assert "/discussions/" in url
    assert "nb-manifest.json" in hub_emulator.repo_files("me/br", revision="refs/pr/1")
    assert "nb-manifest.json" not in hub_emulator.repo_files("me/br", revision="main")


def test_offline_pull_uses_cache(hub_emulator, shards_artifact, tmp_path):
    import os
    import subprocess
    import sys

    nb_hub.push(shards_artifact, "me/offline", endpoint=hub_emulator.endpoint)
    cache = tmp_path / "cache"
    online = nb_hub.pull("me/offline", endpoint=hub_emulator.endpoint, cache_dir=cache)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_XET="1", HF_ENDPOINT=hub_emulator.endpoint)
    code = f"import nb_hub; print(nb_hub.pull('me/offline', cache_dir={str(cache)!r}))"
    hub_emulator.clear_log()
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == online
    assert hub_emulator.calls() == []  # nothing was requested
    code_missing = f"import nb_hub; nb_hub.pull('me/never', cache_dir={str(cache)!r})"
    r = subprocess.run(
        [sys.executable, "-c", code_missing], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode != 0 and "HubNotFoundError" in r.stderr


@pytest.mark.parametrize("show", [False, True])
def test_show_progress_governs_huggingface_hub_bars_too(
    hub_emulator, shards_artifact, tmp_path, capfd, monkeypatch, show
):
    """``show_progress=False`` silences huggingface_hub's upload and download bars as well as
    nb-hub's own; the process-wide switch is put back after."""
    import importlib

    from huggingface_hub import constants
    from huggingface_hub.utils import are_progress_bars_disabled

    # (the test suite turns huggingface_hub's bars off through the environment: as if unset here)
    hf_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")  # (the module, not the class)
    monkeypatch.setattr(hf_tqdm, "HF_HUB_DISABLE_PROGRESS_BARS", None)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_PROGRESS_BARS", None)
    monkeypatch.setattr(hf_tqdm, "progress_bar_states", {})
    assert not are_progress_bars_disabled()
    nb_hub.push(shards_artifact, f"me/bars-{show}", endpoint=hub_emulator.endpoint, show_progress=show)
    nb_hub.pull(
        f"me/bars-{show}", endpoint=hub_emulator.endpoint, local_dir=tmp_path / "out", show_progress=show
    )
    err = capfd.readouterr().err
    assert ("Fetching" in err and "%|" in err) is show  # huggingface_hub's download bar
    assert not are_progress_bars_disabled()
