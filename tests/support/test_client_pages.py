"""The requesters' support pages: a client's in the trader's room, a partner's in the partner portal.
A requester opens a ticket with files (checked as KYC uploads are), lists their tickets with the
status in their language (Arabic right to left), reads the thread without internal notes, replies,
rates a resolved ticket and files a complaint; another requester's ticket is missing."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.test import Client as Browser
from django.urls import reverse
from PIL import Image

from crm.lib.fieldcrypt import keyed_hash
from support.models import Complaint, MessageKind, Ticket, TicketMessage
from tests.support.complaint_world import make_support_desk

PASSWORD = "quiet-lagoon-7319"


def _png(name: str = "receipt.png") -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="PNG")
    out.seek(0)
    out.name = name
    return out


@pytest.fixture
def room(db, settings, tmp_path):
    """A brand with a support desk; two verified clients of its trader's room, each signed in in a
    browser of their own (Nadia in English, Omar in Arabic); an agent and a compliance officer."""
    from crm.models import RoleCode
    from portal.models import ClientLogin, ConsentDocument, ConsentKind
    from portal.services import portal_email_verify, portal_register, verification_token
    from tests.factories import make_brand, make_user

    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"
    settings.PORTAL_REGISTER_RATE_LIMIT = "1000/m"
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    settings.SUPPORT_ATTACHMENT_DIR = tmp_path / "support-private"
    brand = make_brand(code="atlas-s", name="Atlas Support", served_countries=["GB", "AE"])
    for kind in ConsentKind.values:
        for language in ("en", "ar"):
            ConsentDocument.objects.create(brand=brand, kind=kind, version="1", language=language, title=kind)
    make_support_desk(brand)
    people = {}
    for key, first, email, phone, language in (("nadia", "Nadia", "nadia@example.com", "+442071838111", "en"),
                                               ("omar", "Omar", "omar@example.com", "+971501234567", "ar")):
        portal_register(brand=brand, language=language, first_name=first, last_name="Hassan", email=email,
                        phone=phone, country="GB", date_of_birth=date(1990, 4, 2), password=PASSWORD,
                        accept_terms=True, accept_privacy=True)
        login = ClientLogin.objects.get(email_hash=keyed_hash(email, kind="email"))
        portal_email_verify(token=verification_token(login))
        browser = Browser(REMOTE_ADDR=f"10.7.{len(people)}.9")
        signed = browser.post(reverse("portal:login_brand", args=[brand.code]), {"email": email, "password": PASSWORD})
        assert signed.status_code == 302
        people[key] = (login.client, browser)
    agent = make_user(role_code=RoleCode.SUPPORT_AGENT, brand=brand, full_name="Sam Support")
    return brand, people, agent


def _open(browser, **fields):
    data = {"category": "withdrawal", "subject": "Where is my withdrawal?", "body": "I asked for 250 USD.", **fields}
    return browser.post(reverse("portal:support_ticket_new"), data)


def test_a_client_opens_a_ticket_with_a_file_and_reads_it_in_their_list(room):
    brand, people, _agent = room
    nadia, browser = people["nadia"]
    response = _open(browser, attachments=[_png()])
    ticket = Ticket.objects.get(client=nadia)
    assert response.status_code == 302 and response["Location"] == reverse("portal:support_ticket",
                                                                           args=[ticket.reference])
    assert (ticket.channel, ticket.category, ticket.brand) == ("portal", "withdrawal", brand)
    first = TicketMessage.objects.get(ticket=ticket)
    assert [a.name for a in first.attachments.all()] == ["receipt.png"]
    page = browser.get(reverse("portal:support")).content.decode()
    assert ticket.reference in page and "Where is my withdrawal?" in page
    detail = browser.get(response["Location"]).content.decode()
    attachment = first.attachments.get()
    link = reverse("portal:support_attachment", args=[ticket.reference, attachment.code])
    assert link in detail
    file = browser.get(link)
    assert file.status_code == 200 and file["Content-Type"] == "image/png"


def test_a_file_that_is_not_a_document_is_refused_by_name(room):
    _brand, people, _agent = room
    nadia, browser = people["nadia"]
    fake = io.BytesIO(b"MZ\x90\x00 this is a program")
    fake.name = "statement.pdf"
    response = _open(browser, attachments=[fake])
    assert response.status_code == 400
    assert not Ticket.objects.filter(client=nadia).exists()
    assert 'class="p-error"' in response.content.decode() or "p-notice error" in response.content.decode()


def test_the_list_and_the_ticket_read_in_arabic_right_to_left_without_internal_notes(room):
    from support.services import ticket_note, ticket_reply_staff

    _brand, people, agent = room
    omar, browser = people["omar"]
    _open(browser, subject="أين سحبي؟")
    ticket = Ticket.objects.get(client=omar)
    ticket_note(ticket=ticket, body="Compliance hold on this client: do not say.", actor=agent)
    ticket_reply_staff(ticket=ticket, body="We are checking with the bank.", actor=agent)
    listing = browser.get(reverse("portal:support")).content.decode()
    assert 'dir="rtl"' in listing and 'lang="ar"' in listing
    ticket.refresh_from_db()
    from django.utils import translation

    with translation.override("ar"):
        assert ticket.get_status_display() in listing
    page = browser.get(reverse("portal:support_ticket", args=[ticket.reference])).content.decode()
    assert "We are checking with the bank." in page and "Compliance hold" not in page


def test_another_clients_ticket_and_its_files_are_missing(room):
    _brand, people, _agent = room
    _nadia, nadia_browser = people["nadia"]
    _open(nadia_browser, attachments=[_png()])
    ticket = Ticket.objects.get()
    attachment = TicketMessage.objects.get(ticket=ticket).attachments.get()
    _omar, omar_browser = people["omar"]
    assert omar_browser.get(reverse("portal:support_ticket", args=[ticket.reference])).status_code == 404
    assert omar_browser.get(reverse("portal:support_attachment",
                                    args=[ticket.reference, attachment.code])).status_code == 404
    assert ticket.reference not in omar_browser.get(reverse("portal:support")).content.decode()
    assert Browser().get(reverse("portal:support")).status_code == 302  # signed out: the login


def test_the_client_replies_and_rates_a_resolved_ticket_once(room):
    from support.services import ticket_reply_staff, ticket_set_status

    _brand, people, agent = room
    nadia, browser = people["nadia"]
    _open(browser)
    ticket = Ticket.objects.get(client=nadia)
    url = reverse("portal:support_ticket", args=[ticket.reference])
    assert browser.post(url, {"action": "reply", "body": "Any news?"}).status_code == 302
    assert TicketMessage.objects.filter(ticket=ticket, kind=MessageKind.CLIENT_REPLY).count() == 2
    assert 'data-rate' not in browser.get(url).content.decode()  # not resolved yet
    ticket_reply_staff(ticket=ticket, body="It was paid today.", actor=agent)
    ticket_set_status(ticket=ticket, status="resolved", actor=agent)
    assert browser.post(url, {"action": "rate", "rating": "9"}).status_code == 400
    assert browser.post(url, {"action": "rate", "rating": "5", "comment": "Quick"}).status_code == 302
    ticket.refresh_from_db()
    assert (ticket.rating, ticket.rating_comment) == (5, "Quick")
    assert 'data-rate' not in browser.get(url).content.decode()


def test_a_client_files_a_complaint_and_reads_its_reference_and_due_date(room):
    _brand, people, _agent = room
    nadia, browser = people["nadia"]
    response = browser.post(reverse("portal:support_complaint_new"), {
        "category": "withdrawals", "subject": "My withdrawal is late", "body": "Three weeks now."})
    complaint = Complaint.objects.get(ticket__client=nadia)
    assert complaint.ticket.category == "complaint" and complaint.category == "withdrawals"
    assert complaint.status == "acknowledged"
    page = browser.get(response["Location"]).content.decode()
    assert complaint.reference in page and "data-response-due" in page
    assert complaint.reference in browser.get(reverse("portal:support")).content.decode()


# --- the partner portal --------------------------------------------------------------------------------

@pytest.fixture
def partners(db):
    """Two active partners of a brand with a support desk, each signed in to the partner portal."""
    from ib.services import partner_create, partner_login_set_password
    from tests.factories import make_brand

    brand = make_brand(code="atlas-p", name="Atlas Partners")
    make_support_desk(brand)
    out = []
    for n, email in enumerate(("pia@partners.example.com", "paul@partners.example.com")):
        partner = partner_create(actor=None, brand=brand, display_name=email.split("@")[0].title(), email=email)
        partner_login_set_password(partner=partner, password=PASSWORD)
        browser = Browser(REMOTE_ADDR=f"10.8.{n}.9")
        assert browser.post(reverse("partners:login_brand", args=[brand.code]),
                            {"email": email, "password": PASSWORD}).status_code == 302
        out.append((partner, browser))
    return brand, out


def test_a_partner_asks_a_question_and_files_a_complaint_from_the_portal(partners):
    _brand, [(pia, browser), (_paul, paul_browser)] = partners
    response = browser.post(reverse("support_partner_ticket_new"), {
        "category": "partnership", "subject": "My commission for October", "body": "It looks low.",
        "attachments": [_png("statement.png")]})
    ticket = Ticket.objects.get(partner=pia)
    assert response.status_code == 302 and ticket.channel == "partner_portal" and ticket.client is None
    listing = browser.get(reverse("support_partner_tickets")).content.decode()
    assert ticket.reference in listing
    assert reverse("support_partner_tickets") in browser.get(reverse("partners:dashboard")).content.decode()
    assert paul_browser.get(reverse("support_partner_ticket", args=[ticket.reference])).status_code == 404
    filed = browser.post(reverse("support_partner_complaint_new"), {
        "category": "fees_charges", "subject": "Fees", "body": "Charged twice."})
    complaint = Complaint.objects.get(ticket__partner=pia)
    assert filed.status_code == 302 and complaint.reference in browser.get(filed["Location"]).content.decode()
