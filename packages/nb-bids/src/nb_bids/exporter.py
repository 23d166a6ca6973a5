"""``nb_bids.export``: rebuild the BIDS tree from a converted dataset (the inverse of convert).

Every file comes back byte for byte: NIfTI images from the ``mri`` config, everything else
(sidecars, TSVs, the original EEG files) from the ``files`` config. The manifest's checksums are
verified first, and the tree is written under a temporary name and renamed when complete.

Example:
    >>> import tempfile, pathlib
    >>> from nb_bids import convert
    >>> from nb_bids.testing import make_bids_tree
    >>> src = make_bids_tree(tempfile.mkdtemp(), n_subjects=1, eeg=False, derivatives=False)
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = convert(src, tmp / "hf", max_workers=0)
    >>> n = export(tmp / "hf", tmp / "bids")
    >>> (tmp / "bids" / "sub-01" / "ses-01" / "anat" / "sub-01_ses-01_T1w.nii.gz").read_bytes() == (
    ...     src / "sub-01" / "ses-01" / "anat" / "sub-01_ses-01_T1w.nii.gz").read_bytes()
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from nb_core.atomic import atomic_path
from nb_core.errors import CorruptDataError, UnsupportedFormatError
from nb_core.manifest import Manifest
from nb_core.validation import check_relpath

__all__ = ["export", "inspect_artifact", "verify"]


def export(
    artifact: str | os.PathLike[str],
    bids_root: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    verify: bool = True,
) -> int:
    """Write the BIDS dataset held by a converted ``artifact`` to ``bids_root``; return the file count.

    Args:
        artifact: a directory written by :func:`nb_bids.convert`.
        bids_root: where to write the BIDS tree (must not exist unless ``overwrite``).
        overwrite: replace an existing ``bids_root``.
        verify: check every shard's sha256 against the manifest first.

    Example:
        >>> import tempfile, pathlib
        >>> from nb_bids import convert
        >>> from nb_bids.testing import make_bids_tree
        >>> src = make_bids_tree(
        ...     tempfile.mkdtemp(), n_subjects=1, sessions=None, eeg=False, func=False, dwi=False,
        ...     derivatives=False, missing_modality=False,
        ... )
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> _ = convert(src, tmp / "hf", max_workers=0)
        >>> n = export(tmp / "hf", tmp / "rebuilt")
        >>> (tmp / "rebuilt" / "sub-01" / "anat" / "sub-01_T1w.nii.gz").read_bytes() == (
        ...     src / "sub-01" / "anat" / "sub-01_T1w.nii.gz"
        ... ).read_bytes()
        True

    Raises:
        OutputExistsError: ``bids_root`` exists and ``overwrite`` is `False`.
        UnsupportedFormatError: ``artifact`` was not written by nb-bids.
        ChecksumMismatchError: a shard was changed or truncated.
    """
    art = Path(artifact)
    m = Manifest.read(art)
    if m.writer.get("package") != "nb-bids":
        raise UnsupportedFormatError(
            f"{art}: written by {m.writer.get('package')!r}, not nb-bids; only nb-bids conversions can be exported"
        )
    if verify:
        m.verify(art)
    rows = m.extra.get("nb_bids", {}).get("rows", "file")
    n = 0
    with atomic_path(bids_root, overwrite=overwrite) as tmp:
        tmp.mkdir(parents=True)
        seen: set[str] = set()
        for f in sorted(m.files, key=lambda e: e.path):
            if not (f.path.startswith("data/") and f.path.endswith(".parquet")):
                continue  # eeg/ (to="shards"/"formats") holds copies of recordings kept in `files`
            cfg = f.path.split("/")[1]
            table = pq.read_table(art / f.path)
            if cfg == "files":
                items: Iterator[tuple[str, bytes | None]] = zip(
                    table["path"].to_pylist(), table["data"].to_pylist(), strict=True
                )
            elif cfg == "mri":
                items = _mri_items(table, rows)
            else:
                continue
            for rel, data in items:
                if rel in seen:
                    continue
                seen.add(rel)
                check_relpath(rel, field=f"{f.path}: path")
                if data is None:
                    raise CorruptDataError(f"{art / f.path}: no bytes stored for {rel}")
                p = tmp / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
                n += 1
    return n


def _mri_items(table: pa.Table, rows: str) -> Iterator[tuple[str, bytes | None]]:
    if rows == "file":
        for cell in table["nifti"].to_pylist():
            yield cell["path"], cell["bytes"]
        return
    for name in table.column_names:
        field = table.schema.field(name)
        if name.endswith(("_path", "_metadata")) or name in ("unit", "subject", "session"):
            continue
        if "struct" not in str(field.type):
            continue
        for cell in table[name].to_pylist():
            if cell is None:
                continue
            for img in cell if isinstance(cell, list) else [cell]:
                yield img["path"], img["bytes"]


def verify(artifact: str | os.PathLike[str]) -> dict[str, int]:
    """Check a converted dataset: every file's size and sha256, every shard readable as Parquet,
    and the row counts per config and split equal the report's. Returns rows per config.

    Example:
        >>> import tempfile, pathlib
        >>> from nb_bids import convert
        >>> from nb_bids.testing import make_bids_tree
        >>> src = make_bids_tree(tempfile.mkdtemp(), n_subjects=1, eeg=False, derivatives=False)
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "hf"
        >>> _ = convert(src, out, max_workers=0)
        >>> verify(out)["mri"]  # T1w, two bold runs, dwi
        4

    Raises:
        ChecksumMismatchError: a file is missing, truncated or changed.
        CorruptDataError: a shard is not readable Parquet, or the counts differ from the report.
    """
    import json

    import pyarrow as pa

    art = Path(artifact)
    m = Manifest.read(art)
    if m.writer.get("package") != "nb-bids":
        raise UnsupportedFormatError(f"{art}: written by {m.writer.get('package')!r}, not nb-bids")
    m.verify(art)
    counts: dict[str, dict[str, int]] = {}
    for f in m.files:
        if not (f.path.startswith("data/") and f.path.endswith(".parquet")):
            continue
        try:
            n = pq.ParquetFile(art / f.path).metadata.num_rows
        except (OSError, pa.ArrowInvalid) as err:
            raise CorruptDataError(f"{art / f.path}: not readable Parquet ({err})") from None
        cfg, name = f.path.split("/")[1], f.path.split("/")[2]
        split = name.split("-", 1)[0]
        counts.setdefault(cfg, {}).setdefault(split, 0)
        counts[cfg][split] += n
    report = json.loads((art / "nb-bids-report.json").read_text(encoding="utf-8"))
    if counts != report["configs"]:
        raise CorruptDataError(
            f"{art}: rows per config and split {counts} differ from the report's {report['configs']}"
        )
    return {cfg: sum(v.values()) for cfg, v in counts.items()}


def inspect_artifact(artifact: str | os.PathLike[str]) -> dict[str, Any]:
    """Summarise a converted dataset (no checksums): name, configs with rows per split, counts,
    unreadable files and the manifest's size.

    Example:
        >>> import tempfile, pathlib
        >>> from nb_bids import convert
        >>> from nb_bids.testing import make_bids_tree
        >>> src = make_bids_tree(tempfile.mkdtemp(), n_subjects=1, eeg=False, derivatives=False)
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "hf"
        >>> _ = convert(src, out, max_workers=0)
        >>> inspect_artifact(out)["configs"]["mri"]
        {'train': 4}
    """
    import json

    art = Path(artifact)
    m = Manifest.read(art)
    if m.writer.get("package") != "nb-bids":
        raise UnsupportedFormatError(f"{art}: written by {m.writer.get('package')!r}, not nb-bids")
    report = json.loads((art / "nb-bids-report.json").read_text(encoding="utf-8"))
    return {
        "name": m.name,
        "rows": m.extra.get("nb_bids", {}).get("rows"),
        "configs": report["configs"],
        "n_subjects": report["n_subjects"],
        "n_sessions": report["n_sessions"],
        "n_files": report["n_files"],
        "splits": report["splits"],
        "unreadable": report["unreadable"],
        "missing_datatypes": report["missing_datatypes"],
        "files": len(m.files),
        "bytes": m.total_size,
    }
