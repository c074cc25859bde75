"""Small database helpers of the demo: history rows, backdating in one statement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from django.db.models import Model
from psycopg import sql

from crm.lib.partitions import PARTITIONED_TABLES, month_partitions_cover


def _model(name: str) -> Any:
    from django.apps import apps

    return apps.get_model("crm", name)


def _history_row(model: Any, obj: Any, at: datetime, kind: str, user: Any, **overrides: Any) -> Any:
    """One simple_history row for `obj` as it stood at `at` (its current values, with `overrides`)."""
    history_model = model.history.model
    values = {f.attname: getattr(obj, f.attname) for f in history_model.tracked_fields}
    values.update(overrides)
    return history_model(history_date=at, history_type=kind, history_user_id=getattr(user, "pk", None),
                         history_change_reason="", **values)


def _history_ids(model: Any, ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    history_model = model.history.model
    for history_id, obj_id in (history_model.objects.filter(id__in=ids).order_by("history_id")
                               .values_list("history_id", "id")):
        out[obj_id].append(history_id)
    return out


def _align(ids: list[int], moments: list[datetime]) -> list[tuple[int, datetime]]:
    """Pair history rows (in order) with the moments of the changes; extra rows take the last moment."""
    return [(row_id, moments[min(i, len(moments) - 1)]) for i, row_id in enumerate(ids)]


def _match_times(events: list[tuple[int, str]], expected: list[tuple[datetime, str]]) -> list[tuple[int, datetime]]:
    """Give each event the moment of the planned action it came from, matching names in order.

    An event nobody planned (a service that emits more than one) takes the time of the action
    before it, so that the timeline's order is kept.
    """
    out: list[tuple[int, datetime]] = []
    position = 0
    current = expected[0][0]
    for event_id, name in events:
        if position < len(expected) and expected[position][1] == name:
            current = expected[position][0]
            position += 1
        out.append((event_id, current))
    return out


_PG_TYPES = {datetime: "timestamptz", date: "date"}


def _update_rows(model: type[Model], key: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Set `columns` of many rows of `model` in one statement (an UPDATE over unnest of arrays): the
    demo's planned past put back on timestamps that saving stamped with the present. The model, not a
    table name, is what callers give, so a renamed table is followed."""
    from django.db import connection

    if not rows:
        return
    table = model._meta.db_table
    arrays: list[list[Any]] = [[row[i] for row in rows] for i in range(len(columns) + 1)]
    casts = [sql.SQL("%s::bigint[]")] + [sql.SQL("%s::timestamptz[]")] * len(columns)
    # Identifiers come from model metadata, values travel as parameters.
    statement = sql.SQL("UPDATE {table} AS t SET {assignments} FROM unnest({arrays}) AS v({names}) "
                        "WHERE t.{key} = v.{key}").format(
        table=sql.Identifier(table),
        assignments=sql.SQL(", ").join(sql.SQL("{c} = v.{c}").format(c=sql.Identifier(c)) for c in columns),
        arrays=sql.SQL(", ").join(casts),
        names=sql.SQL(", ").join(sql.Identifier(c) for c in (key, *columns)),
        key=sql.Identifier(key))
    # A history table partitioned by month (crm.lib.partitions): the months the rows move back into exist
    # first, or PostgreSQL finds no partition for them.
    declared = PARTITIONED_TABLES.get(table)
    if declared is not None and declared.column in columns:
        month_partitions_cover(table, arrays[list(columns).index(declared.column) + 1])
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(None), arrays)


def _sync_history_copies(model: Any, ids: list[int], *, created: str, **columns: str) -> None:
    """Set date columns of `model`'s history rows from SQL over `h` (the history row) and `o` (the object)."""
    from django.db import connection

    if not ids:
        return
    table, history_table = model._meta.db_table, model.history.model._meta.db_table
    assignments = {"created_at": created, **columns}
    # Identifiers come from model metadata and expressions from the callers (this package's SQL over h
    # and o); ids travel as parameters.
    statement = sql.SQL("UPDATE {history} AS h SET {assignments} FROM {table} AS o "
                        "WHERE h.id = o.id AND o.id = ANY(%s)").format(
        history=sql.Identifier(history_table), table=sql.Identifier(table),
        assignments=sql.SQL(", ").join(sql.SQL("{c} = {e}").format(c=sql.Identifier(c), e=sql.SQL(expression))
                                       for c, expression in assignments.items()))
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(None), [ids])
