"""Where shards come from: a local directory, a list of shard paths, or fsspec URLs, resolved to
an ordered list of shards, and the per-process opening of shards for reading (the cache of remote
shards is `nb_shards.cache`, the decoding of their bytes `nb_shards.decode`).

A source resolves to an ordered list of :class:`ShardRef` (path or URL, sample count,
index sidecar, sha256). Local shards are memory-mapped; remote shards (``hf://``,
``s3://``, ``https://``...) are downloaded once into a cache directory that never grows
past ``cache_size`` bytes (least recently used shards are evicted) and verified against
the manifest's sha256 when it has one.

Example:
    >>> import tempfile, numpy as np
    >>> from nb_shards.writer import ShardWriter
    >>> out = tempfile.mkdtemp()
    >>> with ShardWriter(out) as w:
    ...     w.write({"__key__": "a", "x.npy": np.zeros(3, "int16")})
    >>> src = resolve_source(out)
    >>> [s.name for s in src.shards], src.counts()
    (['train-000000.tar'], [1])
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb_core.atomic import is_temporary
from nb_core.errors import (
    ChecksumMismatchError,
    CorruptDataError,
    ManifestNotFoundError,
    NBError,
    UnsupportedFormatError,
    UserError,
)
from nb_core.manifest import MANIFEST_NAME, Manifest
from nb_shards.cache import DEFAULT_CACHE_SIZE, ShardCache, default_cache_dir, remote_errors, url_to_fs
from nb_shards.decode import OpenShard, check_index, decompress
from nb_shards.index import ShardIndex, build_index, index_name
from nb_shards.layout import compression_of, shards_extra

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "OpenShard",
    "ShardCache",
    "ShardRef",
    "ShardSource",
    "default_cache_dir",
    "resolve_source",
]

_SHARD_EXTS = (".tar", ".tar.gz", ".tgz", ".tar.zst")
#: Parsed shard indexes a source keeps (least recently used dropped first): an index of 1,000
#: samples is about half a megabyte of Python objects, and a pass reads one shard window at a time.
MAX_INDEXES = 256


def _is_url(s: str) -> bool:
    return "://" in s and not s.startswith("file://")


def _strip_file(s: str) -> str:
    return s[len("file://") :] if s.startswith("file://") else s


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


@dataclass
class ShardRef:
    """One shard: where it is, how many samples it has (when known), its index and checksum."""

    url: str
    n_samples: int | None = None
    index_url: str | None = None
    sha256: str | None = None
    size: int | None = None

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def remote(self) -> bool:
        return _is_url(self.url)


#: Shards whose sha256 was checked in this process: (path, size, mtime_ns, inode) → sha256.
_VERIFIED: dict[tuple[str, int, int, int], str] = {}


def _verify_file(path: Path, sha256: str | None, size: int | None, *, where: str) -> None:
    """Check a local shard's size and sha256 once per process (cached by path, size, mtime, inode).

    Raises:
        ChecksumMismatchError: the file differs from the manifest.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CorruptDataError(f"{where}: shard file is missing") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if sha256 is not None and _VERIFIED.get(key) == sha256:
        return
    if size is not None and st.st_size != size:
        raise ChecksumMismatchError(f"{where}: {st.st_size} bytes, the manifest says {size}")
    if sha256 is None:
        raise ChecksumMismatchError(
            f"{where}: the manifest lists no sha256 for this shard, so verify=True cannot check it"
        )
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    if h.hexdigest() != sha256:
        raise ChecksumMismatchError(
            f"{where}: sha256 does not match the manifest (the shard was changed or damaged); "
            "re-download or rewrite it"
        )
    _VERIFIED[key] = sha256


