"""``nb_formats.verify``: is an artifact complete, consistent and intact?

Checks, in order (the first failure is raised, naming the file):

1. a manifest exists; a directory with data but no manifest, or the temporaries of an unfinished
   write beside it (``.nb-tmp-resume-<name>``, ``.nb-tmp-<id>-<name>``), is **incomplete**;
2. the manifest describes an nb-formats layout whose data files it lists (``data.h5``;
   ``data.zarr/zarr.json`` or ``data.zarr.zip``; ``meta.json``), with a known ``format_version``;
3. every file in the artifact directory is listed (an unlisted file would be read unchecked),
   except the files a Hub repository has beside an artifact (``README.md``, ``.gitattributes``,
   ``nb-preview.png``, ``.cache/huggingface/``: :func:`nb_core.hubspec.is_repo_side_file`), so that
   an artifact pulled with :func:`nb_hub.pull` verifies;
4. every listed file has its size and sha256 (``Manifest.verify``, which also checks that the
   manifest agrees with itself);
5. the metadata and window table load and point inside the recordings.

Example:
    >>> import tempfile, nb_formats
    >>> from nb_core.testing import simulate_windows
    >>> from nb_formats.verify import verify
    >>> out = tempfile.mkdtemp() + "/ds"
    >>> nb_formats.write(simulate_windows(1, duration=2.0), out).layout
    'hdf5'
    >>> verify(out).layout
    'hdf5'
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from nb_core.atomic import TMP_PREFIX, is_temporary
from nb_core.errors import CorruptDataError, ManifestNotFoundError
from nb_core.hubspec import is_repo_side_file
from nb_core.manifest import MANIFEST_NAME, Manifest

__all__ = ["check_complete", "inspect_artifact", "stale_temporaries", "verify"]


#: Names an nb-formats write creates in its directory (what makes a manifest-less folder "incomplete").
_DATA_NAMES = ("data.h5", "data.zarr", "data.zarr.zip", "meta.json", "recordings", "windows.parquet")


def stale_temporaries(final: Path) -> list[Path]:
    """Temporaries an interrupted write of ``final`` left beside it (``.nb-tmp-<12 hex>-<name>``)."""
    pat = re.compile(rf"^{re.escape(TMP_PREFIX)}[0-9a-f]{{12}}-{re.escape(final.name)}$")
    parent = final.parent
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if pat.match(p.name))


def verify(path: str | os.PathLike[str]) -> Manifest:
    """Verify an nb-formats artifact (see the module docstring); return its manifest.

    Raises:
        ManifestNotFoundError: no artifact there; "incomplete" when an unfinished write is found.
        CorruptDataError: the manifest does not match the layout's files, a file is not listed, or
            the metadata / window table are damaged.
        ChecksumMismatchError: a listed file is missing, truncated or changed.
        SchemaError: the manifest is invalid or disagrees with itself.

    Example:
        >>> import tempfile, nb_formats
        >>> from nb_core.testing import simulate_windows
        >>> out = tempfile.mkdtemp() + "/ds"
        >>> _ = nb_formats.write(simulate_windows(1, duration=2.0), out)
        >>> nb_formats.verify(out).layout
        'hdf5'
    """
    p = Path(path)
    root = p.parent if p.is_file() else p
    check_complete(root)
    return _verify_rest(root, Manifest.read(root))


def inspect_artifact(path: str | os.PathLike[str], *, verify: bool = False) -> dict[str, Any]:
    """A summary of an artifact: name, layout, writer, kind, dtype, compression, modalities, counts.

    With ``verify=True`` the artifact is verified first (see :func:`verify`).

    Raises:
        ManifestNotFoundError: no artifact there; "incomplete" when an unfinished write is found.
        SchemaError: the manifest is invalid (and, with ``verify=True``, what :func:`verify` raises).

    Example:
        >>> import tempfile, nb_formats
        >>> from nb_core.testing import simulate_windows
        >>> out = tempfile.mkdtemp() + "/ds"
        >>> _ = nb_formats.write(simulate_windows(1, duration=2.0), out)
        >>> s = nb_formats.inspect_artifact(out)
        >>> s["layout"], s["n_samples"], s["kind"]
        ('hdf5', 2, 'windowed')
    """
    p = Path(path)
    root = p.parent if p.is_file() else p
    check_complete(root)
    m = _verify_rest(root, Manifest.read(root)) if verify else Manifest.read(root)
    info = m.extra.get("nb_formats", {})
    out: dict[str, Any] = {
        "name": m.name,
        "layout": m.layout,
        "writer": m.writer,
        "kind": info.get("kind"),
        "materialized": info.get("materialized"),
        "dtype": info.get("dtype"),
        "compression": info.get("compression"),
        "modalities": {k: v.to_dict() for k, v in m.modalities.items()},
        "splits": dict(m.splits),
        "n_samples": m.n_samples,
        "n_recordings": len(m.recordings),
        "n_files": len(m.files),
        "bytes": m.total_size,
        "verified": verify,
    }
    if "hf_configs" in m.extra:
        out["hf_configs"] = m.extra["hf_configs"]
    return out


def check_complete(root: Path) -> None:
    """Raise "incomplete" when ``root`` has no manifest but an unfinished write is there.

    Raises:
        ManifestNotFoundError: an unfinished write (data without a manifest, or its temporaries).
    """
    from nb_formats.resume import resume_dir

    if not (root / MANIFEST_NAME).is_file():
        work = resume_dir(root)
        temps = stale_temporaries(root)
        has_data = root.is_dir() and any((root / n).exists() for n in _DATA_NAMES)
        if has_data or work.exists() or temps:
            found = [str(x) for x in ([root] if has_data else []) + ([work] if work.exists() else []) + temps]
            raise ManifestNotFoundError(
                f"{root}: incomplete artifact: the write did not finish (no {MANIFEST_NAME}; found "
                f"{', '.join(found)}); re-run the write (with --resume if it was resumable)"
            )


def _verify_rest(root: Path, m: Manifest) -> Manifest:
    from nb_formats.dataset import LazyDataset, check_layout

    check_layout(m, root)
    listed = {e.path for e in m.files}
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root).as_posix()
        if (
            f.is_file()
            and rel != MANIFEST_NAME
            and rel not in listed
            and not is_temporary(f.name)
            and not is_repo_side_file(rel)  # the card, .gitattributes, ... of a pulled artifact
        ):
            raise CorruptDataError(
                f"{f}: not listed in {root / MANIFEST_NAME}; an unlisted file would be read unchecked "
                "(remove it, or rewrite the artifact)"
            )
    m.verify(root)
    LazyDataset(root).close()
    return m


def __getattr__(name: str) -> Any:
    """``nb_formats.verify.inspect``: the former name of :func:`inspect_artifact` (deprecated)."""
    if name == "inspect":
        import warnings

        warnings.warn(
            "nb_formats.verify.inspect is deprecated (its name is the standard-library module's); "
            "use nb_formats.inspect_artifact",
            DeprecationWarning,
            stacklevel=2,
        )
        return inspect_artifact
    raise AttributeError(f"module 'nb_formats.verify' has no attribute {name!r}")
