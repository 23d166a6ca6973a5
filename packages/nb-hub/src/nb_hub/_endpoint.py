"""Which Hub a call talks to, and what follows from it: the cache folder and Xet.

- **Cache per endpoint.** ``huggingface_hub`` names cached repos by repo id only
  (``datasets--alice--eeg``), so files pulled from another server (a local emulator, a mirror)
  would land in the user's Hugging Face cache under the same names as the real Hub's repos, and
  one server's ``refs/main`` would overwrite the other's. Downloads from any endpoint other than
  ``https://huggingface.co`` therefore go to ``<HF_HUB_CACHE>/../nb-endpoints/<host>-<port>/``
  (``~/.cache/huggingface/nb-endpoints/127.0.0.1-8765`` by default) unless a ``cache_dir`` is given.
- **No Xet on a local endpoint.** ``huggingface_hub`` uploads through Xet whenever ``hf_xet`` is
  installed; the offline emulator (``nb hub emulator``, ``HubEmulator``, always on a loopback
  address) speaks only Git LFS. Uploads to a loopback endpoint run with Xet disabled.

Example:
    >>> from nb_hub._endpoint import endpoint_cache_dir
    >>> endpoint_cache_dir("https://huggingface.co") is None
    True
    >>> endpoint_cache_dir("http://127.0.0.1:8765").name
    '127.0.0.1-8765'
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from nb_core.progress import progress_enabled

__all__ = ["endpoint_cache_dir", "hub_cache_dir", "is_local_endpoint", "resolve_endpoint", "xet_off_for"]

_OFFICIAL_HOSTS = ("huggingface.co", "hf.co")


def resolve_endpoint(endpoint: str | None) -> str:
    """The Hub URL a call uses: ``endpoint``, else ``HF_ENDPOINT`` (as ``huggingface_hub`` read it)."""
    if endpoint:
        return endpoint.rstrip("/")
    from huggingface_hub import constants

    return str(constants.ENDPOINT).rstrip("/")


def _host_port(endpoint: str) -> tuple[str, int | None]:
    parts = urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "").lower(), port


def is_local_endpoint(endpoint: str) -> bool:
    """Is ``endpoint`` on a loopback address (where the emulator serves)?"""
    host, _ = _host_port(endpoint)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_cache_dir(endpoint: str) -> Path | None:
    """The cache folder for downloads from ``endpoint`` (`None`: the usual Hugging Face cache)."""
    host, port = _host_port(endpoint)
    if host in _OFFICIAL_HOSTS and urlsplit(endpoint).scheme == "https":
        return None
    from huggingface_hub import constants

    safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in host) or "unknown"
    return Path(constants.HF_HUB_CACHE).parent / "nb-endpoints" / (f"{safe}-{port}" if port else safe)


def hub_cache_dir(endpoint: str | None, cache_dir: str | os.PathLike[str] | None) -> str | None:
    """``cache_dir`` if given, else the endpoint's own cache folder (`None` for the real Hub)."""
    if cache_dir is not None:
        return str(cache_dir)
    d = endpoint_cache_dir(resolve_endpoint(endpoint))
    return None if d is None else str(d)


@contextlib.contextmanager
def xet_off_for(endpoint: str | None) -> Iterator[None]:
    """Disable Xet uploads in this process while talking to a loopback ``endpoint``."""
    from huggingface_hub import constants

    if not is_local_endpoint(resolve_endpoint(endpoint)) or constants.HF_HUB_DISABLE_XET:
        yield
        return
    constants.HF_HUB_DISABLE_XET = True
    try:
        yield
    finally:
        constants.HF_HUB_DISABLE_XET = False


@contextlib.contextmanager
def hub_bars(show_progress: bool | None) -> Iterator[None]:
    """``huggingface_hub``'s own progress bars (uploads, downloads) off in this process while nb-hub
    shows none (``show_progress=False``, or by default when stderr is not a terminal or
    ``NB_PROGRESS=0``); restored after. (A process-wide switch of ``huggingface_hub``: another
    thread's transfers lose their bars meanwhile too.)"""
    from huggingface_hub import constants
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    # (HF_HUB_DISABLE_PROGRESS_BARS=0 in the environment forces them on: left as it is)
    forced = constants.HF_HUB_DISABLE_PROGRESS_BARS is False
    if progress_enabled(show_progress) or forced or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()
