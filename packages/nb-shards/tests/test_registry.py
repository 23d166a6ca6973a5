"""The shards layout is found through the nb.layouts entry point and opens, configures and previews."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nb_core import Manifest, Sample
from nb_core.layouts import get_layout, section_owners
from nb_shards import ShardWriter


def test_shards_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((3, 20)).astype("float32") for _ in range(5)]
    with ShardWriter(tmp_path / "sh", max_count=2) as w:
        for i, a in enumerate(arrays):
            w.write(Sample(f"k{i}", {"eeg": a}, {"target": i}))
    root = tmp_path / "sh"
    m = Manifest.read(root)
    layout = get_layout(m.layout)
    assert layout.name == "shards" and layout.package == "nb-shards"
    assert [s["__key__"] for s in layout.open(root)] == [f"k{i}" for i in range(5)]
    np.testing.assert_array_equal(layout.preview(root, m)["eeg"], arrays[0])  # type: ignore[misc]
    assert [c.to_dict() for c in layout.configs(m)] == m.extra["hf_configs"]
    assert section_owners()["nb_shards"] == ["shards"]
    layout.verify(root, m)  # type: ignore[misc]
