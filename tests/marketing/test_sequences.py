"""Email sequences (drips), across days on a frozen clock: a client who registers in the trader's
room is enrolled, gets the first reminder a day later and the second three days after registering,
and leaves the sequence when verified (the third step is never sent); a client is in a sequence once;
without consent no step is sent (and that is recorded); an unsubscribe mid-sequence ends it. Built
through the services: the portal's registration, the KYC checks' approval, the unsubscribe link as a
mail client posts it, the minute's task as beat runs it."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from crm.events import dispatch_pending
from crm.models import RoleCode
from emails.models import OutboundEmail
from marketing.sequence_models import EnrollmentStatus, SequenceEnrollment, SequenceGoal, SequenceTrigger
from marketing.sequences import (
    StepText,
    sequence_pause,
    sequence_resume,
    sequence_save,
    sequence_step_counts,
    sequences_send_due,
)
from marketing.tasks import campaigns_start_due
from tests.factories import make_brand, make_user

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
PASSWORD = "tidal-compass-8153"


@pytest.fixture(autouse=True)
def _dirs(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    settings.PORTAL_LOGIN_RATE_LIMIT = "1000/m"


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def world(clock) -> Any:
    brand = make_brand(name="Aurora")
    marketer = make_user(role_code=RoleCode.MARKETING, brand=brand, full_name="Mia Marketer")
    sequence = sequence_save(
        actor=marketer,
        brand=brand,
        name="Verify your account",
        trigger=SequenceTrigger.REGISTERED,
        goal=SequenceGoal.KYC_VERIFIED,
        steps=[
            StepText(24, "Welcome {{ client.first_name }}", "Verify your account to start trading."),
            StepText(72, "Still waiting, {{ client.first_name }}", "Two documents and you are done."),
            StepText(168, "Last reminder", "Your account waits for your documents."),
        ],
    )
    return brand, marketer, sequence


_n = [0]


def register(brand: Any, *, marketing: bool = True) -> Any:
    """A person registers in the trader's room (their email consent as ticked there)."""
    from portal.models import ConsentDocument, ConsentKind
    from portal.services import portal_email_verify, portal_register, verification_token

    for kind in ConsentKind.values:
        ConsentDocument.objects.get_or_create(brand=brand, kind=kind, version="1", language="en",
                                              defaults={"title": f"{kind} v1"})
    _n[0] += 1
    login = portal_register(brand=brand, language="en", first_name=f"Ann{_n[0]}", last_name="Drip",
                            email=f"ann{_n[0]}@example.com", phone=f"+4420718388{_n[0] % 100:02d}", country="GB",
                            date_of_birth=dt.date(1980, 5, 6), password=PASSWORD, accept_terms=True,
                            accept_privacy=True, accept_marketing=marketing).login
    portal_email_verify(token=verification_token(login))
    dispatch_pending()
    return login.client


def verify(client: Any) -> None:
    """The client sends documents and the automatic checks approve them."""
    from kyc.services import kyc_profile_save, submission_checks_record
    from tests.kyc.conftest import report, submit

    kyc_profile_save(client=client, actor=None, address_line1="1 High Street", city="London",
                     postcode="SW1A 1AA", country="GB")
    submission_checks_record(submission=submit(client), report=report())
    dispatch_pending()


def at(clock: Any, **delta: Any) -> None:
    """Move the clock to T0 + delta and run the minute's task as beat does."""
    clock.move_to(T0 + dt.timedelta(**delta), tick=False)
    campaigns_start_due()


def subjects(client: Any) -> list[str]:
    return list(OutboundEmail.objects.filter(client=client, headers__has_key="X-CRM-Sequence")
                .order_by("id").values_list("subject", flat=True))