class ShardSource:
    """An ordered list of shards of one split, and how to open them.

    Args:
        shards (`list[ShardRef]`)
        manifest (`Manifest`, *optional*)
        storage_options (`dict`): passed to fsspec for remote URLs (``{"endpoint": ...}`` for ``hf://``).
        cache (`ShardCache`): where remote shards are kept.
    """

    def __init__(
        self,
        shards: list[ShardRef],
        *,
        manifest: Manifest | None = None,
        storage_options: dict[str, Any] | None = None,
        cache: ShardCache | None = None,
        max_open: int = 8,
        verify: bool = False,
    ) -> None:
        if not shards:
            raise UserError("no shards to read (empty source or split)")
        if verify and manifest is None:
            raise UserError(
                "verify=True checks each shard against the sha256 in nb-manifest.json; this source has no "
                "manifest (pass the artifact directory, not shard files)"
            )
        self.verify = bool(verify)
        self.shards = shards
        self.manifest = manifest
        self.modalities = dict(manifest.modalities) if manifest is not None else None
        self.storage_options = dict(storage_options or {})
        self.cache = cache or ShardCache(default_cache_dir())
        self.max_open = max_open
        self._open: OrderedDict[int, OpenShard] = OrderedDict()
        self._indexes: OrderedDict[int, ShardIndex] = OrderedDict()  # at most MAX_INDEXES
        self._failed: dict[int, NBError] = {}
        self._fds: dict[int, int] = {}  # descriptor of a just-mapped shard, until open() takes it

    def __getstate__(self) -> dict[str, Any]:  # sent to DataLoader workers: no open maps
        d = self.__dict__.copy()
        d["_open"] = OrderedDict()
        d["_fds"] = {}
        return d

    def _keep_fd(self, i: int, fd: int | None) -> None:
        old = self._fds.pop(i, None)
        if old is not None:
            os.close(old)
        if fd is not None:
            self._fds[i] = os.dup(fd)

    def counts(self) -> list[int]:
        """Samples per shard (from the manifest; otherwise from each shard's index)."""
        out = []
        for i, s in enumerate(self.shards):
            if s.n_samples is None:
                s.n_samples = len(self.index(i))
            out.append(s.n_samples)
        return out

    def fingerprint(self) -> str:
        """Identifies the shard list (names and counts), to check a resume state against."""
        text = json.dumps([[s.name, n] for s, n in zip(self.shards, self.counts())])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def local_path(self, i: int) -> Path:
        s = self.shards[i]
        if s.remote:
            return self.cache.fetch(s.url, storage_options=self.storage_options, sha256=s.sha256, size=s.size)
        return Path(_strip_file(s.url))

    def _read_bytes(self, i: int, limit: int | None = None) -> Any:
        s = self.shards[i]
        path = self.local_path(i)
        comp = compression_of(s.name)
        if self.verify and not s.remote:  # remote shards are verified when downloaded
            _verify_file(path, s.sha256, s.size, where=s.url)
        try:
            if comp is None:
                with path.open("rb") as f:
                    if os.fstat(f.fileno()).st_size == 0:
                        return memoryview(b"")
                    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                    self._keep_fd(i, f.fileno())  # the batch path reads the mapped file with preadv
                    if hasattr(mm, "madvise") and hasattr(mmap, "MADV_WILLNEED"):
                        # The whole shard will be read (in order or shuffled within the window):
                        # ask the kernel to read it ahead now rather than fault page by page.
                        with contextlib.suppress(OSError):
                            mm.madvise(mmap.MADV_WILLNEED)
                    return memoryview(mm)
            return memoryview(decompress(path.read_bytes(), comp, where=s.url, limit=limit))
        except FileNotFoundError:
            raise CorruptDataError(f"{s.url}: shard file is missing") from None

    def has_sidecar(self, i: int) -> bool:
        """Whether shard ``i`` has an index sidecar."""
        s = self.shards[i]
        if s.index_url is None:
            cand = index_name(s.url)
            if s.remote:
                fs, p = url_to_fs(cand, self.storage_options)
                with remote_errors(cand, "look for the shard index"):
                    s.index_url = cand if fs.exists(p) else ""
            else:
                s.index_url = cand if Path(_strip_file(cand)).is_file() else ""
        return bool(s.index_url)

    def index(self, i: int, buf: Any = None) -> ShardIndex:
        """The index of shard ``i`` (sidecar when there is one, else built by scanning the tar)."""
        idx = self._indexes.get(i)
        if idx is not None:
            self._indexes.move_to_end(i)
            return idx
        s = self.shards[i]
        if self.has_sidecar(i):
            assert s.index_url
            try:
                if s.remote:
                    fs, p = url_to_fs(s.index_url, self.storage_options)
                    with remote_errors(s.index_url, "read the shard index"):
                        data = fs.cat_file(p)
                else:
                    data = Path(_strip_file(s.index_url)).read_bytes()
            except FileNotFoundError:
                raise CorruptDataError(f"{s.index_url}: the shard index is missing") from None
            except IsADirectoryError:
                raise CorruptDataError(f"{s.index_url}: the shard index is not a file") from None
            except NBError:
                raise
            except (OSError, ValueError) as err:  # fsspec/HTTP failures
                raise CorruptDataError(f"{s.index_url}: could not read the shard index ({err})") from None
            idx = ShardIndex.from_bytes(data, where=s.index_url)
        else:
            idx = build_index(memoryview(self._read_bytes(i) if buf is None else buf), where=s.url)
            if buf is None:
                self._keep_fd(i, None)  # read for its index only: no descriptor kept per shard
        if s.n_samples is not None and s.n_samples != len(idx):
            raise CorruptDataError(
                f"{s.url}: the manifest says {s.n_samples} samples, the shard index has {len(idx)}"
            )
        self._indexes[i] = idx
        while len(self._indexes) > MAX_INDEXES:
            self._indexes.popitem(last=False)
        return idx

    def read_shard(self, i: int) -> tuple[Any, ShardIndex]:
        """The bytes (memory map, or decompressed) and index of shard ``i``, cross-checked.

        The sidecar's ``tar_size`` bounds decompression; the tar size and a few member headers
        are checked against the index (a stale ``.idx`` fails).

        Raises:
            CorruptDataError: damaged shard or index, or an index of another shard.
        """
        s = self.shards[i]
        if self.has_sidecar(i):
            idx = self.index(i)
            buf = self._read_bytes(i, limit=idx.tar_size)
            check_index(buf, idx, where=s.url)
        else:
            buf = self._read_bytes(i)
            idx = self.index(i, buf)
        return buf, idx

    def open(self, i: int) -> OpenShard:
        """Shard ``i`` ready for reading (a few stay open, least recently used closed first)."""
        sh = self._open.get(i)
        if sh is not None:
            self._open.move_to_end(i)
            return sh
        failed = self._failed.get(i)
        if failed is not None:  # a shard that could not be opened is not fetched again and again
            raise type(failed)(*failed.args)
        try:
            buf, idx = self.read_shard(i)
        except NBError as err:
            self._keep_fd(i, None)
            self._failed[i] = err
            raise
        sh = OpenShard(self.shards[i].url, buf, idx, self.modalities, fd=self._fds.pop(i, None))
        if sh.fd is not None:
            weakref.finalize(sh, os.close, sh.fd)
        self._open[i] = sh
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)  # the map closes when no array uses it any more
        return sh


