"""plumbing.sqlfiles: an app's statements read from its sql/ folder, composed with psycopg.sql."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.db import connection
from psycopg import sql

from plumbing import sqlfiles


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package `plantedsql` with a folder of statements and fragments."""
    package = tmp_path / "plantedsql"
    (package / "sql" / "eng").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sql" / "eng" / "pick.sql").write_text(
        "-- The numbers over a bound minimum.\n"
        "CREATE TEMP TABLE _n ON COMMIT DROP AS SELECT n FROM generate_series(1, 5) n WHERE {over};\n"
        "SELECT {columns} FROM _n WHERE n <= %(top)s ORDER BY n;\n"
    )
    (package / "sql" / "eng" / "_over.sql").write_text("n > %(low)s AND {also}")
    (package / "sql" / "eng" / "_also.sql").write_text("n <> 4")
    (package / "sql" / "braces.sql").write_text("SELECT '{{1,2}}'::int[]")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    sys.modules.pop("plantedsql", None)


def test_a_file_is_split_into_its_statements_with_its_fragments_filled(planted: Path) -> None:
    statements = sqlfiles.sql_statements(
        "plantedsql", "eng/pick", columns=sql.SQL(", ").join([sql.Identifier("n"), sql.SQL("n * 2")])
    )
    assert statements == [
        "CREATE TEMP TABLE _n ON COMMIT DROP AS SELECT n FROM generate_series(1, 5) n WHERE n > %(low)s AND n <> 4",
        'SELECT "n", n * 2 FROM _n WHERE n <= %(top)s ORDER BY n',
    ]


@pytest.mark.django_db
def test_the_statements_run_with_their_bound_values(planted: Path) -> None:
    first, second = sqlfiles.sql_statements("plantedsql", "eng/pick", columns=sql.Identifier("n"))
    with connection.cursor() as cursor:
        cursor.execute(first, {"low": 1})
        cursor.execute(second, {"top": 4})
        assert cursor.fetchall() == [(2,), (3,)]
        cursor.execute(sqlfiles.sql_text("plantedsql", "braces"))
        assert cursor.fetchone() == ([1, 2],)


def test_a_part_the_caller_gives_wins_over_the_fragment_file(planted: Path) -> None:
    text = sqlfiles.sql_text("plantedsql", "eng/pick", columns=sql.SQL("n"), over=sql.SQL("true"))
    assert "WHERE true;" in text and "%(low)s" not in text


def test_a_missing_part_names_the_fragment_file_it_looked_for(planted: Path) -> None:
    with pytest.raises(FileNotFoundError, match="_columns.sql"):
        sqlfiles.sql_text("plantedsql", "eng/pick")


def test_the_statement_files_are_listed_without_fragments_and_each_use_is_recorded(planted: Path) -> None:
    assert sqlfiles.sql_names("plantedsql") == ["braces", "eng/pick"]
    sqlfiles.used.clear()
    sqlfiles.sql_text("plantedsql", "eng/pick", columns=sql.SQL("n"))
    assert sqlfiles.used == {
        ("plantedsql", "eng/pick"),
        ("plantedsql", "eng/_over"),
        ("plantedsql", "eng/_also"),
    }


def test_a_placeholder_in_a_comment_is_refused_naming_the_file(planted: Path) -> None:
    (planted / "sql" / "commented.sql").write_text("-- the {columns} of it\nSELECT {columns}")
    with pytest.raises(ValueError, match="plantedsql/sql/commented.sql: a placeholder in a comment"):
        sqlfiles.sql_text("plantedsql", "commented", columns=sql.SQL("1"))


@pytest.mark.django_db
def test_the_orm_s_own_query_fills_a_part_with_its_params(planted: Path) -> None:
    from crm.models import Brand

    (planted / "sql" / "counted.sql").write_text("SELECT count(*) FROM ({brands}) b WHERE %s")
    text, params = Brand.objects.filter(code="nobody-has-this").values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sqlfiles.sql_text("plantedsql", "counted", brands=sqlfiles.orm_sql(text)), [*params, True])
        assert cursor.fetchone() == (0,)
