"""Reads of support for other apps' pages and its own: the requesters' tickets, a client's in the
trader's room (portal), a partner's in the partner portal. A requester sees only their own tickets, found through the client or partner their
session belongs to, never by a reference alone (another's ticket is missing: NotFound), and only the
public part of a thread (never an internal note nor a system line: support.models.PUBLIC_MESSAGE_KINDS).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.translation import gettext

from crm.exceptions import NotFound, ValidationFailed
from crm.models import Client, User
from crm.permissions import user_can
from plumbing.sqlfiles import sql_text
from support.models import (
    PUBLIC_MESSAGE_KINDS,
    Complaint,
    ComplaintCategory,
    SupportDesk,
    Ticket,
    TicketAttachment,
    TicketCategory,
    TicketMessage,
    TicketStatus,
)
from support.permissions import VIEW_TICKET

LIST_LIMIT = 200
REFERENCE_MAX = 16

# What a client may ask about from the trader's room (a complaint has its own form; partnership is
# the partner portal's).
CLIENT_CATEGORIES = tuple((c, label) for c, label in TicketCategory.choices
                          if c not in (TicketCategory.COMPLAINT, TicketCategory.PARTNERSHIP))
COMPLAINT_CATEGORIES = tuple(ComplaintCategory.choices)
PARTNER_CATEGORIES = tuple((c, label) for c, label in TicketCategory.choices
                           if c in (TicketCategory.PARTNERSHIP, TicketCategory.ACCOUNT, TicketCategory.TECHNICAL,
                                    TicketCategory.OTHER))


def _listed(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    return qs.exclude(status=TicketStatus.MERGED).order_by("-created_at", "-pk")


def tickets_for_client(*, client: Client) -> list[Ticket]:
    """The client's tickets, newest first (merged ones are shown by the ticket they went into)."""
    return _with_complaints(list(_listed(Ticket.objects.filter(client=client))[:LIST_LIMIT]))


def tickets_for_partner(*, partner: Any) -> list[Ticket]:
    return _with_complaints(list(_listed(Ticket.objects.filter(partner=partner, client__isnull=True))[:LIST_LIMIT]))


def _with_complaints(tickets: list[Ticket]) -> list[Ticket]:
    """Each ticket with `complaint_reference` set ("" when it is not a complaint): one query for all."""
    refs = dict(Complaint.objects.filter(ticket__in=tickets).values_list("ticket_id", "reference"))
    for ticket in tickets:
        ticket.complaint_reference = refs.get(ticket.pk, "")  # type: ignore[attr-defined]  # for the template only
    return tickets


def _one(qs: QuerySet[Ticket], reference: Any) -> Ticket:
    text = str(reference or "")[:REFERENCE_MAX]
    ticket = qs.select_related("brand", "merged_into").filter(reference=text).first()
    if ticket is None:
        raise NotFound()
    if ticket.status == TicketStatus.MERGED and ticket.merged_into is not None:
        return _one(qs, ticket.merged_into.reference)
    return ticket


def ticket_for_client(*, client: Client, reference: Any) -> Ticket:
    """The client's own ticket of `reference` (one merged into another: that other, when it is theirs
    too); NotFound for anyone else's or none."""
    return _one(Ticket.objects.filter(client=client), reference)


def ticket_for_partner(*, partner: Any, reference: Any) -> Ticket:
    return _one(Ticket.objects.filter(partner=partner, client__isnull=True), reference)


@dataclass(frozen=True)
class ThreadView:
    ticket: Ticket
    messages: list[TicketMessage]
    complaint: Complaint | None

    @property
    def can_reply(self) -> bool:
        return self.ticket.status != TicketStatus.MERGED

    @property
    def can_rate(self) -> bool:
        return self.ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) and self.ticket.rating is None


def thread_for_requester(ticket: Ticket) -> ThreadView:
    """The ticket's public messages, oldest first, with their attachments, and its complaint if any."""
    messages = list(TicketMessage.objects.filter(ticket=ticket, kind__in=PUBLIC_MESSAGE_KINDS)
                    .select_related("author").prefetch_related("attachments").order_by("created_at", "pk"))
    complaint = Complaint.objects.filter(ticket=ticket).first()
    return ThreadView(ticket=ticket, messages=messages, complaint=complaint)


