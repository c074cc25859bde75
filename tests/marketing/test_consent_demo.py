"""The marketing demo's consent: some clients accepted email (some SMS too), some unsubscribed, most
of the rest decided nothing, and one address is suppressed after a hard bounce."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from crm.models import RoleCode
from marketing.consent import allowed_recipients
from marketing.models import ConsentDecision, Suppression
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db


def test_the_demo_gives_some_clients_consent_some_unsubscribed_and_one_bounce():
    make_user(role_code=RoleCode.ADMIN)
    brand = make_brand(code="atlas", name="Atlas Markets")
    clients = [make_client(brand=brand, email=f"demo{n}@example.com", phone=f"+4420718391{n:02d}")
               for n in range(24)]
    call_command("marketing_seed_demo", stdout=io.StringIO())
    ids = [c.pk for c in clients]
    email = allowed_recipients(brand=brand, client_ids=ids, channel="email")
    sms = allowed_recipients(brand=brand, client_ids=ids, channel="sms")
    assert 0 < len(email) < len(ids) and 0 < len(sms) < len(email)
    assert ConsentDecision.objects.filter(client__brand=brand, source="unsubscribe", given=False).exists()
    assert Suppression.objects.filter(brand=brand, reason="hard_bounce").count() == 1
    undecided = set(ids) - set(ConsentDecision.objects.values_list("client_id", flat=True))
    assert undecided and not undecided & email
    call_command("marketing_seed_demo", stdout=io.StringIO())  # loaded once
    assert Suppression.objects.filter(brand=brand).count() == 1
