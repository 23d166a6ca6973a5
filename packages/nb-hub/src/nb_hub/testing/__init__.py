"""Testing helpers of nb-hub: an HTTP emulator of the Hugging Face Hub API.

See :mod:`nb_hub.testing.emulator` for what is served and how to point
``huggingface_hub``/``datasets`` at it (``HF_HUB_DISABLE_XET=1`` is required: the
emulator speaks Git LFS basic transfer, not Xet). A pytest fixture ``hub_emulator``
is provided by :mod:`nb_hub.testing.pytest_plugin`, registered as a pytest plugin.

Example:
    >>> from nb_hub.testing import HubEmulator
    >>> with HubEmulator() as emu:
    ...     emu.endpoint.startswith("http://127.0.0.1:")
    True
"""

from nb_hub.testing.emulator import Fault, HubEmulator, HubLimits, RequestRecord, validate_card_metadata

__all__ = ["Fault", "HubEmulator", "HubLimits", "RequestRecord", "validate_card_metadata"]
