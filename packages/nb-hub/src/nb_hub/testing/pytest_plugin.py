"""pytest plugin of nb-hub: the ``hub_emulator`` and ``hub_emulator_factory`` fixtures.

Registered through the ``pytest11`` entry point, so any test suite with nb-hub
installed can use them::

    def test_push(hub_emulator):
        api = HfApi(endpoint=hub_emulator.endpoint, token="t")
        ...

``hub_emulator`` is a started :class:`~nb_hub.testing.HubEmulator` (in memory, no
tokens) with :meth:`~nb_hub.testing.HubEmulator.configure_clients` active, so
``huggingface_hub`` and ``datasets`` of the test process talk to it by default and
Xet is disabled. ``hub_emulator_factory(**kwargs)`` starts more, with options
(``tokens=``, ``limits=``, ``storage=``); the first one it starts also configures the
clients. Importing this module is cheap (standard library and pytest only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

__all__ = ["hub_emulator", "hub_emulator_factory"]


@pytest.fixture
def hub_emulator_factory() -> Iterator[Callable[..., Any]]:
    """A function ``make(**kwargs) -> HubEmulator`` that starts emulators stopped after the test."""
    from nb_hub.testing.emulator import HubEmulator

    with contextlib.ExitStack() as stack:
        started: list[HubEmulator] = []

        def make(**kwargs: Any) -> HubEmulator:
            emu = stack.enter_context(HubEmulator(**kwargs))
            if not started:
                stack.enter_context(emu.configure_clients())
            started.append(emu)
            return emu

        yield make


@pytest.fixture
def hub_emulator(hub_emulator_factory: Callable[..., Any]) -> Any:
    """A running Hub emulator (in memory, any token accepted) that this process's clients use."""
    return hub_emulator_factory()
