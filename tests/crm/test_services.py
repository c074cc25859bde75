"""The core services: validation before any write, audit rows, events, notifications, API keys."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from crm.audit import verify_chain
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.phone import phone_normalise
from crm.lib.validation import InvalidValue
from crm.models import AccessEvent, ApiKey, AuditLog, Client, Event, Notification, RoleCode, Stage, Task
from crm.registry import API_SCOPES
from crm.services import (
    client_assign,
    client_contact_reveal,
    client_create,
    client_stage_change,
    client_update,
    client_view_record,
    note_add,
    notification_mark_read,
    notification_send,
    task_complete,
    task_create,
    task_reminders_send,
    task_reopen,
    task_reschedule,
    user_create,
    user_update_preferences,
)
from integrations.services import apikey_authenticate, apikey_create, apikey_revoke
from plumbing import context
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db

RAW_EMAIL = "John.Smith@Example.COM"
RAW_PHONE = "020 7183 8750"
E164 = "+442071838750"


@pytest.fixture
def brand():
    return make_brand()


@pytest.fixture
def desk(brand):
    return make_desk(brand=brand)


@pytest.fixture
def agent(desk):
    return make_user(role_code=RoleCode.SALES_AGENT, desk=desk)


@pytest.fixture
def client(agent):
    return make_client(actor=agent, first_name="John", last_name="Smith", email=RAW_EMAIL, phone=RAW_PHONE,
                       country="gb")


def _counts():
    return Client.objects.count(), AuditLog.objects.count(), Event.objects.count()


def _all_audit_text():
    return " ".join(str(row) for row in AuditLog.objects.values_list("before", "after"))


# --- phone and field normalisation ------------------------------------------------------------

@pytest.mark.parametrize("raw", ["020 7183 8750", "+44 20 7183 8750", "0044 20 7183 8750", "(020) 7183-8750"])
def test_phone_is_stored_in_e164_using_the_country_as_hint(raw):
    assert phone_normalise(raw, region="GB") == E164


def test_phone_without_country_code_or_hint_names_the_field():
    with pytest.raises(InvalidValue) as exc:
        phone_normalise("020 7183 8750", region=None, field="mobile")
    assert exc.value.field == "mobile"
    assert "country" in exc.value.message


def test_impossible_phone_is_rejected():
    with pytest.raises(InvalidValue):
        phone_normalise("+44 12", region=None)


def test_phone_checked_against_its_own_country_is_judged_as_phonenumbers_judges_it():
    """phone_normalise recognises landlines and mobiles of the country's own plan before asking
    phonenumbers about the rarer kinds: for every region, its example numbers of every kind and
    numbers a digit away from them (some valid, some not) get the same verdict as phonenumbers'."""
    import random

    import phonenumbers

    from crm.lib.phone import _valid_in_region

    rng = random.Random(7)
    checked = disagreements = 0
    valid = set()
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
                     phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.PREMIUM_RATE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            digits = phonenumbers.national_significant_number(example)
            for variant in (digits, digits[:-1], digits + "5",
                            *(digits[:i] + rng.choice("0123456789") + digits[i + 1:] for i in range(len(digits)))):
                number = phonenumbers.parse(f"+{example.country_code}{variant}", region)
                verdict = phonenumbers.is_valid_number_for_region(number, region)
                checked += 1
                valid.add(verdict)
                disagreements += _valid_in_region(number, region) != verdict
    assert checked > 5000 and valid == {True, False}
    assert disagreements == 0


def test_client_create_normalises_contact_fields(client):
    assert client.phone == E164
    assert client.email == "john.smith@example.com"
    assert client.country == "GB"


def test_client_create_reports_every_bad_field_and_writes_nothing(brand, agent):
    before = _counts()
    with pytest.raises(ValidationFailed) as exc:
        client_create(actor=agent, brand=brand, first_name=" ", email="not-an-email", phone="12",
                      country="XX", language="english", timezone="Mars/Base", date_of_birth=date(2999, 1, 1))
    assert set(exc.value.fields) == {"first_name", "email", "phone", "country", "language", "timezone",
                                     "date_of_birth"}
    assert exc.value.code == "invalid"
    assert _counts() == before


