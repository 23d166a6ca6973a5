"""Preview image of an artifact for its dataset card (matplotlib PNG).

For each modality of the first sample: a few seconds of signal (channels stacked with
offsets) for ``channels × times`` arrays, the middle slice for volumes (NIfTI-like 3-D/4-D
arrays), a line for 1-D arrays. The first sample is read from the artifact itself: the
first WebDataset member set of the first tar shard (``.npy`` members, never pickle), or
``nb_formats.open(path).sample(0)`` for the other layouts (when nb-formats is installed),
or a ``.nii``/``.nii.gz`` file listed in the manifest (nibabel).

Example:
    >>> # render_preview("out/eeg-shards", "preview.png")  # -> Path or None
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.manifest import Manifest

__all__ = ["PreviewSkippedWarning", "first_sample_arrays", "render_preview"]


class PreviewSkippedWarning(UserWarning):
    """No preview image was made because matplotlib is missing (``pip install "nb-hub[plot]"``)."""


_SECONDS = 3.0
_MAX_CHANNELS = 8


def _from_tar(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if path.name.endswith(".zst"):
        import zstandard

        with path.open("rb") as raw:
            data = zstandard.ZstdDecompressor().stream_reader(raw).read()
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 (closed below)
    else:
        tf = tarfile.open(path, "r:gz" if path.name.endswith(".gz") else "r:")  # noqa: SIM115
    with tf:
        key = None
        for m in tf:
            if not m.isfile():
                continue
            base = m.name.rsplit("/", 1)[-1]
            k, _, ext = base.partition(".")
            if key is None:
                key = k
            if k != key:
                break
            if ext.endswith(".npy"):
                f = tf.extractfile(m)
                if f is not None:
                    out[ext[: -len(".npy")]] = np.load(io.BytesIO(f.read()), allow_pickle=False)
    return out


def first_sample_arrays(
    path: str | os.PathLike[str], manifest: Manifest | None = None
) -> dict[str, np.ndarray]:
    """Named arrays of the artifact's first sample (empty if none can be read)."""
    root = Path(path)
    m = manifest or Manifest.read(root)
    files = sorted(f.path for f in m.files)
    for rel in files:
        if rel.endswith((".tar", ".tar.gz", ".tar.zst")):
            try:
                arrays = _from_tar(root / rel)
            except Exception:
                arrays = {}
            if arrays:
                return arrays
    if m.layout in ("hdf5", "zarr", "parquet"):
        try:
            import nb_formats

            ds = nb_formats.open(root)
            sample = ds.sample(0)
            arrays = {k: np.asarray(v) for k, v in getattr(sample, "arrays", {}).items()}
            if arrays:
                return arrays
        except Exception:
            pass
    for rel in files:
        if rel.endswith((".nii", ".nii.gz")):
            try:
                import nibabel

                img: Any = nibabel.load(root / rel)
                return {"mri": np.asarray(img.dataobj)}
            except Exception:
                pass
    return {}


def render_preview(
    path: str | os.PathLike[str], out: str | os.PathLike[str], *, manifest: Manifest | None = None
) -> Path | None:
    """Render the preview PNG of an artifact to ``out``.

    Returns:
        `Path` or `None`: ``out``, or `None` when matplotlib is missing (with a
        :class:`PreviewSkippedWarning`) or no sample could be read (the card then has no preview).
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        import warnings

        warnings.warn(
            'no preview image: matplotlib is not installed (pip install "nb-hub[plot]" adds it)',
            PreviewSkippedWarning,
            stacklevel=2,
        )
        return None
    m = manifest or Manifest.read(path)
    arrays = {k: v for k, v in first_sample_arrays(path, m).items() if v.dtype.kind in "fiub" and v.size > 1}
    if not arrays:
        return None
    fig, axes = plt.subplots(len(arrays), 1, figsize=(8, 2.6 * len(arrays)), squeeze=False)
    for ax, (name, arr) in zip(axes[:, 0], arrays.items()):
        spec = m.modalities.get(name)
        sfreq = spec.sfreq if spec is not None and spec.sfreq else None
        _plot(ax, name, np.asarray(arr, dtype=np.float64), sfreq, spec.ch_names if spec is not None else None)
    fig.tight_layout()
    out_path = Path(out)
    fig.savefig(out_path, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    return out_path


def _plot(ax: Any, name: str, arr: np.ndarray, sfreq: float | None, ch_names: list[str] | None) -> None:
    if arr.ndim == 1:
        ax.plot(arr[: int(_SECONDS * sfreq) if sfreq else 2000], lw=0.8)
        ax.set_title(name)
        return
    if arr.ndim == 2 and arr.shape[0] <= 512:
        n_t = min(arr.shape[1], int(_SECONDS * sfreq) if sfreq else arr.shape[1])
        data = arr[:_MAX_CHANNELS, :n_t]
        t = np.arange(n_t) / sfreq if sfreq else np.arange(n_t)
        scale = float(np.nanmax(np.abs(data - data.mean(axis=1, keepdims=True)))) or 1.0
        for i, row in enumerate(data):
            ax.plot(t, (row - row.mean()) / scale - 2 * i, lw=0.7)
        ax.set_yticks([-2 * i for i in range(len(data))])
        ax.set_yticklabels(
            ch_names[: len(data)] if ch_names else [str(i) for i in range(len(data))], fontsize=7
        )
        ax.set_xlabel("time (s)" if sfreq else "sample")
        ax.set_title(f"{name}: first {len(data)} of {arr.shape[0]} channels")
        return
    vol = arr
    while vol.ndim > 3:
        vol = vol[..., vol.shape[-1] // 2]
    img = vol[:, :, vol.shape[2] // 2] if vol.ndim == 3 else vol
    ax.imshow(np.rot90(img), cmap="gray", aspect="equal")
    ax.set_axis_off()
    ax.set_title(f"{name}: middle slice of {'×'.join(map(str, arr.shape))}")
