"""Fast writes of many rows: one statement of plain rows instead of Django's INSERT machinery.

For the writes that create many objects at once: the lead intake (a batch of a thousand leads
writes some nine thousand rows: clients and their history rows, contact keys, touches, scores,
SLA state, events), the core's bulk client creation and audit rows, and next the wallet's and the
IB's bulk postings. Building a model instance per row and letting bulk_create render a statement
with tens of thousands of parameters costs several seconds; one jsonb document per table, turned
back into rows by PostgreSQL, costs a fraction of that (and about half what COPY of the same rows
does). Columns come from each model's own _meta, so a field added later is written with its
default (or NULL), or the write fails loudly if it has neither: nothing here has to be kept in
step with the models by hand. No model is imported: the callers name theirs.

Ids that other rows refer to are drawn from their sequences first (next_ids).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from django.db import connection, models
from psycopg import sql as psql
from psycopg.types.json import Jsonb

from crm.lib.fieldcrypt import EncryptedTextField
from crm.lib.meta import column


def _columns(model: type[models.Model], *, with_pk: bool) -> list[models.Field[Any, Any]]:
    fields = []
    for field in model._meta.concrete_fields:
        if field.primary_key and isinstance(field, models.AutoField | models.BigAutoField) and not with_pk:
            continue
        fields.append(field)
    return fields


def next_ids(*models_counts: tuple[type[models.Model], int]) -> list[list[int]]:
    """`count` fresh primary keys from each model's sequence, in one round trip."""
    wanted = [(m, n) for m, n in models_counts]
    most = max((n for _, n in wanted), default=0)
    if most == 0:
        return [[] for _ in wanted]
    # Each sequence is looked up once (in s; OFFSET 0 keeps the planner from copying the lookup
    # into every row), not once per id: the lookup costs several times what nextval does.
    sequences = psql.SQL(", ").join(psql.SQL("pg_get_serial_sequence(%s, %s)::regclass AS {}").format(
        psql.Identifier(f"s{i}")) for i in range(len(wanted)))
    selects = psql.SQL(", ").join(psql.SQL("CASE WHEN g <= %s THEN nextval({}) END").format(
        psql.Identifier("s", f"s{i}")) for i in range(len(wanted)))
    statement = psql.SQL("SELECT {} FROM (SELECT {} OFFSET 0) AS s, generate_series(1, %s) AS g").format(
        selects, sequences)
    params: list[Any] = [count for _model, count in wanted]
    for model, _count in wanted:
        params += [model._meta.db_table, model._meta.pk.column]
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(None), [*params, most])
        rows = cursor.fetchall()
    return [[row[i] for row in rows if row[i] is not None] for i in range(len(wanted))]


class _JsonValues:
    """JSON for what the rows hold beyond JSON's own types; times keep their microseconds. A batch
    repeats one timestamp thousands of times: each distinct one is converted once."""

    def __init__(self) -> None:
        self.times: dict[Any, str] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dt.datetime | dt.date | dt.time):
            text = self.times.get(value)
            if text is None:
                text = self.times[value] = value.isoformat()
            return text
        if isinstance(value, uuid.UUID | Decimal):
            return str(value)
        if isinstance(value, Jsonb):
            return value.obj
        raise TypeError(f"cannot write {type(value).__name__} through crm.lib.bulk.write")


# Values that are the same stored value whenever type and == agree. (A container may hold 1 where
# another holds True, Decimal("1.0") == Decimal("1.00") and 0.0 == -0.0, none of which == tells
# apart: for those only one object shared by every row counts.)
_SCALARS = (str, int, bool, uuid.UUID, dt.datetime, dt.date, type(None))


def _same_everywhere(rows: Sequence[Mapping[str, Any]], name: str) -> bool:
    first = rows[0][name]
    if not isinstance(first, _SCALARS):
        return all(row[name] is first for row in rows)
    kind = type(first)
    return all(type(value := row[name]) is kind and value == first for row in rows)


def _stored(f: models.Field[Any, Any], value: Any) -> Any:
    """A left-out column's default as the column stores it: encrypted for an encrypted column
    (crm.lib.fieldcrypt), as it is."""
    return f.get_db_prep_value(value, connection) if isinstance(f, EncryptedTextField) else value