def _from_manifest(base: str, manifest: Manifest, split: str | None, *, where: str) -> list[ShardRef]:
    sec = shards_extra(manifest.extra, where=where)
    splits = sorted({e["split"] for e in sec["shards"]})
    if split is None:
        split = "train" if "train" in splits or not splits else splits[0]
    refs = []
    for e in sec["shards"]:
        if e["split"] != split:
            continue
        try:
            fe = manifest.file(e["path"])
            sha, size = fe.sha256, fe.size
        except KeyError:
            sha, size = None, None
        idx = e.get("index")
        refs.append(
            ShardRef(
                _join(base, e["path"]),
                n_samples=e["n_samples"],
                index_url=_join(base, idx) if isinstance(idx, str) else None,
                sha256=sha,
                size=size,
            )
        )
    listed = sum(r.n_samples or 0 for r in refs)
    if refs and manifest.splits.get(split) != listed:
        raise CorruptDataError(
            f"{where}: split {split!r} has {manifest.splits.get(split)} samples in splits but its shards "
            f"list {listed}; the manifest is damaged"
        )
    if not refs and manifest.splits.get(split, 0) == 0 and split not in manifest.splits:
        raise UserError(f"{where}: no split {split!r}; the artifact has {sorted(manifest.splits)}")
    return refs


