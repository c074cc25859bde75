"""lead_intake and lead_intake_batch: validation field by field, dedupe, touches, events, audit."""

from __future__ import annotations

import pytest

from crm.exceptions import ValidationFailed
from crm.lib.fieldcrypt import keyed_hash
from crm.models import AuditLog, Client, Event, Notification
from leads.intake import IntakeMeta
from leads.models import Campaign, Channel, ContactKey, LeadContactState, LeadScore, LeadTouch
from leads.services import campaign_save, lead_intake, lead_intake_batch
from tests.factories import make_client
from tests.leads.conftest import lead_data

pytestmark = pytest.mark.django_db


def test_a_new_lead_becomes_a_client_with_a_touch_keys_score_and_an_owner(world):
    meta = IntakeMeta(ip="203.0.113.9", user_agent="Mozilla/5.0", default_source="landing")
    result = lead_intake(brand=world.brand, channel=Channel.API, meta=meta, data=lead_data(
        1, email="  Amira.1@Example.COM ", phone="020 7000 0001", utm_source="google", utm_campaign="spring",
        click_id="gclid-1", referrer_code="IB42", landing_page="https://acme.example/start"))
    assert result.status == "created"
    client = Client.objects.get(pk=result.client.pk)
    assert (client.email, client.phone, client.country) == ("amira.1@example.com", "+442070000001", "GB")
    assert client.owner in world.agents and client.desk == world.desk
    assert (client.source, client.campaign, client.utm_source, client.referrer_code) == ("landing", "spring", "google", "IB42")
    touch = LeadTouch.objects.get(client=client)
    assert (touch.channel, touch.is_repeat, touch.click_id, str(touch.ip)) == ("api", False, "gclid-1", "203.0.113.9")
    assert touch.landing_page == "https://acme.example/start" and touch.user_agent == "Mozilla/5.0"
    # Stored as keyed hashes, never in clear.
    assert set(ContactKey.objects.filter(client=client).values_list("kind", "value")) == {
        ("email", keyed_hash("amira.1@example.com", kind="email")), ("phone", keyed_hash("+442070000001", kind="phone"))}
    assert LeadScore.objects.get(client=client).score == 0
    assert LeadContactState.objects.get(client=client).owner == client.owner
    names = list(Event.objects.filter(client=client).order_by("id").values_list("name", flat=True))
    assert names == ["client.created", "lead.routed"]
    created = Event.objects.get(client=client, name="client.created")
    assert created.data["channel"] == "api" and created.data["touch"] == str(touch.code) and created.data["via"] == "lead_intake"
    routed = Event.objects.get(client=client, name="lead.routed")
    assert routed.data["rule"]["name"] == "Everyone else" and routed.data["owner"]["code"] == str(client.owner.code)
    assert Notification.objects.filter(user=client.owner, kind="client_assigned").count() == 1
    audit = AuditLog.objects.get(action="lead.intake")
    assert audit.object_id == str(client.code) and audit.after["email"] == "a***@example.com"
    # One "+" history row, a copy of the client as stored.
    record = client.history.get()
    assert (record.history_type, record.code, record.email, record.owner_id, record.desk_id, record.source) == (
        "+", client.code, client.email, client.owner_id, client.desk_id, "landing")
    assert record.history_date == client.created_at and record.history_user is None


def test_a_known_campaign_code_links_the_touch_to_the_campaign(world):
    campaign = campaign_save(actor=world.admin, brand=world.brand, code="Spring-Promo", name="Spring promo")
    assert campaign.code == "spring-promo"
    result = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(2, campaign="SPRING-PROMO"))
    assert result.touch.campaign == campaign
    assert Campaign.objects.count() == 1


