"""Sales KPIs and marketing ROI, computed in SQL from the event stream and Call rows.

Per agent over [start, end):
- leads received: leads that became the agent's on arrival: "lead.routed" events naming the agent
  as owner, and "client.created" events of clients created already owned by the agent outside
  the intake (entered by staff, or by the demo); the intake's own "client.created" is not counted
  twice,
- contacted / median minutes to first contact: "lead.contacted" events by the agent,
- calls and talk time: the agent's Call rows,
- registrations / verifications: "client.stage_changed" to registered / verified, credited to the
  client's current owner,
- first-time deposits: "wallet.first_deposit" events (data: amount, currency), credited likewise.
Desk rows sum their agents. Who sees what: administrators every agent, desk managers the agents of
their desks, agents themselves only.

Marketing ROI: new leads (first touches) per campaign and per source, FTDs and deposits of those
clients (by their first touch), and the costs entered for each campaign over periods overlapping
the report's dates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypedDict

from django.db import transaction
from django.db.models import Count, DecimalField, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone
from django.utils.translation import gettext
from django_stubs_ext import WithAnnotations

from crm.audit import audit_record
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.aggregates import PercentileCont
from crm.lib.money import (
    CURRENCY_MAX_LENGTH,
    MoneyAmountField,
    UnknownCurrency,
    currency_normalise,
    money_parse,
    money_round,
)
from crm.lib.validation import InvalidValue
from crm.models import Brand, Desk, Event, RoleCode, User
from leads.models import Call, Campaign, CampaignCost, LeadTouch

AGENT_ROLES = (RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT)
AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


# --- periods -----------------------------------------------------------------------------------


PERIODS = ("today", "7d", "30d", "custom")


def period_bounds(*, period: str, tz: Any, today: date | None = None, start: date | None = None,
                  end: date | None = None) -> tuple[datetime, datetime, date, date]:
    """The aware [start, end) of a period in time zone `tz`, and its first and last calendar day.
    "custom" covers start..end inclusive."""
    today = today or timezone.localdate(timezone=tz)
    if period == "custom" and start and end:
        first, last = min(start, end), max(start, end)
    elif period == "7d":
        first, last = today - timedelta(days=6), today
    elif period == "30d":
        first, last = today - timedelta(days=29), today
    else:
        first, last = today, today
    begin = timezone.make_aware(datetime.combine(first, time.min), tz)
    finish = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), tz)
    return begin, finish, first, last


# --- sales KPIs ----------------------------------------------------------------------------------


@dataclass
class KpiRow:
    label: str
    key: str
    received: int = 0
    contacted: int = 0
    median_minutes: float | None = None
    calls: int = 0
    talk_seconds: int = 0
    registrations: int = 0
    verifications: int = 0
    ftd_count: int = 0
    ftd_amounts: dict[str, Decimal] = field(default_factory=dict)
    agents: int = 1

    @property
    def contact_rate(self) -> float | None:
        return None if not self.received else round(100.0 * min(self.contacted, self.received) / self.received, 1)

    @property
    def median_text(self) -> str:
        """The median time to first contact, in the unit that reads best."""
        if self.median_minutes is None:
            return ""
        minutes = self.median_minutes
        if minutes < 120:
            return gettext("%(n)s min") % {"n": f"{minutes:.0f}"}
        if minutes < 48 * 60:
            return gettext("%(n)s h") % {"n": f"{minutes / 60:.1f}"}
        return gettext("%(n)s days") % {"n": f"{minutes / 1440:.1f}"}

    @property
    def talk_minutes(self) -> int:
        return self.talk_seconds // 60

    def add(self, other: KpiRow) -> None:
        for name in ("received", "contacted", "calls", "talk_seconds", "registrations", "verifications", "ftd_count"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for currency, amount in other.ftd_amounts.items():
            self.ftd_amounts[currency] = self.ftd_amounts.get(currency, Decimal(0)) + amount


@dataclass
class KpiReport:
    start: datetime
    end: datetime
    agents: list[KpiRow]
    desks: list[KpiRow]
    total: KpiRow
    daily: dict[str, list[Any]]


def kpi_agents(*, user: User) -> QuerySet[User]:
    """The agents whose figures `user` may see."""
    qs = User.objects.filter(role__code__in=AGENT_ROLES).select_related("desk")
    if getattr(user, "is_administrator", False):
        return qs.order_by("full_name")
    if getattr(user, "role_code", None) == RoleCode.DESK_MANAGER:
        desks = Desk.objects.filter(Q(manager_id=user.pk) | Q(pk=user.desk_id or 0)).values("pk")
        return qs.filter(desk_id__in=desks).order_by("full_name")
    return qs.filter(pk=user.pk)


def _events(name: str, start: datetime, end: datetime) -> QuerySet[Event]:
    return Event.objects.filter(name=name, occurred_at__gte=start, occurred_at__lt=end)


class _Received(TypedDict):
    owner_code: str


class _Ftd(TypedDict):
    amount_text: str
    currency: str
    amount: Decimal


def _received(start: datetime, end: datetime, codes: list[str]) -> QuerySet[WithAnnotations[Event, _Received]]:
    """Events of leads arriving for the agents with `codes` (see the module docstring)."""
    return (Event.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
            .filter(Q(name="lead.routed") | (Q(name="client.created")
                                             & (Q(data__via__isnull=True) | ~Q(data__via="lead_intake"))))
            .annotate(owner_code=KT("data__owner__code")).filter(owner_code__in=codes))


def _contacted(agent_ids: list[int], start: datetime, end: datetime) -> QuerySet[Event]:
    """The agents' first contacts in [start, end) that carry their minutes as a whole number, unordered."""
    return (Event.objects.filter(name="lead.contacted", occurred_at__gte=start, occurred_at__lt=end,
                                 actor_id__in=agent_ids)
            .annotate(minutes_text=KT("data__minutes")).filter(minutes_text__regex=r"^[0-9]+$").order_by())