def resolve_source(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | ShardSource,
    *,
    split: str | None = None,
    storage_options: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    cache_size: int = DEFAULT_CACHE_SIZE,
    max_open: int = 8,
    verify: bool = False,
) -> ShardSource:
    """Resolve a directory, a shard path, a list of shard paths or URLs into a :class:`ShardSource`.

    Args:
        source: an artifact directory (local or URL, with ``nb-manifest.json``), a directory of
            plain WebDataset tars, one shard, or a list of shard paths/URLs.
        split (`str`, *optional*): split to read from an artifact; defaults to ``"train"`` (or
            the first split).
        storage_options (`dict`, *optional*): fsspec options for URLs.
        cache_dir (*optional*): cache of remote shards; defaults to :func:`default_cache_dir`.
        cache_size (`int`, *optional*): bound of that cache in bytes.
        verify (`bool`, *optional*): check each local shard's sha256 against the manifest the
            first time it is opened in this process (remote shards are checked on download).

    Raises:
        ManifestNotFoundError: a directory has neither a manifest nor tar files.
        SchemaVersionError: the manifest or layout is newer than this version reads.
        UserError: no such split, or an empty list.
    """
    if isinstance(source, ShardSource):
        return source
    opts = dict(storage_options or {})
    cache = ShardCache(cache_dir or default_cache_dir(), cache_size)
    if isinstance(source, (str, os.PathLike)):
        s = os.fspath(source)
        manifest: Manifest | None = None
        refs: list[ShardRef]
        if s.endswith(_SHARD_EXTS):
            refs = [ShardRef(s)]
        elif _is_url(s):
            murl = _join(s, MANIFEST_NAME)
            fs, p = url_to_fs(murl, opts)
            try:
                with remote_errors(murl, "read the manifest"):
                    text = fs.cat_file(p)
            except FileNotFoundError:
                raise ManifestNotFoundError(f"{s}: no {MANIFEST_NAME} at this URL") from None
            manifest = Manifest.from_json(text, source=murl)
            _check_layout(manifest, where=murl)
            refs = _from_manifest(s, manifest, split, where=murl)
        else:
            root = Path(_strip_file(s))
            if (root / MANIFEST_NAME).is_file():
                manifest = Manifest.read(root)
                _check_layout(manifest, where=str(root / MANIFEST_NAME))
                refs = _from_manifest(str(root), manifest, split, where=str(root / MANIFEST_NAME))
            elif root.is_dir():
                names = sorted(
                    p.name
                    for p in root.iterdir()
                    if p.name.endswith(_SHARD_EXTS) and not is_temporary(p.name)
                )
                if not names:
                    raise ManifestNotFoundError(f"{root}: neither {MANIFEST_NAME} nor tar shards found")
                refs = [ShardRef(str(root / n)) for n in names]
            else:
                raise ManifestNotFoundError(f"{root}: no such shard directory or file")
        return ShardSource(
            refs, manifest=manifest, storage_options=opts, cache=cache, max_open=max_open, verify=verify
        )
    items = [os.fspath(x) for x in source]
    if not items:
        raise UserError("the list of shards is empty")
    return ShardSource(
        [ShardRef(x) for x in items], storage_options=opts, cache=cache, max_open=max_open, verify=verify
    )


def _check_layout(manifest: Manifest, *, where: str) -> None:
    if manifest.layout != "shards":
        raise UnsupportedFormatError(
            f"{where}: a {manifest.layout!r} artifact, not shards; open it with nb_formats.open"
        )