def test_a_campaign_name_with_a_direction_control_is_refused_by_name(world):
    from crm.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        campaign_save(actor=world.admin, brand=world.brand, code="spring", name="Spring \u202eomorp")
    assert "direction control" in refused.value.fields["name"][0]
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"first_name": ""}, "first_name", "This field is required."),
    ({"last_name": "   "}, "last_name", "This field is required."),
    ({"email": "not-an-email"}, "email", "Enter a valid email address."),
    ({"email": ""}, "email", "This field is required."),
    ({"phone": "12"}, "phone", "Enter a valid phone number."),
    ({"phone": "+44 20 7000"}, "phone", "Enter a valid phone number."),
    ({"country": "Narnia"}, "country", "Enter a two-letter ISO country code, such as GB or DE."),
    ({"experience": "guru"}, "experience", "Choose one of: none, some, experienced, professional."),
    ({"deposit_intent": "lots"}, "deposit_intent", "Enter an amount, such as 5000."),
    ({"deposit_intent": "5e3"}, "deposit_intent", "Enter an amount, such as 5000."),  # the one grammar of amounts
    ({"deposit_intent": "\u0665\u0660\u0660\u0660"}, "deposit_intent", "Enter an amount, such as 5000."),
    ({"deposit_intent": "5,000"}, "deposit_intent", "Enter an amount, such as 5000."),
])
def test_bad_input_is_refused_field_by_field_and_nothing_is_written(world, overrides, field, message):
    with pytest.raises(ValidationFailed) as caught:
        lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(3, **overrides))
    assert message in caught.value.fields[field]
    assert not Client.objects.exists() and not LeadTouch.objects.exists() and not ContactKey.objects.exists()


def test_every_bad_field_is_named_at_once(world):
    with pytest.raises(ValidationFailed) as caught:
        lead_intake(brand=world.brand, channel=Channel.API, data={"first_name": "A", "email": "x@", "phone": "abc"})
    assert set(caught.value.fields) == {"last_name", "email", "phone", "country"}


def test_the_web_form_requires_consent_and_records_its_version(world):
    with pytest.raises(ValidationFailed) as caught:
        lead_intake(brand=world.brand, channel=Channel.FORM, data=lead_data(4))
    assert set(caught.value.fields) == {"consent"}
    result = lead_intake(brand=world.brand, channel=Channel.FORM, data=lead_data(4, consent="on"),
                         meta=IntakeMeta(consent_text_version="2025-01"))
    assert result.touch.consent_given and result.touch.consent_text_version == "2025-01"
    assert result.touch.consent_at is not None


def test_a_repeat_registration_is_a_new_touch_on_the_same_client(world):
    first = lead_intake(brand=world.brand, channel=Channel.FORM, data=lead_data(5, consent=True))
    again = lead_intake(brand=world.brand, channel=Channel.API,
                        data=lead_data(5, email="AMIRA.5@example.com", first_name="Someone", utm_source="fb"))
    assert again.status == "duplicate" and again.client.pk == first.client.pk
    assert Client.objects.count() == 1
    assert list(LeadTouch.objects.filter(client=first.client).order_by("id").values_list("is_repeat", flat=True)) == [False, True]
    touched = Event.objects.get(name="lead.touched")
    assert touched.data["channel"] == "api" and touched.client_id == first.client.pk
    owner = first.client.owner
    assert Notification.objects.filter(user=owner, kind="lead_returned").count() == 1


def test_the_same_phone_with_another_email_is_the_same_person(world):
    first = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(6))
    again = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(6, email="other@example.com",
                                                                               phone="02070000006"))
    assert again.status == "duplicate" and again.client.pk == first.client.pk


def test_the_same_person_in_another_brand_is_another_client(world):
    from tests.factories import make_brand

    other = make_brand()
    a = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(7))
    b = lead_intake(brand=other, channel=Channel.API, data=lead_data(7))
    assert b.status == "created" and a.client.pk != b.client.pk


def test_a_client_created_by_staff_is_found_by_its_email(world):
    staff_made = make_client(actor=world.agents[0], brand=world.brand, email="known@example.com")
    result = lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(8, email="Known@example.com"))
    assert result.status == "duplicate" and result.client.pk == staff_made.pk
    # Its key is written on the way, and the phone the lead brought fills the blank.
    staff_made.refresh_from_db()
    assert staff_made.phone == "+442070000008"
    assert set(ContactKey.objects.filter(client=staff_made).values_list("kind", flat=True)) == {"email", "phone"}


def test_a_batch_writes_good_rows_and_reports_bad_ones_field_by_field(world):
    items = [lead_data(10), {"first_name": "Bad"}, lead_data(11, email="broken@"), lead_data(12),
             lead_data(10, first_name="Again")]
    results = lead_intake_batch(brand=world.brand, channel=Channel.API, items=items)
    assert [r.status for r in results] == ["created", "invalid", "invalid", "created", "duplicate"]
    assert set(results[1].errors) == {"last_name", "email", "phone", "country"}
    assert results[2].errors == {"email": ["Enter a valid email address."]}
    assert results[4].client.pk == results[0].client.pk
    assert Client.objects.count() == 2 and LeadTouch.objects.count() == 3
    audit = AuditLog.objects.get(action="lead.intake_batch")
    assert set(audit.after["created"]) == {str(results[0].client.code), str(results[3].client.code)}