def _records(model: type[models.Model], rows: Sequence[Mapping[str, Any]], with_pk: bool
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(per-row records, constant record), both keyed by column: a value every row shares (a left-out column's
    default, the batch's brand or timestamp) travels once in the constant record, the rest row by row. A
    missing value is what Django would store ("" for text, the default, or NULL); a NOT NULL column with none
    of these makes the write fail loudly. Keys that are not columns are ignored by PostgreSQL. Values of
    encrypted columns are given in clear and encrypted here."""
    fields = _columns(model, with_pk=with_pk)
    present = set(rows[0])
    names = {f.attname: column(f) for f in fields}
    missing = [f for f in fields if f.attname not in present]
    # A default that draws a value per row (uuid4, now) is drawn per row; others (a fixed default,
    # or none: "" or NULL) once.
    per_row = [f for f in missing if f.has_default() and callable(f.default)]
    constant = {column(f): _stored(f, f.get_default()) for f in missing if f not in per_row}
    shared = {a for a in present if a in names and _same_everywhere(rows, a)} if len(rows) > 1 else set()
    constant.update((names[a], rows[0][a]) for a in shared)
    varying = [(a, names[a]) for a in present if a in names and a not in shared]
    # Encrypted columns (crm.lib.fieldcrypt) are given in clear, as to a model, and stored encrypted.
    sealed: dict[str, models.Field[Any, Any]] = {f.attname: f for f in fields if isinstance(f, EncryptedTextField)}
    for a in shared & sealed.keys():
        constant[names[a]] = sealed[a].get_db_prep_value(rows[0][a], connection)
    sealed_varying = [(a, names[a], sealed[a]) for a, _name in varying if a in sealed]
    out = []
    for row in rows:
        record = {name: row[attname] for attname, name in varying}
        for attname, name, f in sealed_varying:
            record[name] = f.get_db_prep_value(row[attname], connection)
        for f in per_row:
            record[column(f)] = _stored(f, f.get_default())
        out.append(record)
    return out, constant


@dataclass(frozen=True)
class AsInserted:
    """The rows another entry of the same write inserts, as stored, plus constant columns: a
    history row per new row, built by PostgreSQL from the row itself instead of sent twice."""

    source: type[models.Model]
    extra: Mapping[str, Any]


Rows = Sequence[Mapping[str, Any]] | AsInserted


def write(plan: Sequence[tuple[type[models.Model], Rows, bool]],
          updates: Sequence[tuple[str, list[Any]]] = ()) -> None:
    """Insert rows into several tables: [(model, rows, with_pk)], and run `updates` (single
    UPDATE statements with their parameters), in the caller's transaction, in one statement and
    one round trip: the INSERTs and UPDATEs chained as data-modifying CTEs (foreign keys are
    DEFERRABLE INITIALLY DEFERRED, checked at commit, or as the statement ends inside
    pipelined(); the UPDATEs must touch rows none of the INSERTs write). Every row of one table
    must have the same keys. `rows` may be AsInserted(an earlier entry's model, constant columns)
    to copy that entry's rows.

    Each table's rows travel as one jsonb parameter that PostgreSQL turns back into rows of the
    table's own type; what every row of a table shares (the brand, the batch's time, a left-out
    column's default) travels once, in one more: more than half of a batch's columns are such,
    and PostgreSQL then parses a fraction of the text. Measured against COPY for a batch of a
    thousand leads (some eight thousand rows in eight tables): PostgreSQL spends about half the
    time, and Python, which only encodes one JSON document per table, a fraction of it. The
    statement's text depends on the tables and on which of their columns are shared, never on
    the number of rows.
    """
    plan = [(m, rows, pk) for m, rows, pk in plan if isinstance(rows, AsInserted) or rows]
    if not plan and not updates:
        return
    encode = _JsonValues()
    parts: list[psql.Composable] = []
    params: list[Any] = []
    copied = {rows.source for _m, rows, _pk in plan if isinstance(rows, AsInserted)}
    aliases: dict[type[models.Model], tuple[str, set[str]]] = {}
    for i, (model, rows, with_pk) in enumerate(plan):
        table = psql.Identifier(model._meta.db_table)
        fields = _columns(model, with_pk=with_pk)
        columns = psql.SQL(", ").join(psql.Identifier(column(f)) for f in fields)
        # Names come from the models' _meta (and types from Django's fields); every value is in a parameter.
        if isinstance(rows, AsInserted):
            alias, source_columns = aliases[rows.source]
            values: list[psql.Composable] = []
            for f in fields:
                if f.attname in rows.extra:
                    values.append(psql.SQL("%s::{}").format(psql.SQL(str(f.cast_db_type(connection)))))
                    params.append(rows.extra[f.attname])
                elif column(f) in source_columns:
                    values.append(psql.Identifier(column(f)))
                else:
                    raise ValueError(f"{model.__name__}.{f.name} is neither a column of {rows.source.__name__} "
                                     "nor given in AsInserted.extra")
            parts.append(psql.SQL("{} AS (INSERT INTO {} ({}) SELECT {} FROM {})").format(
                psql.Identifier(f"i{i}"), table, columns, psql.SQL(", ").join(values), psql.Identifier(alias)))
            continue
        returning = psql.SQL(" RETURNING *" if model in copied else "")
        aliases[model] = (f"i{i}", {column(f) for f in model._meta.concrete_fields})
        records, constant = _records(model, rows, with_pk)
        selected = psql.SQL(", ").join(psql.Identifier("c" if column(f) in constant else "r", column(f)) for f in fields)
        source = psql.SQL("jsonb_populate_recordset(NULL::{}, %s::jsonb) AS r").format(table)
        params.append(json.dumps(records, default=encode, ensure_ascii=False, check_circular=False))
        if constant:
            source = psql.SQL("{}, jsonb_populate_record(NULL::{}, %s::jsonb) AS c").format(source, table)
            params.append(json.dumps(constant, default=encode, ensure_ascii=False, check_circular=False))
        parts.append(psql.SQL("{} AS (INSERT INTO {} ({}) SELECT {} FROM {}{})").format(
            psql.Identifier(f"i{i}"), table, columns, selected, source, returning))
    for j, (statement, statement_params) in enumerate(updates):
        # The caller's UPDATE (its own text, its values in its parameters).
        parts.append(psql.SQL("{} AS ({})").format(psql.Identifier(f"u{j}"), psql.SQL(statement)))
        params.extend(statement_params)
    # Bound on the server: the documents travel beside the statement instead of being quoted into
    # it, which spares both sides handling them as part of a query text of megabytes. (Django's
    # cursors bind on the client unless the whole connection is set to bind on the server; this
    # one statement is, through Django's own wrapper so that error translation and the debug log
    # still apply; _prepare_cursor is that wrapper, which django-stubs does not declare.)
    connection.ensure_connection()
    prepare_cursor = connection._prepare_cursor  # type: ignore[attr-defined]  # not declared by django-stubs, see above
    with connection.wrap_database_errors, prepare_cursor(psycopg.Cursor(connection.connection)) as cursor:
        cursor.execute(psql.SQL("WITH {} SELECT 1").format(psql.SQL(", ").join(parts)), params)


# What a pipelined block may have on its way to PostgreSQL at once: a few chunks of a batch.
SEND_BUFFER = 4 * 1024 * 1024


def _roomy_send_buffer(fd: int) -> None:
    """Let a Unix socket hold what a pipelined block sends ahead. PostgreSQL reads a statement only once it
    has finished the one before, so whatever does not fit in the socket waits in psycopg, and Python with it:
    a Unix socket's default buffer (about 200 kB) holds less than one chunk of a batch, and Python would then
    trickle the rest across as PostgreSQL reads it instead of preparing the next chunk (a 1,000-lead batch
    took a quarter longer over a Unix socket than over TCP). A TCP socket sizes its own buffer and is left
    alone. The kernel caps the size at net.core.wmem_max."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        if sock.family == socket.AF_UNIX and sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < SEND_BUFFER:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


@contextlib.contextmanager
def pipelined(*models_written: type[models.Model]) -> Iterator[None]:
    """Within the block, write() sends its statement and returns at once instead of waiting for
    PostgreSQL to run it (psycopg's pipeline mode), so that the database stores one part of the
    work while Python prepares the next. Leaving the block waits for everything sent. Other
    queries inside the block still work: each waits for what was sent before it. A statement's
    error surfaces at the next query or on leaving, as Django's error of its kind; the caller's
    transaction (or savepoint) then rolls back as with any failed write.

    The foreign keys of `models_written` (DEFERRABLE INITIALLY DEFERRED, checked at commit) are
    checked as each statement ends while the block lasts: that work then overlaps with Python's
    too instead of all falling on the commit. They are deferred again on leaving (a rolled-back
    transaction or savepoint undoes the change by itself).

    With a libpq older than 14 (no pipeline mode) the block changes nothing: each write waits."""
    if not psycopg.Pipeline.is_supported():
        yield
        return
    connection.ensure_connection()
    _roomy_send_buffer(connection.connection.pgconn.socket)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND condeferrable AND condeferred "
            "AND conrelid = ANY(%s::regclass[])", [[m._meta.db_table for m in models_written]])
        names = ", ".join(connection.ops.quote_name(name) for (name,) in cursor.fetchall())
        if names:
            cursor.execute(f"SET CONSTRAINTS {names} IMMEDIATE")
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield
    if names:
        with connection.cursor() as cursor:
            cursor.execute(f"SET CONSTRAINTS {names} DEFERRED")


# --- rows gathered for one write at the end of a block ----------------------------------------------
_gathered: contextvars.ContextVar[dict[type[models.Model], list[models.Model]] | None] = contextvars.ContextVar(
    "bulk_gathered", default=None)


@contextlib.contextmanager
def rows_gathered() -> Iterator[None]:
    """Within: the rows handed to ``gather`` (events, audit rows) are written when the block ends,
    each model's in one INSERT, in the order given; left by an exception, nothing. For many writes in
    one transaction whose rows nobody reads back before it ends (a batch of payment notifications)."""
    gathered: dict[type[models.Model], list[models.Model]] = {}
    token = _gathered.set(gathered)
    try:
        yield
        for model, rows in gathered.items():
            model._default_manager.bulk_create(rows)
    finally:
        _gathered.reset(token)


def gather(row: models.Model) -> bool:
    """Keep the unsaved ``row`` for the open ``rows_gathered`` block: False when none is open."""
    gathered = _gathered.get()
    if gathered is None:
        return False
    gathered.setdefault(type(row), []).append(row)
    return True
