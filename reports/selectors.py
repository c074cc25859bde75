"""Reads of the reporting hub: who sees which numbers (`dashboard_scope`) and the dashboard's
figures over the read models (reports.models: DailyFigure, TraderBitmap), never over deals or ledger
legs. Amounts come per currency, never summed across currencies."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Aggregate, BigIntegerField, Count, F, Func, Min, Q, QuerySet, Sum
from django.utils import timezone

from crm.exceptions import NotAllowed
from crm.models import Brand, RoleCode
from crm.permissions import desks_run_by, user_can
from reports.models import (
    ALL_DESKS,
    DailyFigure,
    FloatingFigure,
    ReportDelivery,
    ReportSchedule,
    TraderBitmap,
)

VIEW_PERMISSION = "reports.view_dailyfigure"
SCHEDULE_PERMISSION = "reports.add_reportschedule"


@dataclass(frozen=True)
class Scope:
    """The brands and desks whose numbers a user sees: None means all of them."""

    brand_ids: tuple[int, ...] | None
    desk_ids: tuple[int, ...] | None

    def q(self, prefix: str = "") -> Q:
        q = Q()
        if self.brand_ids is not None:
            q &= Q(**{f"{prefix}brand_id__in": self.brand_ids})
        if self.desk_ids is not None:
            q &= Q(**{f"{prefix}desk_id__in": self.desk_ids})
        return q


def dashboard_scope(user: Any) -> Scope:
    """The scope of the management numbers: administrators and all-brand users every brand, others
    their brands; a desk manager only the desks they run; anyone else with the permission every desk
    of their brands. NotAllowed without the permission."""
    if not getattr(user, "is_active", False) or not user_can(user, VIEW_PERMISSION):
        raise NotAllowed
    if user.is_administrator:
        return Scope(None, None)
    brands = None if user.all_brands else tuple(user.brands.values_list("pk", flat=True))
    desks = None
    if user.role_code == RoleCode.DESK_MANAGER and not user_can(user, "crm.view_all_clients"):
        desks = tuple(desks_run_by(user).values_list("pk", flat=True))
    return Scope(brands, desks)


def brands_in_scope(scope: Scope) -> QuerySet[Brand]:
    qs = Brand.objects.order_by("name")
    return qs.filter(pk__in=scope.brand_ids) if scope.brand_ids is not None else qs


@dataclass
class Figure:
    """One key's figure: `count` events and their `amount`, which is money in `currency` for a
    money metric (deposits, withdrawals, fees, commission) and lots for volume (no currency): read
    the volume's through `lots`, which refuses a figure in a currency."""

    key: str
    currency: str
    amount: Decimal
    count: int

    @property
    def lots(self) -> Decimal:
        if self.currency:
            raise ValueError(f"a figure in {self.currency} is money, not lots")
        return self.amount


@dataclass
class Period:
    start: dt.date
    end: dt.date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def figures(*, scope: Scope, metric: str, dimension: str, period: Period, brand_id: int | None = None,
            filters: dict[str, Any] | None = None) -> list[Figure]:
    """The figure `metric` by `dimension` over `period`: one row per key and currency, the biggest
    amount (or count) first."""
    return figures_of(scope=scope, pairs=[(metric, dimension)], period=period, brand_id=brand_id,
                      filters=filters)[(metric, dimension)]


def figures_of(*, scope: Scope, pairs: Iterable[tuple[str, str]], period: Period, brand_id: int | None = None,
               filters: dict[str, Any] | None = None) -> dict[tuple[str, str], list[Figure]]:
    """`figures` of each (metric, dimension) of `pairs`, in one read: the rows of a metric lie
    together in its index, whichever dimension is asked, so a page of many figures reads each
    metric's rows once rather than once per dimension."""
    wanted = list(dict.fromkeys(pairs))
    which = Q()
    for metric, dimension in wanted:
        which |= Q(metric=metric, dimension=dimension)
    qs = DailyFigure.objects.filter(scope.q(), which, metric__in=sorted({m for m, _d in wanted}),
                                    day__gte=period.start, day__lte=period.end)
    if brand_id is not None:
        qs = qs.filter(brand_id=brand_id)
    if filters:
        qs = qs.filter(**filters)
    rows = qs.values("metric", "dimension", "key", "currency").annotate(a=Sum("amount"), n=Sum("count")).order_by(
        "metric", "dimension", "currency", "-a", "-n", "key")
    out: dict[tuple[str, str], list[Figure]] = {pair: [] for pair in wanted}
    for r in rows:
        out[(r["metric"], r["dimension"])].append(Figure(r["key"], r["currency"], r["a"] or Decimal(0), r["n"] or 0))
    return out


