"""support.mail: raw messages as mail servers deliver them, read without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from support import mail

PLAIN = b"""\
Return-Path: <anna@client.example>
Received: from mx.client.example (mx.client.example [203.0.113.5]) by mx.broker.example; Mon, 2 Mar 2026 10:00:00 +0000
Authentication-Results: mx.broker.example; spf=pass smtp.mailfrom=anna@client.example; dkim=pass header.d=client.example; dmarc=pass header.from=client.example
Message-ID: <CAF=abc123@mail.client.example>
Date: Mon, 2 Mar 2026 12:00:00 +0200
From: "Anna Schmidt" <Anna@Client.example>
To: Support <support@broker.example>
Subject: =?utf-8?q?Auszahlung_verz=C3=B6gert?=
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

Hallo, meine Auszahlung ist seit f=C3=BCnf Tagen offen.
"""


def raw(headers: str, body: str = "Hello\n") -> bytes:
    """A plain message with the given headers (one per line) and the usual ones beside them."""
    base = {"Message-ID": "<m1@mail.client.example>", "From": "Anna <anna@client.example>",
            "To": "support@broker.example", "Subject": "Question", "Date": "Mon, 2 Mar 2026 10:00:00 +0000"}
    lines = [line for line in headers.strip().splitlines() if line]
    given = {line.split(":", 1)[0].lower() for line in lines}
    lines += [f"{k}: {v}" for k, v in base.items() if k.lower() not in given]
    return ("\r\n".join([*lines, "Content-Type: text/plain; charset=utf-8", "", body])).encode()


def test_it_reads_a_plain_message_into_its_record() -> None:
    parsed = mail.parse(PLAIN)
    assert parsed.message_id == "CAF=abc123@mail.client.example"
    assert parsed.message_id_given
    assert parsed.sender == mail.Address(email="anna@client.example", name="Anna Schmidt")
    assert [a.email for a in parsed.to] == ["support@broker.example"]
    assert parsed.subject == "Auszahlung verzögert"
    assert parsed.date == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert "seit fünf Tagen" in parsed.text
    assert parsed.html == "" and parsed.attachments == ()
    assert parsed.size == len(PLAIN)


def test_it_reads_html_text_and_attachments_of_a_multipart_message() -> None:
    message = EmailMessage()
    message["From"] = "Ben <ben@client.example>"
    message["To"] = "support@broker.example"
    message["Subject"] = "Statement"
    message["Message-ID"] = "<multi@client.example>"
    message.set_content("See attached")
    message.add_alternative("<p>See <b>attached</b></p>", subtype="html")
    message.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="../../etc/statement.pdf")
    parsed = mail.parse(message.as_bytes())
    assert parsed.text.strip() == "See attached"
    assert parsed.html.strip() == "<p>See <b>attached</b></p>"
    [attachment] = parsed.attachments
    assert attachment.name == "_.._etc_statement.pdf"  # never a path
    assert (attachment.content_type, attachment.size, attachment.data) == ("application/pdf", 13, b"%PDF-1.4 fake")


def test_a_message_without_message_id_gets_one_from_its_bytes() -> None:
    body = raw("Message-ID: ")
    first, again = mail.parse(body), mail.parse(body)
    assert not first.message_id_given
    assert first.message_id == again.message_id and first.message_id.endswith("@missing")
    assert mail.parse(raw("Message-ID: ", body="Other")).message_id != first.message_id


def test_hostile_headers_do_not_stop_the_reading() -> None:
    hostile = (b"From: =?bogus?q?=FF?= <<<@@>>>\r\nTo: ,,,\r\nSubject: =?utf-8?b?////?=\r\n"
               b"Date: yesterday\r\nMessage-ID: <a@b>\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n\xff\xfe body")
    parsed = mail.parse(hostile)
    assert parsed.sender is None and parsed.to == ()
    assert parsed.date is None
    assert "body" in parsed.text


# -- threading ---------------------------------------------------------------------------------------------
def test_thread_keys_put_in_reply_to_first_then_references_newest_first() -> None:
    parsed = mail.parse(raw("In-Reply-To: <c@x>\nReferences: <a@x> <b@x>\n <c@x>"))
    assert mail.thread_keys(parsed).message_ids == ("c@x", "b@x", "a@x")


def test_thread_keys_find_the_ticket_in_our_message_id_and_in_the_subject() -> None:
    ours = mail.outbound_message_id(reference="T001234", domain="support.broker.example", token="9f8e-7d")
    assert ours == "T001234.9f8e7d@support.broker.example"
    parsed = mail.parse(raw(f"In-Reply-To: <{ours}>\nSubject: Re: [T000777] Withdrawal"))
    keys = mail.thread_keys(parsed)
    assert keys.references == ("T001234", "T000777")
    assert mail.thread_keys(mail.parse(raw("Subject: RE: AW: [ T001999 ] hi"))).references == ("T001999",)
    assert not mail.thread_keys(mail.parse(raw("Subject: T001999 without brackets")))


def test_a_reply_subject_carries_the_reference_once() -> None:
    assert mail.subject_with_reference("Withdrawal", "T001234") == "[T001234] Withdrawal"
    assert mail.subject_with_reference("Re: [T001234] Withdrawal", "T001234") == "Re: [T001234] Withdrawal"


def test_outbound_headers_mark_our_mail_so_that_it_threads_and_never_loops() -> None:
    headers = mail.outbound_headers(reference="T001234", domain="broker.example", token="ab12", in_reply_to="c@x")
    assert headers["Message-ID"] == "<T001234.ab12@broker.example>"
    assert headers[mail.TICKET_HEADER] == "T001234"
    assert headers["In-Reply-To"] == headers["References"] == "<c@x>"
    echoed = mail.parse(raw("\n".join(f"{k}: {v}" for k, v in headers.items())))
    assert mail.loop_reason(echoed, own_addresses=[], own_domains=[]) is not None


# -- automatic answers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [
    "Auto-Submitted: auto-replied",
    "Auto-Submitted: auto-generated; owner-email=x@y",
    "X-Autoreply: yes",
    "X-Autorespond: Out of office",
    "X-Auto-Response-Suppress: All",
    "Precedence: bulk",
    "Precedence: junk",
    "Precedence: list",
    "Precedence: auto_reply",
    "List-Id: <traders.lists.example>",
    "Return-Path: <>",
    "From: MAILER-DAEMON@mx.client.example",
    "Subject: Out of Office: Question",
    "Subject: Automatic reply: Question",
    "Subject: AW: Abwesenheitsnotiz",
    "Subject: Réponse automatique : absent",
    "Subject: Respuesta automática",
    "Subject: Risposta automatica: fuori sede",
    "Subject: Автоответ: в отпуске",
    "Subject: Αυτόματη απάντηση",
    "Subject: رد تلقائي",
    "Subject: 自动回复: 您好",
    "Subject: Undelivered Mail Returned to Sender",
])
def test_it_recognises_automatic_answers(headers: str) -> None:
    assert mail.auto_reply_reason(mail.parse(raw(headers))) is not None


@pytest.mark.parametrize("headers", [
    "Auto-Submitted: no",
    "X-Autoreply: no",
    "Precedence: normal",
    "Subject: I was out of office, now back: my withdrawal?",
    "Subject: Re: [T001234] Withdrawal",
])
def test_a_person_s_mail_is_not_an_automatic_answer(headers: str) -> None:
    assert mail.auto_reply_reason(mail.parse(raw(headers))) is None


# -- loops ---------------------------------------------------------------------------------------------------
def test_it_recognises_our_own_mail_coming_back() -> None:
    own = {"own_addresses": ["support@broker.example"], "own_domains": ["broker.example"]}
    assert "loop header" in mail.loop_reason(mail.parse(raw("X-CRM-Loop: broker.example")), **own)
    assert "Message-ID" in mail.loop_reason(mail.parse(raw("Message-ID: <T001234.ab@broker.example>")), **own)
    assert "support address" in mail.loop_reason(mail.parse(raw("From: Support <SUPPORT@broker.example>")), **own)
    assert mail.loop_reason(mail.parse(raw("")), **own) is None


# -- size ----------------------------------------------------------------------------------------------------
def test_a_25_mb_attachment_is_refused_with_its_name_and_the_limit() -> None:
    message = EmailMessage()
    message["From"] = "anna@client.example"
    message["Message-ID"] = "<big@client.example>"
    message["Subject"] = "Bank statement"
    message.set_content("Attached")
    message.add_attachment(b"\0" * (25 * 1024 * 1024), maintype="application", subtype="pdf", filename="statement.pdf")
    body = message.as_bytes()
    assert len(body) > 33 * 1024 * 1024  # base64 on the wire
    reason = mail.size_reason(size=len(body), max_message=30 * 1024 * 1024, max_attachment=10 * 1024 * 1024)
    assert reason is not None and "at most 30.0 MB" in reason
    parsed = mail.parse(body)
    reason = mail.size_reason(size=0, attachments=parsed.attachments, max_message=10**9, max_attachment=10 * 1024 * 1024)
    assert reason == "the attachment “statement.pdf” is 25.0 MB; at most 10.0 MB an attachment is taken"
    headers_only = mail.parse_headers(body)
    assert headers_only.headers_only and headers_only.message_id == "big@client.example"
    assert headers_only.attachments == () and headers_only.size == len(body)


# -- forged senders ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("header", [
    "Authentication-Results: mx.broker.example; spf=fail smtp.mailfrom=anna@client.example",
    "Authentication-Results: mx.broker.example; dkim=fail header.d=client.example; dmarc=fail header.from=client.example",
    "Authentication-Results: mx.broker.example; dmarc=fail (p=reject) header.from=client.example",
    "Authentication-Results: mx.broker.example; spf=softfail smtp.mailfrom=mail.client.example",
    "Received-SPF: fail (mx.broker.example: domain of client.example does not designate 198.51.100.9) "
    "client-ip=198.51.100.9; envelope-from=anna@client.example;",
])
def test_it_recognises_a_forged_sender(header: str) -> None:
    reason = mail.forgery_reason(mail.parse(raw(header)))
    assert reason is not None and "client.example" in reason


@pytest.mark.parametrize("header", [
    "Authentication-Results: mx.broker.example; spf=pass smtp.mailfrom=anna@client.example; dkim=pass header.d=client.example",
    # a mailing list's envelope failing says nothing of the From address
    "Authentication-Results: mx.broker.example; spf=fail smtp.mailfrom=bounces@lists.other.example",
    "Received-SPF: neutral (mx.broker.example: no record) envelope-from=anna@client.example",
    "X-Nothing: here",
])
def test_a_sender_whose_domain_passed_or_was_not_checked_is_not_forged(header: str) -> None:
    assert mail.forgery_reason(mail.parse(raw(header))) is None


def test_only_the_trusted_receiving_server_s_results_count_when_named() -> None:
    planted = mail.parse(raw("Authentication-Results: evil.example; spf=fail smtp.mailfrom=anna@client.example"))
    assert mail.forgery_reason(planted, trusted_authserv=["mx.broker.example"]) is None
    assert mail.forgery_reason(planted) is not None


# -- HTML ------------------------------------------------------------------------------------------------------
def test_html_with_scripts_is_rendered_safe() -> None:
    hostile = """<html><head><style>body{background:url(https://t.example/b.png)}</style>
    <script>alert(document.cookie)</script></head><body onload="steal()">
    <p onclick="x()" style="position:fixed">Hi <b>there</b></p>
    <a href="javascript:alert(1)">click</a> <a href="https://broker.example/help" target="_blank">help</a>
    <a href="data:text/html;base64,PHNjcmlwdD4=">data</a>
    <img src="https://tracker.example/pixel.gif?u=anna" width=1 height=1>
    <iframe src="https://evil.example"></iframe><form action="https://evil.example"><input name=p></form>
    <svg><script>alert(2)</script></svg><!-- comment --><table><tr><td colspan="2">cell</td></tr></table>
    </body></html>"""
    safe = mail.safe_html(hostile)
    for gone in ("<script", "alert", "onload", "onclick", "style", "javascript:", "data:", "<img", "tracker.example",
                 "<iframe", "<form", "<input", "<svg", "comment", "background"):
        assert gone not in safe, gone
    assert "<p>Hi <b>there</b></p>" in safe
    assert '<a href="https://broker.example/help" rel="noopener noreferrer nofollow">help</a>' in safe
    assert '<td colspan="2">cell</td>' in safe
    assert mail.safe_html("") == ""
