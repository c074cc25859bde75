"""Who may read which domain events outside the pages: the event feed and outbound webhooks.

An app guards a family of its events ("compliance.", "monitoring.") with an API scope of its own
(crm.registry.ApiScope `events`): such an event reaches an API key, through the feed or a webhook
subscriber, only when the key holds that scope, and a staff session only when the user holds the
scope's `permission` (administrators hold every one). A compliance matter that reaches anyone else
is tipping off. Who may give a key such a scope is the same permission's holder
(integrations.permissions.scopes_withheld).

Personal data in any event (the fields the catalogue marks PERSONAL, crm.events.catalogue) is left
out unless the reader may have it: a key with `clients:read` in the feed, a subscriber with the
`personal_data` scope (integrations.services); the names left out are listed in `redacted`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crm.events import catalogue
from crm.registry import API_SCOPES, ApiScope

PERSONAL_FEED_SCOPE = "clients:read"  # a key that reads clients in full reads their names in events too


def guarding_scope(name: str) -> ApiScope | None:
    """The scope that guards event `name`, or None when any reader of the brand's events may have it."""
    for scope in API_SCOPES:
        if any(name.startswith(family) for family in scope.events):
            return scope
    return None


def guarded_families(*, held: Iterable[str]) -> list[str]:
    """The event families ("compliance.") a holder of the scopes `held` may not read."""
    have = set(held)
    return [family for scope in API_SCOPES if scope.code not in have for family in scope.events]


def staff_guarded_families(user: Any) -> list[str]:
    """The event families a staff session of `user` may not read: those whose scope's permission
    the user lacks."""
    from crm.permissions import user_can

    return [family for scope in API_SCOPES if scope.events
            and not (scope.permission is not None and user_can(user, scope.permission))
            for family in scope.events]


def event_allowed(name: str, *, held: Iterable[str]) -> bool:
    """Whether a holder of the scopes `held` may read event `name`."""
    scope = guarding_scope(name)
    return scope is None or scope.code in set(held)


def refused_for_key(names: Iterable[str], *, held: Iterable[str]) -> dict[str, str]:
    """Of `names`, those a key holding `held` may not read, each with the scope it lacks."""
    have = set(held)
    out: dict[str, str] = {}
    for name in names:
        scope = guarding_scope(name)
        if scope is not None and scope.code not in have:
            out[name] = scope.code
    return out


def data_redacted(name: str, data: Mapping[str, Any] | None, *, personal: bool) -> tuple[dict[str, Any], list[str]]:
    """The event's data as a reader sees it: without its personal fields unless `personal`, and the
    names of the fields left out (sorted)."""
    out = dict(data or {})
    if personal:
        return out, []
    declared = catalogue.event_type(name)
    if declared is None:
        return out, []
    redacted = [field for field in sorted(declared.personal_fields()) if field in out]
    for field in redacted:
        del out[field]
    return out, redacted
