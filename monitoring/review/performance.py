"""The agent performance page's reads: the sales outcome (calls, talk time, new clients, conversion,
FTDs, deposits) beside the behaviour (each agent-day's deviation from the agent's own baseline, the
score monitoring keeps), per agent and per desk, day by day.

Calls are read through leads' selector and deposits through the wallet's, never their tables; new
clients are the core's clients by owner. Money stays Decimal per currency and goes to the page (and
its charts) as decimal strings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max
from django.db.models.functions import TruncDate

from crm.models import Client, Desk, User
from leads.selectors import agent_call_days
from monitoring.models import AgentDayScore
from wallet.selectors import owner_deposit_days

DAYS_DEFAULT = 90
DAYS_MAX = 366


@dataclass
class Totals:
    calls: int = 0
    answered: int = 0
    talk_seconds: int = 0
    new_clients: int = 0
    ftds: int = 0
    deposits: int = 0
    amounts: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    days_scored: int = 0
    alerts: int = 0
    max_score: float = 0.0
    score_sum: float = 0.0

    @property
    def conversion(self) -> Decimal | None:
        """FTDs over new clients in the period, in per cent (None without new clients)."""
        if not self.new_clients:
            return None
        return (Decimal(100 * self.ftds) / Decimal(self.new_clients)).quantize(Decimal("0.1"))

    @property
    def talk_minutes(self) -> int:
        return self.talk_seconds // 60

    @property
    def mean_score(self) -> float | None:
        return round(self.score_sum / self.days_scored, 2) if self.days_scored else None

    def amounts_text(self) -> list[str]:
        """Each currency's deposits as people read them ("32,000.00 USD"), never summed across currencies."""
        from crm.lib.money import amount_format

        return [amount_format(amount, currency) for currency, amount in sorted(self.amounts.items())]


@dataclass
class Performance:
    start: date
    end: date                       # exclusive
    agents: list[tuple[User, Totals]]
    desk: Totals
    days: list[date]
    series: dict[str, Any]          # what the charts draw (money as decimal strings)
    currency: str


def _range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def performance(*, desk: Desk, agent: User | None = None, days: int = DAYS_DEFAULT,
                today: date | None = None) -> Performance:
    """The last `days` days (to today, included) of `desk`'s agents, one agent's days in the charts
    when `agent` is given (else the desk's sums)."""
    days = max(1, min(int(days), DAYS_MAX))
    end = (today or datetime.now(UTC).date()) + timedelta(days=1)
    start = end - timedelta(days=days)
    t0, t1 = datetime.combine(start, time.min, UTC), datetime.combine(end, time.min, UTC)
    agents = list(User.objects.filter(desk=desk).order_by("full_name", "id"))
    ids = [a.pk for a in agents]
    per_day: dict[tuple[int, date], Totals] = defaultdict(Totals)
    for (agent_id, day), c in agent_call_days(agent_ids=ids, start=t0, end=t1).items():
        row = per_day[(agent_id, day)]
        row.calls, row.answered, row.talk_seconds = c.calls, c.answered, c.talk_seconds
    for (owner_id, day, currency), d in owner_deposit_days(owner_ids=ids, start=t0, end=t1).items():
        row = per_day[(owner_id, day)]
        row.deposits += d.deposits
        row.ftds += d.ftds
        row.amounts[currency] += d.amount
    new = (Client.objects.filter(owner_id__in=ids, created_at__gte=t0, created_at__lt=t1)
           .annotate(day=TruncDate("created_at", tzinfo=UTC)).values("owner_id", "day").annotate(n=Count("id"))
           .order_by())
    for r in new:
        per_day[(r["owner_id"], r["day"])].new_clients += r["n"]
    for s in AgentDayScore.objects.filter(agent_id__in=ids, day__gte=start, day__lt=end).values(
            "agent_id", "day", "score", "alerted"):
        row = per_day[(s["agent_id"], s["day"])]
        row.days_scored, row.score_sum, row.max_score = 1, float(s["score"]), float(s["score"])
        row.alerts = int(s["alerted"])
    totals: dict[int, Totals] = {a.pk: Totals() for a in agents}
    desk_totals = Totals()
    for (agent_id, _day), row in per_day.items():
        for target in (totals[agent_id], desk_totals):
            _add(target, row)
    currency = desk.brand.default_currency if desk.brand_id else "USD"
    shown = [k for k in per_day if agent is None or k[0] == agent.pk]
    chart_days = _range(start, end)
    by_day: dict[date, Totals] = defaultdict(Totals)
    for key in shown:
        _add(by_day[key[1]], per_day[key])
    series = {
        "labels": [d.isoformat() for d in chart_days],
        "sales": [
            {"label": "Calls", "data": [by_day[d].calls for d in chart_days]},
            {"label": "Talk minutes", "data": [by_day[d].talk_minutes for d in chart_days]},
            {"label": "New clients", "data": [by_day[d].new_clients for d in chart_days]},
            {"label": "FTDs", "data": [by_day[d].ftds for d in chart_days]},
        ],
        "money": [{"label": f"Deposits ({currency})",
                   "data": [str(by_day[d].amounts.get(currency, Decimal(0))) for d in chart_days]}],
        "behaviour": [
            {"label": "Deviation from own baseline (highest score of the day)",
             "data": [round(by_day[d].max_score, 2) if by_day[d].days_scored else None for d in chart_days]},
            {"label": "Alerts", "data": [by_day[d].alerts for d in chart_days]},
        ],
    }
    return Performance(start=start, end=end, agents=[(a, totals[a.pk]) for a in agents], desk=desk_totals,
                       days=chart_days, series=series, currency=currency)


def _add(target: Totals, row: Totals) -> None:
    target.calls += row.calls
    target.answered += row.answered
    target.talk_seconds += row.talk_seconds
    target.new_clients += row.new_clients
    target.ftds += row.ftds
    target.deposits += row.deposits
    for currency, amount in row.amounts.items():
        target.amounts[currency] += amount
    target.days_scored += row.days_scored
    target.alerts += row.alerts
    target.score_sum += row.score_sum
    target.max_score = max(target.max_score, row.max_score)


def latest_score_day(desk: Desk) -> date | None:
    latest: date | None = AgentDayScore.objects.filter(agent__desk=desk).aggregate(d=Max("day"))["d"]
    return latest
