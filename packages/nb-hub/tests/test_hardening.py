"""Careless users and a failing Hub: clear HubErrors, namespaces, visibility, caches, Xet, previews."""

from __future__ import annotations

import socket
import sys
import time
import types
import warnings

import numpy as np
import pytest
from huggingface_hub import HfApi

import nb_hub
from nb_core.cli import main
from nb_core.errors import HubAuthError, HubLimitError
from nb_hub import HubConnectionError, HubServerError, PreviewSkippedWarning

#: These tests push artifacts made without a license; the warning that says so is tested in
#: test_push_exact.py.
pytestmark = pytest.mark.filterwarnings("ignore::nb_hub.push.NoLicenseWarning")


@pytest.fixture
def fast_retries(monkeypatch):
    """huggingface_hub retries 5xx, 429 and dropped connections 5 times over ~23 s: no waiting here."""
    import huggingface_hub.utils._http as http

    shim = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
    shim.sleep = lambda s: None
    monkeypatch.setattr(http, "time", shim)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def real_shards(tmp_path):
    nb_shards = pytest.importorskip("nb_shards")
    out = tmp_path / "real-shards"
    with nb_shards.ShardWriter(out, max_count=3, split="train") as w:
        for i in range(6):
            w.write({"__key__": f"k{i}", "eeg.npy": np.full((2, 10), i, np.float32), "json": {"target": i}})
    return out


