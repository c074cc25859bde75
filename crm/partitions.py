"""Tables partitioned by month: which they are, and their partitions kept ahead.

An app whose history grows without end (deals, ledger legs, the audit log, the event outbox) declares
its table here from its AppConfig.ready():

    from crm.partitions import MonthlyTable, PARTITIONED_TABLES

    PARTITIONED_TABLES.register(MonthlyTable(table="<app>_<model>", column="<timestamptz column>", retention_setting=...))

The table itself is made `PARTITION BY RANGE (<column>)` by the app's own migration; its monthly
partitions (`<table>_pYYYYMM`, one UTC calendar month each) are created by the SQL function
`crm_month_partitions_ensure` (crm migration 0025): by the daily task, months ahead, and by a writer
before a batch whose rows fall in a month not yet there (an old deal from a platform's history).
There is no default partition: a row for a month without a partition is refused, never parked where
a later partition could not be attached.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import connection

from crm.registry import Registry

# The daily task keeps this many months ahead of the current one.
MONTHS_AHEAD = 3


@dataclass(frozen=True)
class MonthlyTable:
    """A table partitioned by month on `column` (a timestamptz)."""

    table: str
    column: str
    # The setting naming how many years the table's history must be kept (a regulatory minimum); the
    # default when the setting is absent.
    retention_setting: str = "HISTORY_RETENTION_YEARS"
    retention_years: int = 7
    order: int = 500


PARTITIONED_TABLES: Registry[MonthlyTable] = Registry("monthly partitioned tables", key=lambda t: t.table,
                                                      order=lambda t: (t.order, t.table))


def month_start(day: date | datetime) -> date:
    if isinstance(day, datetime):
        day = day.astimezone(UTC).date()
    return day.replace(day=1)


def add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_partitions_ensure(table: str, first: date | datetime, last: date | datetime) -> int:
    """Create the missing monthly partitions of `table` from `first`'s month to `last`'s; how many were made."""
    with connection.cursor() as cur:
        cur.execute("SELECT crm_month_partitions_ensure(%s::regclass, %s, %s)",
                    [table, month_start(first), month_start(last)])
        made: int = cur.fetchone()[0]
    return made


def partitions_ensure_ahead(*, today: date | None = None, months: int = MONTHS_AHEAD) -> dict[str, int]:
    """The daily task: every declared table has its partitions from last month to `months` ahead."""
    this_month = month_start(today or datetime.now(UTC).date())
    return {t.table: month_partitions_ensure(t.table, add_months(this_month, -1), add_months(this_month, months))
            for t in PARTITIONED_TABLES}


def month_partitions_cover(table: str, moments: Iterable[date | datetime | None]) -> int:
    """Before a batch is written: the months of `moments` (its rows' times) all have their partition.

    Which months are missing is read first, without a lock; only a missing month is made (under
    the function's lock, held to the end of the transaction), so that writers landing in months
    that exist, nearly always the case, never wait on one another. A month detached for the archive
    counts as there: its rows are refused, never split from the archive."""
    months = sorted({month_start(moment) for moment in moments if moment is not None})
    if not months:
        return 0
    with connection.cursor() as cur:
        cur.execute("SELECT m FROM unnest(%s::date[], %s::text[]) AS u(m, name) WHERE to_regclass(u.name) IS NULL",
                    [months, [f"{table}_p{month:%Y%m}" for month in months]])
        missing = [row[0] for row in cur.fetchall()]
    return sum(month_partitions_ensure(table, month, month) for month in missing)


def month_partitions_span(table: str, first: date | datetime, last: date | datetime) -> int:
    """The partitions of every month from `first`'s to `last`'s, however many years apart (the SQL
    function makes at most ten at once): for bulk loads (demo data, benchmarks) of a known range."""
    month, end, made = month_start(first), month_start(last), 0
    while month <= end:
        piece_end = min(end, add_months(month, 119))
        made += month_partitions_ensure(table, month, piece_end)
        month = add_months(piece_end, 1)
    return made
