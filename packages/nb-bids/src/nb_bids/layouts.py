"""The layout nb-bids provides (``hf``: Parquet configs a plain ``datasets.load_dataset`` reads).

Declared in the ``nb.layouts`` entry-point group, so ``nb_core.layouts.get_layout("hf")`` — and
through it ``nb_hub.open``, the dataset card and its preview — handles a converted BIDS dataset with
no BIDS-specific code in nb-hub. The preview is the first MRI volume (the card draws its middle
slices) and the first EEG segment.

Example:
    >>> from nb_core.layouts import get_layout
    >>> get_layout("hf").package, get_layout("hf").section_name
    ('nb-bids', 'nb_bids')
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.errors import CorruptDataError
from nb_core.layouts import Layout, manifest_configs
from nb_core.manifest import Manifest
from nb_core.validation import soft_import

__all__ = ["HF"]

#: The largest NIfTI volume the preview decompresses (a bound against gzip bombs).
MAX_PREVIEW_BYTES = 512 << 20


def _open(
    path: str | os.PathLike[str], *, name: str | None = None, split: str | None = None, **kwargs: Any
) -> Any:
    """``datasets.load_dataset`` on the artifact folder (config ``name``: ``mri``, ``eeg``, ``files``)."""
    datasets = soft_import("datasets", "reading a converted BIDS dataset", extra="nb-bids[datasets]")
    return datasets.load_dataset(os.fspath(path), name=name, split=split, **kwargs)


def _nifti_array(data: bytes, where: str) -> np.ndarray:
    nib = soft_import("nibabel", "previewing NIfTI images", extra="nb-bids[nifti]")
    if data[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            data = f.read(MAX_PREVIEW_BYTES + 1)
        if len(data) > MAX_PREVIEW_BYTES:
            raise CorruptDataError(f"{where}: NIfTI image larger than {MAX_PREVIEW_BYTES} bytes")
    try:
        img = nib.Nifti1Image.from_bytes(data)
    except (
        nib.filebasedimages.ImageFileError,
        nib.spatialimages.HeaderDataError,
        ValueError,
        EOFError,
        OSError,
    ) as err:
        raise CorruptDataError(f"{where}: not a readable NIfTI-1 image ({err})") from None
    return np.asanyarray(img.dataobj)


def _first_nifti(table: Any) -> bytes | None:
    for name in table.column_names:
        col = table.column(name)
        for value in col.to_pylist()[:1]:
            if isinstance(value, list):  # Sequence(Nifti()) in the session layout
                value = value[0] if value else None
            if isinstance(value, dict) and isinstance(value.get("bytes"), bytes):
                return value["bytes"]
    return None


def _preview(path: Path, manifest: Manifest) -> dict[str, np.ndarray]:
    """The first MRI volume and the first EEG segment of the artifact (empty when it has neither)."""
    import pyarrow.parquet as pq

    out: dict[str, np.ndarray] = {}
    root = Path(path)
    mri = sorted(root.glob("data/mri/*.parquet"))
    if mri:
        pf = pq.ParquetFile(mri[0])
        if pf.metadata.num_rows:
            data = _first_nifti(pf.read_row_group(0).slice(0, 1))
            if data is not None:
                out["mri"] = _nifti_array(data, str(mri[0]))
    eeg = sorted(root.glob("data/eeg/*.parquet"))
    if eeg:
        pf = pq.ParquetFile(eeg[0])
        if pf.metadata.num_rows:
            signal = pf.read_row_group(0, columns=["signal"]).slice(0, 1).column("signal").to_pylist()[0]
            if signal:
                out["eeg"] = np.asarray(signal, dtype=np.float32)
    return out


def _verify(path: Path, manifest: Manifest) -> None:
    from nb_bids.exporter import verify

    verify(path)


#: A BIDS dataset converted by nb-bids: Parquet configs (``mri``, ``eeg``, ``files``) with entities
#: as columns, NIfTI as ``datasets.Nifti``, and the files needed to rebuild the BIDS tree.
HF = Layout(
    name="hf",
    package="nb-bids",
    open=_open,
    section_name="nb_bids",
    hf_configs=manifest_configs,
    preview=_preview,
    verify=_verify,
    description="BIDS dataset as Hugging Face Parquet configs (nb-bids)",
    card_tags=("bids", "nifti"),
    card_text=(
        "Converted from a BIDS dataset by nb-bids: BIDS entities are columns, NIfTI images are "
        "`datasets.Nifti` columns (`mri` config), EEG/MEG/iEEG signals are float32 segments (`eeg` "
        "config), and every other file of the tree is kept as bytes (`files` config), so "
        "`nb bids export` rebuilds the BIDS tree byte for byte."
    ),
)
