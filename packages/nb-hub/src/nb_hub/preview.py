"""Preview image of an artifact for its dataset card (matplotlib PNG).

For each modality of the first sample: a few seconds of signal (channels stacked with
offsets) for ``channels × times`` arrays, the middle slice for volumes (NIfTI-like 3-D/4-D
arrays), a line for 1-D arrays. The first sample is read by the artifact's layout (its
``preview`` in :mod:`nb_core.layouts`: the first sample of the first shard for nb-shards,
``nb_formats.open(path).sample(0)`` for nb-formats...), so any registered layout gets a preview.

Example:
    >>> # render_preview("out/eeg-shards", "preview.png")  # -> Path or None
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.errors import NBError
from nb_core.layouts import get_layout
from nb_core.manifest import Manifest

__all__ = ["PreviewSkippedWarning", "first_sample_arrays", "render_preview"]


class PreviewSkippedWarning(UserWarning):
    """No preview image was made because matplotlib is missing (``pip install "nb-hub[plot]"``)."""


_SECONDS = 3.0
_MAX_CHANNELS = 8


def first_sample_arrays(
    path: str | os.PathLike[str], manifest: Manifest | None = None
) -> dict[str, np.ndarray]:
    """Named arrays of the artifact's first sample, as its layout's ``preview`` reads them.

    Empty when no installed package provides the layout, the layout has no preview, or the
    sample cannot be read (a preview never stops a push).
    """
    root = Path(path)
    m = manifest or Manifest.read(root)
    try:
        layout = get_layout(m.layout)
        if layout.preview is None:
            return {}
        arrays = layout.preview(root, m)
    except (NBError, OSError, ValueError, KeyError, IndexError):
        return {}
    return {str(k): np.asarray(v) for k, v in arrays.items()}


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