def test_client_create_with_unparsable_phone_names_phone(brand, agent):
    with pytest.raises(ValidationFailed) as exc:
        client_create(actor=agent, brand=brand, first_name="Ann", phone="0123", country="DE")
    assert list(exc.value.fields) == ["phone"]
    assert not Client.objects.filter(first_name="Ann").exists()


def test_client_create_accepts_language_and_timezone_in_any_case(brand, agent):
    created = client_create(actor=agent, brand=brand, first_name="Ann", language="pt-BR", timezone="europe/london",
                            tags=["VIP", " vip ", "Whale"])
    assert (created.language, created.timezone, created.tags) == ("pt-br", "Europe/London", ["vip", "whale"])


def test_client_create_emits_event_and_masked_audit_row(client, agent):
    event = Event.objects.get(client=client, name="client.created")
    assert event.actor == agent
    assert event.data["stage"] == Stage.LEAD
    assert event.data["owner"]["code"] == str(agent.code)
    row = AuditLog.objects.get(action="client.create", object_id=str(client.code))
    assert row.after["email"] == "j***@example.com"
    assert row.after["phone"] == "+44*******750"
    assert "john.smith@" not in _all_audit_text() and "2071838750" not in _all_audit_text()
    assert verify_chain().ok


def test_agent_who_creates_a_client_owns_it_on_their_desk(client, agent, desk):
    assert client.owner == agent
    assert client.desk == desk


def test_agent_cannot_create_client_for_a_brand_they_do_not_work_for(agent):
    with pytest.raises(ValidationFailed) as exc:
        client_create(actor=agent, brand=make_brand(), first_name="Ann")
    assert "brand" in exc.value.fields


def test_owner_from_another_brand_is_refused(brand, desk):
    with pytest.raises(ValidationFailed) as exc:
        client_create(actor=None, brand=brand, first_name="Ann", owner=make_user(brand=make_brand()))
    assert "owner" in exc.value.fields


def test_dealer_cannot_create_clients(brand):
    dealer = make_user(role_code=RoleCode.DEALER, brand=brand)
    with pytest.raises(NotAllowed):
        client_create(actor=dealer, brand=brand, first_name="Ann")


# --- update, stage, assignment ---------------------------------------------------------------

def test_client_update_records_old_and_new_values(client, agent):
    client_update(actor=agent, client=client, reason="typo", first_name="Jon", utm_source="google")
    client.refresh_from_db()
    assert client.first_name == "Jon"
    event = Event.objects.get(client=client, name="client.updated")
    assert event.data["fields"] == ["first_name", "utm_source"]
    assert event.data["changes"]["first_name"] == {"old": "John", "new": "Jon"}
    assert event.data["reason"] == "typo"
    row = AuditLog.objects.get(action="client.update")
    assert row.before == {"first_name": "John", "utm_source": ""}
    assert row.reason == "typo"


def test_client_update_masks_contact_data_in_event_and_audit(client, agent):
    client_update(actor=agent, client=client, email="new.address@example.org", phone="+4915112345678")
    event = Event.objects.get(client=client, name="client.updated")
    assert event.data["changes"]["email"] == {"old": "j***@example.com", "new": "n***@example.org"}
    assert "new.address" not in str(event.data) and "15112345678" not in str(event.data)
    assert "new.address" not in _all_audit_text()


def test_client_update_normalises_phone_with_the_clients_country(client, agent):
    client_update(actor=agent, client=client, phone="020 7946 0018")
    assert client.phone == "+442079460018"


def test_client_update_uses_the_new_country_for_a_new_phone(client, agent):
    client_update(actor=agent, client=client, country="DE", phone="0151 12345678")
    assert (client.country, client.phone) == ("DE", "+4915112345678")


def test_client_update_with_bad_phone_changes_nothing(client, agent):
    before = _counts()
    with pytest.raises(ValidationFailed) as exc:
        client_update(actor=agent, client=client, first_name="Jon", phone="12")
    assert list(exc.value.fields) == ["phone"]
    client.refresh_from_db()
    assert client.first_name == "John"
    assert _counts() == before


def test_client_update_refuses_fields_with_their_own_service(client, agent):
    with pytest.raises(ValidationFailed) as exc:
        client_update(actor=agent, client=client, stage=Stage.FUNDED, owner=None)
    assert set(exc.value.fields) == {"stage", "owner"}


