"""Staff pages of the reporting hub: the management dashboard (its figures an htmx partial polled
while the page is open), the drill-down behind every number, the named reports with their exports,
and the report schedules with their delivery log."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from crm.exceptions import NotAllowed
from crm.models import Desk, Event, User
from crm.permissions import AuthedRequest, client_queryset_for_user, page_permission_required, user_can
from crm.views.ui import render_page
from reports import selectors, services
from reports.catalogue import REPORTS, Params, report_build
from reports.exceptions import ReportRefused
from reports.models import ExportFormat, Frequency
from reports.readmodel import DEAL_METRICS, EVENT_FIGURES
from reports.selectors import VIEW_PERMISSION, Period, Scope

MAX_DAYS = 366
DRILL_ROWS = 500


def _scope(request: AuthedRequest) -> Scope:
    try:
        return selectors.dashboard_scope(request.user)
    except NotAllowed:
        raise Http404 from None


def _date(value: str | None) -> dt.date | None:
    """A report's date, or None for one that is not YYYY-MM-DD or lies outside the years 1900 to 2999
    (0001-01-01 would leave no room for the period before it)."""
    try:
        day = dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None
    return day if day is None or 1900 <= day.year <= 2999 else None


def _period(request: AuthedRequest, problems: dict[str, str], default_days: int = 30) -> Period:
    today = timezone.now().astimezone(dt.UTC).date()
    start, end = _date(request.GET.get("from")), _date(request.GET.get("to"))
    if request.GET.get("from") and start is None:
        problems["from"] = gettext("Enter a date as YYYY-MM-DD.")
    if request.GET.get("to") and end is None:
        problems["to"] = gettext("Enter a date as YYYY-MM-DD.")
    end = end or today
    start = start or end - dt.timedelta(days=default_days - 1)
    if start > end:
        problems["from"] = gettext("The start is after the end.")
        start = end
    if (end - start).days >= MAX_DAYS:
        problems["from"] = gettext("Choose at most %(n)d days.") % {"n": MAX_DAYS}
        start = end - dt.timedelta(days=MAX_DAYS - 1)
    return Period(start, end)


def _brand_id(request: AuthedRequest, scope: Scope, problems: dict[str, str]) -> int | None:
    raw = request.GET.get("brand", "")
    if not raw:
        return None
    brand = selectors.brands_in_scope(scope).filter(code=raw).first()
    if brand is None:
        problems["brand"] = gettext("Choose a brand from the list.")
        return None
    return brand.pk


def _agent_names(keys: list[str]) -> dict[str, str]:
    ids = [k for k in keys if k.isdigit()]
    return {str(u.pk): u.full_name or u.email for u in User.objects.filter(pk__in=ids)}


def _support_kpis(request: AuthedRequest, period: Period, brand_id: int | None) -> Any:
    """The support desk's KPIs over the dashboard's period and brand, in the user's support scope
    (support.selectors.support_kpis); None for who does not see tickets."""
    from support.permissions import VIEW_TICKET
    from support.selectors import support_kpis

    if not user_can(request.user, VIEW_TICKET):
        return None
    return support_kpis(user=request.user, date_from=period.start, date_to=period.end, brand_id=brand_id)


@page_permission_required(VIEW_PERMISSION)
@require_GET
def dashboard(request: AuthedRequest) -> HttpResponse:
    """The management dashboard for one brand or every brand the user sees, over a period."""
    scope = _scope(request)
    problems: dict[str, str] = {}
    period = _period(request, problems)
    brand_id = _brand_id(request, scope, problems)
    board = selectors.dashboard(scope=scope, period=period, brand_id=brand_id)
    agent_keys = [row["key"] for row in board.ftds.get("agent", [])]
    platforms = _platform_names([f.key for f in board.volume_by_platform])
    from ib.selectors import partner_names

    partners = partner_names(int(f.key) for f in board.ib_by_partner if f.key.isdigit())
    query = {"from": period.start.isoformat(), "to": period.end.isoformat(),
             "brand": request.GET.get("brand", "") if "brand" not in problems else ""}
    chart = {"labels": [d.isoformat() for d, _v in next(iter(board.series.values()), [])],
             "datasets": [{"label": f"{gettext('Deposits')} {c}", "data": [str(v) for _d, v in points]}
                          for c, points in board.series.items()]}
    return render_page(request, "reports/dashboard.html", {
        "board": board, "brands": selectors.brands_in_scope(scope), "problems": problems, "query": query,
        "agents": _agent_names(agent_keys), "platforms": platforms, "partners": partners, "chart_json": json.dumps(chart),
        "ops": selectors.operations(user=request.user), "scoped_desks": scope.desk_ids is not None,
        "support": _support_kpis(request, period, brand_id), "now": timezone.now(),
    }, partial="dashboard-figures", status=400 if problems else 200)


def _platform_names(keys: list[str]) -> dict[str, str]:
    from trading.selectors import server_names

    return server_names([int(k) for k in keys if k.isdigit()])


@page_permission_required(VIEW_PERMISSION)
@require_GET
def drill(request: AuthedRequest) -> HttpResponse:
    """The rows behind one dashboard number: the events (deposits, withdrawals, FTDs, new clients)
    or the deals it counts, of the clients the user may see."""
    scope = _scope(request)
    problems: dict[str, str] = {}
    period = _period(request, problems)
    brand_id = _brand_id(request, scope, problems)
    metric, dimension = request.GET.get("metric", ""), request.GET.get("dimension", "")
    key, currency = request.GET.get("key"), request.GET.get("currency")
    names = [n for n, figs in EVENT_FIGURES.items() if any(f.metric == metric for f in figs)]
    if not names and metric not in DEAL_METRICS and metric != "floating_pl":
        raise Http404
    clients = client_queryset_for_user(request.user).filter(scope.q())
    if brand_id:
        clients = clients.filter(brand_id=brand_id)
    if key is not None and dimension in ("country", "campaign"):
        clients = clients.filter(**{dimension: key})
    elif key is not None and dimension == "agent":
        clients = clients.filter(owner_id=int(key)) if key.isdigit() else clients.filter(owner__isnull=True)
    start = dt.datetime.combine(period.start, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    rows: list[dict[str, Any]] = []
    if names:
        events = Event.objects.filter(name__in=names, occurred_at__gte=start, occurred_at__lt=end,
                                      client__in=clients.values("id")).select_related("client")
        if key is not None and dimension in ("provider", "method"):
            events = events.filter(**{f"data__{dimension}": key})
        if currency:
            events = events.filter(data__currency=currency)
        for e in events.order_by("-occurred_at", "-id")[:DRILL_ROWS]:
            rows.append({"at": e.occurred_at, "client": e.client, "what": e.name,
                         "amount": e.data.get("fee" if metric == "psp_fees" else "amount", ""),
                         "currency": e.data.get("currency", ""),
                         "ref": e.data.get("deposit") or e.data.get("withdrawal") or "",
                         "detail": e.data.get("provider") or e.data.get("method") or ""})
    elif metric == "floating_pl":
        from trading.selectors import open_positions_of_clients

        for p in open_positions_of_clients(client_ids=clients.values("id"), currency=currency,
                                           symbol=key if dimension == "symbol" else None,
                                           book=key if dimension == "book" else None, limit=DRILL_ROWS):
            rows.append({"at": p["opened_at"], "client_id": p["client_id"], "what": f"{p['symbol']} {p['side']} "
                         f"{p['volume'].normalize()}", "amount": p["profit"] + p["swap"], "currency": p["currency"],
                         "ref": p["position_id"], "detail": p["book"].upper()})
    else:
        from trading.selectors import deals_of_clients

        specs = _instrument_specs() if metric == "spread" else {}
        for d in deals_of_clients(client_ids=clients.values("id"), start=start, end=end,
                                  symbol=key if dimension == "symbol" else None,
                                  server_id=int(key) if dimension == "platform" and key and key.isdigit() else None,
                                  book=key if dimension == "book" else None,
                                  closing_only=metric in ("closed_pl", "spread"), limit=DRILL_ROWS):
            if metric == "spread":
                value = _spread_value(d, specs.get((d["brand_id"], d["symbol"])))
                if value is None or (currency and value[1] != currency):
                    continue
                amount, deal_currency = value
            else:
                if currency and d["currency"] != currency:
                    continue
                amount = {"volume": d["volume"], "closed_pl": d["profit"], "commission": d["commission"],
                          "swap": d["swap"]}[metric]
                deal_currency = "" if metric == "volume" else d["currency"]
            rows.append({"at": d["time"], "client_id": d["client_id"], "what": f"{d['symbol']} {d['side']} {d['entry']}",
                         "amount": amount, "currency": deal_currency, "ref": d["id"], "detail": ""})
    return render_page(request, "reports/drill.html", {
        "rows": rows, "limit": DRILL_ROWS, "metric": metric, "dimension": dimension, "key": key,
        "currency": currency, "period": period, "problems": problems,
    })


def _instrument_specs() -> dict[tuple[int, str], tuple[Any, ...]]:
    from ib.selectors import instrument_specs

    return {(spec[0], spec[1]): spec for spec in instrument_specs()}


def _spread_value(deal: dict[str, Any], spec: tuple[Any, ...] | None) -> tuple[Decimal, str] | None:
    """A closing deal's spread as the read model values it (reports.readmodel._SPREADS)."""
    if spec is None:
        return None
    _brand, _symbol, contract, units, profit_currency, markup = spec
    if deal["market_bid"] is not None and deal["market_ask"] is not None:
        return (deal["market_ask"] - deal["market_bid"]) * deal["volume"] * contract, profit_currency
    if deal.get("market_spread") is not None:  # the spread a deal report gave, without the prices (the deal import's Spread column)
        return deal["market_spread"] * deal["volume"] * contract, profit_currency
    if markup is not None:
        return deal["volume"] * contract / units * markup, profit_currency
    return None