def totals_by_currency(rows: list[Figure]) -> dict[str, Figure]:
    """The rows of one dimension summed per currency (each event counts once in a dimension)."""
    out: dict[str, Figure] = {}
    for row in rows:
        total = out.setdefault(row.currency, Figure("", row.currency, Decimal(0), 0))
        total.amount += row.amount
        total.count += row.count
    return out


def active_traders(*, scope: Scope, period: Period, brand_id: int | None = None) -> int:
    """Distinct clients with a trade deal in the period: per chunk of client ids, the OR of the
    period's trader bitmaps in scope, its bits counted (reports.models.TraderBitmap). Every desk: the
    brands' all-desks rows; some desks: theirs."""
    qs = TraderBitmap.objects.filter(scope.q(), day__gte=period.start, day__lte=period.end)
    if scope.desk_ids is None:
        qs = qs.filter(desk_id=ALL_DESKS)
    if brand_id is not None:
        qs = qs.filter(brand_id=brand_id)
    per_chunk = qs.order_by().values("chunk").annotate(
        n=Func(Aggregate(F("bits"), function="bit_or"), function="bit_count", output_field=BigIntegerField()))
    return sum(int(r["n"]) for r in per_chunk)


def daily_series(*, scope: Scope, metric: str, dimension: str, period: Period,
                 brand_id: int | None = None) -> dict[str, list[tuple[dt.date, Decimal]]]:
    """Per currency, the metric's amount per day of the period (days without any: zero)."""
    qs = DailyFigure.objects.filter(scope.q(), metric=metric, dimension=dimension, day__gte=period.start,
                                    day__lte=period.end)
    if brand_id is not None:
        qs = qs.filter(brand_id=brand_id)
    by: dict[str, dict[dt.date, Decimal]] = defaultdict(dict)
    for r in qs.values("currency", "day").annotate(a=Sum("amount")).order_by():
        by[r["currency"]][r["day"]] = r["a"]
    days = [period.start + dt.timedelta(days=i) for i in range(period.days)]
    return {c: [(d, values.get(d, Decimal(0))) for d in days] for c, values in sorted(by.items())}


def floating(*, scope: Scope, brand_id: int | None = None, by: str = "book") -> list[Figure]:
    """The clients' floating P/L (open positions' profit and swap, as last polled) per `by` (book
    or symbol) and account currency: a figure of now. `count` is the number of positions."""
    qs = FloatingFigure.objects.filter(scope.q())
    if brand_id is not None:
        qs = qs.filter(brand_id=brand_id)
    rows = qs.values(by, "currency").annotate(p=Sum("profit"), w=Sum("swap"), n=Sum("positions")).order_by(
        "currency", by)
    return [Figure(r[by], r["currency"], (r["p"] or Decimal(0)) + (r["w"] or Decimal(0)), r["n"] or 0) for r in rows]


def floating_as_of(*, scope: Scope) -> dt.datetime | None:
    at: dt.datetime | None = FloatingFigure.objects.filter(scope.q()).aggregate(m=Min("at"))["m"]
    return at


BOOKS = ("a", "b", "")
PL_PARTS = ("closed_pl", "commission", "swap", "spread")


