"""What the lead services share: references and links in events, notifications, input checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import time
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.translation import gettext

from crm import services as crm_services
from crm.exceptions import FieldErrors, NotAllowed, ValidationFailed
from crm.lib.validation import InvalidValue, text_clean
from crm.models import Desk, Notification, User


def _url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _client_url(client: Any) -> str:
    return _url("client_detail", client.code)


def _user_ref(user: User | None) -> dict[str, str] | None:
    return None if user is None else {"code": str(user.code), "name": user.full_name or user.email}


def _desk_ref(desk: Desk | None) -> dict[str, str] | None:
    return None if desk is None else {"code": str(desk.code), "name": desk.name}


def _notify(user: User | None, *, kind: str, title: str, body: str = "", url: str = "",
            params: Mapping[str, Any] | None = None, actor: User | None = None) -> Notification | None:
    """Notify `user` (not the actor) with `title` (a gettext_noop string) in their own language."""
    if user is None or not user.is_active or (actor is not None and actor.pk == user.pk):
        return None
    with translation.override(user.language or settings.LANGUAGE_CODE):
        text = gettext(title) % dict(params or {}) if params else gettext(title)
        return crm_services.notification_send(user=user, kind=kind, title=text, body=body, url=url)


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
        value = getattr(obj, obj._meta.get_field(name).attname)
        out[name] = value.isoformat() if isinstance(value, time) else value
    return out
