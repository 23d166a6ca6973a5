"""The shard index: where every sample's members lie in a shard, for seeking and random access.

Each shard ``train-000000.tar`` has a sidecar ``train-000000.idx`` (JSON)
listing, per sample in tar order, its key and each member's suffix, data
offset and size (offsets in the *uncompressed* tar stream). Readers seek by
index instead of walking the tar; a shard without a sidecar (any WebDataset
tar) is indexed on the fly by :func:`build_index` from its headers.

Example:
    >>> idx = ShardIndex(keys=["a"], members=[{"json": (512, 2)}], tar_size=2048)
    >>> ShardIndex.from_bytes(idx.to_bytes(), where="demo").keys
    ['a']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nb_core.atomic import dumps_json
from nb_core.errors import CorruptDataError, SchemaError, SchemaVersionError
from nb_core.gcpause import gc_paused
from nb_core.validation import JSON_DECODER, load_json
from nb_shards.tarformat import Member, check_member_name, scan_members, split_name

__all__ = ["INDEX_SUFFIX", "INDEX_VERSION", "ShardIndex", "build_index", "index_name"]

#: File name suffix of index sidecars (``train-000000.tar`` → ``train-000000.idx``; not
#: ``.tar.idx``, which ``datasets`` would take for a compressed tar).
INDEX_SUFFIX = ".idx"


def index_name(shard: str) -> str:
    """Index sidecar name of a shard name or path (``a/train-000000.tar.gz`` → ``a/train-000000.idx``)."""
    for ext in (".tar.gz", ".tar.zst", ".tgz", ".tar"):
        if shard.endswith(ext):
            return shard[: -len(ext)] + INDEX_SUFFIX
    return shard + INDEX_SUFFIX


#: Version of the index format this nb-shards writes and the newest it reads.
INDEX_VERSION = 1


@dataclass
class ShardIndex:
    """Per-sample member positions of one shard.

    Args:
        keys (`list[str]`): sample keys in tar order.
        members (`list[dict[str, tuple[int, int]]]`): per sample, suffix (``"eeg.npy"``,
            ``"json"``) → (data offset, size) in the uncompressed tar.
        tar_size (`int`): bytes of the uncompressed tar.
        info (`dict`): writer facts (parameters, whether the shard was closed full).
    """

    keys: list[str]
    members: list[dict[str, tuple[int, int]]]
    tar_size: int
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes (deterministic)."""
        samples = [[k, [[s, o, n] for s, (o, n) in m.items()]] for k, m in zip(self.keys, self.members)]
        obj = {
            "nb_shards_index": INDEX_VERSION,
            "tar_size": self.tar_size,
            "info": self.info,
            "samples": samples,
        }
        return dumps_json(obj, indent=None).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str) -> ShardIndex:
        """Parse and check an index sidecar.

        Raises:
            CorruptDataError: not valid JSON or not an index.
            SchemaVersionError: written by a newer nb-shards.
            UnsafeContentError: a member name that escapes the directory or needs pickle.
        """
        with gc_paused():  # (thousands of small objects, no cycles: see nb_core.gcpause)
            obj = _parse(data, where=f"{where} (shard index)")
            if not isinstance(obj, dict) or "nb_shards_index" not in obj:
                raise CorruptDataError(f"{where}: not an nb-shards index")
            _check_version(obj["nb_shards_index"], where=where)
            try:
                keys, members, tar_size = _samples(obj, where=where)
            except (KeyError, TypeError, ValueError) as err:
                raise CorruptDataError(f"{where}: damaged shard index ({err})") from None
        info = obj.get("info") or {}
        if not isinstance(info, dict):
            raise CorruptDataError(f"{where}: damaged shard index (info must be an object)")
        return cls(keys=keys, members=members, tar_size=tar_size, info=info)


