"""A staff answer is mailed to the requester (support.outbound) with the ticket's reference and our
Message-ID, and the client's reply to that mail threads back onto the ticket; notes are never mailed."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import mail as django_mail

from crm.models import RoleCode
from emails import services as email_services
from emails.models import OutboundEmail
from support import mail, mail_intake, services
from support.models import (
    InboundMailbox,
    InboundOutcome,
    MailboxKind,
    MessageKind,
    SLAPolicy,
    SupportDesk,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from tests.factories import make_brand, make_client, make_user

DOMAIN = "crm.broker.example"


@pytest.fixture
def world(db: Any, settings: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    settings.SUPPORT_MAIL_SENDER_RATE = "1000/h"
    settings.SUPPORT_MAIL_DOMAIN = DOMAIN
    settings.SUPPORT_ATTACHMENT_DIR = str(tmp_path / "files")
    # The pipeline's Celery task, run at once: what the worker would send.
    monkeypatch.setattr(email_services.email_deliver_task, "apply_async",
                        lambda args, **_: email_services.email_deliver(email_id=args[0]))
    brand = make_brand(name="Broker One")
    desk = SupportDesk.objects.create(brand=brand, code="support", name="Support", time_zone="Europe/Nicosia",
                                      support_address=f"support@{brand.code}.example")
    SLAPolicy.objects.create(desk=desk, priority=TicketPriority.NORMAL, first_response_minutes=60,
                             resolution_minutes=480)
    mailbox = InboundMailbox.objects.create(desk=desk, kind=MailboxKind.WEBHOOK)
    agent = make_user(role_code=RoleCode.SUPPORT_AGENT, brand=brand, full_name="Sam Support")
    return SimpleNamespace(brand=brand, desk=desk, mailbox=mailbox, agent=agent)


def raw(*, frm: str, subject: str, body: str, in_reply_to: str = "") -> tuple[bytes, str]:
    message = EmailMessage()
    message_id = f"{uuid.uuid4().hex}@mail.client.example"
    message["From"] = f"Anna Client <{frm}>"
    message["To"] = "support@broker.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    message.set_content(body)
    return message.as_bytes(), message_id


def test_an_answer_to_an_email_ticket_is_mailed_with_the_reference_and_the_reply_threads(
        world: SimpleNamespace, django_capture_on_commit_callbacks: Any) -> None:
    frm = f"anna.{uuid.uuid4().hex[:8]}@client.example"
    first, first_id = raw(frm=frm, subject="My withdrawal", body="Where is my money?")
    with django_capture_on_commit_callbacks(execute=True):
        ticket = mail_intake.mail_receive(mailbox=world.mailbox, raw=first).ticket
    assert ticket is not None and ticket.client is None
    with django_capture_on_commit_callbacks(execute=True):
        answer = services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="It left us today.")

    [sent] = django_mail.outbox
    assert sent.to == [frm]
    assert sent.subject == f"[{ticket.reference}] My withdrawal"
    assert "It left us today." in sent.body
    message = sent.message()
    answer.refresh_from_db()
    assert answer.email_message_id and answer.email_message_id.startswith(f"{ticket.reference}.")
    assert answer.email_message_id.endswith(f"@{DOMAIN}")
    assert message["Message-ID"] == f"<{answer.email_message_id}>"
    assert message["In-Reply-To"] == f"<{first_id}>" and message["References"] == f"<{first_id}>"
    assert message[mail.LOOP_HEADER] == DOMAIN and message[mail.TICKET_HEADER] == ticket.reference
    assert message["Reply-To"] == world.desk.support_address
    assert "Auto-Submitted" not in message  # a person's answer, not an automatic one

    # The client answers from a mail program that dropped the subject's reference.
    reply, _ = raw(frm=frm, subject="Re: My withdrawal", body="Thanks, got it.", in_reply_to=answer.email_message_id)
    with django_capture_on_commit_callbacks(execute=True):
        row = mail_intake.mail_receive(mailbox=world.mailbox, raw=reply)
    assert row.outcome != InboundOutcome.TICKET_CREATED and row.ticket_id == ticket.pk
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN
    assert list(ticket.messages.filter(kind=MessageKind.CLIENT_REPLY).values_list("body_text", flat=True)) == [
        "Where is my money?", "Thanks, got it."]
    assert len(django_mail.outbox) == 1  # nothing answered the reply by itself


def test_an_answer_to_a_client_goes_in_the_clients_language_once(
        world: SimpleNamespace, django_capture_on_commit_callbacks: Any) -> None:
    client = make_client(brand=world.brand, language="ar", email=f"layla.{uuid.uuid4().hex[:6]}@client.example")
    ticket = services.ticket_open(brand=world.brand, category="withdrawal", subject="سحب", body="أين أموالي؟",
                                  channel="portal", client=client)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        answer = services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="تم التحويل اليوم.")
    for callback in callbacks:  # the same commit's callbacks run again: still one message
        callback()
    [sent] = django_mail.outbox
    assert sent.to == [client.email] and sent.subject == f"[{ticket.reference}] سحب"
    assert "تم التحويل اليوم." in sent.body and "أجب على هذه الرسالة" in sent.body
    email = OutboundEmail.objects.get()
    assert email.language == "ar" and email.client_id == client.pk
    answer.refresh_from_db()
    assert sent.message()["Message-ID"] == f"<{answer.email_message_id}>"
    assert "In-Reply-To" not in sent.message()  # the client wrote from the portal, not by mail


def test_an_internal_note_is_never_mailed(world: SimpleNamespace, django_capture_on_commit_callbacks: Any) -> None:
    client = make_client(brand=world.brand, email=f"nora.{uuid.uuid4().hex[:6]}@client.example")
    ticket = services.ticket_open(brand=world.brand, category="withdrawal", subject="Withdrawal", body="Help",
                                  channel="portal", client=client)
    with django_capture_on_commit_callbacks(execute=True):
        note = services.ticket_note(ticket=ticket, body="Checked with finance.", actor=world.agent)
    assert django_mail.outbox == [] and not OutboundEmail.objects.exists()
    assert TicketMessage.objects.get(pk=note.pk).email_message_id is None


def test_a_ticket_without_any_address_is_answered_without_mail(
        world: SimpleNamespace, django_capture_on_commit_callbacks: Any) -> None:
    client = make_client(brand=world.brand, email="")
    ticket = services.ticket_open(brand=world.brand, category="withdrawal", subject="Withdrawal", body="Help",
                                  channel="portal", client=client)
    with django_capture_on_commit_callbacks(execute=True):
        answer = services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="Done.")
    assert django_mail.outbox == [] and answer.email_message_id is None


def test_a_brand_that_switched_the_answer_mail_off_sends_none(
        world: SimpleNamespace, django_capture_on_commit_callbacks: Any) -> None:
    from emails.models import EmailTemplate
    from support.outbound import ANSWER_TEMPLATE

    client = make_client(brand=world.brand, email=f"omar.{uuid.uuid4().hex[:6]}@client.example", language="en")
    ticket = services.ticket_open(brand=world.brand, category="withdrawal", subject="Withdrawal", body="Help",
                                  channel="portal", client=client)
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="First.", status=TicketStatus.OPEN)
    assert len(django_mail.outbox) == 1
    EmailTemplate.objects.filter(brand=world.brand, key=ANSWER_TEMPLATE).update(is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        second = services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="Second.")
    assert len(django_mail.outbox) == 1 and second.email_message_id is None
