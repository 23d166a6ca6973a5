"""nb-hub: push, pull and dataset cards for neurobridge artifacts on the Hugging Face Hub.

Public API: :func:`push`, :func:`pull`, :func:`open`, :func:`card`, :class:`HubMixin`,
:class:`RepoLimits`/:func:`check_limits`, and the offline Hub emulator in :mod:`nb_hub.testing`.
Errors are those of ``nb_core.errors`` (:class:`HubConnectionError` and :class:`HubServerError`
are re-exported here for code written against nb-hub 0.1). Readers, card configs and previews come
from the layout registry (:mod:`nb_core.layouts`), so every installed layout works here. Importing ``nb_hub`` does not import ``huggingface_hub``,
``datasets``, ``torch`` or ``mne``; they are loaded when used.

Example:
    >>> import nb_hub
    >>> sorted(nb_hub.__all__)[:3]
    ['HubConnectionError', 'HubMixin', 'HubServerError']
"""

from importlib.metadata import version as _version

from nb_hub._errors import HubConnectionError, HubServerError
from nb_hub.card import card
from nb_hub.limits import RepoLimits, TooManySmallFilesWarning, check_limits
from nb_hub.mixin import HubMixin
from nb_hub.opener import open
from nb_hub.preview import PreviewSkippedWarning
from nb_hub.pull import pull
from nb_hub.push import push

__version__ = _version("nb-hub")

__all__ = [
    "HubConnectionError",
    "HubMixin",
    "HubServerError",
    "PreviewSkippedWarning",
    "RepoLimits",
    "TooManySmallFilesWarning",
    "__version__",
    "card",
    "check_limits",
    "open",
    "pull",
    "push",
]
