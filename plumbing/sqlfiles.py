"""SQL kept as code: the statements of an app in named ``.sql`` files, read once (DESIGN, "SQL").

A statement that is more than a lookup lives in ``<app>/sql/<name>.sql`` (a name may have folders:
``engine/src`` is ``ib/sql/engine/src.sql``), where a reader and an editor see SQL, not a Python
string, and no linter has to look inside one. Values are bound parameters in the file, named
(``%(brand)s``) or positional (``%s``); a value is never part of the text.

Where a statement's shape truly varies (a fragment shared by several statements, a column list
from a model, a table chosen by the caller), the file says where with a ``{part}`` placeholder and
psycopg.sql fills it:

* a part the caller gives (``sql.SQL``, ``sql.Identifier``, ``sql.Literal``, ``sql.Composed``:
  never a plain string, so that nothing reaches the text unquoted);
* else the fragment file ``_<part>.sql`` in the same folder (composed the same way, so fragments
  may use fragments): one text shared by several statements, as a view would be, without one.

Every file is composed, so a literal brace in SQL is written twice (``'{{}}'``). A file may hold
several statements, each ending with ``;`` at the end of a line (``sql_statements`` gives them in
turn). Files are package data: pyproject ships ``*/sql/**/*.sql``.

Each file is run by a test (tests/test_sqlfiles.py names how): ``used`` records every file
composed since it was last cleared, so that a test running a flow can check that it ran each of
its app's files.
"""

from __future__ import annotations

import functools
import string
from importlib import resources
from importlib.resources.abc import Traversable

from psycopg import sql

# (app, name) of every file composed since the set was last cleared (tests read it).
used: set[tuple[str, str]] = set()


@functools.cache
def _text(app: str, name: str) -> str:
    path = resources.files(app).joinpath("sql", *f"{name}.sql".split("/"))
    return path.read_text(encoding="utf-8").strip()


def _placeholders(text: str) -> set[str]:
    return {field for _literal, field, _spec, _conv in string.Formatter().parse(text) if field}


def _compose(app: str, name: str, text: str, parts: dict[str, sql.Composable]) -> sql.Composed:
    used.add((app, name))
    for line in text.splitlines():
        if line.lstrip().startswith("--") and _placeholders(line):
            # Filled, a part of several lines would end the comment and leave SQL after it.
            raise ValueError(f"{app}/sql/{name}.sql: a placeholder in a comment: {line.strip()}")
    folder = name.rpartition("/")[0]
    filled = dict(parts)
    for part in _placeholders(text) - parts.keys():
        fragment = f"{folder}/_{part}" if folder else f"_{part}"
        filled[part] = _compose(app, fragment, _text(app, fragment), parts)
    return sql.SQL(text).format(**filled)


def orm_sql(text: str) -> sql.SQL:
    """A query the ORM wrote (``QuerySet.query.sql_with_params()``) as a part: Django's own text,
    its values bound by the params that came with it (passed on with the statement's)."""
    return sql.SQL(text)


def sql_file(app: str, name: str, **parts: sql.Composable) -> sql.Composed:
    """The file ``<app>/sql/<name>.sql`` composed with ``parts`` (and its fragments)."""
    return _compose(app, name, _text(app, name), parts)


def sql_text(app: str, name: str, **parts: sql.Composable) -> str:
    """The composed file as text, for the ORM's raw SQL and Django's cursor (``%`` placeholders kept)."""
    return sql_file(app, name, **parts).as_string(None)


def sql_statements(app: str, name: str, **parts: sql.Composable) -> list[str]:
    """The composed file's statements in order (each ends with ``;`` at the end of a line), without
    the comment lines above each."""
    text = sql_text(app, name, **parts)
    statements = []
    for part in text.split(";\n"):
        lines = part.strip().removesuffix(";").strip().splitlines()
        while lines and lines[0].lstrip().startswith("--"):  # a statement's comment, said in the file
            lines.pop(0)
        if lines:
            statements.append("\n".join(lines))
    return statements


def sql_names(app: str) -> list[str]:
    """Every statement file of ``app`` (fragments, ``_*.sql``, are not statements), by name."""
    root = resources.files(app).joinpath("sql")
    names: list[str] = []

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.name.endswith(".sql") and not entry.name.startswith("_"):
                names.append(prefix + entry.name.removesuffix(".sql"))

    if root.is_dir():
        walk(root, "")
    return sorted(names)
