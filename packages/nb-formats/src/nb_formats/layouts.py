"""The layouts nb-formats provides (``hdf5``, ``zarr``, ``parquet``), for the registry of nb-core.

They are declared in the ``nb.layouts`` entry-point group, so ``nb_core.layouts.get_layout("hdf5")``
(and through it ``nb_hub.open``, the dataset card and its preview) finds them once nb-formats is
installed.

Example:
    >>> from nb_core.layouts import get_layout
    >>> get_layout("zarr").package, get_layout("zarr").section_name
    ('nb-formats', 'nb_formats')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.layouts import Layout, manifest_configs
from nb_core.manifest import Manifest

__all__ = ["HDF5", "PARQUET", "ZARR"]


def _open(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    import nb_formats

    return nb_formats.open(path, **kwargs)


def _preview(path: Path, manifest: Manifest) -> dict[str, np.ndarray]:
    """Named arrays of the first sample (empty when the artifact has none)."""
    import nb_formats

    ds = nb_formats.open(path)
    if len(ds) == 0:
        return {}
    return {k: np.asarray(v) for k, v in ds.sample(0).arrays.items()}


def _layout(name: str, what: str) -> Layout:
    import nb_formats

    return Layout(
        name=name,
        package="nb-formats",
        open=_open,
        section_name="nb_formats",
        hf_configs=manifest_configs,
        preview=_preview,
        verify=getattr(nb_formats, "verify", None),
        description=f"{what} (nb-formats): lazy random access to recordings and windows",
    )


#: One HDF5 file (``data.h5``).
HDF5 = _layout("hdf5", "one HDF5 file")
#: A Zarr v3 store.
ZARR = _layout("zarr", "a Zarr v3 store")
#: NumPy signal files and a Parquet window table.
PARQUET = _layout("parquet", "NumPy signals and a Parquet window table")