def test_a_registered_client_gets_reminders_after_one_and_three_days_and_none_once_verified(world, clock):
    _brand, _marketer, sequence = world
    client = register(world[0])
    enrollment = SequenceEnrollment.objects.get(sequence=sequence, client=client)
    assert enrollment.status == EnrollmentStatus.ACTIVE and enrollment.next_step == 1
    at(clock, hours=23, minutes=59)
    assert subjects(client) == []
    at(clock, days=1, minutes=1)
    assert subjects(client) == [f"Welcome {client.first_name}"]
    at(clock, days=2)
    assert len(subjects(client)) == 1
    at(clock, days=3)
    assert subjects(client) == [f"Welcome {client.first_name}", f"Still waiting, {client.first_name}"]
    email = OutboundEmail.objects.filter(client=client).order_by("-id").first()
    assert email.headers["List-Unsubscribe"].startswith("<http") and "List-Unsubscribe-Post" in email.headers
    assert email.headers["X-CRM-Sequence"] == str(sequence.code)
    at(clock, days=4)
    verify(client)
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.GOAL_REACHED and enrollment.next_due_at is None
    at(clock, days=8)
    at(clock, days=30)
    assert len(subjects(client)) == 2  # the third step is never sent
    counts = {c.step.order: (c.sent, c.waiting) for c in sequence_step_counts(sequence=sequence)}
    assert counts == {1: (1, 0), 2: (1, 0), 3: (0, 0)}


def test_a_client_is_in_a_sequence_once(world, clock):
    from crm.events import emit
    from crm.models import Event

    brand, _marketer, _sequence = world
    client = register(brand)
    at(clock, days=1, minutes=1)
    first = Event.objects.get(name="portal.registered", client=client)
    emit("portal.registered", client=client, actor=None, data=first.data)  # the trigger happens again
    dispatch_pending()
    assert SequenceEnrollment.objects.filter(client=client).count() == 1
    at(clock, days=1, minutes=2)
    assert len(subjects(client)) == 1


def test_without_consent_no_step_is_sent_and_that_is_recorded(world, clock):
    brand, _marketer, sequence = world
    client = register(brand, marketing=False)
    at(clock, days=1, minutes=1)
    assert subjects(client) == []
    enrollment = SequenceEnrollment.objects.get(sequence=sequence, client=client)
    assert enrollment.status == EnrollmentStatus.STOPPED_NO_CONSENT
    delivery = enrollment.deliveries.get()
    assert delivery.status == "skipped_no_consent" and "consent" in delivery.reason
    at(clock, days=3, minutes=1)
    assert subjects(client) == []
    assert sequence_step_counts(sequence=sequence)[0].skipped == 1


