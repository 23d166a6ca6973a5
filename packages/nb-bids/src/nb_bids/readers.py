"""Checks and readers for the data files a conversion embeds: NIfTI headers and EEG via mne-bids.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "sub-01_T1w.nii"
    >>> _ = p.write_bytes(b"")
    >>> check_nifti(p)
    '0-byte file'
"""

from __future__ import annotations

import gzip
import json
import math
import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EEG_EXTENSIONS", "NIFTI_EXTENSIONS", "check_nifti", "read_eeg"]

NIFTI_EXTENSIONS = (".nii", ".nii.gz")
#: Extensions of the file mne-bids opens for a recording (the other files of it travel along).
EEG_EXTENSIONS = (".vhdr", ".edf", ".bdf", ".set", ".fif", ".ds/", ".con", ".sqd", ".snirf", ".mefd/")
EEG_DATATYPES = ("eeg", "meg", "ieeg", "nirs")


def _expected_nifti_size(hdr: bytes) -> tuple[int, str | None]:
    """(bytes the image needs, problem) from the first 540 header bytes."""
    if len(hdr) < 348:
        return 0, f"header truncated ({len(hdr)} bytes; a NIfTI header has 348 or 540)"
    for order in ("<", ">"):
        (n,) = struct.unpack(order + "i", hdr[:4])
        if n == 348:
            dims = struct.unpack(order + "8h", hdr[40:56])
            bitpix = struct.unpack(order + "h", hdr[72:74])[0]
            vox = struct.unpack(order + "f", hdr[108:112])[0]
            magic = hdr[344:348]
            if magic not in (b"n+1\0", b"ni1\0"):
                return 0, f"bad NIfTI-1 magic {magic!r}"
            break
        if n == 540:
            if len(hdr) < 540:
                return 0, f"NIfTI-2 header truncated ({len(hdr)} of 540 bytes)"
            dims = struct.unpack(order + "8q", hdr[16:80])
            bitpix = struct.unpack(order + "h", hdr[14:16])[0]
            vox = struct.unpack(order + "q", hdr[168:176])[0]
            break
    else:
        return 0, "not a NIfTI file (header size is neither 348 nor 540)"
    nd = dims[0]
    if not 0 < nd <= 7:
        return 0, f"bad dimension count {nd}"
    n = math.prod(max(1, int(d)) for d in dims[1 : nd + 1])
    if bitpix <= 0:
        return 0, f"bad bitpix {bitpix}"
    return int(vox) + n * bitpix // 8, None


def check_nifti(path: str | os.PathLike[str]) -> str | None:
    """Why a ``.nii``/``.nii.gz`` cannot be used (0 bytes, not NIfTI, truncated), or `None`.

    Reads the header and, for ``.gz``, the gzip trailer; decompresses the whole file only when
    the trailer disagrees with the header.
    """
    p = Path(path)
    size = p.stat().st_size
    if size == 0:
        return "0-byte file"
    gz = p.name.endswith(".gz")
    try:
        if gz:
            with gzip.open(p, "rb") as f:
                hdr = f.read(540)
        else:
            with p.open("rb") as f:
                hdr = f.read(540)
    except (OSError, EOFError, zlib.error) as err:
        return f"unreadable gzip: {err}"
    need, problem = _expected_nifti_size(hdr)
    if problem:
        return problem
    if not gz:
        return None if size >= need else f"truncated: {size} bytes, the header needs {need}"
    with p.open("rb") as f:
        f.seek(-4, os.SEEK_END)
        (isize,) = struct.unpack("<I", f.read(4))
    if isize == need % (1 << 32):
        return None
    try:
        n = 0
        with gzip.open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                n += len(chunk)
    except (OSError, EOFError, zlib.error) as err:
        return f"truncated or corrupt gzip: {err}"
    return None if n >= need else f"truncated: {n} bytes uncompressed, the header needs {need}"


def read_eeg(root: str | os.PathLike[str], relpath: str) -> dict[str, Any]:
    """Read one recording with mne-bids: float32 data, channels, sampling rate, events.

    Returns a dict with ``data`` (channels × times float32), ``ch_names``, ``ch_types``,
    ``units``, ``sfreq``, ``events`` (list of ``{onset, duration, description}``).
    """
    import mne_bids

    full = Path(root) / relpath
    bp = mne_bids.get_bids_path_from_fname(full, check=False, verbose=False)
    bp.update(root=Path(root), check=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mne-bids: unmapped participants columns
        raw = mne_bids.read_raw_bids(bp, verbose="error")
    data = raw.get_data().astype(np.float32, copy=False)
    units = [_unit(ch) for ch in raw.info["chs"]]
    events = [
        {"onset": float(a["onset"]), "duration": float(a["duration"]), "description": str(a["description"])}
        for a in raw.annotations
    ]
    return {
        "data": data,
        "ch_names": list(raw.ch_names),
        "ch_types": list(raw.get_channel_types()),
        "units": units,
        "sfreq": float(raw.info["sfreq"]),
        "events": events,
    }


def _unit(ch: dict[str, Any]) -> str:
    from mne.io.constants import FIFF

    return {
        FIFF.FIFF_UNIT_V: "V",
        FIFF.FIFF_UNIT_T: "T",
        FIFF.FIFF_UNIT_T_M: "T/m",
        FIFF.FIFF_UNIT_MOL: "mol",
        FIFF.FIFF_UNIT_NONE: "n/a",
    }.get(int(ch["unit"]), str(int(ch["unit"])))


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)