def _samples(obj: dict[str, Any], *, where: str) -> tuple[list[str], list[dict[str, tuple[int, int]]], int]:
    """The keys, members and tar size of a parsed index (`TypeError` etc. when malformed)."""
    tar_size = obj["tar_size"]
    if not _is_int(tar_size) or tar_size < 0:
        raise TypeError(f"bad tar_size {str(tar_size)[:40]!r}")
    samples = obj["samples"]
    if not isinstance(samples, list):
        raise TypeError("samples must be a list")
    keys: list[str] = []
    members: list[dict[str, tuple[int, int]]] = []
    checked: set[str] = set()
    for key, mems in samples:
        if not isinstance(key, str) or not key or len(key) > 4096:
            raise TypeError(f"key {str(key)[:80]!r} is not a string")
        if not isinstance(mems, list):
            raise TypeError(f"members of {key!r} must be a list")
        keys.append(key)
        members.append(_members(key, mems, tar_size, checked, where=where))
    return keys, members, tar_size


def _check_version(ver: Any, *, where: str) -> None:
    if isinstance(ver, bool) or not isinstance(ver, int) or ver < 1:
        raise SchemaError(f"bad index version {ver!r}", field=f"{where}.nb_shards_index")
    if ver > INDEX_VERSION:
        raise SchemaVersionError(
            f"index version {ver} is newer than this nb-shards reads ({INDEX_VERSION}); "
            "upgrade: pip install -U nb-shards",
            field=f"{where}.nb_shards_index",
        )


def _members(
    key: str, mems: list[Any], tar_size: int, checked: set[str], *, where: str
) -> dict[str, tuple[int, int]]:
    """One sample's ``[[suffix, offset, size], ...]``, checked (`TypeError` when malformed)."""
    plain_key = "/" not in key and "\\" not in key and ":" not in key
    m: dict[str, tuple[int, int]] = {}
    for suffix, off, size in mems:
        if not isinstance(suffix, str) or not suffix:
            raise TypeError(f"bad member suffix {str(suffix)[:80]!r} of {key!r}")
        if not plain_key:
            check_member_name(f"{key}.{suffix}", where=where)
        elif suffix not in checked:  # a key without separators cannot escape: check the suffix once
            check_member_name(f"k.{suffix}", where=where)
            checked.add(suffix)
        # (``type(...) is int``: JSON gives plain ints; a bool is not one)
        if type(off) is not int or type(size) is not int or off < 0 or size < 0:
            raise TypeError(f"bad offset/size for {key}.{suffix}")
        if suffix in m:
            raise TypeError(f"sample {key!r} has two {suffix!r} members")
        if off + size > tar_size:
            raise TypeError(f"member {key}.{suffix} ends past the tar size {tar_size}")
        m[suffix] = (off, size)
    return m


_DECODER = JSON_DECODER  # (load_json's: same refusals, no depth check: callers bound it)


def _parse(data: bytes, *, where: str) -> Any:
    """Parse an index sidecar. Its shape is checked field by field afterwards, so the plain
    parser is enough when it succeeds (UTF-8, no NaN, integers within Python's digit limit,
    nesting within the recursion limit); any failure is reported by nb-core's ``load_json``
    (a `CorruptDataError` naming the file). Parsing a 1,000-sample index this way costs a few
    milliseconds instead of tens."""
    try:
        return _DECODER.decode(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        pass
    obj = load_json(data, where=where)
    return obj  # pragma: no cover - load_json raised for what the plain parser refused


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def group_members(members: list[Member], *, where: str) -> ShardIndex:
    """Group consecutive members by key (the WebDataset rule) into an index."""
    keys: list[str] = []
    groups: list[dict[str, tuple[int, int]]] = []
    end = 0
    for m in members:
        key, suffix = split_name(m.name)
        if not keys or keys[-1] != key:
            keys.append(key)
            groups.append({})
        if suffix in groups[-1]:
            raise CorruptDataError(f"{where}: sample {key!r} has two {suffix!r} members")
        groups[-1][suffix] = (m.offset, m.size)
        end = max(end, m.offset + m.size)
    return ShardIndex(keys=keys, members=groups, tar_size=end)


def build_index(buf: memoryview | bytes, *, where: str) -> ShardIndex:
    """Index a tar held in ``buf`` by scanning its headers (for shards without a sidecar).

    Raises:
        CorruptDataError: truncated or damaged tar (shard and byte offset named).
        UnsafeContentError: links, devices, escaping names, pickle members.
    """
    idx = group_members(list(scan_members(buf, where=where)), where=where)
    idx.tar_size = len(buf)
    return idx
