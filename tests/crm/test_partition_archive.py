"""Retention of monthly partitioned history (crm.lib.partitions): months past retention archived to checked
files and dropped, and loaded back from them; refused where the file or the database says no."""

from __future__ import annotations

import gzip
import json
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from crm.lib import dbroles, partitions
from crm.lib.partitions import (
    PARTITIONED_TABLES,
    ArchiveResult,
    MonthlyTable,
    PartitionArchiveError,
    month_partitions_ensure,
    partition_reattach,
    partitions_due,
    retention_pass,
)
from tests.crm.owner_sql import as_owner

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = date(2026, 11, 27)
ROWS = [
    (1, "2018-03-01 00:00:00+00", "first instant of March", {"a": 1}, "10.0.0.1"),
    (2, "2018-03-31 23:59:59.999999+00", 'quote " comma, newline\nand tab\t', None, None),
    (3, "2018-03-15 12:00:00+00", "", {"nested": {"x": [1, 2]}, "text": "é ✓"}, "2001:db8::1"),
    (4, "2019-11-30 10:00:00+00", "kept: its month ends after the cutoff", None, None),
    (5, "2026-11-02 10:00:00+00", "this month", None, None),
]


@pytest.fixture
def history(settings, tmp_path):
    settings.PARTITION_ARCHIVE_DIR = tmp_path / "archive"
    settings.TEST_HISTORY_RETENTION_YEARS = 7
    role = connection.ops.quote_name(dbroles.app_role())
    as_owner("CREATE TABLE test_history (id bigint NOT NULL, at timestamptz NOT NULL, note text NOT NULL DEFAULT '', "
              "data jsonb, ip inet, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)",
              f"GRANT SELECT, INSERT ON test_history TO {role}")
    # The test table alone is declared (the CRM's own tables may hold old months other tests made).
    declared = list(PARTITIONED_TABLES)
    for table in declared:
        PARTITIONED_TABLES.unregister(table.table)
    try:
        with PARTITIONED_TABLES.temporarily(MonthlyTable(table="test_history", column="at",
                                                         retention_setting="TEST_HISTORY_RETENTION_YEARS")):
            for month in (date(2018, 3, 1), date(2019, 11, 1), date(2026, 11, 1)):
                month_partitions_ensure("test_history", month, month)
            month_partitions_ensure("test_history", date(2018, 5, 1), date(2018, 5, 1))  # an empty month
            with connection.cursor() as cur:
                for row_id, at, note, data, ip in ROWS:
                    cur.execute("INSERT INTO test_history VALUES (%s, %s, %s, %s, %s)",
                                [row_id, at, note, None if data is None else json.dumps(data), ip])
            yield tmp_path / "archive"
    finally:
        PARTITIONED_TABLES.register(*declared)
        as_owner("DROP TABLE IF EXISTS test_history, test_history_p201803, test_history_p201805")


def _due():
    return partitions_due(today=TODAY)


def _rows() -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute("SELECT id, at, note, data, ip, tableoid::regclass::text FROM test_history ORDER BY id")
        return cur.fetchall()


def _tables() -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relname LIKE 'test_history_p%' AND relkind = 'r'")
        return {r[0] for r in cur.fetchall()}


def test_the_months_past_retention_are_listed_and_a_dry_run_changes_nothing(history, capsys):
    due = _due()
    assert [(c.partition, c.rows, c.attached) for c in due] == [("test_history_p201803", 3, True),
                                                                 ("test_history_p201805", 0, True)]
    before = _rows()
    call_command("partitions_archive", "--today", "2026-11-27")
    out = capsys.readouterr().out
    assert "would archive test_history_p201803 (2018-03, 3 rows)" in out and "dry run: nothing changed" in out
    assert _rows() == before and not history.exists()


def test_the_retention_follows_the_tables_setting(history, settings):
    settings.TEST_HISTORY_RETENTION_YEARS = 5  # a month ending by 27 November 2021 may go
    assert [c.partition for c in _due()] == ["test_history_p201803", "test_history_p201805",
                                                                  "test_history_p201911"]
    settings.TEST_HISTORY_RETENTION_YEARS = 10
    assert _due() == []
    settings.TEST_HISTORY_RETENTION_YEARS = 0
    with pytest.raises(PartitionArchiveError, match="at least one year"):
        _due()


