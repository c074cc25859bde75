"""Reads of support for other apps' pages and its own: the requesters' tickets, a client's in the
trader's room (portal), a partner's in the partner portal. A requester sees only their own tickets, found through the client or partner their
session belongs to, never by a reference alone (another's ticket is missing: NotFound), and only the
public part of a thread (never an internal note nor a system line: support.models.PUBLIC_MESSAGE_KINDS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse

from crm.exceptions import NotFound
from crm.models import Client
from support.models import (
    PUBLIC_MESSAGE_KINDS,
    Complaint,
    ComplaintCategory,
    Ticket,
    TicketAttachment,
    TicketCategory,
    TicketMessage,
    TicketStatus,
)

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

