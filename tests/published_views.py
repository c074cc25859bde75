"""Checks of a view an app publishes for other apps' SQL (plumbing.sqlviews) against the database: the
owning app's tests use them, so that a change of the app that breaks what readers were promised
fails there, in the app that made it."""

from __future__ import annotations

from typing import Any

from django.db import connection
from psycopg import sql

from plumbing.sqlviews import PublishedView


def catalogue_columns(name: str) -> list[tuple[str, str]]:
    """(name, type as format_type prints it) of the view `name`'s columns, in order; AssertionError
    when there is no such view."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(%s)", [name])
        row = cursor.fetchone()
        assert row is not None, f"no relation {name} in the database"
        assert row[0] == "v", f"{name} is not a view (relkind {row[0]!r})"
        cursor.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                       "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
                       "ORDER BY a.attnum", [name])
        return [(column, type_) for column, type_ in cursor.fetchall()]


def assert_as_declared(view: PublishedView) -> None:
    """The view has exactly its declared columns, in order, each of its declared type."""
    declared = [(c.name, c.type) for c in view.columns]
    assert catalogue_columns(view.name) == declared, f"{view.name} differs from its declaration"


def view_rows(view: PublishedView, where: str, params: list[Any]) -> list[dict[str, Any]]:
    """The view's rows matching `where` (SQL on its declared columns), each as {column: value}:
    read as a reader reads it, by the declared names only."""
    names = [c.name for c in view.columns]
    with connection.cursor() as cursor:
        statement = sql.SQL("SELECT {columns} FROM {view} WHERE {where} ORDER BY 1").format(
            columns=sql.SQL(", ").join(map(sql.Identifier, names)), view=sql.Identifier(view.name),
            where=sql.SQL(where))
        cursor.execute(statement.as_string(None), params)
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
