"""nb-formats' layouts are found through the nb.layouts entry points and open, configure and preview."""

from __future__ import annotations

from pathlib import Path

import pytest

import nb_formats
from nb_core import Manifest
from nb_core.layouts import get_layout, section_owners
from nb_core.testing import simulate_recordings


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_layout_opens_previews_and_configures(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / fmt
    nb_formats.write(simulate_recordings(2, n_channels=4, duration=2.0), out, format=fmt)
    m = Manifest.read(out)
    layout = get_layout(m.layout)
    assert layout.package == "nb-formats" and layout.name == fmt
    ds = layout.open(out)
    assert len(ds) == len(nb_formats.open(out))
    preview = layout.preview(out, m)  # type: ignore[misc]
    assert preview["eeg"].shape == (4, 500)
    assert [c.to_dict() for c in layout.configs(m)] == m.extra.get("hf_configs", [])
    assert fmt in section_owners()["nb_formats"]