def test_client_update_without_change_writes_nothing(client, agent):
    before = _counts()
    client_update(actor=agent, client=client, first_name="John", email="JOHN.SMITH@example.com")
    assert _counts() == before


def test_stage_change_records_from_and_to(client, agent):
    client_stage_change(actor=agent, client=client, stage=Stage.REGISTERED, reason="signed up")
    assert client.stage == Stage.REGISTERED and client.stage_changed_at is not None
    event = Event.objects.get(client=client, name="client.stage_changed")
    assert event.data == {"from": "lead", "to": "registered", "reason": "signed up", "via": "move"}


def test_stage_change_rejects_unknown_stage(client, agent):
    with pytest.raises(ValidationFailed) as exc:
        client_stage_change(actor=agent, client=client, stage="vip")
    assert "stage" in exc.value.fields


def test_reopening_a_closed_client_needs_a_reason(client, agent):
    client_stage_change(actor=agent, client=client, stage=Stage.CLOSED)
    with pytest.raises(ValidationFailed) as exc:
        client_stage_change(actor=agent, client=client, stage=Stage.LEAD)
    assert "reason" in exc.value.fields
    client_stage_change(actor=agent, client=client, stage=Stage.LEAD, reason="came back")
    assert client.stage == Stage.LEAD


def test_assign_moves_client_to_new_owner_and_their_desk_and_notifies_them(client, brand):
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand)
    other_desk = make_desk(brand=brand, manager=manager)  # a desk this manager runs
    new_owner = make_user(role_code=RoleCode.RETENTION_AGENT, desk=other_desk)
    client_assign(actor=manager, client=client, owner=new_owner, reason="retention")
    assert (client.owner, client.desk) == (new_owner, other_desk)
    event = Event.objects.get(client=client, name="client.assigned")
    assert event.data["owner"]["to"]["code"] == str(new_owner.code)
    assert event.data["desk"]["to"]["name"] == other_desk.name
    assert Notification.objects.filter(user=new_owner, kind="client_assigned").count() == 1


def test_agent_cannot_reassign_clients(client, agent, desk):
    colleague = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    with pytest.raises(NotAllowed):
        client_assign(actor=agent, client=client, owner=colleague)


def test_assign_to_user_of_another_brand_is_refused(client, brand):
    admin = make_user(role_code=RoleCode.ADMIN)
    with pytest.raises(ValidationFailed) as exc:
        client_assign(actor=admin, client=client, owner=make_user(brand=make_brand()))
    assert "owner" in exc.value.fields


# --- access events and reveals ---------------------------------------------------------------

def test_view_is_recorded_with_request_details(client, agent):
    with context.acting(context.ActorContext(user=agent, ip="203.0.113.9", user_agent="pytest",
                                             request_id="req-12345678", source="web")):
        client_view_record(actor=agent, client=client)
    event = AccessEvent.objects.get(client=client)
    assert (event.user, event.kind, event.ip, event.user_agent, event.request_id) == (
        agent, "view", "203.0.113.9", "pytest", "req-12345678")


def test_reveal_returns_the_phone_and_is_recorded(client, agent):
    with context.acting(context.ActorContext(user=agent, ip="203.0.113.9", request_id="req-abcdefgh")):
        assert client_contact_reveal(actor=agent, client=client, field="phone") == E164
    access = AccessEvent.objects.get(client=client, kind="reveal_phone")
    assert (access.user, access.ip, access.request_id) == (agent, "203.0.113.9", "req-abcdefgh")
    row = AuditLog.objects.get(action="client.reveal_contact")
    assert row.after == {"field": "phone"}
    assert row.actor_id == agent.pk


def test_user_without_reveal_permission_cannot_reveal(client, brand):
    dealer = make_user(role_code=RoleCode.DEALER, brand=brand)
    with pytest.raises(NotAllowed):
        client_contact_reveal(actor=dealer, client=client, field="email")
    assert not AccessEvent.objects.exists()


def test_reveal_of_other_fields_is_refused(client, agent):
    with pytest.raises(ValidationFailed) as exc:
        client_contact_reveal(actor=agent, client=client, field="date_of_birth")
    assert "field" in exc.value.fields


# --- notes and tasks -------------------------------------------------------------------------

