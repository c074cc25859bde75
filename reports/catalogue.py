"""The named reports: parameterised queries (period, brand, desk, country, campaign) with a table,
a chart and exports. Each is built in the caller's scope (reports.selectors.dashboard_scope); the
money ones read the read models, the client ones (top traders, dormant clients, cohorts) read
trading's published views and the event stream once per build, as a job, never on a page view.
Amounts are per currency: a currency is a column of the row, never summed into another. The rows
keep the exact figures (the charts read them); what a person reads, on the page and in the PDF, is
`Result.shown_rows`: each amount a `Money` in its row's currency, which the templates write with
the one formatter (the `money` filter: the currency's decimals, the language's marks); the CSV and
XLSX files get `Result.exported_rows`, the same amounts as plain numbers at the currency's decimals."""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import Max, Q, Sum
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from crm.lib.money import Money, MoneyError, amount_format
from crm.models import Client, Event, User
from crm.permissions import client_queryset_for_user
from plumbing.sqlfiles import orm_sql, sql_text
from reports.models import DailyFigure, DailyTrader
from reports.selectors import Period, Scope

TOP_N = 50


@dataclass(frozen=True)
class Params:
    period: Period
    brand_id: int | None = None
    desk_id: int | None = None
    country: str = ""
    campaign: str = ""
    dormant_days: int = 30

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.period.start.isoformat(), "end": self.period.end.isoformat(), "brand": self.brand_id,
                "desk": self.desk_id, "country": self.country, "campaign": self.campaign,
                "dormant_days": self.dormant_days}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Params:
        return cls(period=Period(dt.date.fromisoformat(data["start"]), dt.date.fromisoformat(data["end"])),
                   brand_id=data.get("brand") or None, desk_id=data.get("desk") or None,
                   country=data.get("country") or "", campaign=data.get("campaign") or "",
                   dormant_days=int(data.get("dormant_days") or 30))


@dataclass
class Result:
    title: str
    columns: list[str]
    rows: Sequence[tuple[Any, ...]]  # each report's typed rows (NamedTuples below), in the columns' order
    chart: dict[str, Any] = field(default_factory=dict)  # {"type", "labels", "datasets": [{label, data}]}
    notes: list[str] = field(default_factory=list)
    money_columns: tuple[int, ...] = ()  # the columns holding an amount in the currency of the row's column 1

    @property
    def shown_rows(self) -> list[list[Any]]:
        """The rows as a person reads them: each amount a Money in its row's currency (the
        templates write it with the `money` filter), every other cell as built."""
        if not self.money_columns:
            return [list(row) for row in self.rows]
        shown = []
        for row in self.rows:
            cells = list(row)
            for i in self.money_columns:
                if i < len(cells) and isinstance(cells[i], Decimal | int) and not isinstance(cells[i], bool):
                    try:
                        cells[i] = Money(cells[i], str(cells[1]))
                    except MoneyError:  # a currency no longer in the table: the figure as stored
                        pass
            shown.append(cells)
        return shown

    @property
    def exported_rows(self) -> list[list[Any]]:
        """The rows for the CSV and XLSX files: each amount a plain number at its currency's
        decimals (2000.00, 150000), as on the page, without the language's marks."""
        return [[cell.quantize().amount if isinstance(cell, Money) else cell for cell in row]
                for row in self.shown_rows]


def _money_columns(row_type: type[tuple[Any, ...]], *names: str) -> tuple[int, ...]:
    """The positions of a row type's money fields: amounts in the currency of the row's `currency`."""
    fields: tuple[str, ...] = getattr(row_type, "_fields")  # noqa: B009 - a NamedTuple's own field names
    assert fields[1] == "currency", row_type
    return tuple(fields.index(name) for name in names)


def _amounts_text(amounts: Mapping[str, Decimal]) -> str:
    """Amounts in several currencies for one cell ("1,000.00 USD; 500.00 EUR"), each by the one formatter."""
    return "; ".join(amount_format(amount, currency) for currency, amount in sorted(amounts.items()))


@dataclass(frozen=True)
class Report:
    name: str
    title: Any
    description: Any
    build: Callable[[Scope, Any, Params], Result]


def _figures(scope: Scope, p: Params) -> Any:
    qs = DailyFigure.objects.filter(scope.q(), day__gte=p.period.start, day__lte=p.period.end)
    if p.brand_id:
        qs = qs.filter(brand_id=p.brand_id)
    if p.desk_id:
        qs = qs.filter(desk_id=p.desk_id)
    return qs


