"""The access log: who viewed, searched, exported or revealed client data (AccessEvent rows)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.partitions import partitions_for
from crm.models import AccessEvent, AccessKind, Client, User
from crm.permissions import restriction_message, staff_restricted, user_can
from plumbing import context


def _clean_ip(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip).compressed
    except ValueError:
        return None


logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Access:
    """One access as the listeners hear it: an AccessEvent's kind (view, reveal_email, reveal_phone,
    export, search) or "login", by `user`, at `at`."""

    kind: str
    user: User
    at: datetime
    client: Client | None = None
    rows: int | None = None
    ip: str | None = None
    user_agent: str = ""
    ref: str = ""


AccessListener = Callable[[Access], None]
_ACCESS_LISTENERS: dict[str, AccessListener] = {}


def access_listener_register(name: str, listener: AccessListener) -> None:
    """Hear every access the core logs (agent monitoring records them in its activity table). A listener must
    be cheap (it runs in the request) and must not raise: one that does is logged and the access stands."""
    _ACCESS_LISTENERS[name] = listener


def access_notify(access: Access) -> None:
    for name, listener in list(_ACCESS_LISTENERS.items()):
        try:
            listener(access)
        except Exception:  # a listener's failure must not refuse the page the access came from
            logger.exception("access listener %s failed", name)


def _access_event(actor: User, client: Client | None, kind: str, detail: str = "",
                  rows: int | None = None) -> AccessEvent:
    ctx = context.current()
    at = timezone.now()
    partitions_for(AccessEvent._meta.db_table, [at])
    event = AccessEvent.objects.create(
        user=actor, client=client, kind=kind, at=at, ip=_clean_ip(ctx.ip),
        user_agent=ctx.user_agent[:500], request_id=ctx.request_id, detail=detail[:200], rows=rows,
    )
    if _ACCESS_LISTENERS:
        access_notify(Access(kind=kind, user=actor, at=event.at, client=client, rows=rows, ip=event.ip,
                             user_agent=event.user_agent, ref=f"access:{event.pk}"))
    return event


def access_login_record(*, user: User) -> None:
    """Tell the access listeners that `user` logged in (time, IP and device from the request)."""
    if not _ACCESS_LISTENERS:
        return
    ctx = context.current()
    access_notify(Access(kind="login", user=user, at=timezone.now(), ip=_clean_ip(ctx.ip),
                         user_agent=ctx.user_agent[:500], ref=f"login:{ctx.request_id}"[:64]))


def access_export_record(*, actor: User | None, what: str, rows: int) -> None:
    """Record that `actor` exported `rows` rows of client data (AccessEvent "export"; monitoring
    reads these). `what` names the export, e.g. "segment export: VIP"."""
    if actor is None or not getattr(actor, "pk", None):
        return
    _access_event(actor, None, AccessKind.EXPORT, detail=what, rows=rows)


def access_search_record(*, actor: User | None, where: str, query: str, rows: int) -> None:
    """Record that `actor` searched clients for `query` on `where` and got `rows` rows
    (AccessEvent "search"). A blank query is not a search and writes nothing."""
    query = " ".join((query or "").split())
    if not query or actor is None or not getattr(actor, "pk", None):
        return
    _access_event(actor, None, AccessKind.SEARCH, detail=f"{where}: {query}", rows=rows)


@transaction.atomic
def client_view_record(*, actor: User | None, client: Client, detail: str = "") -> None:
    """Record that `actor` opened the client's profile, or the record named by `detail` (a KYC
    document), (AccessEvent "view"; agent monitoring reads these)."""
    if actor is None or not getattr(actor, "pk", None):
        return
    _access_event(actor, client, AccessKind.VIEW, detail=detail)


REVEAL_KINDS: dict[str, str] = {"email": AccessKind.REVEAL_EMAIL, "phone": AccessKind.REVEAL_PHONE}


@transaction.atomic
def client_contact_reveal(*, actor: User, client: Client, field: str) -> str:
    """The client's email or phone in clear, for `actor` who holds "crm.reveal_contact".

    Every reveal is recorded twice: an AccessEvent (for monitoring) and an audit row (for the trail).
    """
    if field not in REVEAL_KINDS:
        raise ValidationFailed(fields={"field": [gettext("Choose email or phone.")]})
    if staff_restricted(actor):
        raise NotAllowed(restriction_message())
    if actor is None or not user_can(actor, "crm.reveal_contact"):
        raise NotAllowed(gettext("You are not allowed to see this client's contact details."))
    _access_event(actor, client, REVEAL_KINDS[field], detail=field)
    audit_record(action="client.reveal_contact", obj=client, after={"field": field}, actor=actor)
    shown: str = getattr(client, field)
    return shown
