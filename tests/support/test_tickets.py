"""The ticket services: opening (desk, assignee, SLA dues, attachments), the thread (answers, notes,
the client's replies), assignment, status moves, closing, reopening, rating, merging, linking a
client, canned answers, and the events and audit rows each leaves."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.utils import timezone

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog, Event, RoleCode
from support import services
from support.exceptions import DeskMissing, TicketRefused, TicketTransitionRefused, TicketUnknown
from support.models import MessageKind, Ticket, TicketStatus
from tests.factories import make_brand, make_client, make_user
from tests.support.desk_world import build_desk_world, open_ticket, png_file

pytestmark = pytest.mark.django_db

FRIDAY_1755_CYPRUS = dt.datetime(2026, 11, 27, 15, 55, tzinfo=dt.UTC)  # 17:55 in Nicosia (UTC+2)


@pytest.fixture
def world():
    return build_desk_world()


def _events(name: str) -> list[Event]:
    return list(Event.objects.filter(name=name).order_by("id"))


def test_a_ticket_opened_on_friday_evening_is_due_monday_morning(world):
    with time_machine.travel(FRIDAY_1755_CYPRUS, tick=False):
        ticket = open_ticket(world)
    assert ticket.reference.startswith("T") and len(ticket.reference) >= 7
    assert ticket.desk == world.desk and ticket.status == TicketStatus.NEW
    assert ticket.first_response_due == dt.datetime(2026, 11, 30, 7, 55, tzinfo=dt.UTC)  # Monday 09:55 Nicosia
    assert ticket.resolution_due is not None and ticket.resolution_due > ticket.first_response_due
    [event] = _events("support.ticket.opened")
    assert event.client_id == world.client.pk and event.data["ticket"] == ticket.reference
    assert AuditLog.objects.filter(action="support.ticket_opened", object_id=ticket.reference).exists()


def test_references_are_unique_and_never_reused(world):
    refs = {open_ticket(world).reference for _ in range(3)}
    assert len(refs) == 3


def test_a_ticket_of_a_brand_without_a_desk_is_refused_saying_so():
    brand = make_brand()
    client = make_client(brand=brand)
    with pytest.raises(DeskMissing):
        services.ticket_open(brand=brand, category="other", subject="Hi", body="Hello", channel="portal",
                             client=client)
    assert not Ticket.objects.filter(brand=brand).exists()


def test_bad_input_names_the_field(world):
    with pytest.raises(ValidationFailed) as error:
        open_ticket(world, subject="   ")
    assert "subject" in error.value.fields
    with pytest.raises(ValidationFailed) as error:
        open_ticket(world, category="ponies")
    assert "category" in error.value.fields
    assert not Ticket.objects.exists()


def test_attachments_pass_the_kyc_checks_and_a_refused_one_is_named(world):
    ticket = open_ticket(world, attachments=[png_file()])
    [attachment] = ticket.messages.get().attachments.all()
    assert attachment.content_type == "image/png" and attachment.name == "screen.png"
    from support.attachments import attachment_read

    assert attachment_read(attachment.storage_name).startswith(b"\x89PNG")
    bad = io.BytesIO(b"MZ\x90\x00 not a document")
    bad.name = "evil.exe"
    with pytest.raises(ValidationFailed) as error:
        open_ticket(world, attachments=[bad])
    assert "evil.exe" in error.value.fields["attachments"][0]


def test_an_email_keeps_its_message_when_an_attachment_is_refused(world):
    ticket = open_ticket(world, channel="email", attachments=[("macro.docm", "application/octet-stream", b"PK\x03\x04")])
    kinds = list(ticket.messages.values_list("kind", flat=True))
    assert kinds == [MessageKind.CLIENT_REPLY, MessageKind.SYSTEM]
    assert "macro.docm" in ticket.messages.get(kind=MessageKind.SYSTEM).body_text


def test_rules_give_the_ticket_by_language_vip_and_owner(world):
    de_agent = make_user(role_code=RoleCode.SUPPORT_AGENT, brand=world.brand, full_name="Dora Deutsch")
    vip_agent = make_user(role_code=RoleCode.SUPPORT_AGENT, brand=world.brand, full_name="Vic Vip")
    services.assignment_rule_save(actor=world.admin, desk=world.desk, order=10, vip_only=True, assignee=vip_agent)
    services.assignment_rule_save(actor=world.admin, desk=world.desk, order=20, language="de", assignee=de_agent)
    services.assignment_rule_save(actor=world.admin, desk=world.desk, order=30, to_owner=True)
    german = make_client(brand=world.brand, language="de", email="hans@example.com")
    vip = make_client(brand=world.brand, language="de", tags=["VIP"], email="vip@example.com")
    assert open_ticket(world, client=german).assignee == de_agent
    assert open_ticket(world, client=vip).assignee == vip_agent
    assert open_ticket(world).assignee == world.sales  # the client's owner


def test_a_staff_answer_stops_the_first_response_clock_and_waits_for_the_client(world):
    ticket = open_ticket(world)
    message = services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="We are checking it.")
    ticket.refresh_from_db()
    assert message.kind == MessageKind.STAFF_REPLY and ticket.first_response_at is not None
    assert ticket.status == TicketStatus.PENDING_CLIENT and ticket.assignee == world.agent
    assert ticket.paused_at is not None  # the resolution clock waits with the ticket
    assert _events("support.ticket.answered")[0].client_id == world.client.pk


def test_the_clients_reply_reopens_the_work_and_restarts_the_clock(world):
    ticket = open_ticket(world)
    services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="Which account?")
    services.ticket_reply_client(ticket=ticket, client=world.client, body="The USD one.")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.paused_at is None
    assert len(_events("support.ticket.client_replied")) == 1


def test_a_client_cannot_write_on_anothers_ticket(world):
    ticket = open_ticket(world)
    stranger = make_client(brand=world.brand, email="eve@example.com")
    with pytest.raises(TicketUnknown):
        services.ticket_reply_client(ticket=ticket, client=stranger, body="Hi")


def test_a_note_is_internal(world):
    ticket = open_ticket(world)
    note = services.ticket_note(ticket=ticket, actor=world.agent, body="Checked the PSP: pending.")
    assert note.kind == MessageKind.INTERNAL_NOTE and not note.is_public
    assert AuditLog.objects.filter(action="support.ticket_noted").exists()


def test_an_agent_who_does_not_see_the_client_cannot_work_the_ticket(world):
    ticket = open_ticket(world)
    with pytest.raises(TicketUnknown):
        services.ticket_reply_staff(ticket=ticket, actor=world.other_sales, body="Hi")
    finance = make_user(role_code=RoleCode.FINANCE, brand=world.brand)
    with pytest.raises(NotAllowed):
        services.ticket_note(ticket=ticket, actor=finance, body="Hi")  # sees it, may not work it


def test_assignment_needs_someone_who_sees_the_client(world):
    ticket = open_ticket(world)
    with pytest.raises(ValidationFailed) as error:
        services.ticket_assign(ticket=ticket, assignee=world.other_sales, actor=world.agent)
    assert "assignee" in error.value.fields
    services.ticket_assign(ticket=ticket, assignee=world.sales, actor=world.agent)
    ticket.refresh_from_db()
    assert ticket.assignee == world.sales


def test_resolve_close_reopen_and_the_refused_moves(world):
    ticket = open_ticket(world)
    services.ticket_set_status(ticket=ticket, status="resolved", actor=world.agent)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED and ticket.resolved_at is not None
    services.ticket_close(ticket=ticket, actor=world.agent)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CLOSED and ticket.closed_at is not None
    with pytest.raises(TicketTransitionRefused) as error:
        services.ticket_set_status(ticket=ticket, status="resolved", actor=world.agent)
    assert "closed" in error.value.message and "resolved" in error.value.message
    services.ticket_reopen(ticket=ticket, actor=world.agent, reason="client called")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.reopen_count == 1 and ticket.closed_at is None
    assert [e.name for e in Event.objects.filter(name__startswith="support.ticket.").order_by("id")] == [
        "support.ticket.opened", "support.ticket.closed", "support.ticket.closed", "support.ticket.reopened"]


def test_a_client_writing_on_a_resolved_ticket_reopens_it(world):
    ticket = open_ticket(world)
    services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="Done.", status="resolved")
    services.ticket_reply_client(ticket=ticket, client=world.client, body="Not done, sorry.")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.reopen_count == 1


def test_rating_needs_a_resolved_ticket_and_1_to_5(world):
    ticket = open_ticket(world)
    with pytest.raises(TicketRefused):
        services.ticket_rate(ticket=ticket, rating=5)
    services.ticket_reply_staff(ticket=ticket, actor=world.agent, body="Paid today.", status="resolved")
    with pytest.raises(ValidationFailed) as error:
        services.ticket_rate(ticket=ticket, rating=9)
    assert "rating" in error.value.fields
    services.ticket_rate(ticket=ticket, rating=4, comment="Quick, thanks")
    ticket.refresh_from_db()
    assert (ticket.rating, ticket.rating_comment) == (4, "Quick, thanks")
    assert _events("support.ticket.rated")[0].data["rating"] == 4


def test_merge_ends_one_ticket_in_the_other(world):
    first, second = open_ticket(world), open_ticket(world, subject="Still waiting", priority="urgent")
    into = services.ticket_merge(ticket=second, into=first, actor=world.agent)
    second.refresh_from_db()
    assert second.status == TicketStatus.MERGED and second.merged_into == first
    assert into.priority == "urgent"
    assert "merged" in first.messages.filter(kind=MessageKind.SYSTEM).get().body_text
    with pytest.raises(TicketRefused):
        services.ticket_reply_client(ticket=second, client=world.client, body="Hello?")
    with pytest.raises(ValidationFailed):
        services.ticket_merge(ticket=first, into=first, actor=world.agent)


def test_a_ticket_without_a_client_is_linked_to_one(world):
    ticket = open_ticket(world, client=False, channel="email")
    assert ticket.client is None
    services.ticket_link_client(ticket=ticket, client=world.client, actor=world.agent)
    ticket.refresh_from_db()
    assert ticket.client == world.client
    with pytest.raises(ValidationFailed):
        services.ticket_link_client(ticket=ticket, client=world.client, actor=world.agent)
    other_brand_client = make_client(brand=make_brand())
    lonely = open_ticket(world, client=False, channel="email")
    with pytest.raises(ValidationFailed):
        services.ticket_link_client(ticket=lonely, client=other_brand_client, actor=world.admin)


def test_canned_answers_fill_the_clients_facts_per_language(world):
    en = services.canned_answer_save(actor=world.admin, brand=world.brand, language="en", title="Withdrawal received",
                                     body="Dear {first_name} {last_name}, {reference} is with {agent_name} of {brand}.")
    de = services.canned_answer_save(actor=world.admin, brand=world.brand, language="de", title="Auszahlung",
                                     body="Hallo {first_name}, {reference}.")
    ticket = open_ticket(world)
    assert services.canned_answers_for(ticket) == [en]
    text = services.canned_answer_render(answer=en, ticket=ticket, agent=world.agent)
    assert text == f"Dear Laura Fischer, {ticket.reference} is with Sam Support of Helios Markets."
    german = make_client(brand=world.brand, language="de", first_name="Hans", email="h@example.com")
    assert services.canned_answers_for(open_ticket(world, client=german)) == [de]
    with pytest.raises(ValidationFailed) as error:
        services.canned_answer_save(actor=world.admin, brand=world.brand, language="en", title="Bad",
                                    body="Hi {password}")
    assert "body" in error.value.fields


def test_desk_setup_refuses_bad_calendars_by_field(world):
    with pytest.raises(ValidationFailed) as error:
        services.desk_save(actor=world.admin, brand=world.brand, name="X", code="x", time_zone="Mars/Base",
                           business_hours={"mon": [["09:00", "18:00"]]})
    assert "time_zone" in error.value.fields
    with pytest.raises(ValidationFailed) as error:
        services.desk_save(actor=world.admin, brand=world.brand, name="X", code="x", time_zone="UTC",
                           business_hours={"mon": [["18:00", "09:00"]]})
    assert "business_hours" in error.value.fields
    with pytest.raises(NotAllowed):
        services.desk_save(actor=world.agent, brand=world.brand, name="X", code="x", time_zone="UTC",
                           business_hours={"mon": [["09:00", "18:00"]]})


def test_a_holiday_moves_the_due_time_past_it(world):
    services.desk_holiday_add(actor=world.admin, desk=world.desk, day=dt.date(2026, 11, 30), name="Bank holiday")
    with time_machine.travel(FRIDAY_1755_CYPRUS, tick=False):
        ticket = open_ticket(world)
    assert ticket.first_response_due == dt.datetime(2026, 12, 1, 7, 55, tzinfo=dt.UTC)  # Tuesday 09:55


def test_the_timeline_shows_ticket_events(world):
    from crm.registry import TIMELINE

    ticket = open_ticket(world)
    kinds = {k.name: k for k in TIMELINE}
    event = Event.objects.get(name="support.ticket.opened", client=world.client)
    assert kinds["support.ticket.opened"].summary(event) == f"{ticket.reference} {ticket.subject}"


def test_a_priority_change_moves_the_dues(world):
    with time_machine.travel(dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC), tick=False):  # Wednesday 10:00
        ticket = open_ticket(world)
        assert ticket.first_response_due == timezone.now() + dt.timedelta(hours=1)
        services.ticket_set_priority(ticket=ticket, priority="urgent", actor=world.agent)
        ticket.refresh_from_db()
        assert ticket.first_response_due == timezone.now() + dt.timedelta(minutes=15)
