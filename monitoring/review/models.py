from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from plumbing.context import history_user


class DeskAlertBudget(models.Model):
    """How many alerts per 100 agent-days a desk's manager can review, and the threshold calibrated
    on the desk's history of agent-day scores to meet it (monitoring.review.budget)."""

    desk = models.OneToOneField("crm.Desk", on_delete=models.CASCADE, related_name="monitoring_budget")
    alerts_per_100 = models.DecimalField(_("alerts per 100 agent-days"), max_digits=6, decimal_places=2,
                                         default=Decimal("0.50"))
    # -log10 tail probabilities, not money: floats like the scores they are compared with.
    threshold = models.FloatField(null=True, blank=True)
    notice_threshold = models.FloatField(null=True, blank=True)
    agent_days = models.PositiveIntegerField(default=0)       # the history the calibration read
    alerts_on_history = models.PositiveIntegerField(default=0)  # how many of them the threshold alerts
    calibrated_at = models.DateTimeField(null=True, blank=True)
    set_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints: ClassVar = [
            # A budget of nothing would silence the desk; more than half its days is not a budget.
            models.CheckConstraint(condition=Q(alerts_per_100__gt=0) & Q(alerts_per_100__lte=50),
                                   name="deskalertbudget_positive_bounded"),
        ]

    def __str__(self) -> str:
        return f"{self.desk_id}: {self.alerts_per_100} per 100 agent-days"
