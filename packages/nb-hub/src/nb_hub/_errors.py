"""Map ``huggingface_hub`` errors onto the ``nb_core.errors`` hierarchy, without tokens."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from nb_core.errors import HubAuthError, HubError, HubLimitError, HubNotFoundError

__all__ = ["hub_errors", "scrub"]


def scrub(text: str, token: str | bool | None) -> str:
    """Remove the token (given, or from ``HF_TOKEN``) from a message."""
    secrets = [t for t in (token if isinstance(token, str) else None, os.environ.get("HF_TOKEN")) if t]
    for s in secrets:
        text = text.replace(s, "***")
    return text


@contextlib.contextmanager
def hub_errors(what: str, *, token: str | bool | None = None) -> Iterator[None]:
    """Re-raise Hub client errors as :class:`~nb_core.errors.HubError` subclasses.

    ``what`` says what was being done (``"pull alice/eeg@main"``); it starts every message.
    """
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
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
    except LocalEntryNotFoundError as err:
        raise HubNotFoundError(
            scrub(f"{what}: not in the local cache and the Hub cannot be reached (offline?): {err}", token)
        ) from None
    except EntryNotFoundError as err:
        raise HubNotFoundError(scrub(f"{what}: file not found. {_server_message(err)}", token)) from None
    except OfflineModeIsEnabled as err:
        raise HubNotFoundError(scrub(f"{what}: offline mode (HF_HUB_OFFLINE) is on: {err}", token)) from None
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        msg = scrub(f"{what}: HTTP {status}: {_server_message(err)}", token)
        if status in (401, 403):
            raise HubAuthError(
                msg + " — check the token (HF_TOKEN, `hf auth login`, or token=) and its write access"
            ) from None
        if status in (413, 422, 429):
            raise HubLimitError(msg) from None
        raise HubError(msg) from None


def _server_message(err: Exception) -> str:
    msg = getattr(err, "server_message", None)
    if msg:
        return str(msg).strip()
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