def test_note_add_puts_an_excerpt_on_the_timeline(client, agent):
    note = note_add(actor=agent, client=client, body="  Called,\n wants a demo account.  " + "x" * 300)
    assert note.body.startswith("Called,")
    event = Event.objects.get(client=client, name="note.added")
    assert event.data["note"] == str(note.code)
    assert event.data["excerpt"].startswith("Called, wants a demo account.")
    assert len(event.data["excerpt"]) <= 200


def test_empty_note_is_refused(client, agent):
    with pytest.raises(ValidationFailed) as exc:
        note_add(actor=agent, client=client, body="   ")
    assert "body" in exc.value.fields


def test_task_for_someone_else_notifies_them(client, agent, desk, brand):
    manager = make_user(role_code=RoleCode.DESK_MANAGER, desk=desk)
    task = task_create(actor=manager, title="Call back", assignee=agent, client=client,
                       due_at=timezone.now() + timedelta(days=1))
    notification = Notification.objects.get(user=agent)
    assert (notification.kind, notification.body) == ("task_assigned", "Call back")
    event = Event.objects.get(client=client, name="task.created")
    assert event.data["task"] == str(task.code) and event.data["title"] == "Call back"


def test_own_task_sends_no_notification(client, agent):
    task_create(actor=agent, title="Call back", assignee=agent, client=client)
    assert not Notification.objects.filter(user=agent).exists()


def test_task_for_someone_who_cannot_see_the_client_is_refused(client, agent, desk):
    colleague = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    with pytest.raises(ValidationFailed) as exc:
        task_create(actor=agent, title="Call back", assignee=colleague, client=client)
    assert "assignee" in exc.value.fields
    assert not Task.objects.exists()


def test_task_times_must_be_aware_and_remind_before_due(agent):
    with pytest.raises(ValidationFailed) as exc:
        task_create(actor=agent, title="X", assignee=agent, due_at=datetime(2030, 1, 1))  # noqa: DTZ001
    assert "due_at" in exc.value.fields
    due = timezone.now() + timedelta(hours=1)
    with pytest.raises(ValidationFailed) as exc:
        task_create(actor=agent, title="X", assignee=agent, due_at=due, remind_at=due + timedelta(minutes=5))
    assert "remind_at" in exc.value.fields


def test_task_times_from_another_decade_are_refused_in_words(agent):
    for year in (1999, 9999):
        moment = datetime(year, 6, 1, 9, 0, tzinfo=UTC)
        with pytest.raises(ValidationFailed) as exc:
            task_create(actor=agent, title="Typo", assignee=agent, due_at=moment)
        assert "due_at" in exc.value.fields and "year" in exc.value.fields["due_at"][0]
        with pytest.raises(ValidationFailed) as exc:
            task_create(actor=agent, title="Typo", assignee=agent, remind_at=moment)
        assert "remind_at" in exc.value.fields
    assert not Task.objects.filter(title="Typo").exists()
    # Logged as already overdue, or due next year: fine.
    late = task_create(actor=agent, title="Call back", assignee=agent, due_at=timezone.now() - timedelta(days=2))
    with pytest.raises(ValidationFailed) as exc:
        task_reschedule(actor=agent, task=late, due_at=datetime(9999, 1, 1, tzinfo=UTC), remind_at=None)
    assert "due_at" in exc.value.fields
    late.refresh_from_db()
    assert late.due_at < timezone.now()


def test_complete_and_reopen_are_recorded_once(client, agent):
    task = task_create(actor=agent, title="Call back", assignee=agent, client=client)
    task_complete(actor=agent, task=task)
    task_complete(actor=agent, task=task)
    assert task.done_at is not None and task.done_by == agent
    task_reopen(actor=agent, task=task)
    assert task.done_at is None
    names = list(Event.objects.filter(client=client, name__startswith="task.").order_by("id")
                 .values_list("name", flat=True))
    assert names == ["task.created", "task.completed", "task.reopened"]