def test_a_batch_spreads_leads_over_the_desk_and_sends_one_notification_per_agent(world):
    results = lead_intake_batch(brand=world.brand, channel=Channel.API, items=[lead_data(20 + i) for i in range(6)])
    owners = [r.client.owner for r in results]
    assert {a.pk: owners.count(a) for a in world.agents} == {a.pk: 2 for a in world.agents}
    for agent in world.agents:
        notes = Notification.objects.filter(user=agent, kind="client_assigned")
        assert notes.count() == 1 and notes.get().title == "2 new leads were assigned to you"


def test_a_batch_written_in_several_chunks_stores_every_lead_whole(world, monkeypatch):
    """A batch bigger than one chunk is sent to PostgreSQL a chunk at a time without waiting: the
    rotation runs on across chunks, a repeat in a later chunk of someone new in an earlier one is a
    touch on that client, and the notifications count the whole batch."""
    monkeypatch.setattr("leads.services.intake.INTAKE_CHUNK", 4)
    monkeypatch.setattr("leads.services.intake.INTAKE_FIRST_CHUNK", 2)  # chunks of 2, 4, 4 and 1
    items = [lead_data(40 + i) for i in range(11)] + [lead_data(41, first_name="Again"), {"first_name": "Bad"}]
    results = lead_intake_batch(brand=world.brand, channel=Channel.API, items=items)
    assert [r.status for r in results] == ["created"] * 11 + ["duplicate", "invalid"]
    assert results[11].client.pk == results[1].client.pk
    clients = Client.objects.filter(brand=world.brand)
    assert clients.count() == 11
    owners = [c.owner_id for c in clients.order_by("id")]
    assert owners == [world.agents[i % 3].pk for i in range(11)]
    for client in clients:
        assert LeadTouch.objects.filter(client=client).count() == (2 if client.pk == results[1].client.pk else 1)
        assert LeadScore.objects.filter(client=client).exists()
        assert LeadContactState.objects.get(client=client).owner_id == client.owner_id
        assert set(Event.objects.filter(client=client).values_list("name", flat=True)) >= {"client.created",
                                                                                            "lead.routed"}
        assert client.history.filter(history_type="+").count() == 1
    titles = sorted(Notification.objects.filter(kind="client_assigned").values_list("title", flat=True))
    assert titles == ["3 new leads were assigned to you"] + ["4 new leads were assigned to you"] * 2


def test_a_chunk_that_fails_in_the_database_leaves_nothing_of_the_batch(world, monkeypatch):
    """The chunks are sent without waiting, so a chunk's failure surfaces later: it still fails the
    whole batch, names the database's error, and leaves no client, touch or event behind."""
    from django.db import IntegrityError, connection

    from leads.services import intake_rows

    monkeypatch.setattr("leads.services.intake.INTAKE_CHUNK", 4)
    monkeypatch.setattr("leads.services.intake.INTAKE_FIRST_CHUNK", 2)  # chunks of 2, 4 and 4
    real = intake_rows._touch_values

    def values(brand, client_id, lead, *args, **kwargs):
        row = real(brand, client_id, lead, *args, **kwargs)
        if lead.last_name == "Haddad55":  # in the second chunk: a campaign that does not exist
            row["campaign_id"] = 987654
        return row

    monkeypatch.setattr(intake_rows, "_touch_values", values)
    with pytest.raises(IntegrityError, match="campaign_id"):
        lead_intake_batch(brand=world.brand, channel=Channel.API, items=[lead_data(50 + i) for i in range(10)])
    assert not Client.objects.filter(brand=world.brand).exists()
    assert not LeadTouch.objects.exists() and not Event.objects.filter(name="client.created").exists()
    # The connection is usable again, and foreign keys are checked at commit as before.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
        assert cursor.fetchone()[0] > 0
    monkeypatch.setattr(intake_rows, "_touch_values", real)
    results = lead_intake_batch(brand=world.brand, channel=Channel.API, items=[lead_data(50 + i) for i in range(10)])
    assert [r.status for r in results] == ["created"] * 10


def test_an_inactive_brand_takes_no_leads(world):
    world.brand.is_active = False
    world.brand.save()
    with pytest.raises(ValidationFailed) as caught:
        lead_intake(brand=world.brand, channel=Channel.API, data=lead_data(30))
    assert "brand" in caught.value.fields
