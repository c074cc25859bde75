"""seed_sales_demo: deterministic, idempotent, and what it adds is usable by the KPIs."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from crm.models import Event, RoleCode
from leads.models import Call, CampaignCost, ClientPipeline, PipelineStatus, RoutingRule
from tests.factories import make_brand, make_client, make_desk, make_user
from tests.leads.conftest import ALWAYS_OPEN

pytestmark = pytest.mark.django_db


def _snapshot():
    return (
        sorted(Call.objects.values_list("client__email", "outcome", "duration_seconds")),
        sorted(ClientPipeline.objects.values_list("client__email", "status__key")),
        CampaignCost.objects.count(), RoutingRule.objects.count(), PipelineStatus.objects.count(),
    )


def test_seed_sales_demo_is_idempotent_and_marks_its_history_dispatched():
    brand = make_brand(code="atlas")
    desk = make_desk(brand=brand, name="Sales", countries=["GB"], **ALWAYS_OPEN)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    with time_machine.travel(timezone.now() - timedelta(days=8)):  # leads of last week, called since
        for n in range(6):
            make_client(actor=agent, brand=brand, first_name=f"C{n}", email=f"c{n}@example.com", owner=agent,
                        desk=desk)
    out = io.StringIO()
    call_command("seed_sales_demo", stdout=out)
    assert "calls" in out.getvalue()
    first = _snapshot()
    assert first[0] and first[1] and first[2] == 16 and first[3] == 2 and first[4] == 7
    assert not Event.objects.filter(name="call.logged", dispatched_at__isnull=True).exists()
    # Every call comes after its lead arrived: first contact is never "before arrival".
    assert all(call.started_at >= call.client.created_at for call in Call.objects.select_related("client"))
    call_command("seed_sales_demo", stdout=out)
    assert _snapshot() == first
    assert out.getvalue().strip().endswith("nothing new.")
