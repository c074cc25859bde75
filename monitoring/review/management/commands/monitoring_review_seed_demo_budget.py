"""`manage.py monitoring_review_seed_demo_budget`: the monitoring demo desk's alert budget (0.5 alerts
per 100 agent-days), set by its desk manager and calibrated on the desk's scores, so that the budget
page shows its threshold and cost. Runs after monitoring_seed_demo; safe to rerun (the budget is set
again to the same value and calibrated on the latest scores)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.models import Desk
from monitoring.demo import DESK_NAME
from monitoring.review.selectors import synthetic_days
from monitoring.review.services import desk_budget_set
from plumbing import context as actor_context

BUDGET = "0.5"


class Command(BaseCommand):
    help = "Set and calibrate the monitoring demo desk's alert budget (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        desk = Desk.objects.select_related("manager").filter(name=DESK_NAME).order_by("id").first()
        if desk is None or desk.manager is None:
            self.stdout.write("monitoring budget demo: no demo desk with a manager (run monitoring_seed_demo first)")
            return
        with actor_context.acting_as(desk.manager, source="seed"):
            budget = desk_budget_set(actor=desk.manager, desk=desk, alerts_per_100=BUDGET)
        synthetic_days()  # the budget page's recall figures, kept in the cache before its first visit
        self.stdout.write(f"monitoring budget demo: {desk.name}: {budget.alerts_per_100} alerts per 100 agent-days, "
                          f"threshold {budget.threshold} on {budget.agent_days} agent-days")
