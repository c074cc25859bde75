"""A client's ticket, in a real browser (issue 62, the first browser test of Done-when): the client
opens a ticket with an attachment in the trader's room (in Arabic, right to left); it lands in the
brand's desk with its SLA clock running; a support agent answers from the desk with the canned answer
in the client's language; the client replies by email and the reply threads onto the ticket; the
agent resolves it and the client rates the answer in the trader's room."""

from __future__ import annotations

import re
from datetime import date
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.urls import reverse
from PIL import Image

from crm.lib.fieldcrypt import keyed_hash
from crm.models import Role, RoleCode
from tests.browser.support import MARKS, PASSWORD, login
from tests.factories import make_brand, make_user
from tests.support.complaint_world import make_support_desk
from tests.waiting import scaled_ms

pytestmark = MARKS

CLIENT_PASSWORD = "amber-harbour-4417"
CANNED_AR = "مرحبًا {first_name}، استلمنا طلبك {reference} وتم إرسال السحب اليوم. {agent_name}"


@pytest.fixture
def ticket_world(db, settings, tmp_path):
    """A brand with a support desk (Cyprus hours, a 1-hour first response for normal tickets), canned
    answers in English and Arabic, a webhook mailbox; an Arabic-speaking client registered in its
    trader's room and verified; a support agent who signs in with a password alone."""
    from types import SimpleNamespace

    from crm.staff_services import role_set_requires_2fa
    from portal.models import ClientLogin, ConsentDocument, ConsentKind
    from portal.services import portal_email_verify, portal_register, verification_token
    from support.mail_intake import mailbox_save
    from support.services import canned_answer_save, sla_policy_save

    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.SUPPORT_ATTACHMENT_DIR = tmp_path / "support-files"
    brand = make_brand(code="atlas-j", name="Atlas Journeys", served_countries=["AE"])
    for kind in ConsentKind.values:
        for language in ("en", "ar"):
            ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language=language, title=kind)
    admin = make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")
    desk = make_support_desk(brand, admin=admin)
    sla_policy_save(actor=admin, desk=desk, priority="normal", first_response_minutes=60, resolution_minutes=480)
    canned_answer_save(actor=admin, brand=brand, language="en", title="Withdrawal sent",
                       body="Hello {first_name}, we received {reference}; the withdrawal was sent today. {agent_name}")
    arabic = canned_answer_save(actor=admin, brand=brand, language="ar", title="تم إرسال السحب", body=CANNED_AR)
    mailbox = mailbox_save(actor=admin, desk=desk, kind="webhook")
    portal_register(brand=brand, language="ar", first_name="Omar", last_name="Saleh", email="omar.saleh@example.com",
                    phone="+971501234567", country="AE", date_of_birth=date(1987, 6, 1), password=CLIENT_PASSWORD,
                    accept_terms=True, accept_privacy=True)
    login_row = ClientLogin.objects.get(email_hash=keyed_hash("omar.saleh@example.com", kind="email"))
    portal_email_verify(token=verification_token(login_row))
    role_set_requires_2fa(actor=admin, role=Role.objects.get(code=RoleCode.SUPPORT_AGENT), required=False)
    sam = make_user(role_code=RoleCode.SUPPORT_AGENT, brand=brand, full_name="Sam Support",
                    email="sam@staff.example.com", password=PASSWORD)
    receipt = tmp_path / "receipt.png"
    Image.new("RGB", (80, 60), (30, 90, 200)).save(receipt, format="PNG")
    return SimpleNamespace(brand=brand, desk=desk, client=login_row.client, sam=sam, arabic=arabic, mailbox=mailbox,
                           receipt=receipt)


def _page(browser, *, wide: bool = True):
    size = {"width": 1366, "height": 900} if wide else {"width": 390, "height": 844}
    page = browser.new_context(viewport=size).new_page()
    page.set_default_timeout(scaled_ms(20_000))
    return page


