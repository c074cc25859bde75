"""Trading's read models: figures per trader kept up to date by the writers, so that a page reads
one row per trader instead of aggregating every account of every client on each view.

RetentionSummary (the retention workspace): per client with a live (not demo, not archived)
account, over those accounts: the last trade, the last activity (the latest trade, else the
opening), how many accounts are under their server's margin-call level now, and the deepest equity
drop below an account's peak of the last ``PEAK_DAYS`` days (AccountEquityDay).

One definition (`_RETENTION_SELECT`) serves both ways, so a rebuild gives the rows the
incremental path keeps:

* incrementally, `retention_refresh(client_ids=...)` recomputes the rows of those clients in the
  caller's transaction. The writers call it: the deal sync (last trades), the account state sync
  (money, margin levels, the day's equity high), account opening and registration, and a server's
  save (its margin-call level). An advisory lock per bucket of clients, taken just before the
  statement, orders two writers of one client: the later one computes after the earlier one
  committed.
* time moves a row's figures in two ways only. Dormancy is read against now from
  `last_activity`; an equity peak leaves the window: `drop_until` is the last day the stored
  drop holds, and `retention_expire` (each page view and the beat) recomputes the rows past it.
* `rebuild()` (`manage.py trading_summaries_rebuild`) recomputes every row from the raw rows,
  holding the table against the incremental path meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from crm.models import Brand
from plumbing.sqlfiles import sql_text

PEAK_DAYS = 30
LOCK_CLASS = 0x52455445  # "RETE": the retention summaries' advisory locks, one per bucket of clients
LOCK_BUCKETS = 256
CHUNK = 2_000  # clients per transaction when many rows are recomputed at once (a server's, expired ones)

def _today(now: dt.datetime) -> dt.date:
    return now.astimezone(dt.UTC).date()


def _params(now: dt.datetime, clients: list[int] | None = None) -> dict[str, Any]:
    """The retention statements' values (trading/sql/summaries/): the clients (None: every client)."""
    return {"since": _today(now) - dt.timedelta(days=PEAK_DAYS), "now": now, "peak_days": PEAK_DAYS,
            "every_client": clients is None, "clients": clients}


@transaction.atomic
def retention_refresh(*, client_ids: Iterable[int], now: dt.datetime | None = None) -> None:
    """Recompute the retention rows of `client_ids` from their accounts (a client left with no live
    account loses its row), in the caller's transaction."""
    ids = sorted({int(pk) for pk in client_ids if pk is not None})
    if not ids:
        return
    now = now or timezone.now()
    with connection.cursor() as cursor:
        # A lock per bucket of clients, not per client: each holds a slot of PostgreSQL's shared lock
        # table until the commit, and a poll's batch names a thousand clients. In bucket order, so two
        # refreshes never wait on each other in a circle.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, b) FROM (SELECT DISTINCT (id %% %s)::int AS b "
                       "FROM unnest(%s::bigint[]) AS u(id)) buckets ORDER BY b", [LOCK_CLASS, LOCK_BUCKETS, ids])
        cursor.execute(sql_text("trading", "summaries/retention_refresh"), _params(now, ids))


def retention_refresh_accounts(*, account_ids: Iterable[int], now: dt.datetime | None = None) -> None:
    """retention_refresh for the clients of these trading accounts."""
    ids = sorted({int(pk) for pk in account_ids})
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT client_id FROM trading_tradingaccount WHERE id = ANY(%s)", [ids])
        clients = [row[0] for row in cursor.fetchall()]
    retention_refresh(client_ids=clients, now=now)


def retention_refresh_server(*, server_id: int, now: dt.datetime | None = None) -> None:
    """retention_refresh for every client with an account on the server (its margin-call level
    changed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT client_id FROM trading_tradingaccount WHERE server_id = %s", [server_id])
        clients = [row[0] for row in cursor.fetchall()]
    retention_refresh(client_ids=clients, now=now)  # in the caller's transaction: the server's save


def retention_expire(*, now: dt.datetime | None = None) -> int:
    """Recompute the rows whose stored drop no longer holds (a peak left the window); how many.
    One index probe when there are none."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_id FROM trading_retentionsummary WHERE drop_until < %s", [_today(now)])
        clients = [row[0] for row in cursor.fetchall()]
    for begin in range(0, len(clients), CHUNK):
        retention_refresh(client_ids=clients[begin:begin + CHUNK], now=now)
    return len(clients)


# --- the dealer's exposure -------------------------------------------------------------------------------

EXPOSURE_LOCK = 0x4558504F  # "EXPO": a brand's exposure rows, replaced whole by one refresh at a time


@transaction.atomic
def exposure_refresh(*, brand_ids: Iterable[int], now: dt.datetime | None = None) -> int:
    """Replace the exposure rows (ExposureRow) of `brand_ids` with the report of each brand's open
    positions, for all its servers and for each server holding them; how many rows."""
    from trading.exposure import _statement, brand_positions

    now = now or timezone.now()
    written = 0
    with connection.cursor() as cursor:
        for brand_id in sorted(set(brand_ids)):
            # Taken before reading: the later of two refreshes reads what the earlier committed.
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [EXPOSURE_LOCK, brand_id])
            cursor.execute("DELETE FROM trading_exposurerow WHERE brand_id = %s", [brand_id])
            servers = sorted(set(brand_positions(brand_id=brand_id).order_by().values_list("server_id", flat=True)
                                 .distinct()))
            # A brand on one server: that server's report is the brand's, summed once and copied.
            for server_key in [0, *servers] if len(servers) > 1 else [0]:
                report, params = _statement(brand_positions(brand_id=brand_id, server_id=server_key or None))
                cursor.execute(sql_text("trading", "summaries/exposure_insert", report=report),
                               [brand_id, server_key, now, *params])
                written += cursor.rowcount
            if len(servers) == 1:
                cursor.execute(sql_text("trading", "summaries/exposure_copy"), {"server": servers[0], "brand": brand_id})
                written += cursor.rowcount
    return written


def exposure_refresh_server(*, server_id: int, now: dt.datetime | None = None) -> int:
    """exposure_refresh of the brands whose clients hold positions on the server, or did at its last
    refresh, and of the server's own brand (after a poll of its open positions)."""
    from trading.models import ExposureRow, PlatformServer, Position

    brands = set(PlatformServer.objects.filter(pk=server_id).values_list("brand_id", flat=True))
    brands |= set(ExposureRow.objects.filter(server_key=server_id).values_list("brand_id", flat=True).distinct())
    brands |= set(Position.objects.filter(server_id=server_id).order_by()
                  .values_list("account__client__brand_id", flat=True).distinct())
    return exposure_refresh(brand_ids=brands, now=now)


@transaction.atomic
def rebuild(*, now: dt.datetime | None = None) -> int:
    """Recompute every retention row from the accounts and their equity days, and every brand's
    exposure rows from the open positions; how many retention rows. Writers' refreshes wait for it
    and then compute again over what it did not see."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE trading_retentionsummary IN EXCLUSIVE MODE")
        cursor.execute("DELETE FROM trading_retentionsummary")
        cursor.execute(sql_text("trading", "summaries/retention_rebuild"), _params(now))
        rows = int(cursor.rowcount)
    brands = list(Brand.objects.values_list("pk", flat=True))
    exposure_refresh(brand_ids=brands, now=now)
    return rows


__all__ = ["PEAK_DAYS", "exposure_refresh", "exposure_refresh_server", "rebuild", "retention_expire", "retention_refresh", "retention_refresh_accounts",
           "retention_refresh_server"]
