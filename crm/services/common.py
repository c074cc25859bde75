"""What the core's services share: permission checks, text and links.

References to staff, desks and clients in events and notifications are crm.lib.payloads."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext

from crm.exceptions import NotAllowed
from crm.lib.validation import InvalidValue
from crm.models import User
from crm.permissions import user_can

EXCERPT_LENGTH = 200


def _require(actor: User | None, perm: str) -> None:
    if actor is not None and not user_can(actor, perm):
        raise NotAllowed()


def _user_in_brand(user: User, brand_id: int) -> bool:
    if user.is_administrator or user.all_brands:
        return True
    if "brands" in getattr(user, "_prefetched_objects_cache", {}):
        # Fetched with the user (the lead routing's cached agents): no query per new lead.
        return any(brand.pk == brand_id for brand in user.brands.all())
    return user.brands.filter(pk=brand_id).exists()


def _url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _text(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidValue(field, gettext("Enter text."))


def _excerpt(text: str, length: int = EXCERPT_LENGTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1].rstrip() + "…"