# --- reports --------------------------------------------------------------------------------------------

def _params(request: AuthedRequest, scope: Scope, problems: dict[str, str]) -> Params:
    period = _period(request, problems)
    desk_id = None
    raw_desk = request.GET.get("desk", "")
    if raw_desk:
        desks = Desk.objects.all() if scope.desk_ids is None else Desk.objects.filter(pk__in=scope.desk_ids)
        desk = desks.filter(pk=int(raw_desk)).first() if raw_desk.isdigit() else None
        if desk is None:
            problems["desk"] = gettext("Choose a desk from the list.")
        else:
            desk_id = desk.pk
    days = request.GET.get("dormant_days", "30")
    if not days.isdigit() or not 1 <= int(days) <= 3650:
        problems["dormant_days"] = gettext("Enter a number of days from 1 to 3650.")
        days = "30"
    return Params(period=period, brand_id=_brand_id(request, scope, problems), desk_id=desk_id,
                  country=request.GET.get("country", "")[:2].upper(), campaign=request.GET.get("campaign", "")[:100],
                  dormant_days=int(days))


@page_permission_required(VIEW_PERMISSION)
@require_GET
def report_list(request: AuthedRequest) -> HttpResponse:
    _scope(request)
    return render_page(request, "reports/list.html", {"reports": REPORTS.values()})


