"""Importing nb_formats stays light: no torch, datasets, mne, h5py, zarr or pyarrow until used."""

from __future__ import annotations

import subprocess
import sys

import nb_formats


def test_import_is_light() -> None:
    code = (
        "import sys, nb_formats, nb_formats.cli\n"
        "heavy = [m for m in ('torch', 'datasets', 'mne', 'h5py', 'zarr', 'pyarrow', 'huggingface_hub')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert res.stdout.strip() == ""


def test_all_is_public() -> None:
    for name in nb_formats.__all__:
        assert hasattr(nb_formats, name)
    assert set(nb_formats.FORMATS) == {"hdf5", "zarr", "parquet"}
