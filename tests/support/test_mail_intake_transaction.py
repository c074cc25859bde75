"""One mail, one transaction: the ticket services join the intake's transaction without savepoints
of their own, and whatever one of them refuses still leaves nothing of the mail but its row."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.exceptions import ValidationFailed
from crm.models import AuditLog
from support import services
from support.models import InboundOutcome, Ticket, TicketMessage
from tests.support import test_mail_intake as intake
from tests.support.test_mail_intake import raw, receive, sender

world = intake.world  # the same desk and webhook mailbox


def test_a_new_mail_opens_its_ticket_without_savepoints_or_reading_its_message_again(world: Any) -> None:
    receive(world, raw(frm=sender()))
    with CaptureQueriesContext(connection) as queries:
        row = receive(world, raw(frm=sender(), subject="Second question"))
    assert row.outcome == InboundOutcome.TICKET_CREATED
    opening = TicketMessage.objects.get(ticket=row.ticket)
    assert row.ticket_message == opening and opening.body_text.strip() == "Where is my money?"
    sql = [q["sql"] for q in queries.captured_queries]
    # The intake's own block (a savepoint here, inside the test's transaction) and no other.
    assert sum(q.startswith("SAVEPOINT") for q in sql) == 1
    assert not [q for q in sql if q.startswith("SELECT") and '"support_ticketmessage"' in q]


def test_a_service_refusing_after_its_writes_leaves_only_the_rejected_row(
    world: Any, monkeypatch: Any
) -> None:
    before = AuditLog.objects.count()

    def refused(*args: Any, **kwargs: Any) -> None:
        raise ValidationFailed(fields={"body": ["Refused by the test."]})

    monkeypatch.setattr(services, "_audit", refused)  # after the ticket and its message were written
    row = receive(world, raw(frm=sender()))
    assert row.outcome == InboundOutcome.REJECTED and "Refused by the test." in row.reason
    assert row.ticket is None and not Ticket.objects.exists() and not TicketMessage.objects.exists()
    assert AuditLog.objects.count() == before
    monkeypatch.undo()
    # The services still work in a transaction of their own afterwards.
    assert receive(world, raw(frm=sender())).outcome == InboundOutcome.TICKET_CREATED