def test_reminders_are_sent_once_for_due_open_tasks(agent):
    now = timezone.now()
    due = task_create(actor=agent, title="Due", assignee=agent, remind_at=now - timedelta(minutes=1))
    task_create(actor=agent, title="Later", assignee=agent, remind_at=now + timedelta(hours=1))
    done = task_create(actor=agent, title="Done", assignee=agent, remind_at=now - timedelta(minutes=1))
    task_complete(actor=agent, task=done)
    assert task_reminders_send(now=now) == 1
    assert task_reminders_send(now=now) == 0
    reminder = Notification.objects.get(user=agent, kind="task_reminder")
    assert reminder.body == "Due"
    due.refresh_from_db()
    assert due.reminded_at == now


# --- notifications ---------------------------------------------------------------------------

def test_mark_read_touches_only_the_users_own_notifications(agent):
    other = make_user()
    mine = [notification_send(user=agent, kind="info", title=f"n{i}") for i in range(3)]
    theirs = notification_send(user=other, kind="info", title="theirs")
    assert notification_mark_read(user=agent, ids=[mine[0].pk, theirs.pk]) == 1
    assert notification_mark_read(user=agent) == 2
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_notification_links_stay_inside_the_crm(agent):
    with pytest.raises(ValidationFailed) as exc:
        notification_send(user=agent, kind="info", title="x", url="https://evil.example/")
    assert "url" in exc.value.fields
    with pytest.raises(ValidationFailed):
        notification_send(user=agent, kind="info", title="x", url="//evil.example/")


# --- API keys --------------------------------------------------------------------------------

@pytest.fixture
def admin():
    return make_user(role_code=RoleCode.ADMIN)


def test_api_key_is_shown_once_and_stored_hashed(admin, brand):
    key, raw = apikey_create(actor=admin, brand=brand, name="Landing pages", scopes=["clients:write"])
    assert re.fullmatch(r"crm_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{32,}", raw)
    assert raw.split("_")[1] == key.prefix
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert raw not in str(stored)
    assert raw.split("_", 2)[2] not in _all_audit_text()


def test_api_key_with_unknown_scope_is_refused(admin, brand):
    with pytest.raises(ValidationFailed) as exc:
        apikey_create(actor=admin, brand=brand, name="x", scopes=["clients:read", "root"])
    assert "scopes" in exc.value.fields
    assert not ApiKey.objects.exists()


def test_api_key_needs_the_permission(agent, brand):
    with pytest.raises(NotAllowed):
        apikey_create(actor=agent, brand=brand, name="x", scopes=[str(c) for c in API_SCOPES.keys()])