# -- B5 / C6: the Hub fails --------------------------------------------------------------------------
def test_unreachable_endpoint_is_a_connection_error(shards_artifact, fast_retries, capsys):
    ep = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(HubConnectionError, match="could not be reached") as err:
        nb_hub.push(shards_artifact, "me/x", endpoint=ep, preview=False)
    assert ep in str(err.value) and "--endpoint" in str(err.value)
    assert main(["hub", "push", str(shards_artifact), "me/x", "--endpoint", ep, "--no-preview"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nb: error: push ") and "Traceback" not in lines[0]
    with pytest.raises(HubConnectionError):
        nb_hub.pull("me/x", endpoint=ep)


def test_401_on_pull_does_not_talk_about_write_access(hub_emulator_factory, shards_artifact):
    emu = hub_emulator_factory(tokens={"hf_alice": "alice"})
    nb_hub.push(shards_artifact, "alice/eeg", token="hf_alice", endpoint=emu.endpoint, preview=False)
    with pytest.raises(HubAuthError, match="401") as err:
        nb_hub.pull("alice/eeg", token="hf_nope", endpoint=emu.endpoint)
    assert "write" not in str(err.value) and "token was refused" in str(err.value)


def test_persistent_server_errors_are_not_reported_as_offline(
    hub_emulator, real_shards, tmp_path, fast_retries
):
    nb_hub.push(real_shards, "me/flaky", endpoint=hub_emulator.endpoint, preview=False)
    hub_emulator.inject("resolve", status=500, times=100)
    with pytest.raises(HubServerError, match="HTTP 500") as err:
        nb_hub.pull("me/flaky", endpoint=hub_emulator.endpoint, local_dir=tmp_path / "a")
    assert "offline" not in str(err.value) and "local cache" not in str(err.value)
    with pytest.raises(HubServerError, match="HTTP 500"):
        nb_hub.open("me/flaky", endpoint=hub_emulator.endpoint)
    hub_emulator.clear_faults()
    hub_emulator.inject("resolve", status=429, times=100)
    with pytest.raises(HubLimitError, match="429") as err2:
        nb_hub.pull("me/flaky", endpoint=hub_emulator.endpoint, local_dir=tmp_path / "b")
    assert "offline" not in str(err2.value) and "rate limited" in str(err2.value)


def test_dropped_connections_become_hub_errors(hub_emulator, real_shards, tmp_path, fast_retries):
    ep = hub_emulator.endpoint
    nb_hub.push(real_shards, "me/drop", endpoint=ep, preview=False)
    hub_emulator.inject("resolve", kind="drop", times=100)
    with pytest.raises(HubConnectionError, match="RemoteProtocolError"):
        nb_hub.pull("me/drop", endpoint=ep, local_dir=tmp_path / "p")
    with pytest.raises(HubConnectionError):
        nb_hub.open("me/drop", endpoint=ep)  # streaming: the manifest cannot be read
    hub_emulator.clear_faults()
    hub_emulator.inject("commit", kind="drop", times=100)
    with pytest.raises(HubConnectionError, match="resumes where it stopped"):
        nb_hub.push(real_shards, "me/drop2", endpoint=ep, preview=False)


def test_busy_port_is_one_line(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["hub", "emulator", "--port", str(port)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "cannot serve the Hub emulator on 127.0.0.1:" in lines[0]
    assert "--port" in lines[0]


# -- B7: namespaces and caches ---------------------------------------------------------------------
def test_a_token_writes_only_to_its_namespace(hub_emulator_factory, shards_artifact, files_artifact):
    emu = hub_emulator_factory(tokens={"hf_alice": "alice", "hf_bob": "bob"}, orgs={"neurobridge": ["alice"]})
    ep = emu.endpoint
    with pytest.raises(HubAuthError, match="403") as err:
        nb_hub.push(shards_artifact, "bob/x", token="hf_alice", endpoint=ep, preview=False)
    assert "namespace" in str(err.value) and "hf_alice" not in str(err.value)
    assert ("dataset", "bob/x") not in emu.store.repos
    nb_hub.push(shards_artifact, "bob/x", token="hf_bob", endpoint=ep, preview=False)
    n_commits = emu.commit_count("bob/x")
    with pytest.raises(HubAuthError, match="403"):  # an existing repo of bob's: no writing either
        nb_hub.push(files_artifact, "bob/x", token="hf_alice", endpoint=ep, preview=False)
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as raw:  # the bare client, past create_repo: 403 as well
        HfApi(endpoint=ep, token="hf_alice").upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="bob/x", repo_type="dataset"
        )
    assert raw.value.response.status_code == 403
    assert emu.commit_count("bob/x") == n_commits
    nb_hub.push(shards_artifact, "neurobridge/eeg", token="hf_alice", endpoint=ep, preview=False)
    with pytest.raises(HubAuthError):
        nb_hub.push(shards_artifact, "neurobridge/eeg2", token="hf_bob", endpoint=ep, preview=False)
    assert [o["name"] for o in HfApi(endpoint=ep, token="hf_alice").whoami()["orgs"]] == ["neurobridge"]


def test_pulls_from_an_emulator_use_a_cache_of_that_endpoint(hub_emulator, shards_artifact, hub_cache):
    nb_hub.push(shards_artifact, "me/cached", endpoint=hub_emulator.endpoint)
    out = nb_hub.pull("me/cached", endpoint=hub_emulator.endpoint)
    port = hub_emulator.endpoint.rsplit(":", 1)[1]
    own = hub_cache.parent / "nb-endpoints" / f"127.0.0.1-{port}"
    assert own in out.parents
    assert not hub_cache.exists() or not any(hub_cache.glob("datasets--*"))
    # the push read back nothing into the usual cache either (second push reads the remote manifest)
    nb_hub.push(shards_artifact, "me/cached", endpoint=hub_emulator.endpoint)
    assert not hub_cache.exists() or not any(hub_cache.glob("datasets--*"))
    # an explicit cache_dir still wins
    other = nb_hub.pull("me/cached", endpoint=hub_emulator.endpoint, cache_dir=hub_cache.parent / "mine")
    assert (hub_cache.parent / "mine") in other.parents


# -- B3: visibility ------------------------------------------------------------------------------------
def test_private_is_applied_to_an_existing_public_repo(hub_emulator_factory, shards_artifact, capsys):
    emu = hub_emulator_factory(tokens={"hf_alice": "alice", "hf_bob": "bob"})
    ep = emu.endpoint
    api = HfApi(endpoint=ep, token="hf_alice")
    api.create_repo("alice/vis", repo_type="dataset")  # a failed first push left it public
    nb_hub.push(shards_artifact, "alice/vis", token="hf_alice", endpoint=ep, private=True, preview=False)
    assert api.dataset_info("alice/vis").private is True
    settings = emu.calls("settings", method="PUT", status=200)
    first_upload = min(r.time for r in emu.calls() if r.endpoint in ("preupload", "lfs-upload", "commit"))
    assert settings and settings[0].time <= first_upload  # private before any byte went up
    # the default leaves an existing repo's visibility alone; private=False makes it public
    nb_hub.push(shards_artifact, "alice/vis", token="hf_alice", endpoint=ep, preview=False)
    assert api.dataset_info("alice/vis").private is True
    nb_hub.push(shards_artifact, "alice/vis", token="hf_alice", endpoint=ep, private=False, preview=False)
    assert api.dataset_info("alice/vis").private is False
    # through the CLI
    env_token = {"HF_TOKEN": "hf_alice"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env_token.items():
            mp.setenv(k, v)
        assert main(["hub", "push", str(shards_artifact), "alice/vis", "--private", "--endpoint", ep]) == 0
    assert api.dataset_info("alice/vis").private is True
    capsys.readouterr()


def test_emulator_settings_endpoint(hub_emulator_factory):
    emu = hub_emulator_factory(tokens={"hf_alice": "alice", "hf_bob": "bob"})
    alice, bob = HfApi(endpoint=emu.endpoint, token="hf_alice"), HfApi(endpoint=emu.endpoint, token="hf_bob")
    alice.create_repo("alice/s", repo_type="dataset")
    alice.update_repo_settings("alice/s", repo_type="dataset", private=True)
    assert alice.dataset_info("alice/s").private
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    with pytest.raises(RepositoryNotFoundError):
        bob.update_repo_settings("alice/s", repo_type="dataset", private=False)
    alice.update_repo_settings("alice/s", repo_type="dataset", visibility="public")
    with pytest.raises(HfHubHTTPError) as err:
        bob.update_repo_settings("alice/s", repo_type="dataset", private=True)
    assert err.value.response.status_code == 403


# -- B4: Xet and the card's output folder ----------------------------------------------------------
def test_push_to_a_local_endpoint_disables_xet_itself(hub_emulator, shards_artifact, monkeypatch):
    pytest.importorskip("hf_xet")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_DISABLE_XET", False)  # as in a shell without HF_HUB_DISABLE_XET=1
    nb_hub.push(shards_artifact, "me/noxet", endpoint=hub_emulator.endpoint, preview=False)
    assert "nb-manifest.json" in hub_emulator.repo_files("me/noxet")
    assert c.HF_HUB_DISABLE_XET is False  # restored


def test_card_output_into_a_new_folder(shards_artifact, tmp_path, capsys):
    out = tmp_path / "new" / "folder" / "README.md"
    assert main(["hub", "card", str(shards_artifact), "--output", str(out), "--preview"]) == 0
    assert out.read_text().startswith("---\n") and (out.parent / "nb-preview.png").is_file()


# -- B8: no silent skips ---------------------------------------------------------------------------
def test_missing_matplotlib_is_said(hub_emulator, shards_artifact, tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.warns(PreviewSkippedWarning, match=r"nb-hub\[plot\]"):
        nb_hub.push(shards_artifact, "me/noplot", endpoint=hub_emulator.endpoint)
    assert "nb-preview.png" not in hub_emulator.repo_files("me/noplot")
    out = tmp_path / "card" / "README.md"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["hub", "card", str(shards_artifact), "--output", str(out), "--preview"]) == 0
    err = capsys.readouterr().err
    assert "nb: warning: no preview image: matplotlib is not installed" in err


def test_streaming_open_maps_hub_errors_of_the_shard_reader(hub_emulator, real_shards, fast_retries):
    ep = hub_emulator.endpoint
    nb_hub.push(real_shards, "me/stream", endpoint=ep, preview=False)
    # the manifest download gets through; what ShardDataset then reads over hf:// fails
    hub_emulator.inject("resolve", status=500, times=100, method="GET", after=1)
    hub_emulator.inject("paths-info", status=500, times=100)
    with pytest.raises(HubServerError, match="HTTP 500"):
        nb_hub.open("me/stream", endpoint=ep)
