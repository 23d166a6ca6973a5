"""``ShardWriter``: deterministic, atomic, resumable WebDataset tar shards with an index and a manifest.

Example:
    >>> import tempfile, numpy as np
    >>> from nb_core import Sample
    >>> out = tempfile.mkdtemp()
    >>> with ShardWriter(out, max_count=2) as w:
    ...     for i in range(3):
    ...         w.write(Sample(f"s{i}", {"eeg": np.zeros((2, 4), "float32")}, {"target": i}))
    >>> sorted(p.name for p in __import__("pathlib").Path(out).glob("*.tar"))
    ['train-000000.tar', 'train-000001.tar']
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gzip
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from nb_core.atomic import (
    TMP_PREFIX,
    atomic_path,
    atomic_write_bytes,
    dumps_json,
    remove_path,
    start_writeback,
)
from nb_core.checksums import HashingWriter
from nb_core.errors import (
    IncompatibleDataError,
    OutputExistsError,
    SchemaError,
    UnsafeContentError,
    UserError,
)
from nb_core.manifest import MANIFEST_NAME, FileEntry, Manifest, ModalitySpec, RecordingEntry
from nb_core.schema import Sample
from nb_core.validation import check_json, check_key, check_modality_name, soft_import
from nb_shards.index import INDEX_SUFFIX, ShardIndex, index_name
from nb_shards.layout import (
    FORMAT_VERSION,
    check_compression,
    check_split,
    dtype_name,
    hf_configs,
    parse_shard_name,
    shard_name,
    shards_extra,
)
from nb_shards.npy import npy_header
from nb_shards.tarformat import END_OF_ARCHIVE, RECORD, check_member_name, header_size, member_header, padding

__all__ = ["ShardWriter", "read_previous", "remove_stale", "split_manifest"]

_Part = tuple[str, list[Any], int]  # suffix, chunks, size
_ZEROS = bytes(512)


def _version() -> str:
    from importlib.metadata import version

    return version("nb-shards")


_WRITEBACK_BYTES = 32 << 20


class _OpenShard:
    """One shard being written under a temporary name (renamed on :meth:`finish`)."""

    def __init__(self, path: Path, compression: str | None, *, fsync: bool) -> None:
        self.path = path
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(path, fsync=fsync))
        # (opened for reading too: the hash thread reads back what was written)
        self._raw = self._stack.enter_context(tmp.open("w+b", buffering=0))
        self._hash = HashingWriter(self._raw, threaded=True)
        self._stack.callback(self._hash.close)
        self._comp: Any = None
        self._out: Any = self._hash
        if compression == "gz":
            self._comp = gzip.GzipFile(fileobj=self._hash, mode="wb", mtime=0, filename="", compresslevel=6)
            self._out = self._comp
        elif compression == "zst":
            zstd = soft_import("zstandard", "Writing .tar.zst shards")
            self._comp = zstd.ZstdCompressor(level=3, write_checksum=True).stream_writer(
                self._hash, closefd=False
            )
            self._out = self._comp
        self.pos = 0
        self.keys: list[str] = []
        self.members: list[dict[str, tuple[int, int]]] = []
        # With fsync, the disk starts on each ~32 MiB as it is written (`start_writeback`), so the
        # shard's fsync on the flush thread finds most of it already on disk.
        self._writeback_at = 0 if fsync and compression is None else None

    def add(self, key: str, parts: list[_Part]) -> None:
        out = self._out
        mem: dict[str, tuple[int, int]] = {}
        bufs: list[Any] = []  # big array buffers as they are; the small pieces between them joined
        small: list[bytes] = []
        for suffix, chunks, size in parts:
            head = member_header(f"{key}.{suffix}", size)
            small.append(head)
            self.pos += len(head)
            mem[suffix] = (self.pos, size)
            for c in chunks:
                if len(c) < 65536:
                    small.append(bytes(c))
                else:
                    bufs.append(b"".join(small))
                    small = []
                    bufs.append(c)
            pad = padding(size)
            if pad:
                small.append(_ZEROS[:pad])
            self.pos += size + pad
        if small:
            bufs.append(b"".join(small))
        if out is self._hash:
            self._hash.write_all(bufs)
        else:
            for b in bufs:
                out.write(b)
        self.keys.append(key)
        self.members.append(mem)
        done = self._writeback_at
        if done is not None and self.pos - done >= _WRITEBACK_BYTES:
            start_writeback(self._raw.fileno(), done, self.pos - done)
            self._writeback_at = self.pos

    def finish(self) -> tuple[int, str, int]:
        """Close and rename; return (file size, sha256, uncompressed tar size)."""
        tail = END_OF_ARCHIVE + b"\0" * ((RECORD - (self.pos + len(END_OF_ARCHIVE)) % RECORD) % RECORD)
        self._out.write(tail)
        self.pos += len(tail)
        if self._comp is not None:
            self._comp.close()
        self._raw.flush()
        digest = self._hash.hexdigest()
        self._stack.close()
        return self._hash.size, digest, self.pos

    def abort(self) -> None:
        err = RuntimeError("shard aborted")
        with contextlib.suppress(BaseException):
            if self._comp is not None:
                self._comp.close()
        with contextlib.suppress(RuntimeError):
            self._stack.__exit__(RuntimeError, err, None)


class ShardWriter:
    """Write samples into WebDataset tar shards ``{split}-{index:06d}.tar`` under ``out_dir``.

    Each sample becomes ``{key}.{modality}.npy`` members (never pickle) and a ``{key}.json``
    member (its metadata). Bytes are deterministic (fixed mtime/owner/mode, sorted members).
    Shards are written under a temporary name and renamed when complete, each with an
    index sidecar (``.idx``); ``nb-manifest.json`` is written last by :meth:`close`.

    A writer started over a directory that a crashed run left behind (no manifest yet)
    keeps the complete shards — after checking that the input's keys match them — and
    continues, so the result is byte-identical to an uninterrupted run.

    Args:
        out_dir (`str` or `os.PathLike`): the artifact directory (created).
        max_count (`int`, *optional*, defaults to 10000): samples per shard at most.
        max_bytes (`int`, *optional*, defaults to 1 GiB): uncompressed bytes per shard at most
            (a single larger sample gets a shard of its own).
        compression (`str`, *optional*): `None`, ``"gz"`` or ``"zst"`` (whole-shard compression;
            reading then decompresses a shard at a time into memory).
        split (`str`, *optional*, defaults to ``"train"``): split name, part of the shard names.
        name (`str`, *optional*): dataset name in the manifest; defaults to the directory name.
        modalities (`dict`, *optional*): modality → `ModalitySpec` (or its dict) to check samples
            against (``None`` in a shape is a free axis); inferred from the first sample otherwise.
        recordings (`list[RecordingEntry]`, *optional*): source recordings for the manifest.
        provenance, license, citation, description: manifest fields.
        overwrite (`bool`, *optional*, defaults to `False`): replace this split if a finished
            artifact already has it (otherwise :class:`OutputExistsError`).
        fsync (`bool`, *optional*, defaults to `True`): flush each shard to disk before renaming.
            A full shard is finished (tail, sha256, fsync, rename, index) on a background thread
            while the next one is encoded; at most one shard is in flight, the manifest waits for
            it, and an error of that thread is raised by the next `write` or `close`.

    Raises:
        OutputExistsError: the finished artifact already has this split and ``overwrite`` is `False`.
        UserError: a bad option.

    Example:
        >>> import tempfile, numpy as np
        >>> with ShardWriter(tempfile.mkdtemp(), max_count=100) as w:
        ...     w.write({"__key__": "a", "eeg.npy": np.ones((2, 3), "float32"), "json": {"y": 1}})
        >>> w.n_samples
        1
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        max_count: int = 10_000,
        max_bytes: int = 1 << 30,
        compression: str | None = None,
        split: str = "train",
        name: str | None = None,
        modalities: Mapping[str, ModalitySpec | Mapping[str, Any]] | None = None,
        recordings: list[RecordingEntry] | None = None,
        provenance: dict[str, Any] | None = None,
        license: str | None = None,
        citation: str | None = None,
        description: str | None = None,
        overwrite: bool = False,
        fsync: bool = True,
    ) -> None:
        if isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 1:
            raise UserError(f"max_count must be a positive integer; got {max_count!r}")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise UserError(f"max_bytes must be a positive integer; got {max_bytes!r}")
        self.out_dir = Path(out_dir)
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.compression = check_compression(compression)
        self.split = check_split(split)
        self.name = name or self.out_dir.resolve().name or "shards"
        self.recordings = list(recordings or [])
        self.provenance = check_json(dict(provenance or {}), field="provenance")
        self.license, self.citation, self.description = license, citation, description
        self.overwrite = overwrite
        self.fsync = fsync
        self.modalities: dict[str, ModalitySpec] | None = None
        if modalities is not None:
            self.modalities = {
                check_modality_name(k, field=f"modalities.{k}"): (
                    v if isinstance(v, ModalitySpec) else ModalitySpec.from_dict(v, f"modalities.{k}")
                )
                for k, v in modalities.items()
            }
        self._params = {
            "max_count": max_count,
            "max_bytes": max_bytes,
            "compression": self.compression,
            "split": self.split,
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._previous = self._read_previous()
        if self._previous is not None:
            # Refuse now what close() would refuse, before any shard of this split is written.
            sec = shards_extra(self._previous.extra, where=str(self.out_dir / MANIFEST_NAME))
            if sec.get("compression") != self.compression:
                raise IncompatibleDataError(
                    f"{self.out_dir}: existing splits use compression {sec.get('compression')!r}, this "
                    f"writer {self.compression!r}; use one compression per artifact"
                )
            if self.modalities is not None:
                self._check_previous(self.modalities)
        # Temporaries of this split (and of a manifest) left by a crashed run.
        for p in [
            *self.out_dir.glob(f"{TMP_PREFIX}*-{self.split}-*"),
            *self.out_dir.glob(f"{TMP_PREFIX}*-{MANIFEST_NAME}"),
        ]:
            remove_path(p)
        self._reusable = {} if overwrite else self._find_reusable()
        self._open: _OpenShard | None = None
        self._open_bytes = 0
        self._shard_index = 0
        self._skip_pos = 0  # position inside a reused shard
        self._entries: list[dict[str, Any]] = []  # per finished shard
        self._files: list[FileEntry] = []
        self._keys_seen: set[str] = set()  # keys of the current shard (memory bounded by max_count)
        self.n_samples = 0
        self.closed = False
        self.manifest: Manifest | None = None
        self._flusher: cf.ThreadPoolExecutor | None = None
        self._flushing: cf.Future[tuple[list[FileEntry], dict[str, Any]]] | None = None

    # -- set-up -----------------------------------------------------------------------------------
    def _read_previous(self) -> Manifest | None:
        return read_previous(self.out_dir, self.split, overwrite=self.overwrite)

    def _find_reusable(self) -> dict[int, ShardIndex]:
        found: dict[int, ShardIndex] = {}
        for p in self.out_dir.iterdir():
            parsed = parse_shard_name(p.name)
            if parsed is None or parsed[0] != self.split or parsed[2] != self.compression:
                continue
            ipath = p.with_name(index_name(p.name))
            if not ipath.is_file():
                continue
            try:
                idx = ShardIndex.from_bytes(ipath.read_bytes(), where=str(ipath))
            except (SchemaError, ValueError):
                continue
            info = idx.info
            if (
                info.get("params") == self._params
                and info.get("closed") == "full"
                and info.get("size") == p.stat().st_size
            ):
                found[parsed[1]] = idx
        return found

    # -- context manager --------------------------------------------------------------------------
    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- samples ----------------------------------------------------------------------------------
    def _check_previous(self, mods: dict[str, ModalitySpec]) -> None:
        prev = self._previous
        if prev is None:
            return
        for m, spec in mods.items():
            old = prev.modalities.get(m)
            if old is not None and (np.dtype(old.dtype) != np.dtype(spec.dtype) or old.shape != spec.shape):
                raise IncompatibleDataError(
                    f"{self.out_dir}: modality {m!r} of split {self.split!r} ({spec.dtype}, {spec.shape}) "
                    f"differs from the artifact's other splits ({old.dtype}, {old.shape}); nothing was written"
                )

    def _check_arrays(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        if self.modalities is None:
            mods = {
                m: ModalitySpec(dtype=dtype_name(a.dtype), shape=list(a.shape))
                for m, a in sorted(arrays.items())
            }
            self._check_previous(mods)
            self.modalities = mods
            return
        missing = sorted(set(self.modalities) - set(arrays))
        if missing:
            raise IncompatibleDataError(
                f"sample {key!r} lacks modality {', '.join(map(repr, missing))} "
                f"(every sample of {self.out_dir} has {sorted(self.modalities)})"
            )
        extra = sorted(set(arrays) - set(self.modalities))
        if extra:
            raise IncompatibleDataError(
                f"sample {key!r} has modality {', '.join(map(repr, extra))} that the dataset does not "
                f"declare (declared: {sorted(self.modalities)})"
            )
        for m, a in arrays.items():
            spec = self.modalities[m]
            if np.dtype(spec.dtype) != a.dtype:
                raise IncompatibleDataError(
                    f"sample {key!r}: modality {m!r} has dtype {dtype_name(a.dtype)}, the dataset has {spec.dtype}"
                )
            if len(spec.shape) != a.ndim or any(
                s is not None and s != d for s, d in zip(spec.shape, a.shape)
            ):
                raise IncompatibleDataError(
                    f"sample {key!r}: modality {m!r} has shape {list(a.shape)}, the dataset has {spec.shape}"
                )

    def _encode(self, sample: Sample | Mapping[str, Any]) -> tuple[str, list[_Part]]:
        extras: list[_Part] = []
        if isinstance(sample, Sample):
            key = check_key(sample.key, field="sample.key")
            arrays: dict[str, np.ndarray] = {}
            for m, a in sample.arrays.items():
                check_modality_name(m, field=f"sample[{key!r}].arrays.{m}")
                arrays[m] = a
            metadata = sample.metadata
        elif isinstance(sample, Mapping):
            key, arrays, metadata, extras = _split_mapping(sample)
        else:
            raise SchemaError(
                f"must be an nb_core.Sample or a WebDataset-style dict; got {type(sample).__name__}",
                field="sample",
            )
        parts: list[_Part] = []
        for m in sorted(arrays):
            a = arrays[m]
            if not isinstance(a, np.ndarray):
                raise SchemaError(
                    f"must be a numpy array; got {type(a).__name__}", field=f"sample[{key!r}].{m}"
                )
            if a.dtype.hasobject or (a.dtype.kind in "OV" and a.dtype.fields is None):
                raise UnsafeContentError(
                    f"sample {key!r}: modality {m!r} has dtype {a.dtype}, which would need pickle; refused"
                )
            if not a.flags.c_contiguous:
                a = np.ascontiguousarray(a)
                arrays[m] = a
            head = npy_header(a)
            parts.append(
                (
                    f"{m}.npy",
                    [head, a.reshape(-1).view(np.uint8).data if a.size else b""],
                    len(head) + a.nbytes,
                )
            )
        self._check_arrays(key, arrays)
        meta = dumps_json(check_json(dict(metadata), field=f"sample[{key!r}].json"), indent=None).encode(
            "utf-8"
        )
        parts.extend(sorted(extras))
        parts.append(("json", [meta], len(meta)))
        return key, parts

    def write(self, sample: Sample | Mapping[str, Any]) -> None:
        """Add one sample (an `nb_core.Sample` or ``{"__key__": ..., "eeg.npy": arr, "json": {...}}``).

        Raises:
            SchemaError: a bad key, modality name or metadata.
            UnsafeContentError: an object array or a pickle-like member.
            IncompatibleDataError: the sample's modalities, dtypes or shapes differ from the dataset's;
                or the input differs from the complete shards a crashed run left (keys compared).
            UserError: the writer is closed, or a key repeats.
        """
        if self.closed:
            raise UserError("the ShardWriter is closed")
        self._check_flush()
        key, parts = self._encode(sample)
        if key in self._keys_seen:
            raise UserError(
                f"sample key {key!r} is written twice; keys must be unique in a split (the writer checks "
                "within each shard, `nb shards verify` across the split)"
            )
        self._keys_seen.add(key)
        reused = self._reusable.get(self._shard_index)
        if reused is not None and self._open is None:
            expect = reused.keys[self._skip_pos]
            if expect != key:
                raise IncompatibleDataError(
                    f"{self.out_dir / shard_name(self.split, self._shard_index, self.compression)}: a previous "
                    f"run wrote key {expect!r} where this input has {key!r}; the input changed — pass "
                    "overwrite=True to start over"
                )
            self._skip_pos += 1
            self.n_samples += 1
            if self._skip_pos == len(reused):
                self._finish_reused(reused)
                self._keys_seen = set()
            return
        size = sum(header_size(f"{key}.{s}", n) + n + padding(n) for s, _, n in parts)
        if self._open is not None and self._open_bytes + size > self.max_bytes:
            self._close_shard("full")
            self._keys_seen = {key}
            if self._shard_index in self._reusable:
                self._keys_seen = set()
                self.write(sample)
                return
        if self._open is None:
            path = self.out_dir / shard_name(self.split, self._shard_index, self.compression)
            self._open = _OpenShard(path, self.compression, fsync=self.fsync)
            self._open_bytes = 0
        self._open.add(key, parts)
        self._open_bytes += size
        self.n_samples += 1
        if len(self._open.keys) >= self.max_count:
            self._close_shard("full")
            self._keys_seen = set()

    # -- shards -----------------------------------------------------------------------------------
    def _finish_reused(self, idx: ShardIndex) -> None:
        self._wait_flush()  # (entries in shard order)
        name = shard_name(self.split, self._shard_index, self.compression)
        self._files.append(FileEntry(name, int(idx.info["size"]), str(idx.info["sha256"])))
        self._files.append(FileEntry.from_file(self.out_dir, index_name(name)))
        self._entries.append(
            {"path": name, "split": self.split, "n_samples": len(idx), "index": index_name(name)}
        )
        self._shard_index += 1
        self._skip_pos = 0

    def _close_shard(self, how: str) -> None:
        """Hand the full shard to the background flush (after the previous one finished), so that
        its end, fsync, rename and index overlap with encoding the next shard."""
        shard = self._open
        assert shard is not None
        self._open = None
        try:
            self._wait_flush()
        except BaseException:
            shard.abort()
            raise
        if self._flusher is None:
            self._flusher = cf.ThreadPoolExecutor(1, thread_name_prefix="nb-shards-flush")
        self._flushing = self._flusher.submit(self._flush, shard, how)
        self._shard_index += 1

    def _flush(self, shard: _OpenShard, how: str) -> tuple[list[FileEntry], dict[str, Any]]:
        """Finish a shard (tail, hash, fsync, rename) and write its index; on the flush thread."""
        try:
            size, sha, tar_size = shard.finish()
        except BaseException:
            shard.abort()  # the temporary goes; nothing under the final name
            raise
        info = {"params": self._params, "closed": how, "size": size, "sha256": sha}
        idx = ShardIndex(keys=shard.keys, members=shard.members, tar_size=tar_size, info=info)
        ipath = shard.path.with_name(index_name(shard.path.name))
        atomic_write_bytes(ipath, idx.to_bytes())
        files = [FileEntry(shard.path.name, size, sha), FileEntry.from_file(self.out_dir, ipath.name)]
        entry = {"path": shard.path.name, "split": self.split, "n_samples": len(idx), "index": ipath.name}
        return files, entry

    def _wait_flush(self) -> None:
        """Wait for the shard being flushed; record it, or raise the error the flush met."""
        fut, self._flushing = self._flushing, None
        if fut is None:
            return
        files, entry = fut.result()
        self._files.extend(files)
        self._entries.append(entry)

    def _check_flush(self) -> None:
        """Raise a failed background flush's error now (not only when the next shard closes)."""
        fut = self._flushing
        if fut is not None and fut.done() and fut.exception() is not None:
            self._wait_flush()

    def _stop_flusher(self) -> None:
        if self._flusher is not None:
            self._flusher.shutdown(wait=True)
            self._flusher = None

    def abort(self) -> None:
        """Stop without finishing: the open shard's temporary is removed, complete shards are kept
        (a new writer over the same directory resumes), no manifest is written."""
        if self._open is not None:
            self._open.abort()
            self._open = None
        with contextlib.suppress(Exception):  # (the error of a failed flush is already on its way up)
            self._wait_flush()
        self._stop_flusher()
        self.closed = True

    def close(self) -> Manifest:
        """Finish the last shard, remove stale shards of this split and write the manifest.

        Returns:
            `Manifest`: what was written to ``nb-manifest.json``.

        Raises:
            IncompatibleDataError: the input ended inside a shard a previous run completed.
        """
        if self.closed:
            if self.manifest is None:
                raise UserError("the ShardWriter was aborted; start a new one to resume")
            return self.manifest
        if self._skip_pos:
            self.abort()
            raise IncompatibleDataError(
                f"{self.out_dir}: the input ended inside shard {self._shard_index}, which a previous run "
                "filled further; the input changed — pass overwrite=True to start over"
            )
        try:
            if self._open is not None:
                self._close_shard("end")
            self._wait_flush()  # every shard complete under its final name before the manifest
        except BaseException:
            self.abort()
            raise
        self._stop_flusher()
        self.closed = True
        remove_stale(self.out_dir, self.split, {e.path for e in self._files})
        self.manifest = self._build_manifest()
        self.manifest.write(self.out_dir)
        return self.manifest

    def _build_manifest(self) -> Manifest:
        return split_manifest(
            self.out_dir,
            split=self.split,
            n_samples=self.n_samples,
            entries=self._entries,
            files=self._files,
            modalities=self.modalities or {},
            recordings=self.recordings,
            compression=self.compression,
            name=self.name,
            provenance=self.provenance,
            license=self.license,
            citation=self.citation,
            description=self.description,
            previous=self._previous,
        )


def _split_mapping(
    sample: Mapping[str, Any],
) -> tuple[str, dict[str, np.ndarray], Any, list[_Part]]:
    """A WebDataset-style dict → key, arrays (``<name>.npy``), metadata (``json``), other members."""
    if "__key__" not in sample:
        raise SchemaError("a WebDataset-style sample needs a '__key__'", field="sample")
    key = check_key(sample["__key__"], field="sample.__key__")
    arrays: dict[str, np.ndarray] = {}
    metadata: Any = {}
    extras: list[_Part] = []
    for suffix, value in sample.items():
        if suffix.startswith("__"):
            continue
        if suffix == "json":
            metadata = value
        elif suffix.endswith(".npy"):
            m = suffix[: -len(".npy")]
            arrays[check_modality_name(m, field=f"sample[{key!r}].{suffix}")] = value
        else:
            data = _member_bytes(key, suffix, value)
            extras.append((suffix, [data], len(data)))
    return key, arrays, metadata, extras


def _member_bytes(key: str, suffix: str, value: Any) -> bytes:
    """The bytes of a member that is neither an array nor the JSON (``txt``, ``cls``...)."""
    check_member_name(f"{key}.{suffix}", where=f"sample {key!r}")
    if "/" in suffix or not suffix:
        raise SchemaError(f"bad member suffix {suffix!r}", field=f"sample[{key!r}]")
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value).encode("utf-8")
    raise SchemaError(
        f"{type(value).__name__} cannot be stored (use an array under '<name>.npy', "
        "JSON under 'json', or bytes/str)",
        field=f"sample[{key!r}].{suffix}",
    )


def read_previous(out_dir: Path, split: str, *, overwrite: bool) -> Manifest | None:
    """The manifest of a finished artifact at ``out_dir`` (other splits are kept), or `None`.

    Raises:
        OutputExistsError: it is not a shard artifact, or it has ``split`` and not ``overwrite``.
    """
    if not (out_dir / MANIFEST_NAME).is_file():
        return None
    prev = Manifest.read(out_dir)
    if prev.layout != "shards":
        raise OutputExistsError(
            f"{out_dir} holds a {prev.layout!r} artifact; write shards to another directory"
        )
    shards_extra(prev.extra, where=str(out_dir / MANIFEST_NAME))
    if split in prev.splits and not overwrite:
        raise OutputExistsError(
            f"{out_dir} already has a finished split {split!r}; pass overwrite=True to replace it"
        )
    return prev


def remove_stale(out_dir: Path, split: str, keep: set[str]) -> None:
    """Remove shards and indexes of ``split`` under ``out_dir`` that are not in ``keep``."""
    for p in out_dir.iterdir():
        base = p.name[: -len(INDEX_SUFFIX)] + ".tar" if p.name.endswith(INDEX_SUFFIX) else p.name
        parsed = parse_shard_name(base)
        if parsed is not None and parsed[0] == split and p.name not in keep:
            remove_path(p)


def split_manifest(
    out_dir: Path,
    *,
    split: str,
    n_samples: int,
    entries: list[dict[str, Any]],
    files: list[FileEntry],
    modalities: dict[str, ModalitySpec],
    recordings: list[RecordingEntry],
    compression: str | None,
    name: str,
    provenance: dict[str, Any],
    license: str | None = None,
    citation: str | None = None,
    description: str | None = None,
    previous: Manifest | None = None,
    classes: list[str] | None = None,
) -> Manifest:
    """The manifest of an artifact after (re)writing ``split``, keeping the other splits of
    ``previous``. ``classes``: the split's target classes (``extra["nb_shards"]["classes"]``).

    Raises:
        IncompatibleDataError: the split's modalities or compression differ from the other splits'.
    """
    mods = dict(modalities)
    files = list(files)
    entries = list(entries)
    splits = {split: n_samples}
    recordings = list(recordings)
    prev = previous
    if prev is not None:
        sec = shards_extra(prev.extra, where="manifest")
        if sec.get("compression") != compression:
            raise IncompatibleDataError(
                f"{out_dir}: existing splits use compression {sec.get('compression')!r}, "
                f"this writer {compression!r}; use one compression per artifact"
            )
        for m, spec in prev.modalities.items():
            if m in mods and (spec.dtype != mods[m].dtype or spec.shape != mods[m].shape):
                raise IncompatibleDataError(
                    f"{out_dir}: modality {m!r} of split {split!r} ({mods[m].dtype}, "
                    f"{mods[m].shape}) differs from the other splits ({spec.dtype}, {spec.shape})"
                )
        mods = {**prev.modalities, **mods}
        pat = re.compile(rf"^{re.escape(split)}-(\d{{6}}\.|recordings\.json$)")
        files = [f for f in prev.files if not pat.match(f.path)] + files
        entries = [e for e in sec["shards"] if e["split"] != split] + entries
        splits = {**{k: v for k, v in prev.splits.items() if k != split}, **splits}
        ids = {r.id for r in recordings}
        recordings = [r for r in prev.recordings if r.id not in ids] + recordings
    entries.sort(key=lambda e: (e["split"], e["path"]))
    extra: dict[str, Any] = {
        "nb_shards": {"format_version": FORMAT_VERSION, "compression": compression, "shards": entries}
    }
    all_classes: dict[str, list[str]] = {}
    if prev is not None:
        old = shards_extra(prev.extra, where="manifest").get("classes")
        if isinstance(old, dict):
            all_classes = {k: v for k, v in old.items() if k != split and k in splits}
    if classes is not None:
        all_classes[split] = list(classes)
    if all_classes:
        extra["nb_shards"]["classes"] = dict(sorted(all_classes.items()))
    cfg = hf_configs(sorted(splits), compression)
    if cfg is not None:
        extra["hf_configs"] = cfg
    return Manifest(
        name=name if prev is None else prev.name,
        layout="shards",
        writer={"package": "nb-shards", "version": _version()},
        modalities=dict(sorted(mods.items())),
        recordings=recordings,
        splits=dict(sorted(splits.items())),
        files=files,
        provenance=provenance if prev is None else {**prev.provenance, **provenance},
        license=license if license is not None else (prev.license if prev else None),
        citation=citation if citation is not None else (prev.citation if prev else None),
        description=description if description is not None else (prev.description if prev else None),
        extra=extra,
    )
