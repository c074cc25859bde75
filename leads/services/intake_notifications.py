"""Who hears of the leads one intake brought: one notification per person, in their language."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from crm.lib.payloads import client_url
from crm.models import Client, Desk, User
from crm.services import notify_user
from leads.services.common import _url


@dataclass(frozen=True)
class _ClientRef:
    """What a notification needs of a client just written (no model instance per lead)."""

    code: uuid.UUID
    full_name: str


class _Notifications:
    """Collects what to tell whom during one intake, then sends one notification per person:
    the lead itself when there is one, a count when a batch brought several."""

    def __init__(self, actor: User | None) -> None:
        self.actor = actor
        self.assigned: dict[int, tuple[User, list[Client]]] = {}
        self.queued: dict[int, tuple[User, Desk, list[Client]]] = {}
        self.returned: dict[int, tuple[User, list[Client]]] = {}

    def assigned_to(self, user: User, client: Any) -> None:
        self.assigned.setdefault(user.pk, (user, []))[1].append(client)

    def queued_on(self, desk: Desk, client: Any) -> None:
        manager = desk.manager
        if manager is not None:
            self.queued.setdefault(manager.pk, (manager, desk, []))[2].append(client)

    def came_back(self, user: User, client: Any) -> None:
        self.returned.setdefault(user.pk, (user, []))[1].append(client)

    def _messages(self) -> list[tuple[User, str, str, dict[str, Any], str, str]]:
        """(user, kind, title, params, body, url) of everything collected so far."""
        out: list[tuple[User, str, str, dict[str, Any], str, str]] = []
        for user, clients in self.assigned.values():
            if len(clients) == 1:
                out.append((user, "client_assigned", gettext_noop("A client was assigned to you"), {},
                            clients[0].full_name, client_url(clients[0])))
            else:
                out.append((user, "client_assigned", gettext_noop("%(count)d new leads were assigned to you"),
                            {"count": len(clients)}, ", ".join(c.full_name for c in clients[:5]),
                            _url("client_list") + f"?owner={user.code}&stage=lead"))
        for user, desk, clients in self.queued.values():
            if len(clients) == 1:
                out.append((user, "lead_queued", gettext_noop("A new lead is waiting in the %(desk)s queue"),
                            {"desk": desk.name}, clients[0].full_name, client_url(clients[0])))
            else:
                out.append((user, "lead_queued", gettext_noop("%(count)d new leads are waiting in the %(desk)s queue"),
                            {"count": len(clients), "desk": desk.name}, "", _url("lead_assign")))
        for user, clients in self.returned.values():
            out.append((user, "lead_returned", gettext_noop("A lead of yours registered again"), {},
                        ", ".join(c.full_name for c in clients[:5]), client_url(clients[0])))
        self.assigned, self.queued, self.returned = {}, {}, {}
        return out

    def rows(self, now: datetime) -> list[dict[str, Any]]:
        """Notification rows for bulk.write (what crm.services.notification_send would create),
        in each recipient's language; the collected messages are then cleared."""
        rows = []
        for user, kind, title, params, body, url in self._messages():
            if not user.is_active or (self.actor is not None and self.actor.pk == user.pk):
                continue
            with translation.override(user.language or settings.LANGUAGE_CODE):
                text = gettext(title) % params if params else gettext(title)
            rows.append({"user_id": user.pk, "kind": kind, "title": text[:200], "body": body, "url": url[:500],
                         "created_at": now, "read_at": None})
        return rows

    def send(self) -> None:
        for user, kind, title, params, body, url in self._messages():
            notify_user(user, kind=kind, title=title, params=params, body=body, url=url, actor=self.actor)
