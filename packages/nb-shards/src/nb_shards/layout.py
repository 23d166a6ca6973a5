"""Names and manifest fields of a shard artifact (one place for the on-disk conventions).

An artifact is a directory with shards ``{split}-{index:06d}.tar`` (``.tar.gz`` /
``.tar.zst`` when compressed), one index sidecar per shard (``.idx``) and
``nb-manifest.json``. The manifest's ``extra["nb_shards"]`` lists the shards in
order with their split and sample count; ``extra["hf_configs"]`` holds the
dataset-card ``configs:`` entries so that ``datasets`` loads the shards with its
``webdataset`` builder.

Example:
    >>> shard_name("train", 3, None)
    'train-000003.tar'
    >>> parse_shard_name("valid-000012.tar.zst")
    ('valid', 12, 'zst')
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from nb_core.errors import SchemaError, SchemaVersionError, UserError
from nb_core.validation import check_option, check_relpath

__all__ = [
    "COMPRESSIONS",
    "FORMAT_VERSION",
    "compression_of",
    "dtype_name",
    "hf_configs",
    "parse_shard_name",
    "shard_name",
    "shards_extra",
]

#: Version of the nb-shards layout (``manifest.extra["nb_shards"]["format_version"]``).
FORMAT_VERSION = 1
COMPRESSIONS: tuple[str | None, ...] = (None, "gz", "zst")
_EXT = {None: ".tar", "gz": ".tar.gz", "zst": ".tar.zst"}
_NAME = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{6})\.tar(?:\.(?P<comp>gz|zst))?$")
_SPLIT = re.compile(r"^[A-Za-z0-9_]+$")
_MAX_PATH = 1024
_MAX_SHARD_SAMPLES = 1 << 40


def check_split(split: str) -> str:
    """A split name: letters, digits and ``_`` (it becomes part of file names)."""
    if not isinstance(split, str) or not _SPLIT.match(split):
        raise UserError(f"split must be letters, digits or '_' (e.g. 'train'); got {split!r}")
    return split


def check_compression(compression: str | None) -> str | None:
    return check_option(compression, COMPRESSIONS, name="compression")


def shard_name(split: str, index: int, compression: str | None) -> str:
    """File name of shard ``index`` of ``split``."""
    return f"{split}-{index:06d}{_EXT[compression]}"


def parse_shard_name(name: str) -> tuple[str, int, str | None] | None:
    """``(split, index, compression)`` of a shard file name, or `None` if it is not one."""
    m = _NAME.match(name)
    if not m:
        return None
    return m["split"], int(m["index"]), m["comp"]


def compression_of(path: str) -> str | None:
    """Compression of a shard from its name (``.tar.gz`` → ``"gz"``)."""
    if path.endswith(".tar.gz") or path.endswith(".tgz"):
        return "gz"
    if path.endswith(".tar.zst"):
        return "zst"
    return None


def dtype_name(dtype: Any) -> str:
    """Readable dtype text for manifests (``"float32"``; byte order kept where it matters)."""
    dt = np.dtype(dtype)
    return dt.name if np.dtype(dt.name) == dt else dt.str


def hf_configs(splits: list[str], compression: str | None) -> list[dict[str, Any]] | None:
    """Dataset-card ``configs:`` for uncompressed shards (``datasets`` reads plain ``.tar``)."""
    if compression is not None or not splits:
        return None
    return [
        {
            "config_name": "default",
            "data_files": [{"split": s, "path": f"{s}-*.tar"} for s in splits],
        }
    ]


def shards_extra(extra: dict[str, Any], *, where: str) -> dict[str, Any]:
    """The ``extra["nb_shards"]`` section of a manifest, checked.

    Raises:
        SchemaError: missing or malformed.
        SchemaVersionError: written by a newer nb-shards layout.
    """
    sec = extra.get("nb_shards")
    if not isinstance(sec, dict):
        raise SchemaError("missing the nb_shards section (not a shard artifact?)", field=f"{where}.extra")
    ver = sec.get("format_version")
    if not isinstance(ver, int) or ver < 1:
        raise SchemaError(f"bad format_version {ver!r}", field=f"{where}.extra.nb_shards")
    if ver > FORMAT_VERSION:
        raise SchemaVersionError(
            f"shard layout version {ver} is newer than this nb-shards reads ({FORMAT_VERSION}); "
            "upgrade: pip install -U nb-shards",
            field=f"{where}.extra.nb_shards.format_version",
        )
    comp = sec.get("compression")
    if comp not in COMPRESSIONS:
        raise SchemaError(
            f"unknown compression {str(comp)[:40]!r} (none, gz, zst)",
            field=f"{where}.extra.nb_shards.compression",
        )
    shards = sec.get("shards")
    if not isinstance(shards, list):
        raise SchemaError("must be a list", field=f"{where}.extra.nb_shards.shards")
    seen: set[str] = set()
    for i, s in enumerate(shards):
        _check_shard_entry(s, field=f"{where}.extra.nb_shards.shards[{i}]")
        if s["path"] in seen:
            raise SchemaError(
                f"shard {s['path']!r} is listed twice", field=f"{where}.extra.nb_shards.shards[{i}]"
            )
        seen.add(s["path"])
    return sec


def _check_shard_entry(s: Any, *, field: str) -> None:
    """One entry of ``extra["nb_shards"]["shards"]``: path, split, n_samples, index."""
    n = s.get("n_samples") if isinstance(s, dict) else None
    if (
        not isinstance(s, dict)
        or not isinstance(s.get("path"), str)
        or not isinstance(s.get("split"), str)
        or isinstance(n, bool)
        or not isinstance(n, int)
        or not 0 <= n <= _MAX_SHARD_SAMPLES
    ):
        raise SchemaError(
            f"each shard needs path, split and n_samples (0 to {_MAX_SHARD_SAMPLES})", field=field
        )
    # Every path the readers open must stay inside the artifact, like the manifest's files[].
    for k in ("path", "index"):
        v = s.get(k)
        if k == "index" and v is None:
            continue
        v = check_relpath(v, field=f"{field}.{k}")
        if len(v) > _MAX_PATH:
            raise SchemaError(f"path longer than {_MAX_PATH} characters", field=f"{field}.{k}")
    if not _SPLIT.match(s["split"]):
        raise SchemaError(f"bad split name {s['split'][:40]!r}", field=f"{field}.split")
