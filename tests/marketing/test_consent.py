"""Marketing consent per channel, the latest decision winning, suppression of addresses, and who may
receive a campaign: allowed_recipients against a plain Python reading of the same decisions."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone

from crm.exceptions import ValidationFailed
from crm.models import AuditLog, Event
from marketing.consent import (
    NESTLOOP_MAX_IDS,
    allowed_recipients,
    consent_history,
    consent_record,
    consent_state,
    suppress,
    suppression_of,
)
from marketing.models import ConsentDecision
from tests.factories import make_brand, make_client

pytestmark = pytest.mark.django_db


def test_consent_is_per_channel():
    brand = make_brand()
    client = make_client(brand=brand, email="ann@example.com", phone="+442071838750")
    consent_record(client=client, channel="email", given=True, source="portal")
    consent_record(client=client, channel="sms", given=False, source="portal")
    assert allowed_recipients(brand=brand, client_ids=[client.pk], channel="email") == {client.pk}
    assert allowed_recipients(brand=brand, client_ids=[client.pk], channel="sms") == set()
    assert consent_state(client=client) == {"email": True, "sms": False}


def test_no_decision_is_no_consent_and_unknown_channel_refused():
    brand = make_brand()
    client = make_client(brand=brand, email="bob@example.com")
    assert allowed_recipients(brand=brand, client_ids=[client.pk], channel="email") == set()
    with pytest.raises(ValidationFailed):
        allowed_recipients(brand=brand, client_ids=[client.pk], channel="fax")
    with pytest.raises(ValidationFailed):
        consent_record(client=client, channel="fax", given=True, source="portal")


def test_latest_decision_wins_and_at_reads_the_past():
    brand = make_brand()
    client = make_client(brand=brand, email="cy@example.com")
    now = timezone.now()
    consent_record(client=client, channel="email", given=True, source="portal", at=now - dt.timedelta(days=3))
    consent_record(client=client, channel="email", given=False, source="unsubscribe", at=now - dt.timedelta(days=1))
    assert allowed_recipients(brand=brand, client_ids=[client.pk], channel="email") == set()
    two_days_ago = now - dt.timedelta(days=2)
    assert allowed_recipients(brand=brand, client_ids=[client.pk], channel="email", at=two_days_ago) == {client.pk}
    # A decision recorded later but dated earlier does not override the later one.
    consent_record(client=client, channel="email", given=True, source="staff", at=now - dt.timedelta(days=2))
    assert allowed_recipients(brand=brand, client_ids=[client.pk], channel="email") == set()
    consent_record(client=client, channel="email", given=True, source="portal")
    assert allowed_recipients(brand=brand, client_ids=[client.pk], channel="email") == {client.pk}
    assert [d.source for d in consent_history(client=client)][:2] == ["portal", "unsubscribe"]


def test_other_brand_and_no_address_are_not_allowed():
    brand, other = make_brand(), make_brand()
    theirs = make_client(brand=other, email="dee@example.com")
    no_email = make_client(brand=brand, email="", phone="+442071838751")
    for c in (theirs, no_email):
        consent_record(client=c, channel="email", given=True, source="portal")
    assert allowed_recipients(brand=brand, client_ids=[theirs.pk, no_email.pk], channel="email") == set()


def test_consent_changes_are_audited_and_announced():
    client = make_client(email="eve@example.com")
    consent_record(client=client, channel="email", given=True, source="portal", ip="203.0.113.9")
    consent_record(client=client, channel="email", given=False, source="unsubscribe")
    actions = list(AuditLog.objects.filter(object_id=str(client.code), action__startswith="marketing.consent")
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["marketing.consent_given", "marketing.consent_withdrawn"]
    events = Event.objects.filter(name="marketing.consent_changed", client=client).order_by("id")
    assert [(e.data["channel"], e.data["given"], e.data["source"]) for e in events] == [
        ("email", True, "portal"), ("email", False, "unsubscribe")]
    assert ConsentDecision.objects.filter(client=client).count() == 2  # appended, never updated


def test_hard_suppression_blocks_the_address_whoever_holds_it():
    brand = make_brand()
    a = make_client(brand=brand, email="Fay@Example.com")
    b = make_client(brand=brand, email="gus@example.com")
    for c in (a, b):
        consent_record(client=c, channel="email", given=True, source="portal")
    row = suppress(brand=brand, address="fay@example.com ", channel="email", reason="hard_bounce", source="test")
    assert suppress(brand=brand, address="FAY@example.com", channel="email", reason="complaint", source="x") == row
    assert suppression_of(brand=brand, address="fay@EXAMPLE.com", channel="email") == row
    assert allowed_recipients(brand=brand, client_ids=[a.pk, b.pk], channel="email") == {b.pk}
    # Another brand's suppression of the same address does not block this brand.
    assert suppression_of(brand=make_brand(), address="fay@example.com", channel="email") is None
    with pytest.raises(ValidationFailed):
        suppress(brand=brand, address="x@example.com", channel="email", reason="soft_bounce", source="x")


def test_sms_suppression_is_by_phone():
    brand = make_brand()
    c = make_client(brand=brand, email="hal@example.com", phone="+442071838752")
    consent_record(client=c, channel="sms", given=True, source="portal")
    consent_record(client=c, channel="email", given=True, source="portal")
    suppress(brand=brand, address="+442071838752", channel="sms", reason="manual", source="staff")
    assert allowed_recipients(brand=brand, client_ids=[c.pk], channel="sms") == set()
    assert allowed_recipients(brand=brand, client_ids=[c.pk], channel="email") == {c.pk}


def test_allowed_recipients_against_plain_python():
    rng = random.Random(63)
    brand = make_brand()
    now = timezone.now()
    clients = [make_client(brand=brand, email=f"p{i}@example.com", phone=f"+4420718390{i:02d}") for i in range(30)]
    decisions: dict[tuple[int, str], list[tuple[dt.datetime, int, bool]]] = {}
    seq = 0
    for c in clients:
        for channel in ("email", "sms"):
            for _ in range(rng.randint(0, 3)):
                at = now - dt.timedelta(hours=rng.randint(1, 200))
                given = rng.random() < 0.6
                consent_record(client=c, channel=channel, given=given, source="portal", at=at)
                seq += 1
                decisions.setdefault((c.pk, channel), []).append((at, seq, given))
    suppressed_email = {c.pk for c in clients[:30:7]}
    for c in clients[:30:7]:
        suppress(brand=brand, address=f"p{clients.index(c)}@example.com", channel="email",
                 reason="hard_bounce", source="test")
    ids = [c.pk for c in clients]
    for channel in ("email", "sms"):
        expected = {
            pk for pk in ids
            if decisions.get((pk, channel)) and max(decisions[(pk, channel)])[2]
            and not (channel == "email" and pk in suppressed_email)
        }
        assert allowed_recipients(brand=brand, client_ids=ids, channel=channel) == expected
        assert expected  # the draw gives some of each
        # Past NESTLOOP_MAX_IDS the plan is hash joins only; the answer is the same.
        many = ids + list(range(10**9, 10**9 + NESTLOOP_MAX_IDS + 1))
        assert allowed_recipients(brand=brand, client_ids=many, channel=channel) == expected


def test_the_trader_rooms_marketing_consent_writes_marketing_email_consent():
    from portal.models import ClientLogin, ConsentDocument, ConsentKind
    from portal.selectors import marketing_accepted
    from portal.services import portal_consent_set

    brand = make_brand()
    client = make_client(brand=brand, email="room@example.com", phone="+442071838799")
    doc = ConsentDocument.objects.create(brand=brand, kind=ConsentKind.MARKETING, version="1", language="en",
                                         title="Marketing", body="text")
    login = ClientLogin.objects.create(client=client, brand=brand, email="room@example.com", password="!")
    portal_consent_set(login=login, document=doc, accepted=True, ip="203.0.113.5", user_agent="test")
    assert allowed_recipients(brand=brand, client_ids=[client.pk], channel="email") == {client.pk}
    assert allowed_recipients(brand=brand, client_ids=[client.pk], channel="sms") == set()
    assert marketing_accepted(client=client) is True
    decision = ConsentDecision.objects.get(client=client)
    assert (decision.channel, decision.given, decision.source, decision.ip) == ("email", True, "portal", "203.0.113.5")
    # An unsubscribe link shows in the room too.
    consent_record(client=client, channel="email", given=False, source="unsubscribe")
    assert marketing_accepted(client=client) is False
    portal_consent_set(login=login, document=doc, accepted=True, ip=None, user_agent="test")
    assert marketing_accepted(client=client) is True