def _median() -> PercentileCont:
    """The median of `_contacted`'s minutes (as numbers: NUMERIC, exact)."""
    return PercentileCont(Cast("minutes_text", DecimalField()), 0.5)


def _median_minutes(agent_ids: list[int], start: datetime, end: datetime) -> dict[int, tuple[int, float | None]]:
    rows = _contacted(agent_ids, start, end).values("actor_id").annotate(n=Count("id"), median=_median())
    return {row["actor_id"]: (int(row["n"]), None if row["median"] is None else float(row["median"])) for row in rows}


def _ftd_amounts(qs: QuerySet[Event]) -> QuerySet[WithAnnotations[Event, _Ftd]]:
    return (qs.annotate(amount_text=KT("data__amount"), currency=KT("data__currency"))
            .filter(amount_text__regex=AMOUNT_PATTERN)
            .annotate(amount=Cast("amount_text", MoneyAmountField())))


def sales_kpis(*, user: User, start: datetime, end: datetime, tz: Any = None) -> KpiReport:
    """KPIs of the agents `user` may see over [start, end), per agent, per desk and in total, with a
    daily series (received, contacted, calls) for the charts."""
    agents = list(kpi_agents(user=user))
    by_id = {a.pk: a for a in agents}
    by_code = {str(a.code): a for a in agents}
    rows = {a.pk: KpiRow(label=a.full_name, key=str(a.code)) for a in agents}
    ids = list(by_id)

    routed = _received(start, end, list(by_code)).values("owner_code").annotate(n=Count("id"))
    for routed_row in routed:
        rows[by_code[routed_row["owner_code"]].pk].received = routed_row["n"]
    for agent_id, (n, median) in _median_minutes(ids, start, end).items():
        rows[agent_id].contacted, rows[agent_id].median_minutes = n, median
    for call_row in (Call.objects.filter(agent_id__in=ids, started_at__gte=start, started_at__lt=end)
                     .values("agent_id").annotate(n=Count("id"), talk=Sum("talk_seconds"))):
        agent_row = rows[call_row["agent_id"]]
        agent_row.calls, agent_row.talk_seconds = call_row["n"], int(call_row["talk"] or 0)
    stages = (_events("client.stage_changed", start, end).filter(client__owner_id__in=ids)
              .annotate(to=KT("data__to")).filter(to__in=["registered", "verified"])
              .values("client__owner_id", "to").annotate(n=Count("id")))
    for stage_row in stages:
        target = rows[stage_row["client__owner_id"]]
        if stage_row["to"] == "registered":
            target.registrations = stage_row["n"]
        else:
            target.verifications = stage_row["n"]
    ftds = _ftd_amounts(_events("wallet.first_deposit", start, end).filter(client__owner_id__in=ids))
    for ftd_row in ftds.values("client__owner_id", "currency").annotate(n=Count("id"), total=Sum("amount")):
        target = rows[ftd_row["client__owner_id"]]
        target.ftd_count += ftd_row["n"]
        currency = _currency_key(ftd_row["currency"])
        target.ftd_amounts[currency] = target.ftd_amounts.get(currency, Decimal(0)) + (ftd_row["total"] or Decimal(0))

    desks: dict[Any, KpiRow] = {}
    for agent in agents:
        desk_key = agent.desk_id or 0
        if desk_key not in desks:
            desks[desk_key] = KpiRow(label=agent.desk.name if agent.desk else gettext("No desk"),
                                     key=str(agent.desk.code) if agent.desk else "", agents=0)
        desks[desk_key].add(rows[agent.pk])
        desks[desk_key].agents += 1
    desk_agents: dict[Any, list[int]] = defaultdict(list)
    for agent in agents:
        desk_agents[agent.desk_id or 0].append(agent.pk)
    for desk_key, members in desk_agents.items():
        desks[desk_key].median_minutes = _median_minutes_total(members, start, end)
    total = KpiRow(label=gettext("Total"), key="", agents=len(agents))
    for agent_row in rows.values():
        total.add(agent_row)
    total.median_minutes = _median_minutes_total(ids, start, end)
    return KpiReport(start=start, end=end, agents=[rows[a.pk] for a in agents], desks=list(desks.values()),
                     total=total, daily=_daily(ids, list(by_code), start, end, tz))


