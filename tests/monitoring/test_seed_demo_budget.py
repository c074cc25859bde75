from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm.models import RoleCode
from monitoring.demo import DESK_NAME
from monitoring.models import AgentDayScore
from monitoring.review.models import DeskAlertBudget
from tests.factories import make_brand, make_desk, make_user

pytestmark = pytest.mark.django_db


def test_the_demo_desks_budget_is_set_and_calibrated_once_and_again_on_rerun():
    out = io.StringIO()
    call_command("monitoring_review_seed_demo_budget", stdout=out)
    assert "run monitoring_seed_demo first" in out.getvalue() and not DeskAlertBudget.objects.exists()

    brand = make_brand(code="atlas")
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand)
    desk = make_desk(brand=brand, name=DESK_NAME, manager=manager)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=desk)
    today = timezone.localdate()
    AgentDayScore.objects.bulk_create([
        AgentDayScore(brand=brand, agent=agent, day=today - timedelta(days=d), score=0.5 + (d % 10) / 10 + (8 if d == 3 else 0),
                      threshold=3.0, computed_at=timezone.now()) for d in range(1, 201)])
    for _ in range(2):
        out = io.StringIO()
        call_command("monitoring_review_seed_demo_budget", stdout=out)
        assert "0.50 alerts per 100 agent-days" in out.getvalue()
    budget = DeskAlertBudget.objects.get()
    assert budget.desk == desk and budget.set_by == manager and budget.agent_days == 180 and budget.alerts_on_history == 0
