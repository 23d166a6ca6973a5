"""Importing nb_core stays light: no heavy optional libraries are pulled in."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["mne", "torch", "h5py", "zarr", "datasets", "huggingface_hub", "pyarrow", "nibabel", "dask", "scipy"]


def test_import_nb_core_is_light() -> None:
    code = (
        "import sys, json, nb_core, nb_core.cli, nb_core.manifest, nb_core.schema;"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_public_names() -> None:
    import nb_core

    for name in nb_core.__all__:
        assert hasattr(nb_core, name), name