def _clients(user: Any, scope: Scope, p: Params) -> Any:
    qs = client_queryset_for_user(user).filter(scope.q())
    if p.brand_id:
        qs = qs.filter(brand_id=p.brand_id)
    if p.desk_id:
        qs = qs.filter(desk_id=p.desk_id)
    if p.country:
        qs = qs.filter(country=p.country.upper())
    if p.campaign:
        qs = qs.filter(campaign=p.campaign)
    return qs


class DailyMoneyRow(NamedTuple):
    day: dt.date | Promise  # "Total" on a currency's total row
    currency: str
    deposits: int  # how many
    deposited: Decimal  # money, in `currency`
    psp_fees: Decimal
    withdrawals: int
    withdrawn: Decimal
    net_deposits: Decimal

    def plus(self, other: DailyMoneyRow) -> DailyMoneyRow:
        return self._replace(deposits=self.deposits + other.deposits, deposited=self.deposited + other.deposited,
                             psp_fees=self.psp_fees + other.psp_fees, withdrawals=self.withdrawals + other.withdrawals,
                             withdrawn=self.withdrawn + other.withdrawn,
                             net_deposits=self.net_deposits + other.net_deposits)


def daily_money(scope: Scope, user: Any, p: Params) -> Result:
    """Per day and currency: deposits (count, amount), PSP fees, withdrawals paid, net deposits."""
    qs = _figures(scope, p).filter(Q(metric="deposits", dimension="provider") | Q(metric="withdrawals", dimension="method")
                                   | Q(metric="psp_fees", dimension="provider"))
    cells: dict[tuple[dt.date, str], dict[str, Any]] = defaultdict(lambda: defaultdict(Decimal))
    for r in qs.values("day", "currency", "metric").annotate(a=Sum("amount"), n=Sum("count")).order_by():
        cell = cells[(r["day"], r["currency"])]
        cell[r["metric"]] += r["a"]
        cell[f"{r['metric']}_n"] += r["n"]
    rows = [DailyMoneyRow(day, currency, deposits=int(c["deposits_n"]), deposited=c["deposits"],
                          psp_fees=c["psp_fees"], withdrawals=int(c["withdrawals_n"]), withdrawn=c["withdrawals"],
                          net_deposits=c["deposits"] - c["withdrawals"])
            for (day, currency), c in sorted(cells.items())]
    totals: dict[str, DailyMoneyRow] = {}
    for row in rows:
        total = totals.get(row.currency)
        totals[row.currency] = row._replace(day=_("Total")) if total is None else total.plus(row)
    chart = _chart_per_currency(((r.day, r.currency, r.net_deposits) for r in rows), label=str(_("Net deposits")))
    return Result(str(_("Daily money report")), [str(x) for x in (
        _("Day"), _("Currency"), _("Deposits"), _("Deposited"), _("PSP fees"), _("Withdrawals"), _("Withdrawn"),
        _("Net deposits"))], [*rows, *totals.values()], chart,
        money_columns=_money_columns(DailyMoneyRow, "deposited", "psp_fees", "withdrawn", "net_deposits"))


def _chart_per_currency(points: Iterable[tuple[object, str, Decimal]], *, label: str) -> dict[str, Any]:
    """A bar per label and currency: `points` are (label, currency, amount)."""
    points = list(points)
    labels = sorted({str(x) for x, _currency, _amount in points})
    by: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for x, currency, amount in points:
        by[currency][str(x)] = amount
    return {"type": "bar", "labels": labels, "datasets": [
        {"label": f"{label} {currency}", "data": [str(values.get(x, 0)) for x in labels]}  # Chart.js reads decimal strings
        for currency, values in sorted(by.items())]}


@dataclass
class _AgentTally:
    new: int = 0  # clients created in the period
    ftds: int = 0
    amounts: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))  # currency -> FTD money


class AgentLeagueRow(NamedTuple):
    agent: str
    new_clients: int
    ftds: int
    conversion: Decimal | None  # percent
    ftd_amounts: str  # each currency's amount by the one formatter


