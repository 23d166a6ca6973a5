"""The local cache of remote shards: a directory bounded in size (least recently used shards are
evicted), filled by verified downloads through fsspec.

Example:
    >>> import tempfile
    >>> cache = ShardCache(tempfile.mkdtemp(), max_bytes=1 << 20)
    >>> cache.path_for("hf://datasets/org/eeg/train-000000.tar").name.endswith("-train-000000.tar")
    True
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nb_core.atomic import atomic_path, is_temporary
from nb_core.checksums import HashingWriter
from nb_core.errors import (
    ChecksumMismatchError,
    CorruptDataError,
    DependencyMissingError,
    HubAuthError,
    HubConnectionError,
    HubError,
    HubServerError,
    NBError,
    UserError,
)
from nb_core.validation import soft_import

__all__ = ["DEFAULT_CACHE_SIZE", "ShardCache", "default_cache_dir", "remote_errors", "url_to_fs"]

#: Base classes of the network errors of the HTTP clients fsspec's file systems use, by module
#: (looked up only in modules already imported: nothing is imported for it).
_NETWORK_ERRORS = (
    ("httpx2", "HTTPError"),
    ("httpx", "HTTPError"),
    ("aiohttp", "ClientError"),
    ("requests", "RequestException"),
    ("urllib3.exceptions", "HTTPError"),
    ("botocore.exceptions", "BotoCoreError"),
)


def _network_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [OSError, TimeoutError]
    for module, name in _NETWORK_ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def _status(err: BaseException) -> int | None:
    """The HTTP status of an error that carries a response (``huggingface_hub``, ``httpx``, ``requests``)."""
    code = getattr(getattr(err, "response", None), "status_code", None) or getattr(err, "status", None)
    return code if isinstance(code, int) else None


@contextlib.contextmanager
def remote_errors(url: str, what: str) -> Iterator[None]:
    """Turn the failures of reading ``url`` over the network into nb-core errors.

    A missing file stays a `FileNotFoundError` (the caller says what is missing); a server error
    (5xx) becomes a `HubServerError`, a dropped, refused or timed-out connection a
    `HubConnectionError` (both `HubError`s: try again), a
    refused token (401/403) a `HubAuthError`, any other HTTP error a `HubError` with its status.

    Example:
        >>> with remote_errors("hf://datasets/org/eeg/train-000000.tar", "download the shard"):
        ...     raise TimeoutError("timed out")
        Traceback (most recent call last):
        nb_core.errors.HubConnectionError: hf://datasets/org/eeg/train-000000.tar: could not download the shard: \
the connection failed (TimeoutError: timed out); check the network and try again
    """
    try:
        yield
    except (NBError, FileNotFoundError):
        raise
    except OSError as err:
        if err.errno in _LOCAL_ERRNOS:  # the local cache's disk, not the network
            raise
        _raise_remote(err, url, what)
    except _network_errors() as err:
        _raise_remote(err, url, what)


#: errno values of local file-system failures (writing the cache), passed on as they are.
_LOCAL_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EMFILE}


def _raise_remote(err: BaseException, url: str, what: str) -> None:
    status = _status(err)
    detail = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
    if status in (401, 403):
        raise HubAuthError(
            f"{url}: could not {what}: access refused ({status}); check the token in storage_options"
        ) from err
    if status is not None and status >= 500:
        raise HubServerError(
            f"{url}: could not {what}: the server failed (HTTP {status}, {detail}); try again later"
        ) from err
    if status is not None:
        raise HubError(f"{url}: could not {what}: HTTP {status} ({detail})") from err
    raise HubConnectionError(
        f"{url}: could not {what}: the connection failed ({detail}); check the network and try again"
    ) from err


#: Default bound of the local cache of remote shards (bytes).
DEFAULT_CACHE_SIZE = 16 << 30


def default_cache_dir() -> Path:
    """``$NB_SHARDS_CACHE``, else ``~/.cache/nb-shards``."""
    env = os.environ.get("NB_SHARDS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "nb-shards"


def url_to_fs(url: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    """fsspec's file system and path for ``url``.

    Raises:
        DependencyMissingError: the protocol's package (``s3fs``, ``gcsfs``...) is not installed.
    """
    fsspec = soft_import("fsspec", "Reading shards from URLs", extra="nb-shards")
    try:
        fs, path = fsspec.core.url_to_fs(url, **storage_options)
    except ImportError as err:
        raise DependencyMissingError(f"reading {url}: {err}") from err
    return fs, path


class ShardCache:
    """A directory of downloaded shards bounded to ``max_bytes`` (least recently used evicted).

    Args:
        directory (`str` or `os.PathLike`): where shards are kept.
        max_bytes (`int`): bound of the total size; the shard being fetched is always kept.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_CACHE_SIZE) -> None:
        if max_bytes < 1:
            raise UserError(f"cache_size must be positive; got {max_bytes}")
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def path_for(self, url: str) -> Path:
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:20]
        return self.directory / f"{digest}-{url.rstrip('/').rsplit('/', 1)[-1]}"

    def fetch(
        self, url: str, *, storage_options: dict[str, Any], sha256: str | None, size: int | None
    ) -> Path:
        """The local path of ``url``, downloading it if needed (verifying ``sha256`` when given).

        Raises:
            ChecksumMismatchError: the download does not match the manifest.
            CorruptDataError: the shard is missing on the server.
            HubError: a server error or a failed connection (`remote_errors`).
        """
        dst = self.path_for(url)
        if dst.is_file() and (size is None or dst.stat().st_size == size):
            with contextlib.suppress(OSError):
                os.utime(dst)
            return dst
        self.directory.mkdir(parents=True, exist_ok=True)
        fs, path = url_to_fs(url, storage_options)
        try:
            with (
                remote_errors(url, "download the shard"),
                fs.open(path, "rb") as src,
                atomic_path(dst, fsync=False) as tmp,
                tmp.open("wb") as raw,
            ):
                w = HashingWriter(raw)
                shutil.copyfileobj(src, w, 8 << 20)
                if size is not None and w.size != size:
                    raise ChecksumMismatchError(f"{url}: downloaded {w.size} bytes, the manifest says {size}")
                if sha256 is not None and w.hexdigest() != sha256:
                    raise ChecksumMismatchError(
                        f"{url}: sha256 of the download does not match the manifest (corrupted on the server "
                        "or in transit)"
                    )
        except FileNotFoundError:
            raise CorruptDataError(f"{url}: the shard is missing on the server") from None
        except ValueError as err:
            if isinstance(err, NBError):
                raise
            raise CorruptDataError(f"{url}: could not download the shard ({err})") from err
        self._evict(keep=dst)
        return dst

    def _evict(self, *, keep: Path) -> None:
        files = []
        for p in self.directory.iterdir():
            if is_temporary(p.name) or not p.is_file():
                continue
            with contextlib.suppress(FileNotFoundError):
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
        total = sum(s for _, s, _ in files)
        for _, s, p in sorted(files):
            if total <= self.max_bytes:
                break
            if p == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                p.unlink()  # open memory maps stay valid on POSIX
            total -= s

    def total_bytes(self) -> int:
        if not self.directory.is_dir():
            return 0
        return sum(
            p.stat().st_size for p in self.directory.iterdir() if p.is_file() and not is_temporary(p.name)
        )