@dataclass
class Dashboard:
    period: Period
    brand: Brand | None
    net_deposits: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # currency -> in, out, net
    deposits_by_provider: list[Figure] = field(default_factory=list)
    deposits_by_country: list[Figure] = field(default_factory=list)
    withdrawals_by_method: list[Figure] = field(default_factory=list)
    withdrawals_by_provider: list[Figure] = field(default_factory=list)
    withdrawals_by_country: list[Figure] = field(default_factory=list)
    ftds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # dimension -> rows with conversion
    active_traders: int = 0
    volume_by_symbol: list[Figure] = field(default_factory=list)
    volume_by_platform: list[Figure] = field(default_factory=list)
    broker_pl: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # currency -> part -> amount
    # currency -> book ('a', 'b', '': not stated) -> part -> amount
    broker_books: dict[str, dict[str, dict[str, Decimal]]] = field(default_factory=dict)
    floating_at: dt.datetime | None = None
    ib_by_partner: list[Figure] = field(default_factory=list)
    series: dict[str, list[tuple[dt.date, Decimal]]] = field(default_factory=dict)


def _conversion(ftds: list[Figure], new: list[Figure]) -> list[dict[str, Any]]:
    registered = {f.key: f.count for f in new}
    by_key: dict[str, dict[str, Any]] = {}
    for f in ftds:
        row = by_key.setdefault(f.key, {"key": f.key, "ftds": 0, "amounts": [], "new": registered.get(f.key, 0)})
        row["ftds"] += f.count
        row["amounts"].append(f)
    for key, n in registered.items():
        by_key.setdefault(key, {"key": key, "ftds": 0, "amounts": [], "new": n})
    for row in by_key.values():
        row["rate"] = (Decimal(100 * row["ftds"]) / row["new"]).quantize(Decimal("0.1")) if row["new"] else None
    return sorted(by_key.values(), key=lambda r: (-r["ftds"], -r["new"], r["key"]))


def dashboard(*, scope: Scope, period: Period, brand_id: int | None = None) -> Dashboard:
    """Every figure of the management dashboard from the read models, in a handful of indexed reads."""
    brand = Brand.objects.filter(pk=brand_id).first() if brand_id else None
    d = Dashboard(period=period, brand=brand)
    kw: dict[str, Any] = {"scope": scope, "period": period, "brand_id": brand_id}
    funnel = ("campaign", "country", "agent")
    got = figures_of(pairs=[
        ("deposits", "provider"), ("deposits", "country"), ("withdrawals", "method"), ("withdrawals", "country"),
        ("withdrawals", "provider"), *((m, dim) for dim in funnel for m in ("ftds", "new_clients")),
        ("volume", "symbol"), ("volume", "platform"), ("psp_fees", "provider"), ("ib_cost", "partner"),
        *((m, "book") for m in PL_PARTS)], **kw)
    d.deposits_by_provider = got["deposits", "provider"]
    d.deposits_by_country = got["deposits", "country"]
    d.withdrawals_by_method = got["withdrawals", "method"]
    d.withdrawals_by_country = got["withdrawals", "country"]
    d.withdrawals_by_provider = got["withdrawals", "provider"]
    ins, outs = totals_by_currency(d.deposits_by_provider), totals_by_currency(d.withdrawals_by_method)
    for currency in sorted(set(ins) | set(outs)):
        a = ins[currency].amount if currency in ins else Decimal(0)
        b = outs[currency].amount if currency in outs else Decimal(0)
        d.net_deposits[currency] = {"in": a, "out": b, "net": a - b}
    for dimension in funnel:
        d.ftds[dimension] = _conversion(got["ftds", dimension], got["new_clients", dimension])
    d.active_traders = active_traders(**kw)
    d.volume_by_symbol = got["volume", "symbol"]
    d.volume_by_platform = got["volume", "platform"]
    fees = totals_by_currency(got["psp_fees", "provider"])
    d.ib_by_partner = got["ib_cost", "partner"]
    ib_cost = totals_by_currency(d.ib_by_partner)
    books: dict[str, dict[str, dict[str, Decimal]]] = defaultdict(
        lambda: {b: dict.fromkeys((*PL_PARTS, "floating_pl"), Decimal(0)) for b in BOOKS})
    for metric in PL_PARTS:
        for f in got[metric, "book"]:
            books[f.currency][f.key if f.key in BOOKS else ""][metric] += f.amount
    for f in floating(scope=scope, brand_id=brand_id, by="book"):
        books[f.currency][f.key if f.key in BOOKS else ""]["floating_pl"] += f.amount
    d.floating_at = floating_as_of(scope=scope)
    for currency in sorted(set(fees) | set(ib_cost) | set(books)):
        per_book = books[currency]
        for book, p in per_book.items():
            # The platform books commission and swap charged to clients as negative amounts: the
            # broker's revenue is their opposite. The spread is the broker's on every book. The
            # clients' P/L (closed, and floating: not yet realised) is the broker's opposite only
            # where it is their counterparty: the B-book, and groups of no stated book (counted as
            # in house until the administrator says otherwise); an A-book's is passed on, as its swap.
            in_house = book != "a"
            p["result"] = p["spread"] - p["commission"] + ((-p["swap"] - p["closed_pl"]) if in_house else Decimal(0))
            p["floating_result"] = -p["floating_pl"] if in_house else Decimal(0)
        row = {"clients_closed_pl": sum((p["closed_pl"] for p in per_book.values()), Decimal(0)),
               "clients_floating_pl": sum((p["floating_pl"] for p in per_book.values()), Decimal(0)),
               "spread": sum((p["spread"] for p in per_book.values()), Decimal(0)),
               "commission": -sum((p["commission"] for p in per_book.values()), Decimal(0)),
               "swap": -sum((p["swap"] for p in per_book.values()), Decimal(0)),
               "psp_fees": -(fees[currency].amount if currency in fees else Decimal(0)),
               "ib_cost": -(ib_cost[currency].amount if currency in ib_cost else Decimal(0))}
        row["total"] = sum((p["result"] for p in per_book.values()), Decimal(0)) + row["psp_fees"] + row["ib_cost"]
        d.broker_pl[currency] = row
        d.broker_books[currency] = {b: p for b, p in per_book.items()
                                    if any(v for k, v in p.items() if k not in ("result", "floating_result"))}
    d.series = daily_series(scope=scope, metric="deposits", dimension="provider", period=period, brand_id=brand_id)
    return d


