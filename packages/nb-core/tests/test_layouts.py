"""The layout registry: entry-point discovery, direct registration, HFConfig validation."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from nb_core import layouts
from nb_core.errors import SchemaError, UnsupportedFormatError, UserError
from nb_core.layouts import HFConfig, Layout, available_layouts, get_layout, register

TINY_MODULE = """
import numpy as np
from nb_core.layouts import HFConfig, Layout

def _open(path, **kwargs):
    return np.load(f"{path}/x.npy", allow_pickle=False)

LAYOUT = Layout(
    name="tiny-ep",
    package="tiny-layout",
    open=_open,
    hf_configs=lambda manifest: [HFConfig("default", {"train": "x.npy"})],
)
"""


@pytest.fixture
def tiny_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution (dist-info on sys.path) that declares a layout by entry point."""
    site = tmp_path / "site"
    (site / "tiny_layout_mod.py").parent.mkdir(parents=True)
    (site / "tiny_layout_mod.py").write_text(TINY_MODULE)
    info = site / "tiny_layout-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-layout\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{layouts.ENTRY_POINT_GROUP}]\ntiny-ep = tiny_layout_mod:LAYOUT\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(layouts, "_REGISTRY", dict(layouts._REGISTRY))
    yield site
    sys.modules.pop("tiny_layout_mod", None)


def test_layout_from_entry_point_is_loaded_lazily(tiny_distribution: Path, tmp_path: Path) -> None:
    assert "tiny-ep" in available_layouts()
    assert "tiny_layout_mod" not in sys.modules  # listing imports nothing
    layout = get_layout("tiny-ep")
    assert layout.package == "tiny-layout" and "tiny_layout_mod" in sys.modules
    art = tmp_path / "art"
    art.mkdir()
    np.save(art / "x.npy", np.arange(3))
    assert layout.open(art).tolist() == [0, 1, 2]
    assert [c.to_dict() for c in layout.configs(None)] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "x.npy"}]}
    ]
    assert get_layout("tiny-ep") is layout  # cached


def test_broken_entry_point_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    info = site / "broken_layout-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-layout\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{layouts.ENTRY_POINT_GROUP}]\nbroken = not_a_module_anywhere:LAYOUT\nwrong = json:dumps\n"
        "noattr = json:no_such_layout\n"
    )
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(UnsupportedFormatError, match="cannot be imported"):
        get_layout("broken")
    with pytest.raises(UnsupportedFormatError, match="must give a Layout named 'wrong'"):
        get_layout("wrong")
    with pytest.raises(UnsupportedFormatError, match="cannot be imported"):
        get_layout("noattr")
    assert "broken" not in layouts.section_owners()  # a broken plugin does not break manifest checks


def test_unknown_layout_names_installed_ones_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layouts, "_REGISTRY", {})
    with pytest.raises(UnsupportedFormatError, match="no installed package reads layout 'nope'"):
        get_layout("nope")
    monkeypatch.setattr(layouts, "_entry_points", dict)
    with pytest.raises(UnsupportedFormatError, match="pip install nb-shards"):
        get_layout("shards")


def test_register_refuses_silent_replacement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layouts, "_REGISTRY", {})
    a = register(Layout(name="t", package="a", open=lambda p: p))
    assert register(a) is a  # same object again is fine
    with pytest.raises(UserError, match="already registered by a"):
        register(Layout(name="t", package="b", open=lambda p: p))
    b = register(Layout(name="t", package="b", open=lambda p: p), replace=True)
    assert get_layout("t") is b
    with pytest.raises(UserError, match="takes a nb_core.layouts.Layout"):
        register({"name": "t"})  # type: ignore[arg-type]
    with pytest.raises(UserError, match="must be a layout name"):
        register(Layout(name="Not A Name", package="b", open=lambda p: p))


def test_section_owners_come_from_the_layouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layouts, "_REGISTRY", {})
    monkeypatch.setattr(layouts, "_entry_points", dict)
    register(Layout(name="a", package="p", open=Path, section_name="sec"))
    register(Layout(name="b", package="p", open=Path, section_name="sec"))
    register(Layout(name="c", package="p", open=Path))
    assert layouts.section_owners() == {"sec": ["a", "b"]}


def test_hfconfig_round_trip_and_errors() -> None:
    cfg = HFConfig(
        "windows",
        {"train": "data.h5", "test": ["a/*.parquet", "b/*.parquet"]},
        features=[{"name": "start", "dtype": "int64"}],
        default=True,
    )
    d = cfg.to_dict()
    assert d["data_files"] == [
        {"split": "train", "path": "data.h5"},
        {"split": "test", "path": ["a/*.parquet", "b/*.parquet"]},
    ]
    assert HFConfig.from_dict(d) == cfg
    bad = [
        ({"data_files": []}, r"hf_configs\[0\]\.config_name: is required"),
        ({"config_name": "x", "data_files": [{"split": "t", "path": "../up"}]}, r"data_files\[0\].path\[0\]"),
        ({"config_name": "x", "data_files": [{"split": "t", "path": 3}]}, "must be a path or a list"),
        (
            {"config_name": "x", "data_files": [{"split": "t", "path": "a"}], "features": [{"x": 1}]},
            r"features\[0\]",
        ),
        ({"config_name": "x", "data_files": [{"split": "t", "path": "a"}], "typo": 1}, "unknown field"),
    ]
    for d, msg in bad:
        with pytest.raises(SchemaError, match=msg):
            HFConfig.from_dict(d)
