"""What the lead services share: links, permission and input checks, audit snapshots.

References to staff, desks and clients in events, and notifications in the recipient's language, are
crm.lib.payloads and crm.services.notify_user."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext

from crm.exceptions import FieldErrors, NotAllowed, ValidationFailed
from crm.lib.meta import model_field
from crm.lib.validation import InvalidValue, text_clean
from crm.models import User


def _url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _require_admin(actor: User | None) -> None:
    if actor is not None and not actor.is_administrator:
        raise NotAllowed()


def text_field(value: Any, name: str, limit: int, *, required: bool = False, errors: FieldErrors) -> str:
    """`value` cleaned as text of at most `limit` characters; a problem is added to `errors` under
    `name` (and "" returned), so that a form's every bad field is reported at once."""
    try:
        return text_clean(value if isinstance(value, str) or value is None else str(value), field=name,
                          max_length=limit, required=required)
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
        return ""


def _require_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed(fields={"reason": [gettext("Say why.")]})
    return reason[:1000]


def _snapshot(obj: Any, names: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, model_field(obj, name).attname)
        out[name] = value.isoformat() if isinstance(value, time) else value
    return out
