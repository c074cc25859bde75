from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from monitoring.management.commands.monitoring_seed_demo import MANAGER_EMAIL, MANAGER_PASSWORD
from monitoring.models import AgentDayScore, MonitoringAlert, Notice
from monitoring.tasks import notice_rescore
from tests.factories import make_brand, make_user

pytestmark = pytest.mark.django_db


def test_the_demo_desk_has_six_months_and_two_alerts_waiting_for_its_manager():
    brand = make_brand(code="atlas", name="Atlas")
    make_user(role_code="admin")
    manager = make_user(role_code="desk_manager", brand=brand, email=MANAGER_EMAIL, password=MANAGER_PASSWORD)
    out = io.StringIO()
    call_command("monitoring_seed_demo", stdout=out)
    assert f"LOGIN desk_manager {MANAGER_EMAIL} {MANAGER_PASSWORD}" in out.getvalue()
    alerts = list(MonitoringAlert.objects.order_by("detector"))
    assert [a.detector for a in alerts] == ["agent.call_padding", "agent.departure"]
    assert all(a.routed_to == manager and a.status == "open" for a in alerts)
    departure = alerts[1]
    assert Notice.objects.get(agent=departure.agent)
    assert any("untouched for 90 days" in r for r in departure.reasons)
    assert any("exported 1450 rows" in r for r in departure.reasons)
    assert any("calls of 6 seconds or less" in r for r in alerts[0].reasons)
    days = AgentDayScore.objects.filter(agent=departure.agent).count()
    assert days >= 170
    # the notice's own rescore (queued when it was entered) finds nothing more to raise
    notice_rescore(departure.agent_id)
    assert MonitoringAlert.objects.count() == 2
    again = io.StringIO()
    call_command("monitoring_seed_demo", stdout=again)
    assert "already loaded" in again.getvalue() and MonitoringAlert.objects.count() == 2
