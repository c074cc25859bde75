"""Reads of monitoring for its pages: the context managers recorded, alerts, an alert's recent scores
and an agent's activity on a day.

Each read is scoped by monitoring.permissions itself, not by the page that calls it: a user who may
not see a record gets nothing from the selector, whatever the page checked before. A list cut at a
number says how many there were (`Cut.total`), so that the page can say it shows only some.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Model, QuerySet

from crm.models import Client, User
from crm.permissions import code_or_404
from monitoring.models import (
    AgentDayScore,
    CampaignDay,
    Cover,
    Holiday,
    Leave,
    MonitoringAlert,
    Notice,
    Shift,
    SubjectKind,
)
from monitoring.permissions import (
    agent_activity_visible,
    agents_managed_by,
    alert_queryset_for_user,
    desks_managed_by,
)

CONTEXT_ROWS = 200            # records of one kind shown on a context page (newest first)
ACTIVITY_ROWS = 2000          # events shown on an agent's day
SCORE_HISTORY_DAYS = 14       # an alert's page shows the agent's scores of the two weeks up to its day

@dataclass(frozen=True)
class Cut[T]:
    """The first rows of a list and how many there were in all."""

    rows: list[T]
    total: int

    @property
    def is_cut(self) -> bool:
        return self.total > len(self.rows)


def _cut[M: Model](qs: QuerySet[M], limit: int) -> Cut[M]:
    rows = list(qs[:limit])
    return Cut(rows=rows, total=len(rows) if len(rows) < limit else qs.count())


# --- the context managers record -----------------------------------------------------------------------


def covers_for_user(user: Any) -> QuerySet[Cover]:
    """The covers of the agents `user` records context for (monitoring.permissions.agents_managed_by),
    newest first; nothing for anyone else."""
    return Cover.objects.filter(agent__in=agents_managed_by(user).values("pk")).select_related("agent", "covered")


def leaves_for_user(user: Any) -> QuerySet[Leave]:
    """The leave of the agents `user` records context for, newest first."""
    return Leave.objects.filter(agent__in=agents_managed_by(user).values("pk")).select_related("agent")


def notices_for_user(user: Any) -> QuerySet[Notice]:
    """The notices of the agents `user` records context for, newest first (withdrawn ones too)."""
    return Notice.objects.filter(agent__in=agents_managed_by(user).values("pk")).select_related("agent")


def notice_get_for_user(user: Any, code: Any) -> Notice | None:
    """The notice with `code` if `user` records context for its agent; None if missing or out of reach."""
    return notices_for_user(user).filter(code=code_or_404(code)).first()


def shifts_for_user(user: Any) -> QuerySet[Shift]:
    """The shifts of the agents `user` records context for, newest first."""
    return Shift.objects.filter(agent__in=agents_managed_by(user).values("pk")).select_related("agent")


def campaign_days_for_user(user: Any) -> QuerySet[CampaignDay]:
    """The campaign days of the desks `user` records context for, newest first."""
    return CampaignDay.objects.filter(desk__in=desks_managed_by(user)).select_related("desk")


def holidays_for_user(user: Any) -> QuerySet[Holiday]:
    """The holidays of the brands of the desks `user` records context for, newest first."""
    return Holiday.objects.filter(brand_id__in=desks_managed_by(user).values("brand_id")).select_related("brand")


CONTEXT_READS = {
    "cover": covers_for_user, "leave": leaves_for_user, "notice": notices_for_user, "shifts": shifts_for_user,
    "campaigns": campaign_days_for_user, "holidays": holidays_for_user,
}


def context_rows(*, user: Any, kind: str, limit: int = CONTEXT_ROWS) -> Cut[Any]:
    """The newest `limit` records of one kind of context (a key of CONTEXT_READS) that `user` may
    read, and how many there are."""
    return _cut(CONTEXT_READS[kind](user), limit)


# --- alerts --------------------------------------------------------------------------------------------


def alerts_for_user(user: Any, *, status: str = "") -> QuerySet[MonitoringAlert]:
    """The alerts `user` may see (monitoring.permissions.alert_queryset_for_user: never one about
    themselves), of one status or all (""), newest day first."""
    qs = alert_queryset_for_user(user)
    return qs.filter(status=status) if status else qs


def alert_score_history(*, user: Any, alert: MonitoringAlert) -> list[AgentDayScore]:
    """The agent's scored days of the two weeks up to the alert's day, newest first: only for an alert
    about an agent, that `user` may see."""
    if alert.subject_kind != SubjectKind.AGENT or alert.agent_id is None:
        return []
    if not alert_queryset_for_user(user).filter(pk=alert.pk).exists():
        return []
    return list(AgentDayScore.objects.filter(agent_id=alert.agent_id, day__lte=alert.day,
                                             day__gte=alert.day - timedelta(days=SCORE_HISTORY_DAYS - 1))
                .order_by("-day"))


# --- an agent's day ------------------------------------------------------------------------------------


def agent_for_activity(user: Any, code: Any) -> User | None:
    """The agent with `code` if `user` may read their activity (monitoring.permissions.
    agent_activity_visible: never their own); None if missing or out of reach."""
    agent = User.objects.select_related("desk").filter(code=code_or_404(code)).first()
    if agent is None or agent.desk is None or not agent_activity_visible(user, agent):
        return None
    return agent


@dataclass(frozen=True)
class ActivityRow:
    """One recorded action of the agent, with the client's code and the owner's name looked up."""

    id: int
    time: datetime
    kind: str
    client_id: int | None
    client_code: Any
    owner: str
    own_book: bool
    high_value: bool
    rows: int | None
    duration_s: float | None
    outcome: str | None
    ip: str | None
    device: str | None


_DAY_ROWS = """SELECT id, time, kind, client_id, client_owner_id, client_high_value, rows, duration_s, outcome, ip, device
               FROM monitoring_activity WHERE agent_id = %s AND time >= %s AND time < %s
               ORDER BY time, id LIMIT %s"""
_DAY_COUNT = "SELECT count(*) FROM monitoring_activity WHERE agent_id = %s AND time >= %s AND time < %s"


def agent_day_activity(*, user: Any, agent: User, day: date, limit: int = ACTIVITY_ROWS) -> Cut[ActivityRow]:
    """The agent's first `limit` actions of the day (UTC), in order, and how many there were; nothing
    when `user` may not read the agent's activity."""
    if not agent_activity_visible(user, agent):
        return Cut(rows=[], total=0)
    start = datetime.combine(day, time(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    with connection.cursor() as cur:
        cur.execute(_DAY_ROWS, [agent.pk, start, end, limit])
        found = cur.fetchall()
        total = len(found)
        if total >= limit:
            cur.execute(_DAY_COUNT, [agent.pk, start, end])
            total = int(cur.fetchone()[0])
    codes = dict(Client.objects.filter(pk__in={r[3] for r in found if r[3]}).values_list("pk", "code"))
    owners = dict(User.objects.filter(pk__in={r[4] for r in found if r[4]}).values_list("pk", "full_name"))
    rows = [ActivityRow(id=r[0], time=r[1], kind=r[2], client_id=r[3], client_code=codes.get(r[3]),
                        owner=owners.get(r[4], ""), own_book=r[4] == agent.pk, high_value=bool(r[5]), rows=r[6],
                        duration_s=r[7], outcome=r[8], ip=r[9], device=r[10]) for r in found]
    return Cut(rows=rows, total=total)