def attachment_for_requester(ticket: Ticket, code: Any) -> TicketAttachment:
    """A file of one of the ticket's public messages; NotFound otherwise (an internal note's file too)."""
    found = TicketAttachment.objects.filter(code=code, message__ticket=ticket,
                                            message__kind__in=PUBLIC_MESSAGE_KINDS).first()
    if found is None:
        raise NotFound()
    return found


def attachment_response(attachment: TicketAttachment) -> HttpResponse:
    """The file as a download of the requester's own page: its checked content type, never sniffed
    by the browser, never cached."""
    from support.attachments import attachment_read

    response = HttpResponse(attachment_read(attachment.storage_name), content_type=attachment.content_type)
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response



# --- KPIs ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KpiRow:
    """One agent's or one desk's support figures over a period. Times are wall-clock minutes from
    the ticket's opening (not business minutes); None where no ticket has one yet."""

    kind: str  # "agent" or "desk"
    key: int | None  # the assignee's id (None: unassigned) or the desk's id
    name: str
    code: str  # the agent's or the desk's code, for the queue's filter links
    handled: int
    first_response_median: float | None
    first_response_p90: float | None
    resolution_median: float | None
    reopened: int
    rating_average: Decimal | None
    rated: int
    rated_good: int  # ratings of 4 or 5
    breached: int

    @property
    def reopen_rate(self) -> Decimal | None:
        return _share(self.reopened, self.handled)

    @property
    def satisfied_share(self) -> Decimal | None:
        return _share(self.rated_good, self.rated)


def _share(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class SupportKpis:
    agents: list[KpiRow]
    desks: list[KpiRow]  # empty for who sees only their own tickets


def _minutes(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def support_kpis(*, user: Any, date_from: dt.date, date_to: dt.date, brand_id: int | None = None,
                 desk_id: int | None = None) -> SupportKpis:
    """First response (median, p90), resolution (median), reopen rate, satisfaction and SLA breaches
    of the tickets opened from `date_from` to `date_to` (UTC days, both included), per agent and per
    desk, in one SQL pass (support/sql/kpis.sql). Scope: an administrator every ticket; a support
    desk's manager the tickets of their desks (and their own); anyone else who sees tickets only the
    tickets given to them, as their own row and no desk rows. Nobody else sees any figure."""
    if date_from > date_to:
        raise ValidationFailed(fields={"date_from": [gettext("The start is after the end.")]})
    if not (getattr(user, "is_authenticated", False) and user.is_active) or not user_can(user, VIEW_TICKET):
        return SupportKpis(agents=[], desks=[])
    everything = bool(user.is_administrator)
    desks = [] if everything else list(SupportDesk.objects.filter(manager_id=user.pk).values_list("pk", flat=True))
    with_desks = everything or bool(desks)
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute(sql_text("support", "kpis"), {
            "start": start, "end": end, "brand": brand_id, "desk": desk_id, "everything": everything,
            "desks": desks, "user": user.pk, "with_desks": with_desks})
        rows = cursor.fetchall()
    agent_ids = [r[1] for r in rows if r[0] == "agent" and r[1] is not None]
    people = {u.pk: u for u in User.objects.filter(pk__in=agent_ids)}
    desk_rows = {d.pk: d for d in SupportDesk.objects.filter(pk__in=[r[1] for r in rows if r[0] == "desk"])}
    agents: list[KpiRow] = []
    desk_list: list[KpiRow] = []
    for (kind, key, handled, fr_median, fr_p90, _responded, res_median, _resolved, reopened, rating_avg, rated,
         rated_good, breached) in rows:
        if kind == "agent":
            person = people.get(key)
            name = (person.full_name or person.email) if person is not None else gettext("Unassigned")
            code = str(person.code) if person is not None else "none"
        else:
            desk = desk_rows[key]
            name, code = desk.name, desk.code
        row = KpiRow(kind=kind, key=key, name=name, code=code, handled=handled,
                     first_response_median=_minutes(fr_median), first_response_p90=_minutes(fr_p90),
                     resolution_median=_minutes(res_median), reopened=reopened,
                     rating_average=None if rating_avg is None else Decimal(rating_avg).quantize(Decimal("0.01")),
                     rated=rated, rated_good=rated_good, breached=breached)
        (agents if kind == "agent" else desk_list).append(row)
    return SupportKpis(agents=agents, desks=desk_list)