def test_an_archived_month_is_dropped_and_comes_back_identical_from_its_file(history):
    before = _rows()
    done = retention_pass(apply=True, today=TODAY)
    assert [(r.candidate.partition, r.rows) for r in done if isinstance(r, ArchiveResult)] == [
        ("test_history_p201803", 3), ("test_history_p201805", 0)]
    assert [r[0] for r in _rows()] == [4, 5]
    assert "test_history_p201803" not in _tables()
    manifest = json.loads((history / "test_history_p201803.json").read_text())
    assert manifest["table"] == "test_history" and manifest["month"] == "2018-03" and manifest["rows"] == 3
    assert manifest["columns"] == ["id", "at", "note", "data", "ip"]
    # Nothing is left to do: the next pass finds no month past retention.
    assert retention_pass(apply=True, today=TODAY) == []

    call_command("partitions_reattach", str(history / "test_history_p201803.json"))
    partition_reattach(history / "test_history_p201805.csv.gz")  # by its data file's name too
    assert _rows() == before
    # Back as a partition: a new row of the month lands in it, one of another month does not.
    with connection.cursor() as cur:
        cur.execute("INSERT INTO test_history (id, at) VALUES (6, '2018-03-20 00:00+00')")
        cur.execute("SELECT tableoid::regclass::text FROM test_history WHERE id = 6")
        assert cur.fetchone()[0] == "test_history_p201803"


def test_reattaching_a_month_that_is_present_or_a_file_that_was_changed_is_refused(history):
    retention_pass(apply=True, today=TODAY)
    manifest = history / "test_history_p201803.json"
    data = history / "test_history_p201803.csv.gz"
    original = gzip.decompress(data.read_bytes())
    data.write_bytes(gzip.compress(original.replace(b"first instant", b"FIRST INSTANT")))
    with pytest.raises(CommandError, match="does not match its manifest .*nothing was reattached"):
        call_command("partitions_reattach", str(manifest))
    assert "test_history_p201803" not in _tables()
    data.write_bytes(gzip.compress(original))
    partition_reattach(manifest)
    with pytest.raises(CommandError, match="2018-03 of test_history is in the database already"):
        call_command("partitions_reattach", str(manifest))
    with pytest.raises(CommandError, match="cannot read the manifest"):
        call_command("partitions_reattach", str(history / "nothing.json"))


def test_a_month_whose_file_does_not_verify_is_never_dropped_and_the_next_pass_takes_it_up(history, monkeypatch):
    before = _rows()
    monkeypatch.setattr(partitions, "_read_back", lambda path: ("0" * 64, 3))
    with pytest.raises(PartitionArchiveError, match="was left .*in the database"):
        retention_pass(apply=True, today=TODAY)
    # Detached (its rows out of the table) but still there, and named for the next pass.
    assert "test_history_p201803" in _tables()
    due = _due()
    assert [(c.partition, c.attached, c.rows) for c in due][0] == ("test_history_p201803", False, 3)
    # Its month is not made again meanwhile: a row for it is refused, not split from the archive.
    assert month_partitions_ensure("test_history", date(2018, 3, 1), date(2018, 3, 1)) == 0
    monkeypatch.undo()
    retention_pass(apply=True, today=TODAY)
    assert "test_history_p201803" not in _tables()
    partition_reattach(history / "test_history_p201803.json")
    assert _rows() == before


def test_the_monthly_task_archives(history, settings):
    from crm.tasks import partitions_archive

    settings.TEST_HISTORY_RETENTION_YEARS = 1  # the 2019 month too, as of today
    assert [line.split(":")[0] for line in partitions_archive()] == [
        "test_history_p201803", "test_history_p201805", "test_history_p201911"]
    assert [r[0] for r in _rows()] == [5]
    assert "partitions-archive" in settings.CELERY_BEAT_SCHEDULE
