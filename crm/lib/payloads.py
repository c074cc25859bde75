"""How events and notifications refer to things: staff and desks by code and name, a client by the
link to its page, and an event's data read safely.

Model-free on purpose (the objects are only read by attribute), so that every app, and the core's
own services, build these the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from django.urls import NoReverseMatch, reverse


class _Staff(Protocol):
    code: Any
    full_name: str
    email: str


class _Desk(Protocol):
    code: Any
    name: str


def user_ref(user: _Staff | None) -> dict[str, str] | None:
    """A member of staff as events name them: {"code", "name"} (the email when the name is blank)."""
    return None if user is None else {"code": str(user.code), "name": user.full_name or user.email}


def desk_ref(desk: _Desk | None) -> dict[str, str] | None:
    """A desk as events name it: {"code", "name"}."""
    return None if desk is None else {"code": str(desk.code), "name": desk.name}


def client_url(client: Any, *, tab: str = "") -> str:
    """The path of the client's page (on `tab` if given), or "" without a client or the page."""
    if client is None:
        return ""
    try:
        path = reverse("client_detail", args=[client.code])
    except NoReverseMatch:
        return ""
    return f"{path}?tab={tab}" if tab else path


def event_data(event: Any) -> Mapping[str, Any]:
    """An event's data, or {} when the row holds something else (data is JSON written by callers)."""
    return event.data if isinstance(event.data, Mapping) else {}
