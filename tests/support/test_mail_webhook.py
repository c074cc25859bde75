"""The inbound-mail webhook (support.mail_views): a raw message POSTed with the house's signature."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from plumbing import signatures
from support.models import InboundEmail, InboundMailbox, InboundOutcome, MailboxKind, SupportDesk
from tests.factories import make_brand

SECRET = "whsec_support_test"


@pytest.fixture
def mailbox(db: Any, settings: Any) -> InboundMailbox:
    settings.SUPPORT_MAIL_SENDER_RATE = "1000/h"
    desk = SupportDesk.objects.create(brand=make_brand(), code="support", name="Support", time_zone="UTC")
    box = InboundMailbox(desk=desk, kind=MailboxKind.WEBHOOK)
    box.set_secrets(webhook_secret=SECRET)
    box.save()
    return box


def message(subject: str = "Withdrawal", body: str = "Where is my money?") -> bytes:
    return (f"Message-ID: <{uuid.uuid4().hex}@client.example>\r\nFrom: Anna <anna.{uuid.uuid4().hex[:6]}@client.example>"
            f"\r\nTo: support@broker.example\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{body}\r\n").encode()


def post(box: InboundMailbox, body: bytes, *, secret: str = SECRET, timestamp: int | None = None,
         code: Any = None) -> Any:
    header = signatures.header_value([secret], body, timestamp=timestamp)
    return HttpClient().post(reverse("support_mail_inbound", args=[code or box.code]), data=body,
                             content_type="message/rfc822", headers={"X-CRM-Signature": header})


def test_a_signed_message_becomes_a_ticket_and_a_retry_changes_nothing(mailbox: InboundMailbox) -> None:
    body = message()
    first = post(mailbox, body)
    assert first.status_code == 200
    answer = first.json()
    assert answer["outcome"] == InboundOutcome.TICKET_CREATED and answer["ticket"].startswith("T")
    again = post(mailbox, body)
    assert again.status_code == 200 and again.json() == answer
    assert InboundEmail.objects.count() == 1


def test_a_bad_or_stale_signature_is_refused_and_nothing_stored(mailbox: InboundMailbox) -> None:
    assert post(mailbox, message(), secret="whsec_other").json() == {"outcome": "refused_bad_signature"}
    stale = post(mailbox, message(), timestamp=int(time.time()) - 3600)
    assert (stale.status_code, stale.json()["outcome"]) == (401, "refused_stale")
    unsigned = HttpClient().post(reverse("support_mail_inbound", args=[mailbox.code]), data=message(),
                                 content_type="message/rfc822")
    assert unsigned.status_code == 400
    assert InboundEmail.objects.count() == 0


def test_an_unknown_or_inactive_mailbox_is_missing(mailbox: InboundMailbox) -> None:
    assert post(mailbox, message(), code=uuid.uuid4()).status_code == 404
    InboundMailbox.objects.filter(pk=mailbox.pk).update(active=False)
    assert post(mailbox, message()).status_code == 404


def test_a_body_that_is_no_message_is_refused_by_name(mailbox: InboundMailbox) -> None:
    refused = post(mailbox, b'{"json": "not a message"}')
    assert refused.status_code == 400 and "raw RFC 5322 message" in refused.json()["detail"]


def test_a_message_larger_than_a_form_is_taken_from_the_stream(mailbox: InboundMailbox, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = post(mailbox, message(body="long text " * 1000))
    assert answer.status_code == 200 and answer.json()["outcome"] == InboundOutcome.TICKET_CREATED


def test_a_body_over_the_webhook_limit_is_refused_unread(mailbox: InboundMailbox, settings: Any) -> None:
    settings.SUPPORT_MAIL_WEBHOOK_MAX_BYTES = 5000
    refused = post(mailbox, message(body="x" * 10_000))
    assert refused.status_code == 413 and InboundEmail.objects.count() == 0


def test_a_message_over_the_intake_limit_is_answered_and_recorded_too_large(mailbox: InboundMailbox,
                                                                            settings: Any) -> None:
    settings.SUPPORT_MAIL_MAX_BYTES = 5000
    answer = post(mailbox, message(body="x" * 8000))
    assert answer.status_code == 200 and answer.json()["outcome"] == InboundOutcome.TOO_LARGE


def test_the_endpoint_takes_only_post(mailbox: InboundMailbox) -> None:
    assert HttpClient().get(reverse("support_mail_inbound", args=[mailbox.code])).status_code == 405

