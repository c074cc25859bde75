"""The named reports: parameterised queries (period, brand, desk, country, campaign) with a table,
a chart and exports. Each is built in the caller's scope (reports.selectors.dashboard_scope); the
money ones read the read models, the client ones (top traders, dormant clients, cohorts) read
trading's published views and the event stream once per build, as a job, never on a page view.
Amounts are per currency: a currency is a column of the row, never summed into another."""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Max, Q, Sum
from django.utils.translation import gettext_lazy as _

from crm.models import Client, Event, User
from crm.permissions import client_queryset_for_user
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
    rows: list[list[Any]]
    chart: dict[str, Any] = field(default_factory=dict)  # {"type", "labels", "datasets": [{label, data}]}
    notes: list[str] = field(default_factory=list)


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


def daily_money(scope: Scope, user: Any, p: Params) -> Result:
    """Per day and currency: deposits (count, amount), PSP fees, withdrawals paid, net deposits."""
    qs = _figures(scope, p).filter(Q(metric="deposits", dimension="provider") | Q(metric="withdrawals", dimension="method")
                                   | Q(metric="psp_fees", dimension="provider"))
    cells: dict[tuple[dt.date, str], dict[str, Any]] = defaultdict(lambda: defaultdict(Decimal))
    for r in qs.values("day", "currency", "metric").annotate(a=Sum("amount"), n=Sum("count")).order_by():
        cell = cells[(r["day"], r["currency"])]
        cell[r["metric"]] += r["a"]
        cell[f"{r['metric']}_n"] += r["n"]
    rows = []
    for (day, currency), c in sorted(cells.items()):
        rows.append([day, currency, int(c["deposits_n"]), c["deposits"], c["psp_fees"], int(c["withdrawals_n"]),
                     c["withdrawals"], c["deposits"] - c["withdrawals"]])
    totals: dict[str, list[Any]] = {}
    for row in rows:
        t = totals.setdefault(row[1], [_("Total"), row[1], 0, Decimal(0), Decimal(0), 0, Decimal(0), Decimal(0)])
        for i in range(2, 8):
            t[i] += row[i]
    chart = _chart_per_currency(rows, label_index=0, value_index=7, label=str(_("Net deposits")))
    return Result(str(_("Daily money report")), [str(x) for x in (
        _("Day"), _("Currency"), _("Deposits"), _("Deposited"), _("PSP fees"), _("Withdrawals"), _("Withdrawn"),
        _("Net deposits"))], rows + list(totals.values()), chart)


def _chart_per_currency(rows: list[list[Any]], *, label_index: int, value_index: int, label: str) -> dict[str, Any]:
    labels = sorted({str(r[label_index]) for r in rows})
    by: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in rows:
        by[r[1]][str(r[label_index])] = r[value_index]
    return {"type": "bar", "labels": labels, "datasets": [
        {"label": f"{label} {currency}", "data": [str(values.get(x, 0)) for x in labels]}  # Chart.js reads decimal strings
        for currency, values in sorted(by.items())]}


def agent_league(scope: Scope, user: Any, p: Params) -> Result:
    """Agents by FTDs in the period: new clients, FTDs, conversion and FTD amounts per currency."""
    qs = _figures(scope, p).filter(metric__in=["ftds", "new_clients"], dimension="agent")
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {"new": 0, "ftds": 0, "amounts": defaultdict(Decimal)})
    for r in qs.values("key", "metric", "currency").annotate(a=Sum("amount"), n=Sum("count")).order_by():
        row = per[r["key"]]
        if r["metric"] == "new_clients":
            row["new"] += r["n"]
        else:
            row["ftds"] += r["n"]
            row["amounts"][r["currency"]] += r["a"]
    names = {str(u.pk): u.full_name or u.email for u in User.objects.filter(pk__in=[k for k in per if k.isdigit()])}
    rows = []
    for key, row in sorted(per.items(), key=lambda kv: (-kv[1]["ftds"], -kv[1]["new"], kv[0])):
        rate = (Decimal(100 * row["ftds"]) / row["new"]).quantize(Decimal("0.1")) if row["new"] else None
        amounts = "; ".join(f"{a} {c}" for c, a in sorted(row["amounts"].items()))
        rows.append([names.get(key, str(_("(no agent)")) if not key else key), row["new"], row["ftds"], rate, amounts])
    chart = {"type": "bar", "labels": [r[0] for r in rows[:20]],
             "datasets": [{"label": str(_("FTDs")), "data": [r[2] for r in rows[:20]]}]}
    return Result(str(_("Agent league table")), [str(x) for x in (
        _("Agent"), _("New clients"), _("FTDs"), _("Conversion %"), _("FTD amounts"))], rows, chart,
        [str(_("Conversion: FTDs in the period over clients created in the period, per agent owning them."))])


