"""The Hub emulator against the real huggingface_hub client, over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from nb_hub.testing import HubEmulator, HubLimits, validate_card_metadata


def _api(emu: HubEmulator, token: str = "t") -> HfApi:
    return HfApi(endpoint=emu.endpoint, token=token)


def test_upload_download_roundtrip_and_log(hub_emulator, tmp_path):
    api = _api(hub_emulator)
    api.create_repo("me/rt", repo_type="dataset")
    cache = tmp_path / "cache"
    tmp_path = tmp_path / "data"
    (tmp_path / "sub").mkdir(parents=True)
    big = os.urandom(50_000)
    (tmp_path / "sub" / "a.bin").write_bytes(big)
    (tmp_path / "note.txt").write_text("hello")
    info = api.upload_folder(folder_path=tmp_path, repo_id="me/rt", repo_type="dataset")
    assert info.oid and len(info.oid) == 40
    assert info.commit_url.startswith(hub_emulator.endpoint)
    names = {c.endpoint for c in hub_emulator.calls()}
    assert {"create-repo", "preupload", "lfs-batch", "lfs-upload", "commit"} <= names
    files = hub_emulator.repo_files("me/rt")
    assert files["sub/a.bin"] == big and files["note.txt"] == b"hello"
    p = hf_hub_download(
        "me/rt", "sub/a.bin", repo_type="dataset", endpoint=hub_emulator.endpoint, cache_dir=cache
    )
    assert Path(p).read_bytes() == big
    head = [c for c in hub_emulator.calls("resolve") if c.method == "HEAD"]
    assert head and head[0].status == 200
    # unchanged re-upload: no LFS PUT, no new commit
    n_put = len(hub_emulator.calls("lfs-upload"))
    again = api.upload_folder(folder_path=tmp_path, repo_id="me/rt", repo_type="dataset")
    assert again.oid == info.oid
    assert len(hub_emulator.calls("lfs-upload")) == n_put


def test_tree_pagination_paths_info_refs(hub_emulator_factory):
    emu = hub_emulator_factory(limits=HubLimits(page_size=2))
    api = _api(emu)
    api.create_repo("me/tree", repo_type="dataset")
    from huggingface_hub import CommitOperationAdd

    ops = [CommitOperationAdd(f"d/f{i}.txt", f"x{i}".encode()) for i in range(5)]
    api.create_commit("me/tree", ops, commit_message="five", repo_type="dataset")
    tree = list(api.list_repo_tree("me/tree", repo_type="dataset", recursive=True))
    assert sorted(t.path for t in tree) == [".gitattributes", "d"] + [f"d/f{i}.txt" for i in range(5)]
    assert len(emu.calls("tree")) >= 4  # followed the Link header
    sub = list(api.list_repo_tree("me/tree", "d", repo_type="dataset", expand=True))
    assert len(sub) == 5 and all(t.last_commit is not None for t in sub)
    info = api.get_paths_info("me/tree", ["d/f1.txt", "d", "missing"], repo_type="dataset")
    assert [type(i).__name__ for i in info] == ["RepoFile", "RepoFolder"]
    api.create_branch("me/tree", branch="dev", repo_type="dataset")
    api.create_tag("me/tree", tag="v1", repo_type="dataset")
    refs = api.list_repo_refs("me/tree", repo_type="dataset")
    assert {b.name for b in refs.branches} == {"main", "dev"} and refs.tags[0].name == "v1"
    commits = api.list_repo_commits("me/tree", repo_type="dataset", revision="v1")
    assert [c.title for c in commits] == ["five", "initial commit"]
    pr = api.create_commit(
        "me/tree",
        [CommitOperationAdd("pr.txt", b"p")],
        commit_message="pr",
        repo_type="dataset",
        create_pr=True,
    )
    assert pr.pr_url and "pr.txt" not in emu.repo_files("me/tree")
    assert "pr.txt" in emu.repo_files("me/tree", revision="refs/pr/1")


def test_range_requests_and_hf_filesystem(hub_emulator, tmp_path):
    api = _api(hub_emulator)
    api.create_repo("me/rng", repo_type="dataset")
    data = bytes(range(256)) * 100
    api.upload_file(path_or_fileobj=data, path_in_repo="x.bin", repo_id="me/rng", repo_type="dataset")
    url = hub_emulator.url("me/rng", "x.bin")
    r = httpx2.get(url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert httpx2.get(url, headers={"Range": "bytes=-5"}).content == data[-5:]
    assert httpx2.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    h = httpx2.head(url)
    assert h.headers["X-Repo-Commit"] and h.headers["X-Linked-Size"] == str(len(data))
    fs = HfFileSystem(endpoint=hub_emulator.endpoint, token="t")
    with fs.open("datasets/me/rng/x.bin", "rb", block_size=1024) as f:
        f.seek(9000)
        assert f.read(100) == data[9000:9100]
    assert fs.cat_file("hf://datasets/me/rng/x.bin", start=5, end=9) == data[5:9]


def test_error_codes(hub_emulator):
    api = _api(hub_emulator)
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("me/nothing")
    api.create_repo("me/err", repo_type="dataset")
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info("me/err", revision="nope")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("me/err", "missing.txt", repo_type="dataset", endpoint=hub_emulator.endpoint)
    with httpx2.Client() as client:  # keep-alive: a HEAD error must carry no body
        for _ in range(2):
            r = client.head(hub_emulator.url("me/err", "missing.txt"))
            assert r.status_code == 404 and r.headers["X-Error-Code"] == "EntryNotFound"


def test_tokens_and_private_repos(hub_emulator_factory):
    emu = hub_emulator_factory(tokens={"hf_alice": "alice", "hf_bob": "bob"})
    alice, bob = _api(emu, "hf_alice"), _api(emu, "hf_bob")
    alice.create_repo("alice/secret", repo_type="dataset", private=True)
    alice.upload_file(path_or_fileobj=b"s", path_in_repo="s.txt", repo_id="alice/secret", repo_type="dataset")
    assert alice.dataset_info("alice/secret").private
    with pytest.raises(RepositoryNotFoundError):
        bob.dataset_info("alice/secret")
    with pytest.raises(HfHubHTTPError) as err:
        _api(emu, "hf_wrong").dataset_info("alice/secret")
    assert err.value.response.status_code == 401
    assert "hf_wrong" not in str(err.value)
    assert all(r.user in (None, "alice", "bob") for r in emu.requests)


def test_limits_enforced(hub_emulator_factory):
    from huggingface_hub import CommitOperationAdd

    emu = hub_emulator_factory(
        limits=HubLimits(max_files_per_commit=2, max_commits_per_hour=2, max_files_per_folder=3)
    )
    api = _api(emu)
    api.create_repo("me/lim", repo_type="dataset")
    with pytest.raises(HfHubHTTPError, match="too many files in one commit"):
        api.create_commit(
            "me/lim",
            [CommitOperationAdd(f"{i}.txt", b"x") for i in range(3)],
            commit_message="m",
            repo_type="dataset",
        )
    api.create_commit(
        "me/lim",
        [CommitOperationAdd("d/1.txt", b"1"), CommitOperationAdd("d/2.txt", b"2")],
        commit_message="ok",
        repo_type="dataset",
    )
    with pytest.raises(HfHubHTTPError, match="too many entries in folder"):
        api.create_commit(
            "me/lim",
            [CommitOperationAdd("d/3.txt", b"3"), CommitOperationAdd("d/4.txt", b"4")],
            commit_message="m",
            repo_type="dataset",
        )
    api.create_commit(
        "me/lim", [CommitOperationAdd("d/3.txt", b"3")], commit_message="ok2", repo_type="dataset"
    )
    with pytest.raises(HfHubHTTPError) as err:
        api.create_commit(
            "me/lim", [CommitOperationAdd("e.txt", b"e")], commit_message="m", repo_type="dataset"
        )
    assert err.value.response.status_code == 429


def test_faults_are_retried(hub_emulator):
    api = _api(hub_emulator)
    api.create_repo("me/flt", repo_type="dataset")
    hub_emulator.inject("lfs-upload", kind="drop")
    hub_emulator.inject("preupload", kind="error", status=503)
    data = os.urandom(20_000)
    api.upload_file(path_or_fileobj=data, path_in_repo="f.bin", repo_id="me/flt", repo_type="dataset")
    assert hub_emulator.repo_files("me/flt")["f.bin"] == data
    assert [f.fired for f in hub_emulator.faults] == [1, 1]
    assert [c.fault for c in hub_emulator.calls("lfs-upload")] == ["drop", None]
    assert [c.status for c in hub_emulator.calls("preupload")] == [503, 200]


def test_validate_yaml():
    ok = "---\nlicense: cc-by-4.0\ntags: [eeg]\nsize_categories: [n<1K]\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: train-*.tar\n---\nbody\n"
    assert validate_card_metadata(ok, "dataset") == ([], [])
    bad = "---\nsize_categories: [huge]\nconfigs:\n- data_files: 3\n---\n"
    errors, _ = validate_card_metadata(bad, "dataset")
    assert len(errors) == 3
    assert validate_card_metadata("no yaml", "dataset")[1]


def test_readme_validated_on_commit(hub_emulator):
    api = _api(hub_emulator)
    api.create_repo("me/card", repo_type="dataset")
    with pytest.raises(ValueError, match="size_categories"):
        api.upload_file(
            path_or_fileobj=b"---\nsize_categories: [lots]\n---\n",
            path_in_repo="README.md",
            repo_id="me/card",
            repo_type="dataset",
        )
    assert hub_emulator.validations[-1]["errors"]


def test_storage_on_disk_survives_restart(tmp_path):
    with HubEmulator(storage=tmp_path / "hub") as emu:
        api = _api(emu)
        api.create_repo("me/disk", repo_type="dataset")
        api.upload_file(
            path_or_fileobj=b"persist", path_in_repo="p.txt", repo_id="me/disk", repo_type="dataset"
        )
    with HubEmulator(storage=tmp_path / "hub") as emu2:
        assert emu2.repo_files("me/disk")["p.txt"] == b"persist"
        assert _api(emu2).file_exists("me/disk", "p.txt", repo_type="dataset")


def test_emulator_only_on_localhost_and_import_is_light():
    code = "import sys, nb_hub.testing; print(any(m in sys.modules for m in ('huggingface_hub', 'datasets', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    with HubEmulator() as emu:
        assert emu.endpoint.startswith("http://127.0.0.1:")