def test_an_unsubscribe_mid_sequence_stops_it(world, clock, client):
    brand, _marketer, sequence = world
    person = register(brand)
    at(clock, days=1, minutes=1)
    email = OutboundEmail.objects.get(client=person)
    url = email.headers["List-Unsubscribe"].split(",")[0].strip("<> ")
    response = client.post(urlsplit(url).path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    at(clock, days=3, minutes=1)
    at(clock, days=8)
    assert len(subjects(person)) == 1
    assert SequenceEnrollment.objects.get(client=person).status == EnrollmentStatus.STOPPED_NO_CONSENT


def test_two_runs_at_once_send_a_step_once_and_a_paused_sequence_waits(world, clock):
    brand, marketer, sequence = world
    people = [register(brand) for _ in range(3)]
    sequence_pause(actor=marketer, sequence=sequence)
    at(clock, days=1, minutes=1)
    assert all(subjects(p) == [] for p in people)
    sequence_resume(actor=marketer, sequence=sequence)
    assert sequences_send_due() == 3
    assert sequences_send_due() == 0
    assert all(len(subjects(p)) == 1 for p in people)


def test_the_pages_list_show_and_pause_a_sequence(world, clock, client):
    brand, marketer, sequence = world
    register(brand)
    client.force_login(marketer)
    listing = client.get(reverse("marketing_sequences"))
    assert listing.status_code == 200 and "Verify your account" in listing.content.decode()
    page = client.get(reverse("marketing_sequence", args=[sequence.code]))
    assert page.status_code == 200 and "Last reminder" in page.content.decode()
    client.post(reverse("marketing_sequence_pause", args=[sequence.code]))
    sequence.refresh_from_db()
    assert sequence.status == "paused"
    outsider = make_user(role_code=RoleCode.MARKETING, brand=make_brand(name="Other"))
    client.force_login(outsider)
    assert client.get(reverse("marketing_sequence", args=[sequence.code])).status_code == 404


def test_the_demo_has_a_running_sequence_with_clients_at_different_steps(clock):
    from marketing.consent import consent_record
    from marketing.demo_sequences import sequences_seed_demo
    from tests.factories import make_client

    brand = make_brand(code="atlas", name="Atlas")
    marketer = make_user(role_code=RoleCode.MARKETING, brand=brand)
    for i in range(8):
        person = make_client(brand=brand, stage="registered", email=f"demo{i}@example.com")
        consent_record(client=person, channel="email", given=True, source="portal")
    (sequence,) = sequences_seed_demo(marketer=marketer)
    counts = [(c.waiting, c.sent) for c in sequence_step_counts(sequence=sequence)]
    assert counts == [(2, 6), (2, 4), (2, 2)]  # waiting for each step, and each sent to those past it
    assert sequences_seed_demo(marketer=marketer) == []  # loaded once


def test_the_edit_page_adds_and_removes_steps_and_names_a_bad_delay(world, client):
    brand, marketer, _sequence = world
    client.force_login(marketer)
    assert client.get(reverse("marketing_sequence_new")).status_code == 200
    row = client.post(reverse("marketing_sequence_step"), {"subject_0": "a", "subject_1": "b"}, HTTP_HX_REQUEST="true")
    assert 'name="subject_2"' in row.content.decode()
    assert client.post(reverse("marketing_sequence_step"), {"remove": "1"}).content == b""
    form = {"brand": brand.pk, "name": "Deposit nudge", "trigger": "kyc_verified", "goal": "first_deposit",
            "delay_0": "2", "unit_0": "days", "subject_0": "Fund your account", "body_0": "Hi",
            "delay_2": "1", "unit_2": "hours", "subject_2": "Too early", "body_2": "Hi"}  # row 1 was removed
    refused = client.post(reverse("marketing_sequence_new"), form)
    assert refused.status_code == 422 and "no earlier than the step before" in refused.content.decode()
    form.update(delay_2="5", unit_2="days")
    saved = client.post(reverse("marketing_sequence_new"), form)
    assert saved.status_code == 302
    from marketing.sequence_models import Sequence

    made = Sequence.objects.get(name="Deposit nudge")
    assert list(made.steps.values_list("order", "delay_hours")) == [(1, 48), (2, 120)]


def test_a_step_due_outside_the_client_s_sending_hours_waits_for_their_morning(world, clock, settings):
    """Sending hours 09:00–12:00 of the client's own day: the London client's first reminder goes at
    10:00 UTC a day after registering; the Tokyo client's falls due at 19:00 in Tokyo and goes at
    09:00 there (00:00 UTC), not at night."""
    from crm.services.clients import client_update

    settings.MARKETING_CAMPAIGN_WINDOW = (9, 12)
    london = register(world[0])
    tokyo = register(world[0])
    client_update(actor=None, client=tokyo, timezone="Asia/Tokyo")
    at(clock, days=1, minutes=1)
    assert len(subjects(london)) == 1 and subjects(tokyo) == []
    assert SequenceEnrollment.objects.get(client=tokyo).next_due_at == T0 + dt.timedelta(hours=38)
    at(clock, hours=37, minutes=59)
    assert subjects(tokyo) == []
    at(clock, hours=38, minutes=1)
    assert subjects(tokyo) == [f"Welcome {tokyo.first_name}"]


def test_steps_spend_the_brand_s_sending_budget_and_the_rest_wait_for_the_next_minute(world, clock, settings):
    settings.MARKETING_CAMPAIGN_RATE = "2/m"
    clients = [register(world[0]) for _ in range(3)]
    at(clock, days=1, minutes=1)
    assert sum(len(subjects(c)) for c in clients) == 2
    at(clock, days=1, minutes=2)
    assert [len(subjects(c)) for c in clients] == [1, 1, 1]
