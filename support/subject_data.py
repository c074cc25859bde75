"""Support's part of a client's subject-access export (compliance.data_requests): their tickets and the
public messages of each (the client's, the partner's and staff's replies; internal notes are staff's
working notes about the request and are not part of the thread the client sees). Registered from
SupportConfig.ready: compliance sits below support and cannot import it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.utils.translation import gettext_lazy as _

from support.models import PUBLIC_MESSAGE_KINDS, Ticket, TicketMessage


def _tickets(client: Any) -> Iterator[Sequence[Any]]:
    rows = Ticket.objects.filter(client=client).order_by("created_at", "pk").values_list(
        "reference", "created_at", "category", "subject", "status", "channel")
    yield from rows.iterator(chunk_size=2000)


def _messages(client: Any) -> Iterator[Sequence[Any]]:
    rows = (TicketMessage.objects.filter(ticket__client=client, kind__in=PUBLIC_MESSAGE_KINDS)
            .order_by("created_at", "pk").values_list("ticket__reference", "created_at", "kind", "author__full_name",
                                                      "body_text"))
    for reference, at, kind, author, body in rows.iterator(chunk_size=2000):
        yield reference, at, kind, author or "", body


def register() -> None:
    from compliance.services import SubjectDataSection, subject_data_section_register

    subject_data_section_register(SubjectDataSection(
        "support_tickets", _("Your support tickets"), _tickets,
        ("ticket", "opened_at", "category", "subject", "status", "channel"), order=60))
    subject_data_section_register(SubjectDataSection(
        "support_messages", _("The messages of your support tickets"), _messages,
        ("ticket", "at", "kind", "staff_member", "text"), order=61))
