"""The compliance dashboard: what waits for the compliance team, in one page.

Every figure is counted in SQL over the rows the officer may see (the same scoped querysets the
queues use: a brand-limited officer counts only their brands' clients), and each links to the
queue behind it:

- open screening hits and hits waiting for a second officer;
- AML alerts still open, by rule, and alerts raised per rule per week over the last weeks (a chart);
- unclosed cases by age (days since opened) and by SLA state (on time, due within a day, overdue);
- the risk distribution: each client's latest risk score, by band, and periodic reviews now due;
- active restrictions.

A section the officer has no permission for is left out (None), never shown as zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from compliance import aml, risk, screening
from compliance import cases as case_rules
from compliance import restrictions as restriction_rules
from compliance.case_selectors import cases_for_user
from compliance.models import (
    UNRESOLVED_HIT_STATUSES,
    AmlAlertStatus,
    AmlRuleKind,
    CaseStatus,
    HitStatus,
    Restriction,
    RiskBand,
    RiskScore,
)
from compliance.selectors import aml_alerts_for_user, screening_hits_for_user
from crm.permissions import client_queryset_for_user, user_can

DASHBOARD_PERMISSION = case_rules.VIEW_PERMISSION
WEEKS = 12
# Unclosed cases by days since they were opened: (label, from day, to day or None).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-2", 0, 2), ("3-7", 3, 7), ("8-30", 8, 30), ("31+", 31, None))
DUE_SOON = dt.timedelta(days=1)


@dataclass
class Dashboard:
    now: dt.datetime
    hits_open: int | None = None
    hits_pending: int | None = None
    alerts_open: int | None = None
    alerts_by_rule: list[dict[str, Any]] = field(default_factory=list)
    cases_unclosed: int | None = None
    cases_by_age: list[dict[str, Any]] = field(default_factory=list)
    cases_by_sla: dict[str, int] = field(default_factory=dict)
    cases_waiting_second_officer: int | None = None
    risk_by_band: dict[str, int] | None = None
    reviews_due: int | None = None
    restrictions_active: int | None = None
    chart: dict[str, Any] = field(default_factory=dict)


def compliance_dashboard(*, user: Any, now: dt.datetime | None = None, weeks: int = WEEKS) -> Dashboard:
    """The dashboard as `user` sees it at `now`."""
    now = now or timezone.now()
    board = Dashboard(now=now)
    if user_can(user, screening.VIEW_PERMISSION):
        hits = screening_hits_for_user(user).aggregate(
            open=Count("pk", filter=Q(status=HitStatus.OPEN)),
            pending=Count("pk", filter=Q(status=HitStatus.PENDING)),
            unresolved=Count("pk", filter=Q(status__in=UNRESOLVED_HIT_STATUSES)))
        board.hits_open, board.hits_pending = hits["open"], hits["pending"]
    if user_can(user, aml.VIEW_PERMISSION):
        _alerts(board, user, weeks)
    if user_can(user, case_rules.VIEW_PERMISSION):
        _cases(board, user)
    if user_can(user, risk.VIEW_PERMISSION):
        _risk(board, user)
    if user_can(user, restriction_rules.VIEW_PERMISSION):
        board.restrictions_active = (
            Restriction.objects.filter(client__in=client_queryset_for_user(user), lifted_at__isnull=True)
            .filter(Q(until__isnull=True) | Q(until__gt=now)).count())
    return board


def _alerts(board: Dashboard, user: Any, weeks: int) -> None:
    alerts = aml_alerts_for_user(user)
    labels = dict(AmlRuleKind.choices)
    open_by_rule = {row["rule__kind"]: row["n"] for row in
                    alerts.filter(status=AmlAlertStatus.OPEN).values("rule__kind").annotate(n=Count("pk"))}
    board.alerts_open = sum(open_by_rule.values())
    board.alerts_by_rule = [{"kind": kind, "label": labels.get(kind, kind), "open": n}
                            for kind, n in sorted(open_by_rule.items(), key=lambda kv: (-kv[1], kv[0]))]
    # Alerts raised per rule per week (weeks start on Monday, UTC), oldest week first.
    this_week = (board.now.astimezone(dt.UTC) - dt.timedelta(days=board.now.astimezone(dt.UTC).weekday())).date()
    first = this_week - dt.timedelta(weeks=weeks - 1)
    start = dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC)
    rows = (alerts.filter(created_at__gte=start).annotate(week=TruncWeek("created_at", tzinfo=dt.UTC))
            .values("week", "rule__kind").annotate(n=Count("pk")))
    days = [first + dt.timedelta(weeks=i) for i in range(weeks)]
    counts: dict[str, dict[dt.date, int]] = {}
    for row in rows:
        counts.setdefault(row["rule__kind"], {})[row["week"].date()] = row["n"]
    board.chart = {
        "labels": [d.isoformat() for d in days],
        "alerts": [{"label": str(labels.get(kind, kind)), "data": [by_week.get(d, 0) for d in days], "stack": "a"}
                   for kind, by_week in sorted(counts.items())],
    }


def _cases(board: Dashboard, user: Any) -> None:
    unclosed = cases_for_user(user).exclude(status=CaseStatus.CLOSED)
    now = board.now
    aggregates: dict[str, Any] = {
        "total": Count("pk"),
        "waiting": Count("pk", filter=Q(status=CaseStatus.PENDING_APPROVAL)),
        "overdue": Count("pk", filter=Q(due_at__lt=now)),
        "due_soon": Count("pk", filter=Q(due_at__gte=now, due_at__lt=now + DUE_SOON)),
    }
    for label, low, high in AGE_BUCKETS:
        # Opened `low` to `high` whole days ago.
        window = Q(opened_at__lte=now - dt.timedelta(days=low))
        if high is not None:
            window &= Q(opened_at__gt=now - dt.timedelta(days=high + 1))
        aggregates[f"age_{label}"] = Count("pk", filter=window)
    row = unclosed.aggregate(**aggregates)
    board.cases_unclosed = row["total"]
    board.cases_waiting_second_officer = row["waiting"]
    board.cases_by_age = [{"label": label, "count": row[f"age_{label}"]} for label, _low, _high in AGE_BUCKETS]
    board.cases_by_sla = {"overdue": row["overdue"], "due_soon": row["due_soon"],
                          "on_time": row["total"] - row["overdue"] - row["due_soon"]}


def _risk(board: Dashboard, user: Any) -> None:
    """Each client's latest score (one row per client, newest first by DISTINCT ON), counted by band."""
    latest = (RiskScore.objects.filter(client__in=client_queryset_for_user(user))
              .order_by("client_id", "-computed_at", "-pk").distinct("client_id").values("pk"))
    counted = dict(RiskScore.objects.filter(pk__in=latest).values_list("band").annotate(n=Count("pk")))
    board.risk_by_band = {band: counted.get(band, 0) for band in RiskBand.values}
    today = board.now.astimezone(dt.UTC).date()
    board.reviews_due = RiskScore.objects.filter(pk__in=latest, review_due__lte=today).count()