def _median_minutes_total(agent_ids: list[int], start: datetime, end: datetime) -> float | None:
    value = _contacted(agent_ids, start, end).aggregate(median=_median())["median"]
    return None if value is None else float(value)


def _daily(ids: list[int], codes: list[str], start: datetime, end: datetime, tz: Any) -> dict[str, list[Any]]:
    tz = tz or timezone.get_current_timezone()
    days: list[date] = []
    day = timezone.localtime(start, tz).date()
    last = timezone.localtime(end - timedelta(microseconds=1), tz).date()
    while day <= last:
        days.append(day)
        day += timedelta(days=1)

    def series(qs: QuerySet[Any], column: str) -> list[int]:
        counts = {r["day"]: r["n"] for r in qs.annotate(day=TruncDate(column, tzinfo=tz)).values("day")
                  .annotate(n=Count("id"))}
        return [counts.get(d, 0) for d in days]

    return {
        "labels": [d.isoformat() for d in days],
        "received": series(_received(start, end, codes), "occurred_at"),
        "contacted": series(_events("lead.contacted", start, end).filter(actor_id__in=ids), "occurred_at"),
        "calls": series(Call.objects.filter(agent_id__in=ids, started_at__gte=start, started_at__lt=end), "started_at"),
    }


# --- marketing ROI -------------------------------------------------------------------------------


@dataclass
class RoiRow:
    key: str
    label: str
    leads: int = 0
    ftd_count: int = 0
    deposits: dict[str, Decimal] = field(default_factory=dict)
    costs: dict[str, Decimal] = field(default_factory=dict)

    @property
    def cost_per_lead(self) -> dict[str, Decimal]:
        return {c: _share(a, self.leads, c) for c, a in self.costs.items() if self.leads}

    @property
    def cost_per_ftd(self) -> dict[str, Decimal]:
        return {c: _share(a, self.ftd_count, c) for c, a in self.costs.items() if self.ftd_count}


def _share(amount: Decimal, count: int, currency: str) -> Decimal:
    """`amount / count` at the currency's minor unit, by the money rule (crm.lib.money: half-even)."""
    try:
        return money_round(amount / count, currency)
    except UnknownCurrency:
        # Costs entered before currencies were checked may carry a code the table does not know.
        return (amount / count).quantize(Decimal("0.01"))


def _currency_key(raw: str | None) -> str:
    # The whole code: cutting it to three letters counted USDT deposits as dollars.
    return (raw or "").strip().upper()[:CURRENCY_MAX_LENGTH]


