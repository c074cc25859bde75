"""The bytes emails.mime writes for a pipeline email say what Django's own message says: a mail reader
sees the same subject, sender, recipient, extra headers (the unsubscribe links among them), text and
HTML, whatever the text holds (other scripts, long links, lines that start with a dot, trailing
spaces). Messages of another shape are left to Django; and a campaign's email sent over SMTP arrives
whole, with its unsubscribe headers readable."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest
from django.core.mail import EmailMultiAlternatives
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emails.mime import smtp_bytes
from emails.services import email_deliver_batch, email_queue
from tests.emails.test_email_batch import _shop, sink  # noqa: F401 - the SMTP sink fixture

UNSUBSCRIBE = (
    "<https://crm.example.com/m/u/eyJjIjoiNmQ5YjQ0ZTQtMjQ0ZS00YjQ5LWE1NTYtMjMzZmQ2YjY3ZWQ5IiwiY2giOiJlbWFpbCJ9:1vPp:"
    "x8d7Rk2gYbO3a1y>, <mailto:unsubscribe@crm.example.com?subject=unsubscribe%20eyJjIjoiNmQ5YjQ0ZTQtMjQ0ZS00YjQ5>"
)


def _message(subject: str, text: str, html: str, **headers: str) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(subject, text, "Aurora <news@aurora.example>", ["layla@example.com"])
    message.attach_alternative(html, "text/html")
    message.extra_headers.update(headers)
    return message


def _read(raw: bytes) -> dict[str, Any]:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    parts = {  # line breaks as a mail reader shows them
        part.get_content_type(): part.get_content().replace("\r\n", "\n")
        for part in parsed.walk()
        if not part.is_multipart()
    }
    names = [
        "Subject",
        "From",
        "To",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "X-CRM-Email",
        "Precedence",
    ]
    return {
        "headers": {name: str(parsed[name]) if parsed[name] is not None else None for name in names},
        "type": parsed.get_content_type(),
        "parts": parts,
        "defects": [str(d) for part in parsed.walk() for d in part.defects],
        "long_lines": [line for line in raw.split(b"\r\n") if len(line) > 998],
        "bare_lf": b"\n" in raw.replace(b"\r\n", b""),
    }


def _both(message: EmailMultiAlternatives) -> tuple[dict[str, Any], dict[str, Any]]:
    raw = smtp_bytes(message)
    assert raw is not None
    return _read(raw), _read(message.message(policy=email.policy.SMTP).as_bytes())


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Hello Layla, gold is moving", "Dear Layla,\n\nGold moved 2% today.\n\nYour team"),
        ("مرحبا ليلى، الذهب يتحرك", "عزيزتي ليلى،\n\nتحرك الذهب ٢٪ اليوم.\n\nفريقكم"),
        (
            "Grüße an Jürgen — 5 € Bonus",
            "Hallo Jürgen,\n.\n..a line with dots\ntrailing spaces   \n\tand a tab",
        ),
        (
            "A subject " + "that goes on " * 20,
            "A link: https://crm.example.com/m/c/" + "x" * 300 + "/ and more",
        ),
    ],
)
def test_the_bytes_read_as_djangos_own_message(subject: str, text: str) -> None:
    html = f'<html><body><p>{text}</p><img src="https://crm.example.com/m/o/abc/" alt=""></body></html>'
    ours, django = _both(
        _message(
            subject,
            text,
            html,
            **{
                "List-Unsubscribe": UNSUBSCRIBE,
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "X-CRM-Email": "1b4e28ba",
                "Precedence": "bulk",
            },
        )
    )
    assert ours["headers"] == django["headers"]
    assert ours["headers"]["List-Unsubscribe"] == UNSUBSCRIBE  # the links a mail reader offers, intact
    assert ours["type"] == django["type"] == "multipart/alternative"
    assert ours["parts"] == django["parts"]
    assert ours["defects"] == [] and ours["long_lines"] == [] and not ours["bare_lf"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=120),
    text=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x0b\x0c\x1c\x1d\x1e\x85"),
        min_size=1,
        max_size=400,
    ),
)
def test_any_text_reads_back_as_django_writes_it(subject: str, text: str) -> None:
    subject = " ".join(subject.split()) or "x"  # as the pipeline stores subjects
    ours, django = _both(_message(subject, text, f"<p>{text}</p>", Precedence="bulk"))
    assert ours["headers"] == django["headers"]
    assert ours["parts"] == django["parts"]
    assert ours["long_lines"] == [] and not ours["bare_lf"]


def test_messages_of_another_shape_are_left_to_django() -> None:
    with_cc = _message("Hi", "text", "<p>html</p>")
    with_cc.cc = ["boss@example.com"]
    own_id = _message("Hi", "text", "<p>html</p>", **{"Message-ID": "<thread-1@crm.example.com>"})
    text_only = EmailMultiAlternatives("Hi", "text", "news@aurora.example", ["layla@example.com"])
    html_only = _message("Hi", "", "<p>html</p>")
    assert [smtp_bytes(m) for m in (with_cc, own_id, text_only, html_only)] == [None] * 4


def test_a_marketing_email_sent_over_smtp_arrives_with_its_unsubscribe_headers(db: Any, sink: Any) -> None:  # noqa: F811
    from emails.services import email_render, email_template_pick, template_context

    shop = _shop(1)
    client = shop.clients[0]
    template = email_template_pick(brand=shop.brand, key="news", language="en")
    assert template is not None
    rendered = email_render(template=template, context=template_context(client=client))
    queued = email_queue(
        client=client,
        rendered=rendered,
        template=template,
        actor=None,
        headers={"List-Unsubscribe": UNSUBSCRIBE, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    assert email_deliver_batch(email_ids=[queued.pk]) == {queued.pk: "sent"}
    [raw] = sink.messages
    got = _read(raw.replace(b"\r\n..", b"\r\n."))  # the sink keeps SMTP's dot-stuffing
    assert got["headers"]["Subject"] == rendered.subject and got["headers"]["To"] == client.email
    assert got["headers"]["List-Unsubscribe"] == UNSUBSCRIBE
    assert got["headers"]["X-CRM-Email"] == str(queued.code)
    for part, sent in (("text/plain", rendered.text), ("text/html", rendered.html)):
        assert got["parts"][part].rstrip("\n") == sent.rstrip("\n")
