"""The suppression list's page: the marketer finds a bounced address, lifts it with a reason (the
client consenting again gets marketing; the reason is in the audit log), and suppresses an address by
hand (they get none); a lift without a reason is refused by name and changes nothing; compliance reads
the list but cannot change it; another brand's suppression is not found; a sales agent has no page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import AuditLog, RoleCode
from marketing.consent import allowed_recipients, consent_record, suppress, suppression_of
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    brand, other = make_brand(code="alpha"), make_brand(code="beta")
    bounced = make_client(brand=brand, email="bounced@example.com")
    consent_record(client=bounced, channel="email", given=True, source="portal")
    suppress(brand=brand, address="bounced@example.com", channel="email", reason="hard_bounce", source="mailco e1")
    suppress(brand=other, address="elsewhere@example.com", channel="email", reason="complaint", source="mailco e2")
    marketer = make_user(role_code=RoleCode.MARKETING, brand=brand)
    return brand, other, bounced, marketer


def test_the_marketer_finds_and_lifts_a_bounce_with_a_reason(client, world):
    brand, _other, bounced, marketer = world
    client.force_login(marketer)
    page = client.get(reverse("marketing_suppressions"), {"q": "Bounced@Example.com"}).content.decode()
    assert "bounced@example.com" in page and "Hard bounce" in page and "elsewhere@example.com" not in page
    row = suppression_of(brand=brand, address="bounced@example.com", channel="email")
    refused = client.post(reverse("marketing_suppression_lift", args=[row.pk]), {"reason": "  "}, follow=True)
    assert "Say why the suppression is lifted." in refused.content.decode()
    assert allowed_recipients(brand=brand, client_ids=[bounced.pk], channel="email") == set()
    done = client.post(reverse("marketing_suppression_lift", args=[row.pk]),
                       {"reason": "Mailbox full, client confirmed by phone"}, follow=True)
    assert "Suppression lifted" in done.content.decode()
    assert allowed_recipients(brand=brand, client_ids=[bounced.pk], channel="email") == {bounced.pk}
    entry = AuditLog.objects.filter(action="marketing.suppression_lifted").get()
    assert entry.after["lifted_because"] == "Mailbox full, client confirmed by phone"
    assert entry.before["reason"] == "hard_bounce"


def test_a_hand_suppression_blocks_marketing_and_a_bad_address_is_named(client, world):
    brand, _other, _bounced, marketer = world
    holder = make_client(brand=brand, email="asked@example.com")
    consent_record(client=holder, channel="email", given=True, source="portal")
    client.force_login(marketer)
    bad = client.post(reverse("marketing_suppressions"), {"brand": brand.pk, "channel": "email", "address": " "})
    assert bad.status_code == 422 and "Give an address." in bad.content.decode()
    no_brand = client.post(reverse("marketing_suppressions"), {"brand": "", "channel": "email", "address": "x@y.com"})
    assert no_brand.status_code == 422 and "Choose a brand." in no_brand.content.decode()
    client.post(reverse("marketing_suppressions"), {"brand": brand.pk, "channel": "email", "address": "asked@example.com"})
    assert suppression_of(brand=brand, address="asked@example.com", channel="email").reason == "manual"
    assert allowed_recipients(brand=brand, client_ids=[holder.pk], channel="email") == set()


def test_compliance_reads_it_another_brand_is_not_found_and_sales_has_no_page(client, world, login_verified):
    brand, other, _bounced, marketer = world
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    login_verified(client, officer)
    page = client.get(reverse("marketing_suppressions")).content.decode()
    assert "bounced@example.com" in page and "Suppress an address" not in page and "Why lift it" not in page
    row = suppression_of(brand=brand, address="bounced@example.com", channel="email")
    assert client.post(reverse("marketing_suppression_lift", args=[row.pk]), {"reason": "x"}).status_code == 404
    client.force_login(marketer)
    theirs = suppression_of(brand=other, address="elsewhere@example.com", channel="email")
    assert client.post(reverse("marketing_suppression_lift", args=[theirs.pk]), {"reason": "x"}).status_code == 404
    assert suppression_of(brand=other, address="elsewhere@example.com", channel="email") is not None
    client.force_login(make_user(role_code=RoleCode.SALES_AGENT, brand=brand))
    assert client.get(reverse("marketing_suppressions")).status_code == 404