@page_permission_required(VIEW_PERMISSION)
@require_GET
def report_view(request: AuthedRequest, name: str) -> HttpResponse:
    """A report's table and chart for the chosen parameters; its exports and its schedule."""
    report = REPORTS.get(name)
    if report is None:
        raise Http404
    scope = _scope(request)
    problems: dict[str, str] = {}
    params = _params(request, scope, problems)
    result = report_build(name=name, user=request.user, scope=scope, params=params)
    desks = Desk.objects.order_by("name")
    if scope.desk_ids is not None:
        desks = desks.filter(pk__in=scope.desk_ids)
    return render_page(request, "reports/report.html", {
        "report": report, "result": result, "params": params, "problems": problems,
        "brands": selectors.brands_in_scope(scope), "desks": desks, "query": request.GET.urlencode(),
        "chart_json": json.dumps(result.chart), "formats": ExportFormat.choices, "frequencies": Frequency.choices,
        "filters": request.GET, "can_schedule": request.user.has_perm(selectors.SCHEDULE_PERMISSION)
        or request.user.is_administrator,
    }, partial="report-result", status=400 if problems else 200)


@page_permission_required(VIEW_PERMISSION)
@require_POST
def report_export(request: AuthedRequest, name: str) -> HttpResponse:
    """Start the report's export (CSV, XLSX or PDF) as a job; its page shows progress and the file."""
    if name not in REPORTS:
        raise Http404
    scope = _scope(request)
    problems: dict[str, str] = {}
    request.GET = request.POST  # the same parameters, posted
    params = _params(request, scope, problems)
    if problems:
        messages.error(request, "; ".join(f"{k}: {v}" for k, v in problems.items()))
        return redirect(reverse("reports_report", args=[name]))
    try:
        job = services.report_export_start(actor=request.user, report=name, params=params,
                                           export_format=request.POST.get("export_format", ""))
    except ReportRefused as error:
        messages.error(request, error.message)
        return redirect(reverse("reports_report", args=[name]))
    return redirect(reverse("job_detail", args=[job.code]))


@page_permission_required(selectors.SCHEDULE_PERMISSION)
@require_POST
def schedule_create(request: AuthedRequest, name: str) -> HttpResponse:
    if name not in REPORTS:
        raise Http404
    scope = _scope(request)
    problems: dict[str, str] = {}
    request.GET = request.POST
    params = _params(request, scope, problems)
    try:
        if problems:
            field, message = next(iter(problems.items()))
            raise ReportRefused(field, message)
        services.schedule_create(actor=request.user, report=name, frequency=request.POST.get("frequency", ""),
                                 export_format=request.POST.get("export_format", ""),
                                 recipients=request.POST.get("recipients", "").replace(";", ",").split(","),
                                 params={k: v for k, v in params.as_dict().items() if k not in ("start", "end")})
    except ReportRefused as error:
        messages.error(request, error.message)
        return redirect(reverse("reports_report", args=[name]))
    messages.success(request, gettext("The report is scheduled."))
    return redirect(reverse("reports_schedules"))


@page_permission_required(selectors.SCHEDULE_PERMISSION)
@require_GET
def schedule_list(request: AuthedRequest) -> HttpResponse:
    _scope(request)
    return render_page(request, "reports/schedules.html", {
        "schedules": selectors.schedules_for_user(request.user),
        "deliveries": selectors.deliveries_for_user(request.user)[:200], "reports": REPORTS,
    })


@page_permission_required(selectors.SCHEDULE_PERMISSION)
@require_POST
def schedule_stop(request: AuthedRequest, code: Any) -> HttpResponse:
    schedule = selectors.schedules_for_user(request.user).filter(code=code).first()
    if schedule is None:
        raise Http404
    services.schedule_stop(actor=request.user, schedule=schedule)
    messages.success(request, gettext("The schedule is stopped."))
    return redirect(reverse("reports_schedules"))
