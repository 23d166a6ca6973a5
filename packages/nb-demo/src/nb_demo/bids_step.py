"""The demo's BIDS half: a generated BIDS tree (NIfTI + EEG) → nb-bids → Hub → ``datasets``.

Example (the tree only):
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> root = make_tree(out / "bids", n_subjects=2, seed=0)
    >>> sorted(p.name for p in root.glob("sub-01/ses-01/*") if p.is_dir())
    ['anat', 'eeg', 'func']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_mri", "make_tree", "nifti_slices"]


def make_tree(root: str | os.PathLike[str], *, n_subjects: int = 2, seed: int = 0) -> Path:
    """A small BIDS dataset: per subject a T1w, two bold runs and 10 s of BrainVision EEG."""
    from nb_bids.testing import make_bids_tree

    return make_bids_tree(
        root,
        n_subjects=n_subjects,
        dwi=False,
        derivatives=False,
        missing_modality=False,
        eeg_formats=("BrainVision",),
        shape=(32, 32, 20),
        n_volumes=3,
        eeg_duration=10.0,
        seed=seed,
    )


def nifti_slices(volume: np.ndarray) -> list[np.ndarray]:
    """The three orthogonal middle slices of a 3-D volume (of the middle volume of a 4-D one)."""
    vol = np.asarray(volume, dtype=np.float64)
    while vol.ndim > 3:
        vol = vol[..., vol.shape[-1] // 2]
    x, y, z = (s // 2 for s in vol.shape)
    return [vol[x, :, :], vol[:, y, :], vol[:, :, z]]


def load_mri(repo_id: str, token: str, cache_dir: Path) -> dict[str, Any]:
    """``datasets.load_dataset(repo_id, "mri")`` with ``Nifti`` decoding; rows, and volumes to plot.

    Returns:
        `dict`: ``rows`` per split, ``decoded`` (what a decoded ``nifti`` cell is), and ``volumes``:
        path -> array for the first T1w and the first bold image.
    """
    import datasets

    dsd = datasets.load_dataset(repo_id, "mri", token=token, cache_dir=str(cache_dir))
    volumes: dict[str, np.ndarray] = {}
    decoded = ""
    for split in sorted(dsd):
        for row in dsd[split]:
            img = row["nifti"]  # decoded by datasets.Nifti into a nibabel image
            decoded = decoded or f"{type(img).__module__}.{type(img).__name__}"
            if row["suffix"] in ("T1w", "bold") and not any(row["suffix"] in k for k in volumes):
                volumes[f"{row['path']}"] = np.asarray(img.get_fdata(dtype=np.float32))
    return {"rows": {k: v.num_rows for k, v in dsd.items()}, "decoded": decoded, "volumes": volumes}
