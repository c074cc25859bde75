"""The consent tab of the client's page (who sees it, what it shows), and the email provider's bounce
and complaint webhook: signed with X-CRM-Signature, a hard bounce or complaint suppresses the address,
a soft bounce does not, a bad signature is refused and kept."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client as HttpClient

from crm.models import RoleCode
from marketing.consent import allowed_recipients, consent_record, suppression_of
from marketing.models import MailEvent
from plumbing.signatures import header_value
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db

SECRET = "whsec_mail_test"


@pytest.fixture
def provider(settings):
    settings.MARKETING_MAIL_WEBHOOK_SECRETS = {"mailco": SECRET}
    return "mailco"


def _post(provider: str, payload: dict, *, secret: str = SECRET, timestamp: int | None = None):
    body = json.dumps(payload).encode()
    return HttpClient().post(f"/m/webhooks/mail/{provider}/", body, content_type="application/json",
                             headers={"X-CRM-Signature": header_value([secret], body, timestamp=timestamp)})


def _consenting(brand, email):
    client = make_client(brand=brand, email=email)
    consent_record(client=client, channel="email", given=True, source="portal")
    return client


def test_hard_bounce_and_complaint_suppress_soft_bounce_does_not(provider):
    brand = make_brand(code="alpha")
    hard, soft, complaint = (_consenting(brand, f"{n}@example.com") for n in ("hard", "soft", "angry"))
    ids = [hard.pk, soft.pk, complaint.pk]
    assert _post(provider, {"id": "e1", "type": "hard_bounce", "brand": "alpha", "recipient": "HARD@example.com"}
                 ).status_code == 200
    assert _post(provider, {"id": "e2", "type": "soft_bounce", "brand": "alpha", "recipient": "soft@example.com"}
                 ).status_code == 200
    assert _post(provider, {"id": "e3", "type": "complaint", "brand": "alpha", "recipient": "angry@example.com"}
                 ).status_code == 200
    assert allowed_recipients(brand=brand, client_ids=ids, channel="email") == {soft.pk}
    assert suppression_of(brand=brand, address="hard@example.com", channel="email").reason == "hard_bounce"
    assert suppression_of(brand=brand, address="angry@example.com", channel="email").reason == "complaint"
    assert suppression_of(brand=brand, address="soft@example.com", channel="email") is None
    # The same notification again is a duplicate and changes nothing.
    again = _post(provider, {"id": "e1", "type": "hard_bounce", "brand": "alpha", "recipient": "hard@example.com"})
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")


def test_bad_signature_stale_unknown_provider_and_brand_are_refused(provider):
    brand = make_brand(code="beta")
    client = _consenting(brand, "b@example.com")
    payload = {"id": "x1", "type": "hard_bounce", "brand": "beta", "recipient": "b@example.com"}
    assert _post(provider, payload, secret="not-the-secret").status_code == 401
    assert _post(provider, payload, timestamp=int(time.time()) - 3600).status_code == 401
    assert _post("nobody", payload).status_code == 404
    assert _post(provider, {**payload, "brand": "gamma"}).status_code == 404
    assert _post(provider, {**payload, "type": "delivered"}).status_code == 400
    assert allowed_recipients(brand=brand, client_ids=[client.pk], channel="email") == {client.pk}
    assert MailEvent.objects.filter(outcome="refused_bad_signature").count() == 1


def test_the_consent_tab_shows_the_history_to_staff_who_may_see_it(login_verified):
    brand = make_brand()
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    client = make_client(actor=agent, brand=brand, email="tab@example.com")
    consent_record(client=client, channel="email", given=True, source="portal")
    consent_record(client=client, channel="email", given=False, source="unsubscribe")
    consent_record(client=client, channel="sms", given=True, source="preference_page")
    http = HttpClient()
    login_verified(http, agent)
    page = http.get(f"/clients/{client.code}/?tab=consent").content.decode()
    assert "Consent history" in page
    assert page.count("Withdrawn") == 1 and "unsubscribe" in page and "preference_page" in page
    # A dealer does not work clients' records: no consent tab.
    dealer = make_user(role_code=RoleCode.DEALER, brand=brand)
    other = HttpClient()
    login_verified(other, dealer)
    assert "Consent history" not in other.get(f"/clients/{client.code}/?tab=consent").content.decode()
