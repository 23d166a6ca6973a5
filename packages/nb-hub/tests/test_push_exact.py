"""A push leaves the repository equal to the artifact: a shrunken artifact, a broken remote manifest,
foreign files; the card always states a license; files are not hashed twice."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from huggingface_hub import HfApi

import nb_hub
from nb_core import Manifest
from nb_core.errors import ChecksumMismatchError, HubError
from nb_hub._cardyaml import split_front_matter
from nb_hub.push import NoLicenseWarning, ReplacedRemoteWarning

CARD_FILES = {".gitattributes", "README.md", "nb-preview.png", "nb-manifest.json"}


def _data_files(emu: Any, repo: str) -> set[str]:
    return set(emu.repo_files(repo)) - CARD_FILES


def _listed(root: Path) -> set[str]:
    return {f.path for f in Manifest.read(root).files}


def _card_license(emu: Any, repo: str) -> str:
    front, _ = split_front_matter(emu.repo_files(repo)["README.md"].decode())
    return str(yaml.safe_load(front or "")["license"])


def test_shrunken_artifact_leaves_no_stale_shard(hub_emulator, build_shards, tmp_path):
    datasets = pytest.importorskip("datasets")
    big, small = tmp_path / "big", tmp_path / "small"
    build_shards(big, n_train=6, per_shard=2)  # 3 train shards
    build_shards(small, n_train=2, per_shard=2)  # 1 train shard
    nb_hub.push(big, "me/shrink", endpoint=hub_emulator.endpoint, preview=False)
    assert _data_files(hub_emulator, "me/shrink") == _listed(big)
    nb_hub.push(small, "me/shrink", endpoint=hub_emulator.endpoint, preview=False)
    assert _data_files(hub_emulator, "me/shrink") == _listed(small)
    assert "train-000002.tar" not in hub_emulator.repo_files("me/shrink")
    ds = datasets.load_dataset("me/shrink", cache_dir=str(tmp_path / "ds-cache"))
    assert ds["train"].num_rows == 2 and ds["test"].num_rows == 2


def test_broken_remote_manifest_is_an_error_or_replaced_with_force(hub_emulator, shards_artifact):
    api = HfApi(endpoint=hub_emulator.endpoint, token="t")
    api.create_repo("me/broken", repo_type="dataset")
    for name, data in (("nb-manifest.json", b"{not json"), ("train-000099.tar", b"old shard")):
        api.upload_file(path_or_fileobj=data, path_in_repo=name, repo_id="me/broken", repo_type="dataset")
    n_uploads = len(hub_emulator.calls("lfs-upload"))
    with pytest.raises(HubError, match="nb-manifest.json cannot be read.*--force"):
        nb_hub.push(shards_artifact, "me/broken", endpoint=hub_emulator.endpoint, preview=False)
    assert len(hub_emulator.calls("lfs-upload")) == n_uploads  # nothing was uploaded
    with pytest.warns(ReplacedRemoteWarning, match="cannot be read"):
        nb_hub.push(shards_artifact, "me/broken", endpoint=hub_emulator.endpoint, preview=False, force=True)
    assert _data_files(hub_emulator, "me/broken") == _listed(shards_artifact)
    assert (
        hub_emulator.repo_files("me/broken")["nb-manifest.json"]
        == (shards_artifact / "nb-manifest.json").read_bytes()
    )


def test_foreign_files_need_force(hub_emulator, shards_artifact):
    api = HfApi(endpoint=hub_emulator.endpoint, token="t")
    api.create_repo("me/foreign", repo_type="dataset")
    api.upload_file(path_or_fileobj=b"x", path_in_repo="other.bin", repo_id="me/foreign", repo_type="dataset")
    with pytest.raises(HubError, match=r"no nb-manifest.json but holds 1 file.*other.bin"):
        nb_hub.push(shards_artifact, "me/foreign", endpoint=hub_emulator.endpoint, preview=False)
    with pytest.warns(ReplacedRemoteWarning, match="other.bin"):
        nb_hub.push(shards_artifact, "me/foreign", endpoint=hub_emulator.endpoint, preview=False, force=True)
    assert _data_files(hub_emulator, "me/foreign") == _listed(shards_artifact)


def test_card_always_states_a_license(hub_emulator, build_files, tmp_path):
    art = tmp_path / "art"
    build_files(art, n_files=2)  # its manifest has no license
    with pytest.warns(NoLicenseWarning, match="--license"):
        nb_hub.push(art, "me/nolic", endpoint=hub_emulator.endpoint, preview=False)
    assert _card_license(hub_emulator, "me/nolic") == "unknown"
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoLicenseWarning)
        nb_hub.push(art, "me/nolic", endpoint=hub_emulator.endpoint, preview=False, license="cc0-1.0")
        assert _card_license(hub_emulator, "me/nolic") == "cc0-1.0"
        nb_hub.push(art, "me/nolic", endpoint=hub_emulator.endpoint, preview=False)  # the card's is kept
    assert _card_license(hub_emulator, "me/nolic") == "cc0-1.0"


def test_files_are_hashed_once_and_verified(hub_emulator, build_files, tmp_path, monkeypatch):
    import huggingface_hub.lfs as lfs

    import nb_core.manifest as manifest_mod

    art = tmp_path / "art"
    build_files(art, n_files=3, size=50_000)
    hub_hashes: list[int] = []
    nb_hashes: list[str] = []
    real_hub, real_nb = lfs.sha_fileobj, manifest_mod.sha256_file
    monkeypatch.setattr(lfs, "sha_fileobj", lambda f, *a, **k: hub_hashes.append(1) or real_hub(f, *a, **k))
    monkeypatch.setattr(manifest_mod, "sha256_file", lambda p: nb_hashes.append(str(p)) or real_nb(p))
    nb_hub.push(art, "me/hash", endpoint=hub_emulator.endpoint, preview=False, license="mit", verify=False)
    assert hub_hashes == [] and nb_hashes == []  # the manifest's sha256 is used as is
    assert _data_files(hub_emulator, "me/hash") == _listed(art)
    # verify=True (the default) reads each file to upload once, against the manifest
    (art / "data/part-000.bin").write_bytes(b"y" * 50_000)  # same size, other bytes
    with pytest.raises(ChecksumMismatchError, match="part-000.bin: sha256"):
        nb_hub.push(art, "me/hash2", endpoint=hub_emulator.endpoint, preview=False, license="mit")
    assert len(nb_hashes) == 1 and hub_hashes == []
    shutil.rmtree(art)
