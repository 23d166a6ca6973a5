"""nb-hub works for any registered layout: a tiny layout defined here (registered directly, or
declared by an installed distribution's ``nb.layouts`` entry point) is pushed, carded, previewed and
opened with no change to nb-hub; a layout nobody provides is a clear error."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import nb_hub
from nb_core import Manifest
from nb_core import layouts as registry
from nb_core.errors import UnsupportedFormatError
from nb_hub._cardyaml import split_front_matter

TINY_MODULE = """
import numpy as np
from nb_core.layouts import HFConfig, Layout

def _open(path, **kwargs):
    return {"opened-by": "tiny", "x": np.load(f"{path}/x-000.npy", allow_pickle=False), **kwargs}

def _preview(path, manifest):
    return {"sig": np.load(f"{path}/x-000.npy", allow_pickle=False)}

LAYOUT = Layout(
    name="tiny-npy",
    package="tiny-layout",
    open=_open,
    hf_configs=lambda manifest: [HFConfig("tiny-config", {"train": "x-*.npy"})],
    preview=_preview,
    section_name="tiny_npy",
    card_tags=("tiny-tag",),
    card_text="Tiny arrays, one `.npy` per part.",
)
"""


def _artifact(root: Path) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    m = Manifest(name="tiny", layout="tiny-npy", splits={"train": 2}, license="cc0-1.0")
    for i in range(2):
        np.save(root / f"x-{i:03d}.npy", rng.standard_normal((3, 200)).astype("float32"))
        m.add_file(root, f"x-{i:03d}.npy")
    m.extra = {"tiny_npy": {"parts": 2}}
    m.write(root)
    return root


def _card_meta(emu: Any, repo: str) -> dict[str, Any]:
    front, _ = split_front_matter(emu.repo_files(repo)["README.md"].decode())
    assert front is not None
    meta = yaml.safe_load(front)
    assert isinstance(meta, dict)
    return meta


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


@pytest.fixture
def tiny_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_registry: None) -> Any:
    site = tmp_path / "site"
    site.mkdir()
    (site / "tiny_hub_layout.py").write_text(TINY_MODULE)
    info = site / "tiny_layout-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-layout\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{registry.ENTRY_POINT_GROUP}]\ntiny-npy = tiny_hub_layout:LAYOUT\n"
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("tiny_hub_layout", None)


def _push_and_open(emu: Any, root: Path, repo: str, tmp_path: Path) -> None:
    nb_hub.push(root, repo, endpoint=emu.endpoint)
    meta = _card_meta(emu, repo)
    assert meta["configs"] == [
        {"config_name": "tiny-config", "data_files": [{"split": "train", "path": "x-*.npy"}]}
    ]
    assert "tiny-tag" in meta["tags"] and meta["license"] == "cc0-1.0"
    files = emu.repo_files(repo)
    assert "Tiny arrays, one `.npy` per part." in files["README.md"].decode()
    assert files["nb-preview.png"].startswith(b"\x89PNG")  # the layout's preview was drawn
    ds = nb_hub.open(repo, endpoint=emu.endpoint, local_dir=tmp_path / "opened", flag=1)
    assert ds["opened-by"] == "tiny" and ds["flag"] == 1
    np.testing.assert_array_equal(ds["x"], np.load(root / "x-000.npy"))


def test_layout_registered_in_process(hub_emulator, tmp_path, isolated_registry) -> None:
    namespace: dict[str, Any] = {}
    exec(TINY_MODULE, namespace)
    registry.register(namespace["LAYOUT"])
    _push_and_open(hub_emulator, _artifact(tmp_path / "art"), "me/tiny", tmp_path)


def test_layout_from_an_installed_distribution(hub_emulator, tmp_path, tiny_distribution) -> None:
    assert "tiny_hub_layout" not in sys.modules
    _push_and_open(hub_emulator, _artifact(tmp_path / "art"), "me/tiny-ep", tmp_path)
    assert "tiny_hub_layout" in sys.modules


def test_layout_nobody_provides(hub_emulator, tmp_path, isolated_registry, monkeypatch) -> None:
    root = _artifact(tmp_path / "art")
    m = Manifest.read(root)
    m.layout = "hf"  # the BIDS layout of nb-bids, hidden below as if nb-bids were not installed
    m.extra = {
        "hf_configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "*.npy"}]}]
    }
    m.write(root)
    registry._REGISTRY.pop("hf", None)
    installed = registry._entry_points()
    monkeypatch.setattr(registry, "_entry_points", lambda: {k: v for k, v in installed.items() if k != "hf"})
    nb_hub.push(root, "me/hf", endpoint=hub_emulator.endpoint)
    assert "nb-preview.png" not in hub_emulator.repo_files("me/hf")  # no layout to read a sample
    # the card falls back on the configs the writer stored in the manifest
    assert _card_meta(hub_emulator, "me/hf")["configs"] == m.extra["hf_configs"]
    with pytest.raises(UnsupportedFormatError, match=r"pip install nb-bids.*reader='datasets'"):
        nb_hub.open("me/hf", endpoint=hub_emulator.endpoint)
