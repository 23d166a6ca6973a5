"""Map ``huggingface_hub`` and network errors onto the ``nb_core.errors`` hierarchy, without tokens.

Example:
    >>> from nb_hub._errors import HubConnectionError
    >>> issubclass(HubConnectionError, ConnectionError)
    True
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from nb_core.errors import (
    HubAuthError,
    HubConnectionError,
    HubError,
    HubLimitError,
    HubNotFoundError,
    HubServerError,
    NBError,
)

# HubConnectionError and HubServerError live in nb_core.errors; they are re-exported here (and from
# nb_hub) for code written against nb-hub 0.1.
__all__ = ["HubConnectionError", "HubServerError", "hub_errors", "scrub"]


def scrub(text: str, token: str | bool | None) -> str:
    """Remove the token (given, or from ``HF_TOKEN``) from a message."""
    secrets = [t for t in (token if isinstance(token, str) else None, os.environ.get("HF_TOKEN")) if t]
    for s in secrets:
        text = text.replace(s, "***")
    return text


def _status_errors() -> tuple[type[BaseException], ...]:
    """HTTP status errors raised outside ``huggingface_hub``'s own (fsspec ``HfFileSystem`` reads)."""
    errors: tuple[type[BaseException], ...] = ()
    for mod in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            errors = (*errors, __import__(mod).HTTPStatusError)
    return errors


def _network_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
    try:
        import httpx2

        errors = (*errors, httpx2.TransportError)
    except ImportError:  # pragma: no cover - older huggingface_hub (requests/httpx based)
        pass
    with contextlib.suppress(ImportError):
        import httpx

        errors = (*errors, httpx.TransportError)
    with contextlib.suppress(ImportError):
        import requests

        errors = (*errors, requests.ConnectionError, requests.Timeout)
    return errors


def _find_cause(err: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first error of one of ``kinds`` in ``err``'s cause/context chain (``err`` excluded)."""
    seen = {id(err)}
    cur = err.__cause__ or err.__context__
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, kinds):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _http_status(err: BaseException) -> int | None:
    resp = getattr(err, "response", None)
    return getattr(resp, "status_code", None) if resp is not None else None


@contextlib.contextmanager
def hub_errors(
    what: str, *, token: str | bool | None = None, write: bool = False, endpoint: str | None = None
) -> Iterator[None]:
    """Re-raise Hub client and network errors as :class:`~nb_core.errors.HubError` subclasses.

    ``what`` says what was being done (``"pull alice/eeg@main"``); it starts every message.
    ``write`` says whether the operation writes (a refused token then may lack write access).
    :class:`~nb_core.errors.NBError` passes through unchanged.
    """
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    network = _network_errors()
    status_errors: tuple[type[BaseException], ...] = (HfHubHTTPError, *_status_errors())
    where = f" at {endpoint}" if endpoint else ""
    try:
        yield
    except NBError:
        raise
    except RepositoryNotFoundError as err:
        raise HubNotFoundError(
            scrub(
                f"{what}: repository not found (it does not exist, or it is private and this token cannot "
                f"see it). {_server_message(err)}",
                token,
            )
        ) from None
    except RevisionNotFoundError as err:
        raise HubNotFoundError(scrub(f"{what}: revision not found. {_server_message(err)}", token)) from None
    except OfflineModeIsEnabled as err:
        raise HubNotFoundError(scrub(f"{what}: offline mode (HF_HUB_OFFLINE) is on: {err}", token)) from None
    except LocalEntryNotFoundError as err:
        # huggingface_hub falls back to its cache when the Hub fails, and reports any failure as
        # "not in the local cache": say what the Hub really did.
        cause = _find_cause(err, (*status_errors, *network))
        if cause is not None:
            _raise_mapped(cause, what, token, write, where, network)
        raise HubNotFoundError(
            scrub(f"{what}: not in the local cache and the Hub cannot be reached (offline?): {err}", token)
        ) from None
    except EntryNotFoundError as err:
        raise HubNotFoundError(scrub(f"{what}: file not found. {_server_message(err)}", token)) from None
    except status_errors as err:
        _raise_mapped(err, what, token, write, where, network)
    except network as err:
        _raise_mapped(err, what, token, write, where, network)


def _raise_mapped(
    err: BaseException,
    what: str,
    token: str | bool | None,
    write: bool,
    where: str,
    network: tuple[type[BaseException], ...],
) -> None:
    status = _http_status(err)
    if status is None and isinstance(err, network):
        raise HubConnectionError(
            scrub(
                f"{what}: the Hub{where} could not be reached or dropped the connection "
                f"({type(err).__name__}: {str(err).strip() or 'no details'}); check the address "
                "(--endpoint / HF_ENDPOINT) and the network, then run it again"
                + (" (a push resumes where it stopped)" if write else ""),
                token,
            )
        ) from None
    msg = scrub(f"{what}: HTTP {status}: {_server_message(err)}", token)
    if status == 401:
        raise HubAuthError(
            msg + " — the token was refused: check it (HF_TOKEN, `hf auth login`, or token=)"
        ) from None
    if status == 403:
        raise HubAuthError(
            msg
            + (
                " — this token may not write here: check that it has write access and that the "
                "namespace is yours (or an organization you belong to)"
                if write
                else " — this token may not read this repository"
            )
        ) from None
    if status == 429:
        raise HubLimitError(msg + " — rate limited by the Hub; wait and run it again") from None
    if status in (413, 422):
        raise HubLimitError(msg) from None
    if status is not None and status >= 500:
        raise HubServerError(
            msg + " — a server error that persisted through the client's retries; try again later"
        ) from None
    raise HubError(msg) from None


def _server_message(err: BaseException) -> str:
    msg = getattr(err, "server_message", None)
    if msg:
        return str(msg).strip()
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