def agent_league(scope: Scope, user: Any, p: Params) -> Result:
    """Agents by FTDs in the period: new clients, FTDs, conversion and FTD amounts per currency."""
    qs = _figures(scope, p).filter(metric__in=["ftds", "new_clients"], dimension="agent")
    per: dict[str, _AgentTally] = defaultdict(_AgentTally)
    for r in qs.values("key", "metric", "currency").annotate(a=Sum("amount"), n=Sum("count")).order_by():
        tally = per[r["key"]]
        if r["metric"] == "new_clients":
            tally.new += r["n"]
        else:
            tally.ftds += r["n"]
            tally.amounts[r["currency"]] += r["a"]
    names = {str(u.pk): u.full_name or u.email for u in User.objects.filter(pk__in=[k for k in per if k.isdigit()])}
    rows = []
    for key, tally in sorted(per.items(), key=lambda kv: (-kv[1].ftds, -kv[1].new, kv[0])):
        rate = (Decimal(100 * tally.ftds) / tally.new).quantize(Decimal("0.1")) if tally.new else None
        rows.append(AgentLeagueRow(names.get(key, str(_("(no agent)")) if not key else key), tally.new, tally.ftds,
                                   rate, _amounts_text(tally.amounts)))
    chart = {"type": "bar", "labels": [r.agent for r in rows[:20]],
             "datasets": [{"label": str(_("FTDs")), "data": [r.ftds for r in rows[:20]]}]}
    return Result(str(_("Agent league table")), [str(x) for x in (
        _("Agent"), _("New clients"), _("FTDs"), _("Conversion %"), _("FTD amounts"))], rows, chart,
        [str(_("Conversion: FTDs in the period over clients created in the period, per agent owning them."))])


class TopTraderRow(NamedTuple):
    client: str | int  # the client's name (their id if they are no longer readable)
    currency: str  # the account's
    closed_pl: Decimal  # money, in `currency`
    lots: Decimal
    deals: int


