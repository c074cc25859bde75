"""simkit's base classes: a simulator that leaves out what it must say fails when it is made, not
at its first webhook or request."""

from __future__ import annotations

from typing import Any

import pytest

from simkit.app import SimApp
from simkit.http import SimHandler


def test_a_simulator_without_signed_webhooks_cannot_be_made():
    class Unsigned(SimApp):
        pass

    with pytest.raises(TypeError, match="signed"):
        Unsigned()

    class Signed(SimApp):
        def signed(self, hook: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
            return b"{}", {}

    assert Signed().signed({"url": "http://crm.invalid/"}) == (b"{}", {})


def test_a_request_handler_without_handle_request_cannot_be_made():
    class Silent(SimHandler):
        pass

    with pytest.raises(TypeError, match="handle_request"):
        Silent(None, ("127.0.0.1", 0), None)  # type: ignore[arg-type]
