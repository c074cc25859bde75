"""The complaints register (support.complaints): references never shared nor reused, the
acknowledgement mailed and dated, the 5-working-day and 2-month deadlines, the final response with
the amount paid, and closing by a compliance officer only."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import Event
from emails.models import OutboundEmail
from support import complaints
from support.exceptions import ComplaintRefused, ComplaintTransitionRefused
from support.models import Complaint, ComplaintStatus
from tests.support.complaint_world import build_world, open_ticket

NICOSIA = dt.timezone(dt.timedelta(hours=2))  # Cyprus in winter (EET)


@pytest.fixture
def world(db):
    return build_world()


def _register(world, *, category: str = "withdrawals", actor=None, **ticket):
    return complaints.complaint_register(ticket=open_ticket(world, **ticket), category=category,
                                         actor=actor if actor is not None else world.agent)


def test_a_complaint_gets_the_brands_next_reference_of_the_year_and_is_acknowledged_by_email(world, settings):
    settings.SUPPORT_FIRM_CODES = {world.brand.code: "cif123"}
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=NICOSIA), tick=False):
        first = _register(world)
        second = _register(world, category="platform", subject="The platform froze")
    assert (first.reference, second.reference) == ("CIF123-2026-00001", "CIF123-2026-00002")
    assert first.status == ComplaintStatus.ACKNOWLEDGED
    assert first.acknowledged_at == dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
    mail = OutboundEmail.objects.filter(client=world.client, template_key=complaints.ACK_TEMPLATE).order_by("pk")
    assert mail.count() == 2
    assert "CIF123-2026-00001" in mail[0].subject and "CIF123-2026-00001" in mail[0].body_text
    assert "20 January 2027" in mail[0].body_text  # the final response's due day, in words
    names = list(Event.objects.filter(name__startswith="support.complaint.").order_by("pk").values_list("name", "data"))
    assert [n for n, _ in names][:2] == ["support.complaint.registered", "support.complaint.acknowledged"]
    assert names[0][1]["complaint"] == "CIF123-2026-00001" and names[0][1]["category"] == "withdrawals"


def test_without_a_firm_code_the_brands_code_starts_the_reference_and_a_new_year_starts_at_one(world):
    with time_machine.travel(dt.datetime(2026, 12, 31, 21, 30, tzinfo=dt.UTC), tick=False):  # 23:30 in Nicosia
        december = _register(world)
    with time_machine.travel(dt.datetime(2026, 12, 31, 22, 30, tzinfo=dt.UTC), tick=False):  # 00:30 on 1 January
        january = _register(world)
    assert december.reference == "ATLAS-C-2026-00001"
    assert january.reference == "ATLAS-C-2027-00001"


def test_the_acknowledgement_is_due_after_five_working_days_of_the_desk_and_the_response_in_two_months(world):
    from support.services import desk_holiday_add

    desk_holiday_add(actor=world.admin, desk=world.desk, day=dt.date(2026, 12, 25), name="Christmas")
    # Friday 18 December 2026, 17:55 in Cyprus: the working days are 21, 22, 23, 24 and 28 December.
    with time_machine.travel(dt.datetime(2026, 12, 18, 17, 55, tzinfo=NICOSIA), tick=False):
        complaint = _register(world)
    assert complaint.acknowledge_due == dt.datetime(2026, 12, 29, 0, 0, tzinfo=NICOSIA)
    assert complaint.response_due == dt.datetime(2027, 2, 18, 17, 55, tzinfo=NICOSIA)


def test_two_months_from_the_last_day_of_december_is_the_last_day_of_february(world):
    with time_machine.travel(dt.datetime(2026, 12, 31, 9, 0, tzinfo=NICOSIA), tick=False):
        complaint = _register(world)
    assert complaint.response_due == dt.datetime(2027, 2, 28, 9, 0, tzinfo=NICOSIA)


def test_a_withdrawn_or_deleted_complaints_number_is_never_given_again(world):
    first = _register(world)
    complaints.complaint_close(complaint=first, actor=world.officer, outcome="withdrawn")
    second = _register(world)
    Complaint.objects.filter(pk=second.pk).delete()  # by hand, in the database: the number stays spent
    third = _register(world)
    assert [c.reference[-5:] for c in (first, second, third)] == ["00001", "00002", "00003"]
    first.refresh_from_db()
    assert (first.status, first.outcome) == ("closed", "withdrawn")


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_never_share_a_reference():
    world = build_world(code="race-c", name="Race")
    tickets = [open_ticket(world, subject=f"Complaint {n}") for n in range(8)]
    barrier = threading.Barrier(len(tickets))
    found: list[str] = []
    errors: list[BaseException] = []

    def register(ticket):
        try:
            barrier.wait(timeout=30)
            found.append(complaints.complaint_register(ticket=ticket, category="withdrawals", actor=None).reference)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(t,)) for t in tickets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(r[-5:] for r in found) == [f"{n:05d}" for n in range(1, 9)]


def test_a_ticket_is_registered_once_and_a_category_is_required(world):
    ticket = open_ticket(world)
    with pytest.raises(ValidationFailed) as refused:
        complaints.complaint_register(ticket=ticket, category="weather", actor=world.agent)
    assert "category" in refused.value.fields
    complaint = complaints.complaint_register(ticket=ticket, category="withdrawals", actor=world.agent)
    with pytest.raises(ComplaintRefused, match=complaint.reference):
        complaints.complaint_register(ticket=ticket, category="withdrawals", actor=world.agent)


def test_finance_cannot_register_a_complaint(world):
    with pytest.raises(NotAllowed):
        _register(world, actor=world.finance)


def test_the_final_response_records_the_outcome_and_the_amount_paid_in_its_currency(world):
    complaint = _register(world)
    with pytest.raises(ValidationFailed) as refused:
        complaints.complaint_final_response(complaint=complaint, response="We refund the fee.", outcome="upheld",
                                            amount_paid="25.555", currency="USD", actor=world.agent)
    assert "amount_paid" in refused.value.fields
    with pytest.raises(ValidationFailed) as refused:
        complaints.complaint_final_response(complaint=complaint, response="We refund the fee.", outcome="upheld",
                                            amount_paid="25", currency="", actor=world.agent)
    assert "currency" in refused.value.fields
    with pytest.raises(ValidationFailed) as refused:
        complaints.complaint_final_response(complaint=complaint, response="No.", outcome="rejected",
                                            amount_paid="25", currency="USD", actor=world.agent)
    assert "amount_paid" in refused.value.fields
    complaints.complaint_final_response(complaint=complaint, response="We refund the withdrawal fee.",
                                        outcome="partially_upheld", amount_paid=Decimal("25.50"), currency="usd",
                                        actor=world.agent)
    complaint.refresh_from_db()
    assert (complaint.status, complaint.outcome) == ("final_response", "partially_upheld")
    assert (complaint.amount_paid, complaint.currency) == (Decimal("25.50"), "USD")
    assert complaint.final_response_at is not None
    final = OutboundEmail.objects.get(client=world.client, template_key=complaints.FINAL_TEMPLATE)
    assert "We refund the withdrawal fee." in final.body_text and "25.50" in final.body_text


def test_only_a_compliance_officer_closes_a_complaint_and_only_after_its_final_response(world):
    complaint = _register(world)
    with pytest.raises(ComplaintRefused):
        complaints.complaint_close(complaint=complaint, actor=world.officer)
    complaints.complaint_final_response(complaint=complaint, response="The delay was the bank's.",
                                        outcome="rejected", actor=world.agent)
    with pytest.raises(NotAllowed):
        complaints.complaint_close(complaint=complaint, actor=world.agent)
    complaints.complaint_close(complaint=complaint, actor=world.officer)
    complaint.refresh_from_db()
    assert (complaint.status, complaint.closed_by, complaint.outcome) == ("closed", world.officer, "rejected")
    assert Event.objects.filter(name="support.complaint.closed", data__complaint=complaint.reference).exists()
    with pytest.raises(ComplaintTransitionRefused):
        complaints.complaint_close(complaint=complaint, actor=world.officer)


def test_an_arabic_speaking_client_is_acknowledged_in_arabic(db):
    world = build_world(code="atlas-ar", name="Atlas Arabia", language="ar")
    complaint = _register(world)
    mail = OutboundEmail.objects.get(client=world.client, template_key=complaints.ACK_TEMPLATE)
    assert mail.language == "ar" and complaint.reference in mail.subject and "شكواك" in mail.subject


def test_the_clock_shows_days_left_and_flags_a_missed_deadline(world):
    with time_machine.travel(dt.datetime(2026, 11, 2, 10, 0, tzinfo=NICOSIA), tick=False):
        complaint = _register(world)
    clock = complaints.complaint_clock(complaint, now=dt.datetime(2026, 12, 2, 10, 0, tzinfo=NICOSIA))
    assert (clock.days_left, clock.overdue, clock.elapsed_percent) == (31, False, 49)
    late = complaints.complaint_clock(complaint, now=dt.datetime(2027, 1, 5, 10, 0, tzinfo=NICOSIA))
    assert late.response_overdue and late.days_overdue == 3
    assert list(complaints.complaint_list(user=world.officer, overdue=True,
                                          now=dt.datetime(2027, 1, 5, 10, 0, tzinfo=NICOSIA))) == [complaint]
    assert list(complaints.complaint_list(user=world.officer, overdue=True,
                                          now=dt.datetime(2026, 12, 2, 10, 0, tzinfo=NICOSIA))) == []
