"""The tar layer: deterministic member headers, and a safe, fast scan of any shard's members.

Shards are plain POSIX (ustar/pax) tar files that ``tar``, ``webdataset`` and
``datasets`` read unchanged. Headers are built with :mod:`tarfile`
(``TarInfo.tobuf``) with fixed metadata, so the same input always gives the
same bytes. Reading never uses :class:`tarfile.TarFile`: :func:`scan_members`
walks the 512-byte headers of a byte buffer (a memory map) and refuses
anything unsafe.

Example:
    >>> head = member_header("k0.json", 2)
    >>> len(head), padding(2)
    (512, 510)
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from nb_core.errors import CorruptDataError, UnsafeContentError

__all__ = [
    "BLOCK",
    "END_OF_ARCHIVE",
    "RECORD",
    "UNSAFE_EXTENSIONS",
    "Member",
    "check_member_at",
    "check_member_name",
    "header_size",
    "member_header",
    "padding",
    "scan_members",
    "split_name",
]

BLOCK = 512
RECORD = 20 * BLOCK
#: Two zero blocks end an archive.
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)
#: Member extensions that would need pickle (or native code) to load: always refused.
UNSAFE_EXTENSIONS = frozenset({"pyd", "pickle", "pkl", "pth", "pt", "so", "dll", "joblib"})
_MTIME = 0
_REG_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)


def padding(size: int) -> int:
    """Zero bytes after ``size`` data bytes up to the next 512-byte block."""
    return (BLOCK - size % BLOCK) % BLOCK


# A ustar header with fixed mode/owner/time; name, size and checksum are filled per member.
_TEMPLATE = bytearray(tarfile.TarInfo("x").tobuf(format=tarfile.USTAR_FORMAT))


def _fast_header(name: str, size: int, mtime: int) -> bytes | None:
    """The plain ustar header that ``tarfile`` writes for a short ASCII name (or `None`)."""
    if len(name) >= 100 or not name.isascii() or size >= 0o77777777777 or mtime != 0:
        return None
    raw = name.encode("ascii")
    buf = bytearray(_TEMPLATE)
    buf[0:100] = raw + b"\0" * (100 - len(raw))
    buf[100:108] = b"0000644\0"
    buf[124:136] = b"%011o\0" % size
    buf[136:148] = b"00000000000\0"
    buf[148:156] = b"        "
    buf[156:157] = tarfile.REGTYPE
    buf[265:297] = b"\0" * 32
    buf[297:329] = b"\0" * 32
    buf[148:156] = b"%06o\0 " % sum(buf)
    return bytes(buf)


def header_size(name: str, size: int) -> int:
    """Bytes of the header :func:`member_header` writes for ``name`` and ``size``."""
    if len(name) < 100 and name.isascii() and size < 0o77777777777:  # `_fast_header`'s case
        return BLOCK
    return len(member_header(name, size))


def member_header(name: str, size: int, *, mtime: int = _MTIME) -> bytes:
    """The tar header (one or more 512-byte blocks) of a regular file, with fixed owner,
    mode and time so that the bytes depend only on ``name`` and ``size``."""
    fast = _fast_header(name, size, mtime)
    if fast is not None:
        return fast
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def split_name(name: str) -> tuple[str, str]:
    """``"dir/key.eeg.npy"`` → ``("dir/key", "eeg.npy")``: the WebDataset rule (key up to the
    first dot of the base name)."""
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    if dot < 0:
        return name, ""
    return name[:dot], name[dot + 1 :]


def check_member_name(name: str, *, where: str) -> None:
    """Refuse names that escape the directory and members that would need pickle.

    Raises:
        UnsafeContentError: absolute path, ``..`` part, or an unsafe extension (``.pth`` ...).
    """
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
        raise UnsafeContentError(f"{where}: member name {name!r} escapes the shard directory; refused")
    ext = name.rsplit(".", 1)[-1].lower() if "." in parts[-1] else ""
    if ext in UNSAFE_EXTENSIONS:
        raise UnsafeContentError(
            f"{where}: member {name!r} is a .{ext} file, which needs pickle or native code to load; "
            "refused (never unpickled)"
        )


@dataclass(frozen=True)
class Member:
    """A regular file inside a tar: its name, the offset of its data and its size."""

    name: str
    offset: int
    size: int


def _pax_path(data: bytes, *, where: str) -> str | None:
    path = None
    pos = 0
    while pos < len(data):
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise CorruptDataError(f"{where}: damaged pax header") from None
        if length <= 0:
            raise CorruptDataError(f"{where}: damaged pax header")
        rec = data[sp + 1 : pos + length - 1]
        k, _, v = rec.partition(b"=")
        if k == b"path":
            try:
                path = v.decode("utf-8", "strict")
            except UnicodeDecodeError:
                raise CorruptDataError(f"{where}: the pax path is not UTF-8") from None
        pos += length
    return path


def scan_members(buf: memoryview | bytes, *, where: str) -> Iterator[Member]:
    """Walk the headers of the tar in ``buf`` and yield its regular-file members.

    Directories are skipped; pax and GNU long-name headers are applied.

    Raises:
        CorruptDataError: a damaged header or data running past the end (names ``where`` and
            the byte offset).
        UnsafeContentError: a link, device or FIFO member, a name escaping the directory, or
            an extension that needs pickle.
    """
    mv = memoryview(buf)
    n = len(mv)
    pos = 0
    long_name: str | None = None
    while True:
        info = _header_at(mv, pos, where=where)
        if info is None:
            return
        data_off = pos + BLOCK
        end = data_off + info.size
        if end > n:
            raise CorruptDataError(
                f"{where}: truncated tar: member {info.name!r} at byte offset {pos} needs {info.size} "
                f"bytes but the shard ends at {n}"
            )
        nxt = end + padding(info.size)
        t = info.type
        if t == tarfile.XHDTYPE:
            long_name = _pax_path(bytes(mv[data_off:end]), where=f"{where} (offset {pos})")
        elif t == tarfile.XGLTYPE:
            pass
        elif t == tarfile.GNUTYPE_LONGNAME:
            long_name = _gnu_long_name(bytes(mv[data_off:end]), pos, where=where)
        elif t in _REG_TYPES:
            name = long_name or info.name
            long_name = None
            check_member_name(name, where=f"{where} (offset {pos})")
            yield Member(name, data_off, info.size)
        elif t == tarfile.DIRTYPE:
            long_name = None
        else:
            raise _not_regular(long_name or info.name, t, pos, where=where)
        if nxt <= pos:  # cannot happen with a non-negative size; never loop
            raise CorruptDataError(f"{where}: tar header at byte offset {pos} makes no progress")
        pos = nxt


def _header_at(mv: memoryview, pos: int, *, where: str) -> tarfile.TarInfo | None:
    """The header at ``pos`` (`None` at the end of the archive)."""
    n = len(mv)
    if pos + BLOCK > n:
        if pos == n and pos > 0:
            return None  # no end-of-archive blocks: tolerated, as GNU tar does
        raise CorruptDataError(
            f"{where}: truncated tar: header at byte offset {pos} runs past the end ({n} bytes)"
        )
    block = bytes(mv[pos : pos + BLOCK])
    if block.count(0) == BLOCK:
        return None
    try:
        info = tarfile.TarInfo.frombuf(block, "utf-8", "strict")
    except tarfile.HeaderError as err:
        raise CorruptDataError(f"{where}: damaged tar header at byte offset {pos} ({err})") from None
    except (UnicodeDecodeError, ValueError, OverflowError) as err:
        raise CorruptDataError(
            f"{where}: tar header at byte offset {pos} is not valid (names must be UTF-8; {err})"
        ) from None
    if info.size < 0:
        # A GNU base-256 size field can be negative: it would move the scan backwards (a loop).
        raise CorruptDataError(f"{where}: tar header at byte offset {pos} has a negative size {info.size}")
    return info


def _gnu_long_name(data: bytes, pos: int, *, where: str) -> str:
    try:
        return data.rstrip(b"\0").decode("utf-8", "strict")
    except UnicodeDecodeError:
        raise CorruptDataError(f"{where}: the long member name at byte offset {pos} is not UTF-8") from None


def _not_regular(name: str, t: bytes, pos: int, *, where: str) -> UnsafeContentError:
    kind = {
        tarfile.SYMTYPE: "symbolic link",
        tarfile.LNKTYPE: "hard link",
        tarfile.CHRTYPE: "character device",
        tarfile.BLKTYPE: "block device",
        tarfile.FIFOTYPE: "FIFO",
    }.get(t, f"type {t!r}")
    return UnsafeContentError(
        f"{where}: member {name!r} at byte offset {pos} is a {kind}; only regular files are allowed in shards"
    )


def check_member_at(buf: memoryview | bytes, offset: int, name: str, size: int, *, where: str) -> None:
    """Check that the tar header just before ``offset`` describes member ``name`` of ``size`` bytes.

    A cheap cross-check of an index sidecar against its shard (an index copied from another
    shard points at other members). Names that do not fit a plain ustar header (pax) are
    checked by size only.

    Raises:
        CorruptDataError: no such header at that offset.
    """
    hint = "the index sidecar does not belong to this shard (or the shard was changed); rebuild or re-download it"
    if offset < BLOCK or offset > len(buf):
        raise CorruptDataError(f"{where}: member {name!r} at byte offset {offset}: {hint}")
    block = bytes(buf[offset - BLOCK : offset])
    try:
        info = tarfile.TarInfo.frombuf(block, "utf-8", "strict")
    except (tarfile.HeaderError, UnicodeDecodeError, ValueError, OverflowError):
        raise CorruptDataError(
            f"{where}: no tar header before member {name!r} at byte offset {offset}: {hint}"
        ) from None
    plain = len(name) < 100 and name.isascii()
    if info.size != size or (plain and info.name != name):
        raise CorruptDataError(
            f"{where}: the index says {name!r} ({size} bytes) at byte offset {offset}, the tar has "
            f"{info.name!r} ({info.size} bytes): {hint}"
        )
