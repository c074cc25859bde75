"""Inbound support mail into tickets (support.mail_intake): new tickets, threading, reopening, and
the hostile cases: loops, automatic answers, floods, a 25 MB attachment, forged senders, scripts."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from django.core import mail as django_mail
from PIL import Image

from support import mail, mail_intake, services
from support.models import (
    InboundEmail,
    InboundMailbox,
    InboundOutcome,
    MailboxKind,
    MessageKind,
    SLAPolicy,
    SupportDesk,
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from tests.factories import make_brand, make_client

UTC = dt.UTC


@pytest.fixture
def world(db: Any, settings: Any, tmp_path: Any) -> SimpleNamespace:
    settings.SUPPORT_MAIL_SENDER_RATE = "1000/h"
    settings.SUPPORT_MAIL_DOMAIN = "crm.broker.example"
    settings.SUPPORT_ATTACHMENT_DIR = str(tmp_path / "files")
    brand = make_brand(name="Broker One")
    desk = SupportDesk.objects.create(brand=brand, code="support", name="Support", time_zone="Europe/Nicosia",
                                      support_address=f"support@{brand.code}.example")
    SLAPolicy.objects.create(desk=desk, priority=TicketPriority.NORMAL, first_response_minutes=60,
                             resolution_minutes=480)
    mailbox = InboundMailbox.objects.create(desk=desk, kind=MailboxKind.WEBHOOK)
    return SimpleNamespace(brand=brand, desk=desk, mailbox=mailbox)


def sender() -> str:
    return f"anna.{uuid.uuid4().hex[:8]}@client.example"


def raw(*, frm: str, subject: str = "My withdrawal", body: str = "Where is my money?", message_id: str | None = None,
        headers: dict[str, str] | None = None, html: str | None = None,
        attachments: tuple[tuple[str, str, bytes], ...] = ()) -> bytes:
    message = EmailMessage()
    message["From"] = f"Anna Client <{frm}>"
    message["To"] = "support@broker.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id or uuid.uuid4().hex}@mail.client.example>"
    message["Date"] = "Mon, 2 Mar 2026 10:00:00 +0000"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for name, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def receive(world: SimpleNamespace, body: bytes) -> InboundEmail:
    return mail_intake.mail_receive(mailbox=world.mailbox, raw=body)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(out, format="PNG")
    return out.getvalue()


# -- new tickets -------------------------------------------------------------------------------------------
def test_mail_from_an_unknown_sender_opens_a_ticket_without_a_client(world: SimpleNamespace) -> None:
    frm = sender()
    row = receive(world, raw(frm=frm, subject="Withdrawal pending", body="Hello, my withdrawal is late."))
    assert row.outcome == InboundOutcome.TICKET_CREATED
    ticket = row.ticket
    assert ticket is not None and ticket.client is None
    assert (ticket.desk, ticket.channel, ticket.requester_email, ticket.subject) == (
        world.desk, "email", frm, "Withdrawal pending")
    assert ticket.first_response_due is not None  # the SLA clock runs
    assert row.ticket_message is not None and row.ticket_message.body_text == "Hello, my withdrawal is late."
    assert row.ticket_message.email_message_id == row.message_id


def test_mail_from_a_known_client_is_linked_to_that_brand_s_client(world: SimpleNamespace) -> None:
    frm = sender()
    make_client(brand=make_brand(), email=frm)  # the same address at another brand
    client = make_client(brand=world.brand, email=frm)
    row = receive(world, raw(frm=frm.upper()))
    assert row.ticket is not None and row.ticket.client == client


def test_the_same_message_delivered_twice_is_taken_once(world: SimpleNamespace) -> None:
    body = raw(frm=sender())
    first, again = receive(world, body), receive(world, body)
    assert first.pk == again.pk
    assert InboundEmail.objects.count() == 1 and Ticket.objects.count() == 1


def test_html_with_scripts_is_kept_safe_and_an_html_only_mail_gets_its_text(world: SimpleNamespace) -> None:
    message = EmailMessage()
    message["From"] = sender()
    message["Subject"] = "HTML only"
    message["Message-ID"] = "<html-only@client.example>"
    message.set_content('<p onclick="x()">My <b>withdrawal</b></p><script>alert(1)</script>'
                        '<img src="https://tracker.example/p.gif"><a href="javascript:alert(2)">here</a>',
                        subtype="html")
    row = receive(world, message.as_bytes())
    stored = row.ticket_message
    assert stored is not None
    assert "<script" not in stored.body_html and "onclick" not in stored.body_html
    assert "tracker.example" not in stored.body_html and "javascript:" not in stored.body_html
    assert "<b>withdrawal</b>" in stored.body_html
    assert stored.body_text.startswith("My withdrawal")


def test_attachments_pass_the_upload_checks_and_a_refused_one_is_named(world: SimpleNamespace) -> None:
    row = receive(world, raw(frm=sender(), attachments=(("screen.png", "image/png", png()),
                                                        ("tool.exe", "application/octet-stream", b"MZ\x90\x00rest"))))
    assert row.outcome == InboundOutcome.TICKET_CREATED
    [kept] = TicketAttachment.objects.filter(message__ticket=row.ticket)
    assert (kept.name, kept.content_type) == ("screen.png", "image/png")
    system = TicketMessage.objects.get(ticket=row.ticket, kind=MessageKind.SYSTEM)
    assert "tool.exe" in system.body_text


# -- threading -----------------------------------------------------------------------------------------------
def test_a_reply_threads_by_its_headers_onto_the_ticket(world: SimpleNamespace) -> None:
    frm = sender()
    first = receive(world, raw(frm=frm, message_id="first"))
    reply = receive(world, raw(frm=frm, subject="Re: something else", message_id="second",
                               headers={"In-Reply-To": "<first@mail.client.example>",
                                        "References": "<first@mail.client.example>"}))
    assert reply.outcome == InboundOutcome.THREADED and reply.ticket == first.ticket
    assert reply.ticket_message is not None and reply.ticket_message.in_reply_to == "first@mail.client.example"


def test_a_reply_to_our_answer_threads_by_our_message_id_or_the_reference(world: SimpleNamespace) -> None:
    frm = sender()
    ticket = receive(world, raw(frm=frm)).ticket
    assert ticket is not None
    ours = mail.outbound_message_id(reference=ticket.reference, domain="crm.broker.example", token="ab12")
    by_header = receive(world, raw(frm=frm, subject="Re: your answer", headers={"In-Reply-To": f"<{ours}>"}))
    by_subject = receive(world, raw(frm=frm, subject=f"RE: [{ticket.reference}] My withdrawal"))
    assert by_header.outcome == by_subject.outcome == InboundOutcome.THREADED
    assert by_header.ticket == by_subject.ticket == ticket
    assert by_subject.ticket_message is not None
    assert by_subject.ticket_message.ticket.subject == "My withdrawal"


def test_a_stranger_quoting_a_reference_does_not_write_on_that_ticket(world: SimpleNamespace) -> None:
    ticket = receive(world, raw(frm=sender())).ticket
    assert ticket is not None
    other = receive(world, raw(frm=sender(), subject=f"Re: [{ticket.reference}] let me in"))
    assert other.outcome == InboundOutcome.TICKET_CREATED and other.ticket != ticket
    assert other.ticket is not None and other.ticket.subject == "Re: let me in"


def test_a_reply_to_a_closed_ticket_reopens_it_within_its_days(world: SimpleNamespace, settings: Any) -> None:
    settings.SUPPORT_MAIL_REOPEN_DAYS = 7
    frm = sender()
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)):
        ticket = receive(world, raw(frm=frm)).ticket
        assert ticket is not None
        services.ticket_close(ticket=ticket, actor=None, reason="answered by phone")
    with time_machine.travel(dt.datetime(2026, 3, 8, 9, 0, tzinfo=UTC)):
        row = receive(world, raw(frm=frm, subject=f"Re: [{ticket.reference}] still nothing"))
    ticket.refresh_from_db()
    assert row.outcome == InboundOutcome.REOPENED and row.ticket == ticket
    assert ticket.status == TicketStatus.OPEN and ticket.reopen_count == 1


def test_a_reply_to_a_ticket_closed_long_ago_opens_a_new_one_naming_the_old(world: SimpleNamespace,
                                                                             settings: Any) -> None:
    settings.SUPPORT_MAIL_REOPEN_DAYS = 7
    frm = sender()
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)):
        old = receive(world, raw(frm=frm)).ticket
        assert old is not None
        services.ticket_close(ticket=old, actor=None)
    with time_machine.travel(dt.datetime(2026, 3, 20, 9, 0, tzinfo=UTC)):
        row = receive(world, raw(frm=frm, subject=f"Re: [{old.reference}] again"))
    old.refresh_from_db()
    assert row.outcome == InboundOutcome.NEW_AFTER_CLOSED
    assert row.ticket is not None and row.ticket != old and old.status == TicketStatus.CLOSED
    note = TicketMessage.objects.get(ticket=row.ticket, kind=MessageKind.INTERNAL_NOTE)
    assert old.reference in note.body_text


# -- hostile mail ----------------------------------------------------------------------------------------------
def test_an_out_of_office_answer_is_recorded_and_never_added_nor_answered(world: SimpleNamespace) -> None:
    frm = sender()
    ticket = receive(world, raw(frm=frm)).ticket
    assert ticket is not None
    messages = TicketMessage.objects.filter(ticket=ticket).count()
    row = receive(world, raw(frm=frm, subject=f"Automatic reply: [{ticket.reference}] My withdrawal",
                             headers={"Auto-Submitted": "auto-replied"}))
    assert row.outcome == InboundOutcome.AUTO_REPLY_IGNORED and "Auto-Submitted" in row.reason
    assert row.ticket == ticket and row.ticket_message is None
    assert TicketMessage.objects.filter(ticket=ticket).count() == messages
    assert django_mail.outbox == []


def test_our_own_mail_coming_back_is_a_loop(world: SimpleNamespace) -> None:
    looped = receive(world, raw(frm=sender(), headers={mail.LOOP_HEADER: "crm.broker.example"}))
    from_us = receive(world, raw(frm=world.desk.support_address))
    assert looped.outcome == from_us.outcome == InboundOutcome.LOOP_IGNORED
    assert Ticket.objects.count() == 0


def test_a_sender_writing_too_often_is_stopped_as_a_loop(world: SimpleNamespace, settings: Any) -> None:
    settings.SUPPORT_MAIL_SENDER_RATE = "3/h"
    frm = sender()
    outcomes = [receive(world, raw(frm=frm, subject=f"Ping {n}")).outcome for n in range(5)]
    assert outcomes == [InboundOutcome.TICKET_CREATED] * 3 + [InboundOutcome.LOOP_IGNORED] * 2
    assert Ticket.objects.count() == 3


def test_a_25_mb_attachment_is_refused_recorded_and_the_sender_told_once(
        world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any) -> None:
    monkeypatch.setattr(mail_intake.mail_notice_task, "delay",
                        lambda inbound_id: mail_intake.mail_notice_send(inbound_id=inbound_id))
    frm = sender()
    big = raw(frm=frm, subject="Bank statement", attachments=(("statement.pdf", "application/pdf",
                                                                 b"%PDF-1.4\n" + b"0" * (25 * 1024 * 1024)),))
    with django_capture_on_commit_callbacks(execute=True):
        row = receive(world, big)
    with django_capture_on_commit_callbacks(execute=True):
        again = receive(world, big)
    assert row.pk == again.pk and row.outcome == InboundOutcome.TOO_LARGE
    assert row.ticket is None and Ticket.objects.count() == 0
    assert row.size == len(big) and "MB" in row.reason and "at most 25.0 MB" in row.reason
    [notice] = django_mail.outbox
    assert notice.to == [frm] and notice.extra_headers["Auto-Submitted"] == "auto-replied"
    assert "at most 25.0 MB" in notice.body


def test_an_automatic_message_too_large_is_not_answered(
        world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any,
        settings: Any) -> None:
    settings.SUPPORT_MAIL_MAX_BYTES = 10_000
    monkeypatch.setattr(mail_intake.mail_notice_task, "delay",
                        lambda inbound_id: mail_intake.mail_notice_send(inbound_id=inbound_id))
    with django_capture_on_commit_callbacks(execute=True):
        row = receive(world, raw(frm=sender(), body="x" * 20_000, headers={"Precedence": "bulk"}))
    assert row.outcome == InboundOutcome.TOO_LARGE
    assert django_mail.outbox == []


def test_an_attachment_over_its_limit_in_a_small_message_is_too_large(world: SimpleNamespace,
                                                                      settings: Any) -> None:
    settings.SUPPORT_MAIL_MAX_ATTACHMENT_BYTES = 1000
    row = receive(world, raw(frm=sender(), attachments=(("scan.png", "image/png", b"\x89PNG" + b"0" * 5000),)))
    assert row.outcome == InboundOutcome.TOO_LARGE and "scan.png" in row.reason


def test_a_forged_sender_is_never_threaded_as_the_client_and_staff_are_warned(world: SimpleNamespace) -> None:
    frm = sender()
    client = make_client(brand=world.brand, email=frm)
    ticket = receive(world, raw(frm=frm)).ticket
    assert ticket is not None and ticket.client == client
    forged = receive(world, raw(frm=frm, subject=f"Re: [{ticket.reference}] send the money to my new account",
                                headers={"Authentication-Results": "mx.broker.example; spf=fail "
                                         f"smtp.mailfrom={frm}; dmarc=fail header.from=client.example"}))
    assert forged.outcome == InboundOutcome.TICKET_CREATED and forged.reason.startswith("forged sender: ")
    assert forged.ticket is not None and forged.ticket != ticket and forged.ticket.client is None
    note = TicketMessage.objects.get(ticket=forged.ticket, kind=MessageKind.INTERNAL_NOTE)
    assert "could not be verified" in note.body_text and frm in note.body_text
    assert TicketMessage.objects.filter(ticket=ticket).count() == 1


def test_a_message_without_a_sender_is_refused_by_name(world: SimpleNamespace) -> None:
    row = receive(world, b"Message-ID: <nobody@x>\r\nSubject: hi\r\n\r\nbody\r\n")
    assert row.outcome == InboundOutcome.REJECTED and "From" in row.reason


def test_text_no_column_holds_is_replaced_not_refused(world: SimpleNamespace) -> None:
    row = receive(world, raw(frm=sender(), subject="Null\x00byte", body="a\x00b"))
    assert row.outcome == InboundOutcome.TICKET_CREATED
    assert row.ticket_message is not None and "\x00" not in row.ticket_message.body_text


# -- setting a mailbox up -------------------------------------------------------------------------------------------
def test_a_webhook_mailbox_gets_a_secret_and_an_imap_one_needs_its_server(world: SimpleNamespace) -> None:
    from crm.exceptions import NotAllowed, ValidationFailed
    from crm.models import RoleCode
    from tests.factories import make_user

    box = mail_intake.mailbox_save(actor=None, desk=world.desk, kind=MailboxKind.WEBHOOK)
    assert box.webhook_secret().startswith("whsec_") and box.webhook_secret() not in box.webhook_secret_encrypted
    with pytest.raises(ValidationFailed) as refused:
        mail_intake.mailbox_save(actor=None, desk=world.desk, kind=MailboxKind.IMAP, imap_port=0)
    assert set(refused.value.fields) == {"imap_host", "imap_port", "imap_username", "imap_password"}
    imap = mail_intake.mailbox_save(actor=None, desk=world.desk, kind=MailboxKind.IMAP, imap_host="imap.example.com",
                                    imap_username="support@broker.example", imap_password="pw")
    assert imap.imap_password() == "pw" and imap.imap_port == 993
    with pytest.raises(NotAllowed):
        mail_intake.mailbox_save(actor=make_user(role_code=RoleCode.SALES_AGENT, brand=world.brand), desk=world.desk,
                                 kind=MailboxKind.WEBHOOK)


def test_the_command_sets_a_webhook_mailbox_up_and_lists_it(world: SimpleNamespace) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("support_mailbox", world.brand.code, world.desk.code, "--webhook", stdout=out)
    box = InboundMailbox.objects.filter(desk=world.desk).order_by("pk").first()
    assert box is not None and f"/support/mail/webhooks/{box.code}/" in out.getvalue()
    assert box.webhook_secret() in out.getvalue()
    listed = StringIO()
    call_command("support_mailbox", "--list", stdout=listed)
    assert f"{world.brand.code}/{world.desk.code} webhook" in listed.getvalue()