@dataclass
class Operations:
    withdrawals_open: int
    withdrawals_overdue: int
    withdrawals_oldest: dt.datetime | None
    kyc_waiting: int
    kyc_overdue: int
    kyc_oldest: dt.datetime | None
    screening_open: int | None  # None: the user may not see screening hits
    aml_alerts_open: int | None = None  # None: the user may not see AML alerts
    cases_open: int | None = None  # None: the user may not see cases


def operations(*, user: Any) -> Operations:
    """Operational KPIs through the owning apps' selectors, each in the user's own scope there."""
    from compliance import selectors as compliance
    from kyc.permissions import submission_queryset_for_user
    from kyc.selectors import queue_counts
    from wallet.selectors import WITHDRAWAL_OPEN_STATES, withdrawal_queue_for_user

    now = timezone.now()
    open_w = withdrawal_queue_for_user(user=user).filter(state__in=WITHDRAWAL_OPEN_STATES).order_by()
    w = open_w.aggregate(n=Count("id"), late=Count("id", filter=Q(due_at__lt=now)), oldest=Min("requested_at"))
    submissions = submission_queryset_for_user(user)
    counts = queue_counts(submissions=submissions)
    oldest = submissions.filter(status="review").order_by().aggregate(m=Min("submitted_at"))["m"]
    screening = None
    if user_can(user, "compliance.view_screeninghit"):
        screening = compliance.screening_queue(user=user, status="unresolved").count()
    alerts = cases = None
    if user_can(user, "compliance.view_amlalert"):
        alerts = compliance.aml_alerts_for_user(user).filter(status="open").count()
    if user_can(user, "compliance.view_case"):
        cases = compliance.case_queue(user=user, status="unclosed").order_by().count()
    return Operations(w["n"], w["late"], w["oldest"], counts.waiting, counts.overdue, oldest, screening, alerts, cases)


def schedules_for_user(user: Any) -> QuerySet[ReportSchedule]:
    qs = ReportSchedule.objects.select_related("owner")
    return qs if user.is_administrator else qs.filter(owner=user)


def deliveries_for_user(user: Any) -> QuerySet[ReportDelivery]:
    qs = ReportDelivery.objects.select_related("schedule", "schedule__owner")
    return qs if user.is_administrator else qs.filter(schedule__owner=user)
