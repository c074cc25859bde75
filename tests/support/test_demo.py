"""The support demo (make run): desks per demo brand with hours and a holiday, SLA policies, canned
answers in two languages, tickets across statuses with one breached SLA, complaints in the register, the support agent's
login; loaded once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from crm.models import RoleCode
from support.models import CannedAnswer, Complaint, DeskHoliday, SLAPolicy, SupportDesk, Ticket
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db


def test_the_demo_loads_desks_tickets_and_a_breach_once():
    admin = make_user(role_code=RoleCode.ADMIN)
    for code, name in (("atlas", "Atlas Markets"), ("nova", "Nova FX")):
        brand = make_brand(code=code, name=name)
        for n in range(7):
            make_client(brand=brand, email=f"c{n}@{code}.example.com", language="en")
    out = io.StringIO()
    call_command("support_seed_demo", stdout=out)
    assert "LOGIN support_agent sam.okafor@demo-broker.example" in out.getvalue()
    assert SupportDesk.objects.count() == 2 and DeskHoliday.objects.count() == 4
    assert SLAPolicy.objects.count() == 8
    assert set(CannedAnswer.objects.values_list("language", flat=True)) == {"en", "de", "ar"}
    statuses = set(Ticket.objects.values_list("status", flat=True))
    assert {"new", "pending_client", "open", "resolved", "on_hold", "closed"} <= statuses
    breached = Ticket.objects.filter(first_response_breached_at__isnull=False)
    assert breached.count() == 2  # one per brand
    for ticket in breached:  # its thread opens when the ticket did, not days later
        assert ticket.messages.earliest("created_at").created_at == ticket.created_at
    assert Ticket.objects.filter(client__isnull=True).count() == 2
    assert Ticket.objects.filter(rating=5).exists()
    # The register: per brand, a withdrawal complaint running and a fees complaint closed.
    register = {(c.brand.code, c.category, c.status) for c in Complaint.objects.select_related("brand")}
    assert register == {(code, category, status) for code in ("atlas", "nova")
                        for category, status in (("withdrawals", "acknowledged"), ("fees_charges", "closed"))}
    assert "4 complaints in the register" in out.getvalue()
    tickets = Ticket.objects.count()
    again = io.StringIO()
    call_command("support_seed_demo", stdout=again)
    assert "already loaded" in again.getvalue() and Ticket.objects.count() == tickets
    assert admin.is_active
