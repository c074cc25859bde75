"""The schema snapshot (demo/schema_snapshot.py) as the suite's test template (tests/dbbackend/template.py)
and `make run`'s empty database use it: restored when one matches, and migrated, never half-made, when
the snapshot cannot be used."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections

from demo import schema_snapshot

SCRATCH = "test_crm_snapshot_scratch"
NAME = "test_crm_snapshot_check_tpl"


def _databases(cursor: object) -> set[str]:
    cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE 'test\\_crm\\_snapshot\\_%'")  # type: ignore[attr-defined]
    return {row[0] for row in cursor.fetchall()}  # type: ignore[attr-defined]


@pytest.fixture
def snapshots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, django_db_setup: None, django_db_blocker: Any):
    """A directory of snapshots of its own; connected as the schema's owner, as the template's build
    is (the tests' application role may not create databases)."""
    from crm.lib import dbroles

    monkeypatch.setattr(schema_snapshot, "SNAPSHOTS", tmp_path)
    monkeypatch.setenv("CRM_EMBEDDED_PG", "1")
    monkeypatch.delenv("CRM_TEST_SNAPSHOT", raising=False)
    quote = connection.ops.quote_name
    with django_db_blocker.unblock(), dbroles.as_owner():
        yield tmp_path
        with connection._nodb_cursor() as cursor:
            for name in _databases(cursor):
                cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)}")


