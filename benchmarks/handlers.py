"""Event handlers that exist only for benchmark runs.

Loaded by a worker started with CRM_EXTRA_HANDLER_MODULES=benchmarks.handlers (see
crm.events.autodiscover_handlers); a normal installation never imports this module.
"""

from __future__ import annotations

from typing import Any, TypedDict

from django.db import connection

from crm.events import declare, subscribe

BENCH_EVENT = "bench.tick"
DELIVERY_TABLE = "bench_delivery"
BASELINE_TABLE = "bench_baseline"

TABLES_SQL = [
    f"CREATE TABLE IF NOT EXISTS {table} ("
    " event_id bigint PRIMARY KEY,"
    " delivered_at timestamptz NOT NULL DEFAULT clock_timestamp())"
    for table in (DELIVERY_TABLE, BASELINE_TABLE)
]


class Tick(TypedDict):
    i: int


declare(BENCH_EVENT, payload=Tick)


@subscribe(BENCH_EVENT)
def bench_delivery_record(event: Any) -> None:
    """The trivial handler: one row per event (the primary key would refuse a second effect)."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_delivery (event_id) VALUES (%s)", [event.pk])
