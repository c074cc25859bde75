"""The read models behind the dashboards: daily figures per brand, desk and currency.

Two sources, each with one definition used both incrementally and by the rebuild, so that a
rebuild gives the same rows as the incremental path:

* money events (deposits, withdrawals paid, first deposits, new clients): `EVENT_FIGURES` says which
  figures an event adds to. The handlers (reports.handlers) add one event as it arrives
  (`event_apply`); the rebuild sums the same events per day in one statement (`_events_insert`).
  `AppliedEvent` remembers which events are counted, so the handler of an event a rebuild already
  counted adds nothing. Attributes of the client (brand, desk, country, campaign, agent) are read
  when the event is counted.
* deals (volume, clients' closed P/L, commission, swap and the broker's spread, by symbol and by the
  book of the account's group; active traders): the sync writes deals in
  bulk without an event per deal, so `deals_refresh` (beat, every minute) recomputes the brand-days
  whose deals changed since its watermark (the deals' indexed updated_at) from trading's published
  views, with the same statement the rebuild runs for every day.

* open positions (the clients' floating P/L): a figure of now, replaced whole by `floating_refresh`
  (beat, every minute, beside the deals' refresh) from trading.selectors.floating_pl_summary.

A rebuild and a refresh of one brand-day take the same transaction-scoped advisory lock; event
handlers take it shared, so none of them interleave with a rebuild's delete and insert.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import BigIntegerField, CharField, DecimalField, F, QuerySet, Value
from django.db.models.aggregates import Count, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Left, TruncDate
from django.utils import timezone
from psycopg import sql as psql

from crm.models import Client, Event
from plumbing.sqlfiles import orm_sql, sql_statements, sql_text
from reports.models import ALL_DESKS, TRADER_CHUNK, ReadModelMark

LOCK_KEY = 0x5245504F  # "REPO": the read models' advisory lock
KEY_LENGTH = 100
# How far back of its watermark a refresh reads again: deals committed late (a long sync
# transaction) are not missed; recomputing a brand-day twice gives the same rows.
REFRESH_OVERLAP = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class EventFigure:
    metric: str
    dimensions: tuple[str, ...]
    amount_field: str | None  # the payload's decimal text that is summed; None: a count only
    currency: bool = True  # False: the figure has no currency (a count of clients)


EVENT_FIGURES: dict[str, tuple[EventFigure, ...]] = {
    "wallet.deposit_succeeded": (
        EventFigure("deposits", ("provider", "country", "method", "campaign"), "amount"),
        EventFigure("psp_fees", ("provider",), "fee"),
    ),
    "wallet.withdrawal_paid": (EventFigure("withdrawals", ("method", "provider", "country", "campaign"), "amount"),),
    "wallet.first_deposit": (EventFigure("ftds", ("campaign", "country", "agent"), "amount"),),
    "client.created": (EventFigure("new_clients", ("campaign", "country", "agent"), None, currency=False),),
}
DEAL_METRICS = ("volume", "closed_pl", "commission", "swap", "spread")
EVENT_METRICS = tuple(sorted({f.metric for figures in EVENT_FIGURES.values() for f in figures}))
# Partners' commission lines (ib.selectors.current_lines: the lines of each period's counting run),
# by partner, on their batch's day. The commission engine runs daily and writes no event per line,
# so this figure is as of the last rebuild (nightly, after the engine's run).
IB_METRICS = ("ib_cost",)


def _day(at: dt.datetime) -> dt.date:
    return at.astimezone(dt.UTC).date()


def _client_key(client: Client, dimension: str, data: dict[str, Any]) -> str:
    if dimension == "country":
        value = client.country or ""
    elif dimension == "campaign":
        value = client.campaign or ""
    elif dimension == "agent":
        value = str(client.owner_id or "")
    else:
        value = str(data.get(dimension) or "")
    return value[:KEY_LENGTH]


def _upsert(rows: list[tuple[Any, ...]]) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO reports_dailyfigure (day, brand_id, desk_id, currency, metric, dimension, key, amount, count) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT ON CONSTRAINT reports_dailyfigure_one_row DO UPDATE SET "
            "amount = reports_dailyfigure.amount + EXCLUDED.amount, count = reports_dailyfigure.count + EXCLUDED.count",
            rows)


@transaction.atomic
def event_apply(event: Event) -> bool:
    """Add `event` to the daily figures, once (False: counted already, by a rebuild or before)."""
    figures = EVENT_FIGURES.get(event.name, ())
    if not figures or event.client_id is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LOCK_KEY])
        cursor.execute("INSERT INTO reports_appliedevent (event_id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1",
                       [event.pk])
        if cursor.fetchone() is None:
            return False
    client = Client.objects.only("brand_id", "desk_id", "country", "campaign", "owner_id").get(pk=event.client_id)
    data = event.data or {}
    rows = []
    for figure in figures:
        amount = Decimal(str(data.get(figure.amount_field) or 0)) if figure.amount_field else Decimal(0)
        currency = str(data.get("currency") or "") if figure.currency else ""
        for dimension in figure.dimensions:
            rows.append((_day(event.occurred_at), client.brand_id, client.desk_id or 0, currency, figure.metric,
                         dimension, _client_key(client, dimension, data), amount, 1))
    _upsert(rows)
    return True


# --- the rebuild of event figures: the same definitions, summed in SQL ----------------------------------

def _dimension_expr(dimension: str) -> Any:
    if dimension == "country":
        expr: Any = Coalesce(F("client__country"), Value(""), output_field=CharField())
    elif dimension == "campaign":
        expr = Coalesce(F("client__campaign"), Value(""), output_field=CharField())
    elif dimension == "agent":
        expr = Coalesce(Cast("client__owner_id", CharField()), Value(""), output_field=CharField())
    else:
        expr = Coalesce(KT(f"data__{dimension}"), Value(""), output_field=CharField())
    return Left(expr, KEY_LENGTH)


def _events_in(names: list[str], start: dt.datetime, end: dt.datetime) -> QuerySet[Event]:
    return Event.objects.filter(name__in=names, client__isnull=False, occurred_at__gte=start, occurred_at__lt=end)


def _figure_query(name: str, figure: EventFigure, dimension: str, start: dt.datetime, end: dt.datetime) -> QuerySet[Any]:
    money = DecimalField(max_digits=28, decimal_places=8)
    amount = (Coalesce(Sum(Cast(KT(f"data__{figure.amount_field}"), money)), Value(Decimal(0)), output_field=money)
              if figure.amount_field else Value(Decimal(0), output_field=money))
    currency = Coalesce(KT("data__currency"), Value(""), output_field=CharField()) if figure.currency else Value("")
    return (_events_in([name], start, end).order_by()
            .annotate(r_day=TruncDate("occurred_at", tzinfo=dt.UTC), r_brand=F("client__brand_id"),
                      r_desk=Coalesce(F("client__desk_id"), Value(0)), r_currency=currency,
                      r_metric=Value(figure.metric), r_dimension=Value(dimension), r_key=_dimension_expr(dimension))
            .values("r_day", "r_brand", "r_desk", "r_currency", "r_metric", "r_dimension", "r_key")
            .annotate(r_amount=amount, r_count=Count("id")))


def _events_insert(start: dt.datetime, end: dt.datetime) -> None:
    with connection.cursor() as cursor:
        for name, figures in EVENT_FIGURES.items():
            for figure in figures:
                for dimension in figure.dimensions:
                    sql, params = _figure_query(name, figure, dimension, start, end).query.sql_with_params()
                    cursor.execute(sql_text("reports", "readmodel/event_figures", figures=orm_sql(sql)), params)
        sql, params = _events_in(list(EVENT_FIGURES), start, end).values("id").query.sql_with_params()
        cursor.execute(sql_text("reports", "readmodel/events_applied", counted=orm_sql(sql)), params)


# --- deals -------------------------------------------------------------------------------------------------

def _client_desks() -> tuple[str, tuple[Any, ...]]:
    sql, params = Client.objects.order_by().values("id", "desk_id").query.sql_with_params()
    return sql, tuple(params)


# The deal figures and the active traders (reports/sql/readmodel/deals_*.sql): the brands'
# instruments as the commission engine values a spread (ib.selectors.instrument_specs) are passed in
# as arrays, so that reports names no table of ib's.


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def _deals_days(cursor: Any, first: dt.date, last: dt.date, brand_ids: list[int] | None) -> None:
    """Replace the deal figures and active traders of the UTC days [first, last] (of `brand_ids`, or
    every brand): one pass over the deals of the whole range, grouped by day."""
    start, end = _day_bounds(first)[0], _day_bounds(last)[1]
    for statement in sql_statements("reports", "readmodel/deals_days_delete"):
        cursor.execute(statement, {"first": first, "last": last, "metrics": list(DEAL_METRICS), "brands": brand_ids})
    clients, client_params = _client_desks()
    inst = _instrument_arrays()
    # The grouping of a week of deals sorts and hashes in memory rather than on disk (this
    # transaction only).
    cursor.execute("SET LOCAL work_mem = '64MB'")
    for name in ("deals_figures", "deals_traders"):
        cursor.execute(sql_text("reports", f"readmodel/{name}", clients=orm_sql(clients), chunk=psql.Literal(TRADER_CHUNK),
                                all_desks=psql.Literal(ALL_DESKS)),
                       [*inst, *client_params, start, end, brand_ids, brand_ids])


def _deals_day(cursor: Any, day: dt.date, brand_ids: list[int] | None) -> None:
    _deals_days(cursor, day, day, brand_ids)


def _instrument_arrays() -> list[list[Any]]:
    from ib.selectors import instrument_specs

    specs = instrument_specs()
    return [[s[i] for s in specs] for i in range(6)]


def deals_refresh(*, now: dt.datetime | None = None) -> int:
    """Recompute the brand-days whose deals the sync inserted, edited or deleted since the last
    refresh; returns how many days were recomputed."""
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        mark = ReadModelMark.objects.select_for_update().filter(name="deals").first()
        since = (mark.at - REFRESH_OVERLAP) if mark else None
        with connection.cursor() as cursor:
            if since is None:
                cursor.execute("SELECT MIN(time) FROM trading_public_deals")
                first = cursor.fetchone()[0]
                days: dict[dt.date, set[int] | None] = {}
                if first is not None:
                    day = _day(first)
                    while day <= _day(now):
                        days[day] = None
                        day += dt.timedelta(days=1)
            else:
                cursor.execute(
                    "SELECT DISTINCT (d.time AT TIME ZONE 'UTC')::date, s.brand_id FROM trading_public_deals d "
                    "JOIN trading_public_servers s ON s.id = d.server_id WHERE d.updated_at > %s", [since])
                touched: dict[dt.date, set[int]] = defaultdict(set)
                for day, brand_id in cursor.fetchall():
                    touched[day].add(brand_id)
                days = dict(touched.items())
            for day, brands in sorted(days.items()):
                _deals_day(cursor, day, sorted(brands) if brands is not None else None)
        ReadModelMark.objects.update_or_create(name="deals", defaults={"at": now})
    return len(days)


# --- floating P/L: the open positions of now ------------------------------------------------------------

def floating_refresh(*, now: dt.datetime | None = None) -> int:
    """Replace the floating figures with the open positions as trading last polled them
    (trading.selectors.floating_pl_summary); returns how many rows."""
    from reports.models import FloatingFigure
    from trading.selectors import floating_pl_summary

    now = now or timezone.now()
    rows = [FloatingFigure(brand_id=r["brand_id"], desk_id=r["desk_id"], currency=r["currency"], book=r["book"],
                           symbol=r["symbol"][:32], profit=r["profit"] or 0, swap=r["swap"] or 0,
                           positions=r["positions"], lots=r["lots"] or 0, at=now) for r in floating_pl_summary()]
    with transaction.atomic():
        FloatingFigure.objects.all().delete()
        FloatingFigure.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


# --- the rebuild -------------------------------------------------------------------------------------------

def _ib_insert(cursor: Any, day: dt.date) -> None:
    from django.db.models import OuterRef, Subquery

    from ib.selectors import current_lines

    desk = Subquery(Client.objects.filter(pk=OuterRef("client_id")).values("desk_id")[:1])
    qs = (current_lines().filter(batch_day=day).order_by()
          .annotate(r_brand=F("run__brand_id"), r_desk=Coalesce(desk, Value(0), output_field=BigIntegerField()),
                    r_key=Cast("beneficiary_id", CharField()))
          .values("r_brand", "r_desk", "currency", "r_key")
          .annotate(r_amount=Sum("amount"), r_count=Count("id")))
    try:
        sql, params = qs.query.sql_with_params()
    except EmptyResultSet:  # no finished commission run yet: no lines
        return
    cursor.execute(sql_text("reports", "readmodel/ib_cost", lines=orm_sql(sql)), [day, *params])


# A rebuild recomputes this many days per transaction: each pass over the deals joins the clients'
# desks once, so a week at a time costs a seventh of day-by-day, while one transaction's lock on the
# read models stays short.
REBUILD_DAYS_PER_TRANSACTION = 7


def rebuild(*, start: dt.date, end: dt.date) -> int:
    """Recompute every figure of the UTC days [start, end] from the events and the deals, a week
    per transaction; returns the number of days."""
    first = start
    while first <= end:
        last = min(end, first + dt.timedelta(days=REBUILD_DAYS_PER_TRANSACTION - 1))
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
                cursor.execute("DELETE FROM reports_dailyfigure WHERE day BETWEEN %s AND %s AND metric = ANY(%s)",
                               [first, last, [*EVENT_METRICS, *IB_METRICS]])
                _events_insert(_day_bounds(first)[0], _day_bounds(last)[1])
                day = first
                while day <= last:
                    _ib_insert(cursor, day)
                    day += dt.timedelta(days=1)
                _deals_days(cursor, first, last, None)
        first = last + dt.timedelta(days=1)
    return (end - start).days + 1 if end >= start else 0


def rebuild_all(*, now: dt.datetime | None = None) -> int:
    """Rebuild from the first event or deal to today, and set the deals' watermark to now."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(time) FROM trading_public_deals")
        first_deal = cursor.fetchone()[0]
    first_event = _events_in(list(EVENT_FIGURES), dt.datetime.min.replace(tzinfo=dt.UTC), now) \
        .order_by("occurred_at").values_list("occurred_at", flat=True).first()
    firsts = [_day(x) for x in (first_deal, first_event) if x is not None]
    if not firsts:
        ReadModelMark.objects.update_or_create(name="deals", defaults={"at": now})
        return 0
    n = rebuild(start=min(firsts), end=_day(now))
    floating_refresh(now=now)
    ReadModelMark.objects.update_or_create(name="deals", defaults={"at": now})
    return n


def rebuild_recent(*, days: int = 35, now: dt.datetime | None = None) -> int:
    """The nightly rebuild: the last `days` UTC days (the period a late edit or a desk move can reach)."""
    today = _day(now or timezone.now())
    return rebuild(start=today - dt.timedelta(days=days - 1), end=today)


__all__ = ["DEAL_METRICS", "EVENT_FIGURES", "EVENT_METRICS", "deals_refresh", "event_apply", "floating_refresh", "rebuild",
           "rebuild_all", "rebuild_recent"]