def test_api_key_authenticates_until_revoked(admin, brand):
    key, raw = apikey_create(actor=admin, brand=brand, name="x", scopes=["clients:read"])
    assert apikey_authenticate(raw) == key
    assert apikey_authenticate(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert apikey_authenticate("Bearer nonsense") is None
    apikey_revoke(actor=admin, key=key)
    assert apikey_authenticate(raw) is None
    assert AuditLog.objects.filter(action="apikey.revoke", object_id=str(key.pk)).exists()


def test_api_key_use_is_recorded_at_most_once_a_minute(admin, brand):
    key, raw = apikey_create(actor=admin, brand=brand, name="x", scopes=["clients:read"])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        apikey_authenticate(raw)
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        apikey_authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        apikey_authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at == start + timedelta(seconds=61)


# --- staff users -----------------------------------------------------------------------------

def test_user_create_joins_the_role_group(brand):
    user = user_create(actor=None, email="New.Agent@Example.com", full_name="New Agent",
                       role_code=RoleCode.SALES_AGENT, brands=[brand])
    assert user.email == "new.agent@example.com"
    assert user.groups.filter(crm_role__code=RoleCode.SALES_AGENT).exists()
    assert not user.has_usable_password()
    assert AuditLog.objects.filter(action="user.create", object_id=str(user.code)).exists()


def test_user_create_refuses_duplicate_email_weak_password_and_foreign_desk(brand):
    make_user(email="taken@example.com")
    with pytest.raises(ValidationFailed) as exc:
        user_create(actor=None, email="TAKEN@example.com", full_name="X", role_code="wizard",
                    password="password", desk=make_desk(brand=make_brand()), brands=[brand])
    assert set(exc.value.fields) == {"email", "role_code", "desk"}
    with pytest.raises(ValidationFailed) as exc:
        user_create(actor=None, email="fresh@example.com", full_name="X", role_code=RoleCode.DEALER,
                    password="password", brands=[brand])
    assert "password" in exc.value.fields


def test_agent_cannot_create_staff(agent):
    with pytest.raises(NotAllowed):
        user_create(actor=agent, email="x@example.com", full_name="X", role_code=RoleCode.ADMIN)


def test_preferences_are_validated(agent):
    with pytest.raises(ValidationFailed) as exc:
        user_update_preferences(user=agent, language="xx", timezone="Nowhere/City")
    assert set(exc.value.fields) == {"language", "timezone"}
    user_update_preferences(user=agent, language="ar", timezone="asia/dubai")
    agent.refresh_from_db()
    assert (agent.language, agent.timezone) == ("ar", "Asia/Dubai")


# --- selectors used with these services --------------------------------------------------------

def test_masks_hide_contact_data():
    from crm.selectors import mask_email, mask_phone

    assert mask_email("john.smith@example.com") == "j***@example.com"
    assert mask_email("") == "" and mask_phone("") == ""
    assert mask_phone(E164) == "+44*******750"
    assert "2071838" not in mask_phone(E164)


def test_timeline_pages_back_from_an_event(client, agent):
    from crm.selectors import client_timeline

    for i in range(4):
        note_add(actor=agent, client=client, body=f"note {i}")
    first = client_timeline(client=client, limit=3)
    assert [e.data.get("excerpt") for e in first] == ["note 3", "note 2", "note 1"]
    rest = client_timeline(client=client, before_id=first[-1].pk, limit=3)
    assert [e.name for e in rest] == ["note.added", "client.created"]
    assert client_timeline(client=client, before_id=10**9) == []


def test_task_list_statuses(agent):
    from crm.selectors import task_list_for_user

    now = timezone.now()
    overdue = task_create(actor=agent, title="Overdue", assignee=agent, due_at=now - timedelta(hours=1))
    upcoming = task_create(actor=agent, title="Upcoming", assignee=agent, due_at=now + timedelta(hours=1))
    undated = task_create(actor=agent, title="Undated", assignee=agent)
    done = task_complete(actor=agent, task=task_create(actor=agent, title="Done", assignee=agent))
    task_create(actor=agent, title="Someone else's", assignee=make_user(brand=agent.brands.first()))

    def titles(status):
        return [t.title for t in task_list_for_user(user=agent, status=status)]

    assert titles("open") == [overdue.title, upcoming.title, undated.title]
    assert titles("overdue") == [overdue.title]
    assert titles("done") == [done.title]
    assert titles("all") == [overdue.title, upcoming.title, undated.title, done.title]
    assert titles("bogus") == titles("open")


def test_unread_count_and_list(agent):
    from crm.selectors import notification_list, notification_unread_count

    for i in range(3):
        notification_send(user=agent, kind="info", title=f"n{i}")
    assert notification_unread_count(user=agent) == 3
    assert [n.title for n in notification_list(user=agent, limit=2)] == ["n2", "n1"]
    notification_mark_read(user=agent)
    assert notification_unread_count(user=agent) == 0


def test_names_with_the_invisible_characters_that_would_disguise_them_are_refused(brand, agent):
    # U+202E makes "live" display as "evil"; isolates and marks reorder what follows them.
    for first, last in (("\u202elive", "Haddad"), ("Lina", "Had\u2066dad\u2069")):
        with pytest.raises(ValidationFailed) as refused:
            client_create(actor=agent, brand=brand, first_name=first, last_name=last)
        assert "direction control" in " ".join(refused.value.fields["first_name" if "\u202e" in first else "last_name"])
    created = client_create(actor=agent, brand=brand, first_name="Lina", last_name="Haddad")
    with pytest.raises(ValidationFailed):
        client_update(actor=agent, client=created, first_name="\u200fأحمد\u202c")
    with pytest.raises(ValidationFailed) as refused:
        user_create(actor=make_user(role_code=RoleCode.ADMIN), email="new.agent@staff.example.com",
                    full_name="\u202dEve Agent", role_code=RoleCode.SALES_AGENT, desk=agent.desk, brands=[brand])
    assert "full_name" in refused.value.fields
    # Longer text keeps them (a quoted Arabic sentence may need a mark); the pages isolate it instead.
    note = note_add(actor=agent, client=created, body="see \u202eabc")
    assert note.body == "see \u202eabc"
