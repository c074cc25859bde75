"""COPY, for the scale generator (demo/scale.py) that fills an empty database: rows written through
Django's connection straight into a model's table, and the big tables' plain indexes and foreign keys
dropped while they go in and made again after. Not for the CRM's own writes (crm.lib.bulk is)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from psycopg import sql as psql

from crm.lib.meta import column


def copy_columns(model: type[models.Model], given: Sequence[str]) -> list[str]:
    """The columns a COPY into `model`'s table must name: `given` (attnames or columns), checked
    against the model. A NOT NULL column left out that has no database default fails here, loudly,
    so that a field added to the model later cannot make a generator write rows the app never
    would (a Python-side default is not applied by COPY, so it does not count)."""
    fields = {f.attname: f for f in model._meta.concrete_fields} | {column(f): f for f in model._meta.concrete_fields}
    unknown = [name for name in given if name not in fields]
    if unknown:
        raise ValueError(f"{model.__name__} has no column(s) {unknown}")
    named = {column(fields[name]) for name in given}
    for f in model._meta.concrete_fields:
        if column(f) in named or f.null or f.has_db_default() or getattr(f, "generated", False):
            continue
        if f.primary_key and isinstance(f, models.AutoField | models.BigAutoField):
            continue
        raise ValueError(f"{model.__name__}.{f.name} ({column(f)}) is NOT NULL without a database default: "
                         "name it in the COPY")
    return [column(fields[name]) for name in given]


def copy_rows(model: type[models.Model], columns: Sequence[str], rows: Iterator[Sequence[Any]] | Sequence[Sequence[Any]]
              ) -> int:
    """COPY `rows` (tuples in the order of `columns`) into `model`'s table through Django's
    connection, in the caller's transaction; the number of rows written. Triggers and
    constraints apply as to any INSERT (deferred ones at commit)."""
    names = copy_columns(model, columns)
    connection.ensure_connection()
    count = 0
    statement = psql.SQL("COPY {} ({}) FROM STDIN").format(psql.Identifier(model._meta.db_table),
                                                           psql.SQL(", ").join(psql.Identifier(n) for n in names))
    with connection.wrap_database_errors, connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


@dataclass(frozen=True)
class _Dropped:
    table: str
    name: str
    definition: str  # CREATE INDEX ... for an index, the constraint's definition for a foreign key


@contextlib.contextmanager
def secondary_indexes_dropped(*models_loaded: type[models.Model]) -> Iterator[None]:
    """Drop the plain (not unique, not primary, not a constraint's) indexes and the foreign keys of
    the tables for the block, and make them again on leaving, whatever happened: a bulk load into
    an empty table then builds each index once, sorted, instead of inserting into it row by row
    (which, once an index outgrows memory, reads a page from disk per row), and each foreign key is
    checked once, by one join, when it is added back (which fails if a row breaks it), instead of by
    a query per row at commit. Unique and primary keys and every other trigger (the ledger's) stay
    and work as usual. For generators on an empty database only: while the block lasts, the pages
    those indexes serve are slow and nothing checks the references."""
    if connection.in_atomic_block:
        # Inside a caller's transaction that has written rows, their deferred checks are pending
        # and PostgreSQL refuses to alter the tables or index them: the load goes in as it is.
        yield
        return
    tables = [m._meta.db_table for m in models_loaded]
    with connection.cursor() as cursor:
        # Only the tables' owner may drop their indexes: a role that is not (the application's, where
        # the schema belongs to another, crm.lib.dbroles) loads with the indexes in place, slower.
        cursor.execute(
            "SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE x.indrelid = ANY(%s::regclass[]) AND NOT x.indisunique AND NOT x.indisprimary "
            "AND pg_has_role(current_user, t.relowner, 'USAGE') "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY i.relname",
            [tables])
        indexes = [_Dropped(*row) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "JOIN pg_class t ON t.oid = c.conrelid WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[]) "
            "AND pg_has_role(current_user, t.relowner, 'USAGE') ORDER BY t.relname, c.conname", [tables])
        keys = [_Dropped(*row) for row in cursor.fetchall()]
        for index in indexes:
            cursor.execute(psql.SQL("DROP INDEX {}").format(psql.Identifier(index.name)).as_string(None))
        for key in keys:
            cursor.execute(psql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                psql.Identifier(key.table), psql.Identifier(key.name)).as_string(None))
    try:
        yield
    finally:
        _restore(indexes, keys)


def index_definition_recursive(definition: str) -> str:
    """`definition` (pg_get_indexdef) made to build the index on every partition too. The definition
    of a partitioned table's index reads `CREATE INDEX ... ON ONLY <table>`: run as it is, that makes
    the parent's index alone, left invalid and unused until each partition's index is attached,
    and every partition without one (a seq scan of each month where the index was meant to be)."""
    return definition.replace(" ON ONLY ", " ON ", 1)


def _restore(indexes: Sequence[_Dropped], keys: Sequence[_Dropped]) -> None:
    with connection.cursor() as cursor:
        # Each index is built by one sort; more memory for it spares spilling that sort to disk.
        cursor.execute("SELECT set_config('maintenance_work_mem', '512MB', %s)", [connection.in_atomic_block])
        for index in indexes:
            cursor.execute(index_definition_recursive(index.definition))
        for key in keys:
            # The constraint as the catalogue printed it (pg_get_constraintdef) before it was dropped.
            cursor.execute(psql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                psql.Identifier(key.table), psql.Identifier(key.name), psql.SQL(key.definition)).as_string(None))