def _email_reply(w, ticket) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Omar Saleh <omar.saleh@example.com>"
    mail["To"] = w.desk.support_address
    mail["Subject"] = f"Re: [{ticket.reference}] {ticket.subject}"
    mail["Message-ID"] = make_msgid(domain="example.com")
    mail.set_content("شكرًا، وصل المبلغ إلى بطاقتي.")
    return bytes(mail)


def test_a_ticket_from_the_room_answered_with_a_canned_answer_replied_by_email_and_rated(
        live_server, browser, ticket_world):
    from playwright.sync_api import expect

    from support.mail_intake import mail_receive
    from support.models import MessageKind, Ticket, TicketMessage

    base, w = live_server.url, ticket_world
    # 1. The client opens a ticket with a file in the trader's room, in Arabic (right to left).
    room = _page(browser, wide=False)
    room.goto(f"{base}/portal/{w.brand.code}/login/")
    room.fill("input[name=email]", "omar.saleh@example.com")
    room.fill("input[name=password]", CLIENT_PASSWORD)
    room.click("button[type=submit]")
    room.wait_for_url(f"{base}/portal/")
    room.goto(f"{base}{reverse('portal:support_ticket_new')}")
    assert room.get_attribute("html", "dir") == "rtl"
    room.select_option("select[name=category]", "withdrawal")
    room.fill("input[name=subject]", "لم يصل السحب")
    room.fill("textarea[name=body]", "طلبت سحب 250 دولارًا قبل أسبوع ولم يصل بعد.")
    room.set_input_files("input[name=attachments]", str(w.receipt))
    room.click("#ticket-form button[type=submit]")
    room.wait_for_selector("[data-ticket-page]")
    ticket = Ticket.objects.get(client=w.client)
    assert (ticket.desk, ticket.channel, ticket.language) == (w.desk, "portal", "ar")
    assert ticket.first_response_due is not None and ticket.resolution_due is not None  # the SLA clock runs
    assert room.locator("[data-attachment]").count() == 1

    # 2. The agent finds it in the queue and answers with the Arabic canned answer.
    sam = _page(browser)
    login(sam, base, "sam@staff.example.com")
    sam.goto(f"{base}{reverse('support_queue')}")
    sam.click(f"a:has-text('{ticket.reference}')")
    sam.select_option("[data-canned-picker]", str(w.arabic.pk))
    expect(sam.locator("#reply-box textarea[name=body]")).to_have_value(re.compile("Omar"))
    body = sam.input_value("#reply-box textarea[name=body]")
    assert body.startswith("مرحبًا Omar") and ticket.reference in body and "Sam Support" in body
    sam.click("#reply-box button[type=submit]")
    sam.wait_for_selector("text=Done.")
    answer = TicketMessage.objects.get(ticket=ticket, kind=MessageKind.STAFF_REPLY)
    assert answer.body_text.startswith("مرحبًا Omar")
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None and ticket.status == "pending_client"

    # 3. The client replies by email: the reply threads onto the ticket.
    received = mail_receive(mailbox=w.mailbox, raw=_email_reply(w, ticket))
    assert (received.outcome, received.ticket_id) == ("threaded", ticket.pk)
    ticket.refresh_from_db()
    assert ticket.status == "open"
    room.reload()
    assert "وصل المبلغ" in room.inner_text("[data-thread]")

    # 4. The agent resolves it; the client rates the answer in the trader's room.
    sam.reload()
    status = sam.locator("[data-form=status]")
    status.locator("select[name=status]").select_option("resolved")
    status.locator("button[type=submit]").click()
    sam.wait_for_selector("text=Done.")
    room.reload()
    room.click("[data-rate] label[for$='_4']")  # the fifth choice: 5 stars
    room.click("[data-rate] button[type=submit]")
    room.wait_for_selector("[data-rating]")
    ticket.refresh_from_db()
    assert ticket.rating == 5 and room.locator("[data-rate]").count() == 0
