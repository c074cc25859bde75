"""In-app notifications (the bell)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext

from crm.exceptions import FieldErrors, ValidationFailed
from crm.lib.validation import InvalidValue, text_clean
from crm.models import Notification, User
from crm.services.common import _excerpt


def notification_send(*, user: User, kind: str, title: str, body: str = "", url: str = "") -> Notification:
    """An in-app notification for `user`. `url` must be a path within the CRM ("/clients/…")."""
    errors = FieldErrors()
    try:
        kind = text_clean(kind, field="kind", max_length=50, required=True)
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
    title = " ".join((title or "").split())
    if not title:
        errors.add("title", gettext("This field is required."))
    url = (url or "").strip()
    if url and (not url.startswith("/") or url.startswith("//") or len(url) > 500):
        errors.add("url", gettext("Use a path within the CRM, starting with /."))
    errors.raise_if_any()
    return Notification.objects.create(user=user, kind=kind, title=_excerpt(title, 200), body=body or "", url=url)


def notification_mark_read(*, user: User, ids: Iterable[int | str] | None = None) -> int:
    """Mark `user`'s unread notifications read (only those in `ids` if given); returns how many."""
    qs = Notification.objects.filter(user_id=user.pk, read_at__isnull=True)
    if ids is not None:
        try:
            wanted = [int(i) for i in ids]
        except (TypeError, ValueError):
            raise ValidationFailed(fields={"ids": [gettext("Give notification ids as numbers.")]}) from None
        qs = qs.filter(pk__in=wanted)
    return qs.update(read_at=timezone.now())


def notify_user(user: User | None, *, kind: str, title: str, params: Mapping[str, Any] | None = None,
                body: str = "", url: str = "", actor: User | None = None) -> Notification | None:
    """Notify `user` unless there is none, they are inactive or they are the actor (then None).

    `title` is marked with gettext_noop and translated into the recipient's language, not the
    actor's, with `params` filled in (title % params)."""
    if user is None or not user.is_active or (actor is not None and actor.pk == user.pk):
        return None
    with translation.override(user.language or settings.LANGUAGE_CODE):
        text = gettext(title) % dict(params) if params else gettext(title)
        return notification_send(user=user, kind=kind, title=text, body=body, url=url)


def notify_users(users: Iterable[User], *, kind: str, title: str, params: Mapping[str, Any] | None = None,
                 body: str = "", url: str = "", actor: User | None = None) -> int:
    """notify_user for each of `users`, once each however often they are listed; returns how many
    were notified."""
    seen: set[int] = set()
    sent = 0
    for user in users:
        if user.pk in seen:
            continue
        seen.add(user.pk)
        sent += notify_user(user, kind=kind, title=title, params=params, body=body, url=url, actor=actor) is not None
    return sent
