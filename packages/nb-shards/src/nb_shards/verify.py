"""``verify`` (checksums, index consistency, sample decode) and ``inspect_artifact`` (a summary) of shards.

Example:
    >>> import tempfile, numpy as np
    >>> from nb_shards.writer import ShardWriter
    >>> out = tempfile.mkdtemp()
    >>> with ShardWriter(out) as w:
    ...     w.write({"__key__": "a", "eeg.npy": np.zeros((2, 3), "float32")})
    >>> verify(out)["samples"]
    1
    >>> inspect_artifact(out)["splits"]
    {'train': 1}
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nb_core.atomic import is_temporary
from nb_core.errors import ChecksumMismatchError, CorruptDataError, UnsupportedFormatError
from nb_core.manifest import MANIFEST_NAME, Manifest
from nb_core.progress import progress
from nb_shards.errors import IncompleteArtifactError
from nb_shards.index import INDEX_SUFFIX, build_index
from nb_shards.layout import parse_shard_name, shards_extra
from nb_shards.source import OpenShard, ShardSource, resolve_source

__all__ = ["IncompleteArtifactError", "inspect_artifact", "verify"]


def _sources(
    path: str | os.PathLike[str] | Sequence[str], **kw: Any
) -> tuple[Manifest | None, list[ShardSource]]:
    p = Path(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else None
    if p is not None and p.is_dir() and not (p / MANIFEST_NAME).is_file():
        _check_complete(p)
    if p is not None and (p / MANIFEST_NAME).is_file():
        m = Manifest.read(p)
        if m.layout != "shards":
            raise UnsupportedFormatError(
                f"{p / MANIFEST_NAME}: a {m.layout!r} artifact, not shards (nb formats verify checks those)"
            )
        sec = shards_extra(m.extra, where=str(p / MANIFEST_NAME))
        splits = sorted({e["split"] for e in sec["shards"]})
        return m, [resolve_source(p, split=s, **kw) for s in splits]
    return None, [resolve_source(path, **kw)]


def _check_complete(root: Path) -> None:
    """A directory without a manifest that an nb-shards writer started: an unfinished write."""
    for q in root.iterdir():
        if is_temporary(q.name) or (q.name.endswith(INDEX_SUFFIX) and parse_shard_name(q.name[:-4] + ".tar")):
            raise IncompleteArtifactError(
                f"{root}: incomplete: a write was started here but has not finished (no {MANIFEST_NAME} "
                "yet); run the same write again to finish it"
            )


def _check_listed(root: Path, manifest: Manifest, sec: dict[str, Any]) -> None:
    """Every shard and index of the manifest is checksummed in ``files``; no unlisted shard lies
    in the artifact (left by a failed write, ``datasets`` would read it)."""
    listed = {f.path for f in manifest.files}
    for e in sec["shards"]:
        for k in ("path", "index"):
            v = e.get(k)
            if (k == "path" or v is not None) and v not in listed:
                raise ChecksumMismatchError(
                    f"{root / MANIFEST_NAME}: shard file {v!r} is not listed (with its sha256) in files"
                )
    for q in root.iterdir():
        base = q.name[: -len(INDEX_SUFFIX)] + ".tar" if q.name.endswith(INDEX_SUFFIX) else q.name
        if parse_shard_name(base) is not None and q.name not in listed:
            raise CorruptDataError(
                f"{q}: a shard file the manifest does not list (left by a failed or unfinished write?); "
                "remove it, or finish the write"
            )


def verify(
    path: str | os.PathLike[str] | Sequence[str], *, decode: bool = True, show_progress: bool | None = None
) -> dict[str, Any]:
    """Check a shard artifact: every file's size and sha256 against the manifest, each index
    against the tar headers, every sample decodes (and matches the manifest's modalities), and
    the sample counts.

    Args:
        path: artifact directory (or shard paths without a manifest: then no checksums).
        decode (`bool`, *optional*, defaults to `True`): decode every sample.

    Returns:
        `dict`: ``{"shards": ..., "samples": ..., "bytes": ..., "checksums": bool}``: what was
        checked (``checksums`` is `False` for shard paths without a manifest). A dict, not the
        `Manifest` other packages' ``verify`` returns: shard paths need no manifest, and the counts
        are what ``nb shards verify`` prints; read ``nb_core.Manifest.read(path)`` for the manifest.

    Example:
        >>> import tempfile, numpy as np
        >>> import nb_shards
        >>> out = tempfile.mkdtemp()
        >>> with nb_shards.ShardWriter(out) as w:
        ...     for i in range(3):
        ...         w.write({"__key__": f"k{i}", "eeg.npy": np.zeros((2, 4), "float32")})
        >>> r = nb_shards.verify(out)
        >>> r["shards"], r["samples"], r["checksums"]
        (1, 3, True)

    Raises:
        ChecksumMismatchError: a file is missing or its size/sha256 differs.
        CorruptDataError: a truncated/damaged tar, an index that disagrees with its shard,
            a sample that does not decode, or wrong counts.
        UnsafeContentError: unsafe members (links, escaping names, pickle).
        IncompatibleDataError: a sample's modalities differ from the manifest.
        SchemaVersionError: a manifest from a newer schema.
        IncompleteArtifactError: a write started in the directory has not finished (no manifest).
        UnsupportedFormatError: the manifest is not a shards manifest.
    """
    manifest, sources = _sources(path)
    if manifest is not None:
        _check_manifest(Path(os.fspath(path)), manifest)  # type: ignore[arg-type]
    n_shards = n_samples = n_bytes = 0
    for src in sources:
        total = 0
        seen: set[str] = set()
        for i in progress(
            range(len(src.shards)),
            desc="verify",
            unit="shard",
            show_progress=show_progress,
        ):
            n, size = _verify_shard(src, i, decode=decode, seen=seen)
            total += n
            n_bytes += size
        n_shards += len(src.shards)
        n_samples += total
        if manifest is not None:
            _check_count(path, manifest, src, total)
    return {"shards": n_shards, "samples": n_samples, "bytes": n_bytes, "checksums": manifest is not None}


def _check_manifest(root: Path, manifest: Manifest) -> None:
    """Files listed and checksummed, and no split that claims samples without shards."""
    sec = shards_extra(manifest.extra, where=str(root / MANIFEST_NAME))
    _check_listed(root, manifest, sec)
    manifest.verify(root)
    in_shards = {e["split"] for e in sec["shards"]}
    for sp, n in manifest.splits.items():
        if sp not in in_shards and n != 0:
            raise CorruptDataError(
                f"{root}: the manifest says split {sp!r} has {n} samples but lists no shards"
            )


def _verify_shard(src: ShardSource, i: int, *, decode: bool, seen: set[str]) -> tuple[int, int]:
    """Shard ``i``: its index against its tar, every sample decoded, no key seen before in the
    split. Returns (samples, bytes)."""
    ref = src.shards[i]
    buf, idx = src.read_shard(i)
    scanned = build_index(buf, where=ref.url)
    if idx.keys != scanned.keys or idx.members != scanned.members or (idx.tar_size != len(buf)):
        raise CorruptDataError(
            f"{ref.url}: the index sidecar does not match the tar's members (the shard or its index was changed)"
        )
    if decode:
        sh = OpenShard(ref.url, buf, idx, src.modalities)
        for j in range(len(idx)):
            sh.sample(j)
    for k in idx.keys:
        if k in seen:
            raise CorruptDataError(f"{ref.url}: sample key {k!r} appears twice in the split")
        seen.add(k)
    return len(idx), len(buf)


def _check_count(path: Any, manifest: Manifest, src: ShardSource, total: int) -> None:
    """The samples found in a split's shards are the manifest's count for that split."""
    split = None
    for e in shards_extra(manifest.extra, where="manifest")["shards"]:
        if src.shards and e["path"] == src.shards[0].name:
            split = e["split"]
    if split is not None and manifest.splits.get(split) != total:
        raise CorruptDataError(
            f"{path}: split {split!r} has {total} samples in its shards, the manifest says "
            f"{manifest.splits.get(split)}"
        )


def inspect_artifact(path: str | os.PathLike[str] | Sequence[str], *, n_keys: int = 3) -> dict[str, Any]:
    """A summary: name, splits, modalities, shards (count, bytes), compression and first keys
    (what ``nb shards inspect --json`` prints). Formerly ``inspect`` (still there, deprecated).

    Example:
        >>> import tempfile, numpy as np
        >>> import nb_shards
        >>> out = tempfile.mkdtemp()
        >>> with nb_shards.ShardWriter(out) as w:
        ...     w.write({"__key__": "a", "eeg.npy": np.zeros((2, 4), "float32"), "json": {"y": 1}})
        >>> info = nb_shards.inspect_artifact(out)
        >>> info["splits"], info["n_shards"], info["first_keys"], info["members"]
        ({'train': 1}, 1, ['a'], ['eeg.npy', 'json'])

    Raises:
        ManifestNotFoundError: neither a manifest nor shards.
        SchemaVersionError: a manifest from a newer schema.
    """
    manifest, sources = _sources(path)
    out: dict[str, Any] = {}
    if manifest is not None:
        sec = shards_extra(manifest.extra, where="manifest")
        out.update(
            name=manifest.name,
            writer=manifest.writer,
            splits=manifest.splits,
            modalities={k: v.to_dict() for k, v in manifest.modalities.items()},
            compression=sec.get("compression"),
            bytes=manifest.total_size,
        )
        if "hf_configs" in manifest.extra:
            out["hf_configs"] = manifest.extra["hf_configs"]
    shards = []
    for src in sources:
        counts = src.counts()
        for ref, n in zip(src.shards, counts):
            shards.append({"path": ref.name, "n_samples": n})
    out["n_shards"] = len(shards)
    out["shards"] = shards[:10] + ([{"...": len(shards) - 10}] if len(shards) > 10 else [])
    if sources and sources[0].shards:
        idx = sources[0].index(0)
        out["first_keys"] = idx.keys[:n_keys]
        out["members"] = sorted(idx.members[0]) if len(idx) else []
    return out


def __getattr__(name: str) -> Any:
    """``nb_shards.verify.inspect``: the former name of :func:`inspect_artifact` (deprecated)."""
    if name == "inspect":
        import warnings

        warnings.warn(
            "nb_shards.verify.inspect is deprecated (its name is the standard-library module's); "
            "use nb_shards.inspect_artifact",
            DeprecationWarning,
            stacklevel=2,
        )
        return inspect_artifact
    raise AttributeError(f"module 'nb_shards.verify' has no attribute {name!r}")
