"""Every exception neurobridge raises.

One hierarchy for the whole workspace: every package raises a subclass of
:class:`NBError`, and each subclass also derives from the built-in exception it
resembles, so ``except FileExistsError`` and ``except NBError`` both work.

Messages say what was wrong, where (file, key, field) and what to do.

Example:
    >>> from nb_core.errors import NBError, SchemaError
    >>> try:
    ...     raise SchemaError("must be a string", field="manifest.name")
    ... except NBError as err:
    ...     print(err)
    manifest.name: must be a string
"""

from __future__ import annotations

__all__ = [
    "ChecksumMismatchError",
    "CorruptDataError",
    "DependencyMissingError",
    "HubAuthError",
    "HubConnectionError",
    "HubError",
    "HubLimitError",
    "HubNotFoundError",
    "HubServerError",
    "IncompatibleDataError",
    "IncompleteArtifactError",
    "IndexOutOfRangeError",
    "InputNotFoundError",
    "IntegrityError",
    "ManifestNotFoundError",
    "NBError",
    "NonFiniteDataError",
    "OutputExistsError",
    "SchemaError",
    "SchemaVersionError",
    "UnsafeContentError",
    "UnsupportedFormatError",
    "UserError",
]


class NBError(Exception):
    """Base class of every error raised by neurobridge packages."""


class UserError(NBError, ValueError):
    """A call that cannot work as written (bad argument, option or combination)."""


class DependencyMissingError(NBError, ImportError):
    """An optional dependency is needed; the message says what to install."""


class SchemaError(NBError, ValueError):
    """Metadata does not follow the neurobridge schema.

    Args:
        message (`str`): what is wrong.
        field (`str`, *optional*): dotted path of the offending field
            (``"manifest.files[2].sha256"``); prefixed to the message.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        self.reason = message
        # Hostile input can hold megabytes where a name is expected: keep the message one short line.
        message = _shorten(message.replace("\n", " "), 400)
        super().__init__(f"{_shorten(field, 200)}: {message}" if field else message)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 30]}… ({len(text)} characters)"


class SchemaVersionError(SchemaError):
    """A manifest or sample was written by a newer (or unknown) schema version."""


class ManifestNotFoundError(NBError, FileNotFoundError):
    """A directory or file has no ``nb-manifest.json``: it is not a neurobridge artifact."""


class InputNotFoundError(NBError, FileNotFoundError):
    """An input file or directory given by the user does not exist."""


class IntegrityError(NBError, ValueError):
    """Stored bytes are not what was written (base of checksum and corruption errors)."""


class ChecksumMismatchError(IntegrityError):
    """A file's size or sha256 differs from the manifest's record."""


class CorruptDataError(IntegrityError):
    """A file is truncated or cannot be decoded (the message names file and offset)."""


class IncompleteArtifactError(CorruptDataError):
    """An artifact's write has not finished (no manifest yet); run the write again to finish it."""


class UnsafeContentError(NBError, ValueError):
    """Input asks for something unsafe: pickle, a path escaping its directory, a link."""


class NonFiniteDataError(NBError, ValueError):
    """Signals or metadata contain NaN or infinity where finite numbers are required."""


class IncompatibleDataError(NBError, ValueError):
    """Pieces that must agree do not: channel sets, sampling rates, shapes, dtypes."""


class OutputExistsError(NBError, FileExistsError):
    """The output path exists and overwriting was not asked for."""


class UnsupportedFormatError(NBError, ValueError):
    """A format, layout, compression or input kind that neurobridge does not handle."""


class HubError(NBError):
    """An operation on the Hugging Face Hub failed."""


class HubAuthError(HubError, PermissionError):
    """The Hub refused the token (missing, wrong, or without access). Never contains the token."""


class HubNotFoundError(HubError, FileNotFoundError):
    """A repository, revision or file does not exist on the Hub (or is not visible)."""


class HubLimitError(HubError):
    """An artifact or a push would break one of the Hub's repository limits."""


class HubConnectionError(HubError, ConnectionError):
    """The Hub could not be reached, or the connection broke (after the client's retries)."""


class HubServerError(HubError):
    """The Hub kept answering with a server error (HTTP 5xx) after the client's retries."""


class IndexOutOfRangeError(NBError, IndexError):
    """An item, window or recording index is outside a dataset (``for`` loops stop on it too)."""
