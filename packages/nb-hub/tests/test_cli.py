"""``nb hub`` commands, in process and through the installed ``nb`` script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nb_core.cli import main


def test_push_pull_card_commands(hub_emulator, shards_artifact, tmp_path, capsys):
    ep = ["--endpoint", hub_emulator.endpoint]
    assert main(["hub", "push", str(shards_artifact), "me/cli", "--message", "from the CLI", *ep]) == 0
    assert "/datasets/me/cli/commit/" in capsys.readouterr().out
    out = tmp_path / "pulled"
    assert main(["hub", "pull", "me/cli", "--local-dir", str(out), "--include", "test-*", *ep]) == 0
    assert (out / "test-000000.tar").is_file() and not (out / "train-000000.tar").exists()
    readme = tmp_path / "README.md"
    assert main(["hub", "card", str(shards_artifact), "--repo-id", "me/cli", "--output", str(readme)]) == 0
    assert readme.read_text().startswith("---\n")
    assert main(["hub", "pull", "me/none", *ep]) == 2
    assert "repository not found" in capsys.readouterr().err


def test_help_has_examples(capsys):
    for cmd in ("push", "pull", "card", "emulator"):
        with pytest.raises(SystemExit):
            main(["hub", cmd, "--help"])
        assert "example" in capsys.readouterr().out


def test_nb_script_subprocess(hub_emulator, shards_artifact):
    nb = Path(sys.executable).parent / "nb"
    env = hub_emulator.client_env()
    env["HF_TOKEN"] = "hf_cli_secret"
    r = subprocess.run(
        [str(nb), "hub", "push", str(shards_artifact), "me/sub"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "hf_cli_secret" not in r.stdout + r.stderr
    assert "nb-manifest.json" in hub_emulator.repo_files("me/sub")


def test_push_license_force_and_warnings(hub_emulator, build_files, tmp_path, capsys):
    from huggingface_hub import HfApi

    art = tmp_path / "art"
    build_files(art, n_files=2)  # no license in its manifest
    ep = ["--endpoint", hub_emulator.endpoint, "--no-preview"]
    assert main(["hub", "push", str(art), "me/lic", *ep]) == 0
    err = capsys.readouterr().err
    assert "nb: warning: push" in err and "license: unknown" in err and "--license" in err
    assert main(["hub", "push", str(art), "me/lic", "--license", "cc-by-4.0", *ep]) == 0
    assert "license: cc-by-4.0" in hub_emulator.repo_files("me/lic")["README.md"].decode()
    assert "nb: warning" not in capsys.readouterr().err
    readme = tmp_path / "card" / "README.md"
    assert main(["hub", "card", str(art), "--output", str(readme), "--license", "mit"]) == 0
    assert "license: mit" in readme.read_text()
    # a broken remote manifest: one line without --force, replaced with it
    api = HfApi(endpoint=hub_emulator.endpoint, token="t")
    api.upload_file(
        path_or_fileobj=b"[]", path_in_repo="nb-manifest.json", repo_id="me/lic", repo_type="dataset"
    )
    assert main(["hub", "push", str(art), "me/lic", "--license", "mit", *ep]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert main(["hub", "push", str(art), "me/lic", "--license", "mit", "--force", "--no-verify", *ep]) == 0
    assert "nb: warning" in capsys.readouterr().err
    assert hub_emulator.repo_files("me/lic")["nb-manifest.json"] == (art / "nb-manifest.json").read_bytes()