def top_traders(scope: Scope, user: Any, p: Params) -> Result:
    """The clients with the largest closed P/L (per account currency) and their volume."""
    ids = _clients(user, scope, p).values("id")
    client_sql, client_params = ids.query.sql_with_params()
    start = dt.datetime.combine(p.period.start, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(p.period.end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute(sql_text("reports", "catalogue/top_traders", clients=orm_sql(client_sql)),
                       [*client_params, start, end, TOP_N])
        found = cursor.fetchall()
    ids = [client_id for client_id, *_rest in found]
    names = {c.pk: c for c in Client.objects.filter(pk__in=ids).only("first_name", "last_name", "code")}
    rows = [TopTraderRow(str(names[client_id]) if client_id in names else client_id, currency,
                         closed_pl or Decimal(0), lots, deals)
            for client_id, currency, closed_pl, lots, deals in found]
    chart = {"type": "bar", "labels": [str(r.client) for r in rows[:20]],
             "datasets": [{"label": str(_("Lots")), "data": [float(r.lots) for r in rows[:20]]}]}
    return Result(str(_("Top traders")), [str(x) for x in (
        _("Client"), _("Currency"), _("Closed P/L"), _("Lots"), _("Deals"))], rows, chart,
        money_columns=_money_columns(TopTraderRow, "closed_pl"))


class DormantRow(NamedTuple):
    client: str
    country: str
    stage: str
    last_trade_day: dt.date | None


def dormant_clients(scope: Scope, user: Any, p: Params) -> Result:
    """Funded clients with no trade in the last `dormant_days` days before the period's end."""
    since = p.period.end - dt.timedelta(days=p.dormant_days)
    clients = _clients(user, scope, p).filter(stage__in=["funded", "active"])
    last = {r["client_id"]: r["last"] for r in DailyTrader.objects.filter(client_id__in=clients.values("id"))
            .values("client_id").annotate(last=Max("day")).order_by()}
    rows = []
    for c in clients.only("first_name", "last_name", "country", "stage", "brand_id").order_by("id")[:5000]:
        seen = last.get(c.pk)
        if seen is None or seen < since:
            rows.append(DormantRow(str(c), c.country, c.stage, seen))
    chart = {"type": "bar", "labels": [str(_("Dormant"))], "datasets": [{"label": str(_("Clients")), "data": [len(rows)]}]}
    return Result(str(_("Dormant clients")), [str(x) for x in (
        _("Client"), _("Country"), _("Stage"), _("Last trade day"))], rows, chart)


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


class CohortRow(NamedTuple):
    month: str  # of the first deposits, YYYY-MM
    clients: int
    m0: str  # the share of the cohort trading in the k-th month after its FTD month ("40%")
    m1: str
    m2: str
    m3: str
    m4: str
    m5: str
    net_deposits: str  # each currency's amount by the one formatter

    @property
    def retention(self) -> tuple[str, ...]:
        return (self.m0, self.m1, self.m2, self.m3, self.m4, self.m5)


COHORT_HORIZON = len(CohortRow.__annotations__) - 3  # the months m0... a cohort is followed


def ftd_cohorts(scope: Scope, user: Any, p: Params) -> Result:
    """Clients by the month of their first deposit: how many, how many still trade in each following
    month (retention) and their net deposits per month, per currency."""
    clients = _clients(user, scope, p)
    start = dt.datetime.combine(p.period.start, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(p.period.end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    ftd = {r["client_id"]: _month(r["occurred_at"].astimezone(dt.UTC).date()) for r in Event.objects.filter(
        name="wallet.first_deposit", occurred_at__gte=start, occurred_at__lt=end, client__in=clients)
        .values("client_id", "occurred_at").order_by()}
    cohorts: dict[dt.date, set[int]] = defaultdict(set)
    for client_id, month in ftd.items():
        cohorts[month].add(client_id)
    active: dict[tuple[dt.date, int], set[int]] = defaultdict(set)
    for r in DailyTrader.objects.filter(client_id__in=list(ftd), day__gte=p.period.start).values("client_id", "day"):
        cohort = ftd[r["client_id"]]
        k = (r["day"].year - cohort.year) * 12 + r["day"].month - cohort.month
        if k >= 0:
            active[(cohort, k)].add(r["client_id"])
    money: dict[tuple[dt.date, str], Decimal] = defaultdict(Decimal)
    for ev in (Event.objects.filter(name__in=["wallet.deposit_succeeded", "wallet.withdrawal_paid"],
                                    client_id__in=list(ftd), occurred_at__gte=start)
               .values("client_id", "name", "data")):
        sign = 1 if ev["name"] == "wallet.deposit_succeeded" else -1
        money[(ftd[ev["client_id"]], ev["data"].get("currency", ""))] += sign * Decimal(str(ev["data"].get("amount") or 0))
    horizon = COHORT_HORIZON
    rows: list[CohortRow] = []
    for cohort in sorted(cohorts):
        size = len(cohorts[cohort])
        m0, m1, m2, m3, m4, m5 = (f"{round(100 * len(active[(cohort, k)]) / size)}%" for k in range(horizon))
        net = _amounts_text({c: a for (m, c), a in money.items() if m == cohort})
        rows.append(CohortRow(cohort.strftime("%Y-%m"), size, m0, m1, m2, m3, m4, m5, net))
    chart = {"type": "line", "labels": [f"M{k}" for k in range(horizon)], "datasets": [
        {"label": r.month, "data": [int(x.rstrip("%")) for x in r.retention]} for r in rows]}
    return Result(str(_("FTD cohorts")), [str(_("FTD month")), str(_("Clients")),
                                           *[f"M{k}" for k in range(horizon)], str(_("Net deposits"))], rows, chart,
                  [str(_("Mk: share of the cohort with a trade in the k-th month after its FTD month."))])


class WithdrawalsRow(NamedTuple):
    provider: str
    currency: str
    withdrawals: int  # how many
    withdrawn: Decimal  # money, in `currency`
    share: Decimal | None = None  # percent of the currency's withdrawn total


def withdrawals_by_provider(scope: Scope, user: Any, p: Params) -> Result:
    """Withdrawals paid in the period per provider and currency: how many, how much, the share of
    the currency's total."""
    qs = _figures(scope, p).filter(metric="withdrawals", dimension="provider")
    if p.country or p.campaign:  # the read model keys one dimension a row: these filter the events
        return _withdrawals_from_events(user, scope, p)
    rows = [WithdrawalsRow(r["key"] or "—", r["currency"], r["n"], r["a"]) for r in
            qs.values("key", "currency").annotate(a=Sum("amount"), n=Sum("count")).order_by("currency", "-a", "key")]
    return _withdrawals_result(rows)


def _withdrawals_from_events(user: Any, scope: Scope, p: Params) -> Result:
    start = dt.datetime.combine(p.period.start, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(p.period.end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    per: dict[tuple[str, str], WithdrawalsRow] = {}
    for ev in Event.objects.filter(name="wallet.withdrawal_paid", occurred_at__gte=start, occurred_at__lt=end,
                                   client__in=_clients(user, scope, p)).values("data"):
        key = (str(ev["data"].get("provider") or "—"), str(ev["data"].get("currency") or ""))
        row = per.get(key, WithdrawalsRow(key[0], key[1], 0, Decimal(0)))
        per[key] = row._replace(withdrawals=row.withdrawals + 1,
                                withdrawn=row.withdrawn + Decimal(str(ev["data"].get("amount") or 0)))
    return _withdrawals_result(sorted(per.values(), key=lambda r: (r.currency, -r.withdrawn, r.provider)))


def _withdrawals_result(rows: list[WithdrawalsRow]) -> Result:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        totals[r.currency] += r.withdrawn
    shared = [r._replace(share=(100 * r.withdrawn / totals[r.currency]).quantize(Decimal("0.1"))
                         if totals[r.currency] else None) for r in rows]
    chart = _chart_per_currency(((r.provider, r.currency, r.withdrawn) for r in shared), label=str(_("Withdrawn")))
    return Result(str(_("Withdrawals by provider")), [str(x) for x in (
        _("Provider"), _("Currency"), _("Withdrawals"), _("Withdrawn"), _("Share of the currency %"))], shared, chart,
        money_columns=_money_columns(WithdrawalsRow, "withdrawn"))


class CampaignRoiRow(NamedTuple):
    campaign: str
    currency: str
    new_clients: int
    ftds: int
    conversion: Decimal | None  # percent
    deposits: Decimal  # money, in `currency`
    withdrawals: Decimal
    net_deposits: Decimal
    cost: Decimal | str  # "" without a cost in this currency
    roi: Decimal | None  # percent


def campaign_roi(scope: Scope, user: Any, p: Params) -> Result:
    """Per campaign and currency: new clients, FTDs, conversion, deposits, withdrawals, net
    deposits, the campaign's cost (leads' campaign costs, prorated to the period) and ROI = (net
    deposits - cost) / cost, only where the cost and the money are in the same currency."""
    from leads.selectors import campaign_costs_in

    qs = _figures(scope, p).filter(dimension="campaign", metric__in=["deposits", "withdrawals", "ftds", "new_clients"])
    if p.campaign:
        qs = qs.filter(key=p.campaign)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"new": 0, "ftds": 0})
    money: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in qs.values("key", "metric", "currency").annotate(a=Sum("amount"), n=Sum("count")).order_by():
        if r["metric"] == "new_clients":
            counts[r["key"]]["new"] += r["n"]
            continue
        if r["metric"] == "ftds":
            counts[r["key"]]["ftds"] += r["n"]
        money[(r["key"], r["currency"])][r["metric"]] += r["a"]
    brand_ids = [p.brand_id] if p.brand_id else scope.brand_ids
    costs: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for (_brand, code, currency), amount in campaign_costs_in(first_day=p.period.start, last_day=p.period.end,
                                                               brand_ids=brand_ids).items():
        if not p.campaign or code == p.campaign:
            costs[(code, currency)] += amount
    rows = []
    for key, currency in sorted(set(money) | set(costs)):
        m = money.get((key, currency), {})
        c = counts.get(key, {"new": 0, "ftds": 0})
        cost = costs.get((key, currency))
        net = m.get("deposits", Decimal(0)) - m.get("withdrawals", Decimal(0))
        roi = ((net - cost) * 100 / cost).quantize(Decimal("0.1")) if cost else None
        rate = (Decimal(100 * c["ftds"]) / c["new"]).quantize(Decimal("0.1")) if c["new"] else None
        rows.append(CampaignRoiRow(key or str(_("(no campaign)")), currency, c["new"], c["ftds"], rate,
                                   m.get("deposits", Decimal(0)), m.get("withdrawals", Decimal(0)), net,
                                   cost if cost is not None else "", roi))
    chart = _chart_per_currency(((r.campaign, r.currency, r.net_deposits) for r in rows), label=str(_("Net deposits")))
    notes = [str(_("Cost: the campaign costs recorded in leads whose period overlaps, prorated by its days in the "
                   "report's period. ROI = (net deposits - cost) / cost, in one currency; no cost, no ROI.")),
             str(_("Clients and FTDs count once per campaign; amounts are per currency."))]
    if scope.desk_ids is not None:
        notes.append(str(_("Costs are the brand's; money and clients are your desks' only.")))
    return Result(str(_("Campaign ROI")), [str(x) for x in (
        _("Campaign"), _("Currency"), _("New clients"), _("FTDs"), _("Conversion %"), _("Deposits"), _("Withdrawals"),
        _("Net deposits"), _("Cost"), _("ROI %"))], rows, chart, notes,
        money_columns=_money_columns(CampaignRoiRow, "deposits", "withdrawals", "net_deposits", "cost"))


# The broker's revenue from a client's deals, by book, in SQL over trading's published views: on
# every book the commission charged and the spread (valued as the read model does); where the
# broker is the counterparty (B-book, or no stated book) also the swap and the clients' closed P/L.
_IB_REVENUE_SQL = """
WITH inst AS (
    SELECT * FROM unnest(%s::bigint[], %s::text[], %s::numeric[], %s::numeric[], %s::text[], %s::numeric[])
        AS i(brand_id, symbol, contract_size, units_per_lot, profit_currency, markup_per_lot)
), attributed AS (
    SELECT * FROM unnest(%s::bigint[], %s::bigint[]) AS t(client_id, partner_id)
), base AS (
    SELECT t.partner_id, a.currency, a.book, s.brand_id, d.symbol, d.entry, d.volume, d.profit, d.commission, d.swap,
           COALESCE(d.market_ask - d.market_bid, d.market_spread) AS spread
    FROM trading_public_deals d
    JOIN trading_public_accounts a ON a.id = d.account_id
    JOIN trading_public_servers s ON s.id = d.server_id
    JOIN attributed t ON t.client_id = a.client_id
    WHERE d.kind = 'trade' AND d.deleted_at IS NULL AND NOT a.is_demo AND d.time >= %s AND d.time < %s
)
SELECT partner_id, currency, SUM(-commission + CASE WHEN book = 'a' THEN 0 ELSE -swap - CASE WHEN entry IN
       ('out', 'inout', 'out_by') THEN profit ELSE 0 END END), SUM(volume)
  FROM base GROUP BY 1, 2
UNION ALL
SELECT b.partner_id, i.profit_currency, SUM(COALESCE(b.spread * b.volume * i.contract_size,
       b.volume * i.contract_size / i.units_per_lot * i.markup_per_lot)), 0
  FROM base b JOIN inst i ON i.brand_id = b.brand_id AND i.symbol = b.symbol
 WHERE b.entry IN ('out', 'inout', 'out_by') AND (b.spread IS NOT NULL OR i.markup_per_lot IS NOT NULL)
 GROUP BY 1, 2
"""


@dataclass
class _IbCell:
    revenue: Decimal = Decimal(0)  # money, in the row's currency
    earned: Decimal = Decimal(0)
    lots: Decimal = Decimal(0)


class IbEarningsRow(NamedTuple):
    partner: str
    currency: str
    lots: Decimal
    revenue: Decimal  # money, in `currency`
    earned: Decimal
    left: Decimal  # to the broker
    share: Decimal | None  # earned over revenue, percent


def ib_earnings(scope: Scope, user: Any, p: Params) -> Result:
    """Per partner and currency: the commission earned in the period (the counting runs' lines, as
    the dashboard's IB cost) against the revenue their attributed clients' trading brought the
    broker (commission, spread; swap and the clients' losses where the broker is counterparty),
    and what is left to the broker."""
    from ib.selectors import attributions_at, instrument_specs, partner_names

    start = dt.datetime.combine(p.period.start, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(p.period.end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    clients = _clients(user, scope, p)
    pairs = list(attributions_at(end - dt.timedelta(microseconds=1)).filter(client__in=clients)
                 .values_list("client_id", "partner_id"))
    cells: dict[tuple[str, str], _IbCell] = defaultdict(_IbCell)
    earned = _figures(scope, p).filter(metric="ib_cost", dimension="partner")
    for r in earned.values("key", "currency").annotate(a=Sum("amount")).order_by():
        cells[(r["key"], r["currency"])].earned += r["a"]
    if pairs:
        specs = instrument_specs()
        with connection.cursor() as cursor:
            cursor.execute(_IB_REVENUE_SQL, [*[[s[i] for s in specs] for i in range(6)],
                                             [c for c, _p in pairs], [q for _c, q in pairs], start, end])
            for partner_id, currency, revenue, lots in cursor.fetchall():
                cell = cells[(str(partner_id), currency)]
                cell.revenue += revenue or Decimal(0)
                cell.lots += lots or Decimal(0)
    names = partner_names(int(k) for k, _c in cells if k.isdigit())
    rows = []
    for (key, currency), c in sorted(cells.items(), key=lambda kv: (kv[0][1], -kv[1].revenue, kv[0][0])):
        share = (100 * c.earned / c.revenue).quantize(Decimal("0.1")) if c.revenue > 0 else None
        rows.append(IbEarningsRow(names.get(key, key), currency, c.lots, c.revenue, c.earned, c.revenue - c.earned,
                                  share))
    chart = {"type": "bar", "labels": [f"{r.partner} {r.currency}" for r in rows[:20]], "datasets": [
        {"label": str(_("Revenue")), "data": [str(r.revenue) for r in rows[:20]]},
        {"label": str(_("Earned")), "data": [str(r.earned) for r in rows[:20]]}]}
    return Result(str(_("IB earnings against revenue")), [str(x) for x in (
        _("Partner"), _("Currency"), _("Lots"), _("Revenue from their clients"), _("Commission earned"),
        _("Left to the broker"), _("Earned / revenue %"))], rows, chart,
        [str(_("Revenue: commission and spread on every book; swap and the clients' closed P/L where the broker is "
               "their counterparty (B-book or no stated book). Earned: the partners' commission lines of the "
               "period, as of the last rebuild. Each currency is its own row."))],
        money_columns=_money_columns(IbEarningsRow, "revenue", "earned", "left"))


REPORTS: dict[str, Report] = {r.name: r for r in [
    Report("daily_money", _("Daily money report"), _("Deposits, PSP fees, withdrawals and net deposits per day and "
                                                     "currency: what finance signs."), daily_money),
    Report("ftd_cohorts", _("FTD cohorts"), _("Clients by first-deposit month: retention and net deposits."),
           ftd_cohorts),
    Report("agent_league", _("Agent league table"), _("New clients, FTDs and conversion per agent."), agent_league),
    Report("dormant_clients", _("Dormant clients"), _("Funded clients without a trade for a number of days."),
           dormant_clients),
    Report("top_traders", _("Top traders"), _("Clients by closed P/L and volume."), top_traders),
    Report("campaign_roi", _("Campaign ROI"), _("Clients, FTDs, net deposits and cost per campaign, with the return "
                                                 "on the cost."), campaign_roi),
    Report("ib_earnings", _("IB earnings against revenue"), _("What each partner earned against what their clients' "
                                                              "trading brought the broker."), ib_earnings),
    Report("withdrawals_by_provider", _("Withdrawals by provider"), _("Withdrawals paid per provider and currency."),
           withdrawals_by_provider),
]}


def report_build(*, name: str, user: Any, scope: Scope, params: Params) -> Result:
    return REPORTS[name].build(scope, user, params)


def result_csv(result: Result) -> bytes:
    from plumbing.csvsafe import SafeCsvWriter

    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(result.columns)
    writer.writerows(result.exported_rows)
    return out.getvalue().encode("utf-8")


def result_xlsx(result: Result) -> bytes:
    from plumbing.csvsafe import SafeXlsxWriter

    writer = SafeXlsxWriter(result.title)
    writer.writerow(result.columns)
    writer.writerows(result.exported_rows)
    out = io.BytesIO()
    writer.save(out)
    return out.getvalue()


def result_pdf(result: Result, params: Params) -> bytes:
    from crm.lib.pdf import pdf_render

    return pdf_render("reports/report_pdf.html", {"result": result, "params": params})


def result_file(result: Result, params: Params, fmt: str) -> tuple[str, bytes, str]:
    """(filename, content, MIME type) of `result` as CSV, XLSX or PDF."""
    stem = f"{result.title.lower().replace(' ', '-')}-{params.period.start}-{params.period.end}"
    if fmt == "csv":
        return f"{stem}.csv", result_csv(result), "text/csv"
    if fmt == "xlsx":
        return (f"{stem}.xlsx", result_xlsx(result),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return f"{stem}.pdf", result_pdf(result, params), "application/pdf"


