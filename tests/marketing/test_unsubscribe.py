"""The unsubscribe link of a marketing email: one-click POST (RFC 8058) withdraws consent, GET only
shows the preference page (mail scanners fetch links), a changed token is refused; the headers a
campaign sends; and transactional mail still goes to a client who unsubscribed and whose address
bounced."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client as HttpClient

from crm.models import AuditLog
from emails.models import EmailStatus
from emails.services import email_deliver, email_send_templated, email_template_save
from marketing.consent import (
    allowed_recipients,
    consent_record,
    consent_state,
    suppress,
    unsubscribe_headers,
    unsubscribe_read,
    unsubscribe_token,
    unsubscribe_url,
)
from marketing.models import ConsentDecision
from tests.factories import make_brand, make_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def consenting():
    brand = make_brand(name="Alpha Markets")
    client = make_client(brand=brand, first_name="Amira", email="amira@example.com", phone="+442071838750",
                         language="es")
    consent_record(client=client, channel="email", given=True, source="portal")
    consent_record(client=client, channel="sms", given=True, source="portal")
    return client


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_headers_are_one_click_and_the_token_carries_client_channel_and_campaign(consenting):
    headers = unsubscribe_headers(client=consenting, campaign_code="spring-promo")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    (url,) = re.fullmatch(r"<(https?://[^>]+)>", headers["List-Unsubscribe"]).groups()
    token = url.rsplit("/m/u/", 1)[1]
    read = unsubscribe_read(token)
    assert (read.client, read.channel, read.campaign_code) == (consenting, "email", "spring-promo")


def test_a_mailto_is_offered_only_for_a_mailbox_the_broker_reads(consenting, settings):
    settings.MARKETING_UNSUBSCRIBE_MAILTO = "unsubscribe@lists.example.com"
    header = unsubscribe_headers(client=consenting)["List-Unsubscribe"]
    url, mailto = re.fullmatch(r"<(https?://[^>]+)>, <(mailto:[^>]+)>", header).groups()
    assert mailto.startswith("mailto:unsubscribe@lists.example.com?subject=unsubscribe%20")
    assert mailto.endswith(url.rsplit("/m/u/", 1)[1])


def test_one_click_post_unsubscribes_and_later_sends_exclude_the_client(consenting):
    path = _path(unsubscribe_url(client=consenting, campaign_code="spring-promo"))
    response = HttpClient().post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert allowed_recipients(brand=consenting.brand, client_ids=[consenting.pk], channel="email") == set()
    # The other channel is untouched.
    assert allowed_recipients(brand=consenting.brand, client_ids=[consenting.pk], channel="sms") == {consenting.pk}
    latest = ConsentDecision.objects.filter(client=consenting).first()
    assert (latest.channel, latest.given, latest.source, latest.campaign_code) == (
        "email", False, "unsubscribe", "spring-promo")
    assert AuditLog.objects.filter(object_id=str(consenting.code), action="marketing.consent_withdrawn").count() == 1
    # A second click changes nothing more and still answers 200.
    assert HttpClient().post(path, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert ConsentDecision.objects.filter(client=consenting, given=False).count() == 1


def test_get_shows_preferences_in_the_clients_language_and_unsubscribes_nobody(consenting):
    path = _path(unsubscribe_url(client=consenting))
    response = HttpClient().get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Alpha Markets" in page and 'lang="es"' in page
    assert 'name="email" checked' in page and 'name="sms" checked' in page
    assert "<button" in page
    assert consent_state(client=consenting) == {"email": True, "sms": True}
    assert allowed_recipients(brand=consenting.brand, client_ids=[consenting.pk], channel="email") == {consenting.pk}


def test_the_preference_page_saves_each_channel(consenting):
    path = _path(unsubscribe_url(client=consenting))
    response = HttpClient().post(path, {"preferences": "1", "sms": "on"})  # email unticked
    assert response.status_code == 200
    assert consent_state(client=consenting) == {"email": False, "sms": True}
    latest = ConsentDecision.objects.filter(client=consenting).first()
    assert (latest.channel, latest.given, latest.source) == ("email", False, "preference_page")
    HttpClient().post(path, {"preferences": "1", "sms": "on", "email": "on"})
    assert consent_state(client=consenting) == {"email": True, "sms": True}
    assert ConsentDecision.objects.filter(client=consenting, source="preference_page").count() == 2


def test_a_changed_or_foreign_token_is_refused_with_a_page_naming_the_problem(consenting):
    token = unsubscribe_token(client=consenting)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for method in ("get", "post"):
        response = getattr(HttpClient(), method)(f"/m/u/{tampered}", {"List-Unsubscribe": "One-Click"})
        assert response.status_code == 400
        assert "changed or cut short" in response.content.decode()
    # A token signed with another salt (another purpose's signature) is not ours either.
    from django.core import signing

    other = signing.dumps({"c": str(consenting.code), "ch": "email", "k": ""}, salt="something.else")
    assert HttpClient().post(f"/m/u/{other}", {"List-Unsubscribe": "One-Click"}).status_code == 400
    assert consent_state(client=consenting) == {"email": True, "sms": True}
    # A POST that is neither one-click nor the form changes nothing.
    assert HttpClient().post(f"/m/u/{token}", {"foo": "bar"}).status_code == 400
    assert consent_state(client=consenting) == {"email": True, "sms": True}


def test_transactional_mail_still_goes_after_unsubscribe_and_suppression(consenting):
    brand = consenting.brand
    HttpClient().post(_path(unsubscribe_url(client=consenting)), {"List-Unsubscribe": "One-Click"})
    suppress(brand=brand, address="amira@example.com", channel="email", reason="hard_bounce", source="test")
    assert allowed_recipients(brand=brand, client_ids=[consenting.pk], channel="email") == set()
    email_template_save(actor=None, brand=brand, key="withdrawal_receipt", language="en",
                        subject="Your withdrawal", body="Hello {{ client.first_name }}, your withdrawal is on its way.")
    queued = email_send_templated(template_key="withdrawal_receipt", client=consenting, context={}, actor=None).email
    assert email_deliver(email_id=queued.pk) == EmailStatus.SENT
    assert [m.to for m in mail.outbox] == [["amira@example.com"]]
    assert "List-Unsubscribe" not in mail.outbox[0].extra_headers