def _owner_run(name: str, sql: str) -> list[tuple]:
    import psycopg
    from psycopg.conninfo import make_conninfo

    params = schema_snapshot.owner_params(connection, name)
    with psycopg.connect(make_conninfo(**params), autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def test_a_snapshot_written_after_a_migration_restores_the_same_database(snapshots: Path) -> None:
    stale = snapshots / "schema-0123456789abcdef.dump.gz"
    stale.write_bytes(b"an earlier digest's snapshot")
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {SCRATCH}")
    _owner_run(SCRATCH, "CREATE TABLE ledger_probe (id int PRIMARY KEY, memo text NOT NULL);"
                        "INSERT INTO ledger_probe VALUES (1, 'first'), (2, 'second')")
    with connection._nodb_cursor() as cursor:
        written = schema_snapshot.save_snapshot(connection.creation, cursor, SCRATCH, "f" * 64)
        assert written == snapshots / f"schema-{'f' * 16}.dump.gz"
        assert not stale.exists(), "the snapshot of another digest is replaced, not kept beside it"
        assert schema_snapshot.save_snapshot(connection.creation, cursor, SCRATCH, "f" * 64) is None, \
            "an existing snapshot is never written over"

        seconds = schema_snapshot.restore(connection.creation, cursor, NAME, "f" * 64)
        assert seconds is not None
        assert NAME in _databases(cursor) and f"{NAME}_partial" not in _databases(cursor)
    assert _owner_run(NAME, "SELECT id, memo FROM ledger_probe ORDER BY id") == [(1, "first"), (2, "second")]


def test_without_a_snapshot_of_this_digest_the_template_is_migrated(snapshots: Path) -> None:
    (snapshots / f"schema-{'a' * 16}.dump.gz").write_bytes(gzip.compress(b"whatever"))
    with connection._nodb_cursor() as cursor:
        assert schema_snapshot.restore(connection.creation, cursor, NAME, "b" * 64) is None
        assert _databases(cursor) == set()


@pytest.mark.parametrize("content", [b"not gzip at all", gzip.compress(b"PGDMP but not really a dump")],
                         ids=["unreadable", "not-a-dump"])
def test_a_snapshot_that_cannot_be_restored_leaves_nothing_and_the_template_is_migrated(
        snapshots: Path, content: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    path = snapshots / f"schema-{'c' * 16}.dump.gz"
    path.write_bytes(content)
    with connection._nodb_cursor() as cursor:
        assert schema_snapshot.restore(connection.creation, cursor, NAME, "c" * 64) is None
        assert _databases(cursor) == set(), "neither the template nor its partial copy is left"
    assert f"The schema snapshot {path.name}" in capsys.readouterr().err


def test_snapshots_are_written_only_from_the_embedded_server_and_can_be_switched_off(
        snapshots: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with connection._nodb_cursor() as cursor:
        monkeypatch.setenv("CRM_EMBEDDED_PG", "")
        assert schema_snapshot.save_snapshot(connection.creation, cursor, "postgres", "d" * 64) is None
        monkeypatch.setenv("CRM_EMBEDDED_PG", "1")
        monkeypatch.setenv("CRM_TEST_SNAPSHOT", "0")
        assert schema_snapshot.save_snapshot(connection.creation, cursor, "postgres", "d" * 64) is None
        (snapshots / f"schema-{'d' * 16}.dump.gz").write_bytes(b"x")
        assert schema_snapshot.restore(connection.creation, cursor, NAME, "d" * 64) is None
    assert list(snapshots.iterdir()) == [snapshots / f"schema-{'d' * 16}.dump.gz"]


def test_the_digest_names_files_the_same_wherever_the_checkout_and_its_virtualenv_are() -> None:
    """A fresh clone whose virtualenv lives outside the checkout must find the committed snapshot too:
    a library's migration is named from its site-packages, not from where the virtualenv sits."""
    migration = Path("django/contrib/auth/migrations/0001_initial.py")
    inside = schema_snapshot.PROJECT / ".venv/lib/python3.12/site-packages" / migration
    outside = Path("/elsewhere/venvs/crm/lib/python3.13/site-packages") / migration
    debian = Path("/usr/lib/python3/dist-packages") / migration
    assert schema_snapshot.file_key(inside) == schema_snapshot.file_key(outside) == schema_snapshot.file_key(debian) == migration.as_posix()
    ours = schema_snapshot.PROJECT / "crm/migrations/0001_initial.py"
    assert schema_snapshot.file_key(ours) == "crm/migrations/0001_initial.py"
    assert schema_snapshot.file_key(Path("/somewhere/else/crm/migrations/0001_initial.py")) == "0001_initial.py"


def test_the_digest_does_not_depend_on_the_order_the_files_were_found_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found files are ordered by their absolute paths, which sort differently when the virtualenv is
    elsewhere: the digest reads them in the order of their names in it."""
    files = [schema_snapshot.PROJECT / "crm/migrations/0001_initial.py", schema_snapshot.PROJECT / "ib/migrations/0001_initial.py",
             schema_snapshot.PROJECT / "demo/schema_snapshot.py"]
    monkeypatch.setattr(schema_snapshot, "_files_of_migrations", lambda: files)
    forwards = schema_snapshot.digest("16")
    monkeypatch.setattr(schema_snapshot, "_files_of_migrations", lambda: files[::-1])
    assert schema_snapshot.digest("16") == forwards
    assert schema_snapshot.digest("17") != forwards


def test_make_runs_empty_database_gets_the_schema_from_the_snapshot_and_a_used_one_is_left_alone(
        snapshots: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make run` on an empty database restores the snapshot of its migrations (then `migrate` applies
    only what is newer); a database that has anything is never touched, and with no snapshot of these
    migrations it says why, so that migrate builds the schema."""
    empty = "test_crm_snapshot_empty"
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {SCRATCH}")
        cursor.execute(f"CREATE DATABASE {empty}")
    _owner_run(SCRATCH, "CREATE TABLE ledger_probe (id int PRIMARY KEY); INSERT INTO ledger_probe VALUES (7)")
    with connection._nodb_cursor() as cursor:
        written = schema_snapshot.save_snapshot(connection.creation, cursor, SCRATCH, "e" * 64)
        assert written is not None
    schema_snapshot.manifest_path(written).unlink()  # a snapshot of other migrations than these (below)
    target = type(connections["default"])({**connection.settings_dict, "NAME": empty}, alias="default")  # its own
    monkeypatch.setattr(schema_snapshot, "digest", lambda server_version: "9" * 64)
    try:
        assert schema_snapshot.restore_if_empty(target) == f"no snapshot of these migrations (schema-{'9' * 16}.dump.gz)"
        monkeypatch.setattr(schema_snapshot, "digest", lambda server_version: "e" * 64)
        restored = schema_snapshot.restore_if_empty(target)
        assert isinstance(restored, schema_snapshot.Restored) and restored.snapshot == f"schema-{'e' * 16}.dump.gz"
        assert _owner_run(empty, "SELECT id FROM ledger_probe") == [(7,)]
        _owner_run(empty, "INSERT INTO ledger_probe VALUES (8)")
        assert schema_snapshot.restore_if_empty(target) is None, "a database with tables is left as it is"
        assert _owner_run(empty, "SELECT id FROM ledger_probe ORDER BY id") == [(7,), (8,)]
    finally:
        target.close()


def test_after_a_new_migration_make_run_restores_the_earlier_snapshot_and_migrates_only_the_new_one(
        snapshots: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer has just written a migration: no snapshot has this checkout's digest, but the
    committed one holds every other migration unchanged, so `make run` restores it (and `migrate`
    applies the new one) instead of migrating from the first. A snapshot one of whose migrations has
    been edited since, or made by another Django, is not used."""
    empties = ["test_crm_snapshot_empty", "test_crm_snapshot_empty_edited", "test_crm_snapshot_empty_django"]
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {SCRATCH}")
        for name in empties:
            cursor.execute(f"CREATE DATABASE {name}")
    _owner_run(SCRATCH, "CREATE TABLE ledger_probe (id int PRIMARY KEY); INSERT INTO ledger_probe VALUES (7)")
    with connection._nodb_cursor() as cursor:
        written = schema_snapshot.save_snapshot(connection.creation, cursor, SCRATCH, "e" * 64)
    assert written is not None and schema_snapshot.manifest_path(written).is_file()
    held = schema_snapshot.manifest("16.0")["migrations"]
    assert "crm/migrations/0001_initial.py" in held and "django/contrib/auth/migrations/0001_initial.py" in held

    real = schema_snapshot.manifest
    monkeypatch.setattr(schema_snapshot, "digest", lambda server_version: "9" * 64)

    def checkout(server_version: str, *, edited: str = "", django: str = "") -> dict[str, Any]:
        now = real(server_version)
        migrations = {**now["migrations"], "wallet/migrations/9999_written_just_now.py": "0" * 64}
        if edited:
            migrations[edited] = "1" * 64
        return {**now, "migrations": migrations, **({"django": django} if django else {})}

    cases = [(empties[0], {}), (empties[1], {"edited": "crm/migrations/0001_initial.py"}),
             (empties[2], {"django": "5.2"})]
    for name, change in cases:
        monkeypatch.setattr(schema_snapshot, "manifest", lambda v, change=change: checkout(v, **change))
        target = type(connections["default"])({**connection.settings_dict, "NAME": name}, alias="default")
        try:
            restored = schema_snapshot.restore_if_empty(target)
        finally:
            target.close()
        if not change:
            assert isinstance(restored, schema_snapshot.Restored) and restored.older
            assert restored.snapshot == written.name
            assert _owner_run(name, "SELECT id FROM ledger_probe") == [(7,)]
        else:
            assert restored == f"no snapshot of these migrations (schema-{'9' * 16}.dump.gz)", change
            assert _owner_run(name, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_the_digest_leaves_out_the_apps_only_the_tests_install() -> None:
    """`make run` (whose settings have no test app) finds the same snapshot as the tests."""
    files = schema_snapshot._files_of_migrations()
    assert not any(path.is_relative_to(schema_snapshot.PROJECT / "tests") for path in files)
    assert "crm/migrations/0001_initial.py" in {schema_snapshot.file_key(path) for path in files}
