"""Fast writes for lead intake: COPY instead of Django's INSERT machinery.

A batch of a thousand leads writes some nine thousand rows (clients and their history rows,
contact keys, touches, scores, SLA state, events). Building a model instance per row and letting
bulk_create render a statement with tens of thousands of parameters costs several seconds;
COPY of plain tuples costs a fraction of that. Columns come from each model's own _meta, so a
field added later is written with its default (or NULL), or the write fails loudly if it has
neither: nothing here has to be kept in step with the models by hand.

Ids that other rows refer to (clients, touches) are drawn from their sequences first.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection, models
from psycopg.types.json import Jsonb


def _columns(model: type[models.Model], *, with_pk: bool) -> list[models.Field[Any, Any]]:
    fields = []
    for field in model._meta.concrete_fields:
        if field.primary_key and isinstance(field, models.AutoField | models.BigAutoField) and not with_pk:
            continue
        fields.append(field)
    return fields


def copy_rows(model: type[models.Model], rows: Sequence[Mapping[str, Any]], *, with_pk: bool = False) -> None:
    """COPY `rows` (dicts keyed by attname: "client_id", not "client") into the model's table.

    Missing values take what Django would store for them; JSON fields are written as jsonb. Runs in the caller's transaction; no signals, no save(), no history.
    """
    if not rows:
        return
    fields = _columns(model, with_pk=with_pk)
    # What Django itself would store for a missing value ("" for text, the default, or NULL); a
    # NOT NULL column with none of these makes the COPY fail loudly.
    defaults = {f.attname: f.get_default for f in fields}
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    names = [f.attname for f in fields]
    qn = connection.ops.quote_name
    sql = f"COPY {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            values = []
            for name in names:
                value = row[name] if name in row else defaults[name]()
                if name in json_fields and value is not None:
                    value = Jsonb(value)
                values.append(value)
            copy.write_row(values)


def next_ids(*models_counts: tuple[type[models.Model], int]) -> list[list[int]]:
    """`count` fresh primary keys from each model's sequence, in one round trip."""
    wanted = [(m, n) for m, n in models_counts]
    most = max((n for _, n in wanted), default=0)
    if most == 0:
        return [[] for _ in wanted]
    selects = ", ".join(
        "CASE WHEN g <= %s THEN nextval(pg_get_serial_sequence(%s, %s)) END" for _ in wanted
    )
    params: list[Any] = []
    for model, count in wanted:
        params += [count, model._meta.db_table, model._meta.pk.column]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {selects} FROM generate_series(1, %s) AS g", [*params, most])  # noqa: S608
        rows = cursor.fetchall()
    return [[row[i] for row in rows if row[i] is not None] for i in range(len(wanted))]


def _json_value(value: Any) -> Any:
    """JSON for what the rows hold beyond JSON's own types; times keep their microseconds."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, Jsonb):
        return value.obj
    raise TypeError(f"cannot write {type(value).__name__} through leads.bulk.write")


def values_of(instance: models.Model, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in names}


# Up to this many rows in all, a write goes out as one statement (data-modifying CTEs): one round
# trip instead of one per table, which is what a single lead's latency is made of.
ONE_STATEMENT_ROWS = 60


def write(plan: Sequence[tuple[type[models.Model], Sequence[Mapping[str, Any]], bool]],
          updates: Sequence[tuple[str, list[Any]]] = ()) -> None:
    """Insert rows into several tables: [(model, rows, with_pk)], and run `updates` (single
    UPDATE statements with their parameters), in the caller's transaction.

    Small writes become one statement, the INSERTs (each table's rows as one jsonb parameter) and
    UPDATEs chained as CTEs, in a single round trip (foreign keys are DEFERRABLE INITIALLY DEFERRED, checked at commit; the UPDATEs must touch
    rows none of the INSERTs write); large ones use COPY.
    """
    plan = [(m, rows, pk) for m, rows, pk in plan if rows]
    if sum(len(rows) for _, rows, _ in plan) > ONE_STATEMENT_ROWS or not plan:
        for model, rows, with_pk in plan:
            copy_rows(model, rows, with_pk=with_pk)
        for sql, sql_params in updates:
            with connection.cursor() as cursor:
                cursor.execute(sql, sql_params)
        return
    qn = connection.ops.quote_name
    parts: list[str] = []
    params: list[Any] = []
    for i, (model, rows, with_pk) in enumerate(plan):
        fields = _columns(model, with_pk=with_pk)
        records = [{f.column: row[f.attname] if f.attname in row else f.get_default() for f in fields}
                   for row in rows]
        table = qn(model._meta.db_table)
        columns = ", ".join(qn(f.column) for f in fields)
        # Each table's rows travel as one jsonb parameter that PostgreSQL turns back into rows of
        # the table's own type: the statement's text depends only on the tables, so it stays short
        # and the driver reuses its parsing of it (thousands of placeholders would be re-parsed
        # on every call). Names come from the models' _meta; every value is in the parameter.
        parts.append(f"i{i} AS (INSERT INTO {table} ({columns}) "  # noqa: S608
                     f"SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb))")
        params.append(json.dumps(records, default=_json_value, ensure_ascii=False))
    for j, (sql, sql_params) in enumerate(updates):
        parts.append(f"u{j} AS ({sql})")
        params.extend(sql_params)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT 1", params)