def roi_brands(*, user: User) -> QuerySet[Brand]:
    if getattr(user, "is_administrator", False) or getattr(user, "all_brands", False):
        return Brand.objects.all()
    if getattr(user, "role_code", None) != RoleCode.DESK_MANAGER:
        return Brand.objects.none()
    return Brand.objects.filter(Q(staff=user) | Q(desks__manager=user) | Q(desks__pk=user.desk_id or 0)).distinct()


def marketing_roi(*, user: User, start: datetime, end: datetime, first_day: date, last_day: date
                  ) -> tuple[list[RoiRow], list[RoiRow]]:
    """(per campaign, per source) rows for the brands `user` may see."""
    brand_ids = list(roi_brands(user=user).values_list("pk", flat=True))
    touches = LeadTouch.objects.filter(brand_id__in=brand_ids, is_repeat=False, created_at__gte=start, created_at__lt=end)
    first_touch = LeadTouch.objects.filter(client_id=OuterRef("client_id"), is_repeat=False).order_by("created_at", "id")
    ftds = _ftd_amounts(_events("wallet.first_deposit", start, end).filter(brand_id__in=brand_ids)).annotate(
        campaign_code=Subquery(first_touch.values("campaign_code")[:1]),
        source=Subquery(first_touch.values("source")[:1]),
    )
    names = {c.code: c.name for c in Campaign.objects.filter(brand_id__in=brand_ids)}

    def rows_by(column: str, label: Any) -> dict[str, RoiRow]:
        out: dict[str, RoiRow] = {}

        def row(key: str | None) -> RoiRow:
            key = key or ""
            if key not in out:
                out[key] = RoiRow(key=key, label=label(key))
            return out[key]

        for r in touches.values(column).annotate(n=Count("id")):
            row(r[column]).leads = r["n"]
        for r in ftds.values(column, "currency").annotate(n=Count("id"), total=Sum("amount")):
            target = row(r[column])
            target.ftd_count += r["n"]
            currency = _currency_key(r["currency"])
            target.deposits[currency] = target.deposits.get(currency, Decimal(0)) + (r["total"] or Decimal(0))
        return out

    campaigns = rows_by("campaign_code", lambda k: names.get(k, k) or gettext("(no campaign)"))
    costs = (CampaignCost.objects.filter(campaign__brand_id__in=brand_ids, period_start__lte=last_day,
                                         period_end__gte=first_day)
             .values(code=F("campaign__code"), name=F("campaign__name"), cur=F("currency")).annotate(total=Sum("amount")))
    for c in costs:
        target = campaigns.setdefault(c["code"], RoiRow(key=c["code"], label=c["name"]))
        target.costs[c["cur"]] = target.costs.get(c["cur"], Decimal(0)) + c["total"]
    sources = rows_by("source", lambda k: k or gettext("(no source)"))
    order = lambda r: (-r.leads, r.label)  # noqa: E731
    return sorted(campaigns.values(), key=order), sorted(sources.values(), key=order)


@transaction.atomic
def campaign_cost_add(*, actor: User | None, campaign: Campaign, period_start: date, period_end: date, amount: Decimal,
                      currency: str) -> CampaignCost:
    """Record what `campaign` cost over a period. Administrators only (`actor=None`: the system)."""
    if actor is not None and not getattr(actor, "is_administrator", False):
        raise NotAllowed(gettext("Only administrators enter campaign costs."))
    errors: dict[str, list[str]] = {}
    if period_end < period_start:
        errors["period_end"] = [gettext("The period ends before it starts.")]
    try:
        currency = currency_normalise(currency)
    except UnknownCurrency as error:
        errors["currency"] = [error.message]
    try:
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
            raise InvalidValue("amount", gettext("Enter an amount of zero or more."))
        if "currency" not in errors:
            # Refused rather than rounded, at the currency's own decimals: a cost is what was paid.
            amount = money_parse(amount, currency, positive=False).amount
    except InvalidValue as error:
        errors["amount"] = [error.message]
    if errors:
        raise ValidationFailed(fields=errors)
    cost = CampaignCost.objects.create(campaign=campaign, period_start=period_start, period_end=period_end,
                                       amount=amount, currency=currency, created_by=actor)
    audit_record(action="campaign.cost_added", obj=campaign, after={
        "period_start": period_start, "period_end": period_end, "amount": str(amount), "currency": currency,
    }, actor=actor)
    return cost
