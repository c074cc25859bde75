"""The search dropdown's matches by an old system's id (integrations.moving_in.search)."""

from __future__ import annotations

from typing import Any

from django import template

from integrations.moving_in.search import OldIdMatch, imported_client_search

register = template.Library()


@register.simple_tag(takes_context=True)
def old_id_matches(context: dict[str, Any], q: str) -> list[OldIdMatch]:
    """`{% old_id_matches q as matches %}`: the imported clients whose old id is `q` that the request's
    user may see."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    return imported_client_search(user=user, q=q)