def top_traders(scope: Scope, user: Any, p: Params) -> Result:
    """The clients with the largest closed P/L (per account currency) and their volume."""
    ids = _clients(user, scope, p).values("id")
    client_sql, client_params = ids.query.sql_with_params()
    start = dt.datetime.combine(p.period.start, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(p.period.end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.client_id, a.currency, "  # noqa: S608 (the ORM's own SQL for the client ids)
            "SUM(d.profit) FILTER (WHERE d.entry IN ('out', 'inout', 'out_by')), SUM(d.volume), COUNT(*) "
            "FROM trading_public_deals d JOIN trading_public_accounts a ON a.id = d.account_id "
            f"WHERE d.kind = 'trade' AND d.deleted_at IS NULL AND NOT a.is_demo AND a.client_id IN ({client_sql}) "
            "AND d.time >= %s AND d.time < %s "
            "GROUP BY a.client_id, a.currency ORDER BY 3 DESC NULLS LAST, 4 DESC LIMIT %s",
            [*client_params, start, end, TOP_N])
        found = cursor.fetchall()
    names = {c.pk: c for c in Client.objects.filter(pk__in=[r[0] for r in found]).only("first_name", "last_name", "code")}
    rows = [[str(names[r[0]]) if r[0] in names else r[0], r[1], r[2] or Decimal(0), r[3], r[4]] for r in found]
    chart = {"type": "bar", "labels": [str(r[0]) for r in rows[:20]],
             "datasets": [{"label": str(_("Lots")), "data": [float(r[3]) for r in rows[:20]]}]}
    return Result(str(_("Top traders")), [str(x) for x in (
        _("Client"), _("Currency"), _("Closed P/L"), _("Lots"), _("Deals"))], rows, chart)


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
            rows.append([str(c), c.country, c.stage, seen])
    chart = {"type": "bar", "labels": [str(_("Dormant"))], "datasets": [{"label": str(_("Clients")), "data": [len(rows)]}]}
    return Result(str(_("Dormant clients")), [str(x) for x in (
        _("Client"), _("Country"), _("Stage"), _("Last trade day"))], rows, chart)


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


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
    horizon = 6
    rows: list[list[Any]] = []
    for cohort in sorted(cohorts):
        size = len(cohorts[cohort])
        retention = [f"{round(100 * len(active[(cohort, k)]) / size)}%" for k in range(horizon)]
        net = "; ".join(f"{a} {c}" for (m, c), a in sorted(money.items()) if m == cohort)
        rows.append([cohort.strftime("%Y-%m"), size, *retention, net])
    chart = {"type": "line", "labels": [f"M{k}" for k in range(horizon)], "datasets": [
        {"label": r[0], "data": [int(str(x).rstrip("%")) for x in r[2:2 + horizon]]} for r in rows]}
    return Result(str(_("FTD cohorts")), [str(_("FTD month")), str(_("Clients")),
                                           *[f"M{k}" for k in range(horizon)], str(_("Net deposits"))], rows, chart,
                  [str(_("Mk: share of the cohort with a trade in the k-th month after its FTD month."))])


REPORTS: dict[str, Report] = {r.name: r for r in [
    Report("daily_money", _("Daily money report"), _("Deposits, PSP fees, withdrawals and net deposits per day and "
                                                     "currency: what finance signs."), daily_money),
    Report("ftd_cohorts", _("FTD cohorts"), _("Clients by first-deposit month: retention and net deposits."),
           ftd_cohorts),
    Report("agent_league", _("Agent league table"), _("New clients, FTDs and conversion per agent."), agent_league),
    Report("dormant_clients", _("Dormant clients"), _("Funded clients without a trade for a number of days."),
           dormant_clients),
    Report("top_traders", _("Top traders"), _("Clients by closed P/L and volume."), top_traders),
]}


def report_build(*, name: str, user: Any, scope: Scope, params: Params) -> Result:
    return REPORTS[name].build(scope, user, params)


def result_csv(result: Result) -> bytes:
    from crm.lib.csvsafe import SafeCsvWriter

    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(result.columns)
    writer.writerows(result.rows)
    return out.getvalue().encode("utf-8")


def result_xlsx(result: Result) -> bytes:
    from crm.lib.csvsafe import SafeXlsxWriter

    writer = SafeXlsxWriter(result.title)
    writer.writerow(result.columns)
    writer.writerows(result.rows)
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


