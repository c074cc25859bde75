"""Support's part of an erasure and of the retention schedule (compliance.erasure, compliance.retention):
a ticket's requester, subject, messages and files go, its reference, category, status and times stay
(the desk's figures and the complaints register still count it). Registered from SupportConfig.ready:
compliance sits below support and cannot import it. A complaint's own register entry is not touched: the
complaints register is kept as the regulator requires."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import QuerySet

from crm.audit import audit_record
from support.attachments import STORE
from support.models import InboundEmail, Ticket, TicketAttachment, TicketMessage, TicketStatus

if TYPE_CHECKING:
    from crm.models import Client, User


@transaction.atomic
def tickets_anonymise(*, tickets: QuerySet[Ticket], actor: User | None, placeholder: str) -> int:
    """The tickets' requester, subject and every message's text and sender go (`placeholder` instead), their
    files are deleted (rows now, files once the transaction commits) and the inbound mails' senders and
    subjects too. Returns the tickets anonymised; audited with the count only."""
    ids = list(tickets.exclude(subject=placeholder).values_list("pk", flat=True))
    if not ids:
        return 0
    files = list(TicketAttachment.objects.filter(message__ticket_id__in=ids).values_list("storage_name", flat=True))
    TicketAttachment.objects.filter(message__ticket_id__in=ids).delete()
    TicketMessage.objects.filter(ticket_id__in=ids).update(body_text=placeholder, body_html="", from_email="")
    InboundEmail.objects.filter(ticket_id__in=ids).update(from_email="", subject=placeholder)
    Ticket.objects.filter(pk__in=ids).update(subject=placeholder, requester_name="", requester_email="")
    transaction.on_commit(lambda: _files_remove(files))
    audit_record(action="support.tickets_anonymise", object_type="support.ticket", object_id=str(len(ids)),
                 actor=actor, after={"tickets": len(ids), "files": len(files)})
    return len(ids)


def _files_remove(names: list[str]) -> None:
    for name in names:
        STORE.remove(name)


def _client_tickets(client: Client, actor: User | None) -> int:
    from compliance.services import ERASED_TEXT

    return tickets_anonymise(tickets=Ticket.objects.filter(client=client), actor=actor, placeholder=ERASED_TEXT)


def _closed_due(brand_id: int, cutoff: dt.datetime) -> list[int]:
    from compliance.services import ERASED_TEXT

    return list(Ticket.objects.filter(brand_id=brand_id, status=TicketStatus.CLOSED, closed_at__lt=cutoff)
                .exclude(subject=ERASED_TEXT).order_by("pk").values_list("pk", flat=True))


def _closed_remove(ids: list[int]) -> int:
    from compliance.services import ERASED_TEXT

    return tickets_anonymise(tickets=Ticket.objects.filter(pk__in=ids), actor=None, placeholder=ERASED_TEXT)


def register() -> None:
    from compliance.services import (
        ErasureStep,
        RetentionSource,
        erasure_step_register,
        retention_source_register,
    )

    erasure_step_register(ErasureStep("tickets", _client_tickets))
    retention_source_register(RetentionSource("closed_tickets", _closed_due, _closed_remove))

