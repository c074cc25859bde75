"""Monthly partitions (crm.lib.partitions, crm migration 0025): made ahead, idempotent, refused where wrong."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.lib import dbroles, partitions
from crm.lib.partitions import (
    PARTITIONED_TABLES,
    MonthlyTable,
    add_months,
    month_partitions_ensure,
    partitions_ensure_ahead,
    partitions_for,
)
from tests.crm.owner_sql import as_owner

# The tables are made by the owner, as a migration would (the application's role owns nothing).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def history_table():
    role = connection.ops.quote_name(dbroles.app_role())
    as_owner("CREATE TABLE test_history (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at)",
              "CREATE TABLE test_plain (id bigint)", f"GRANT SELECT, INSERT ON test_history, test_plain TO {role}")
    try:
        with PARTITIONED_TABLES.temporarily(MonthlyTable(table="test_history", column="at")):
            yield "test_history"
    finally:
        as_owner("DROP TABLE test_history, test_plain")


def _partitions(table: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = %s::regclass ORDER BY 1", [table])
        return [r[0] for r in cur.fetchall()]


def test_months_are_made_once_each_holding_its_utc_month(history_table):
    assert month_partitions_ensure(history_table, date(2026, 11, 17), date(2027, 2, 3)) == 4
    assert month_partitions_ensure(history_table, date(2026, 12, 1), date(2027, 1, 31)) == 0
    assert _partitions(history_table) == ["test_history_p202611", "test_history_p202612", "test_history_p202701",
                                          "test_history_p202702"]
    with connection.cursor() as cur:
        # The last instant of December (UTC) is December's, the first of January is January's.
        cur.execute("INSERT INTO test_history VALUES (1, '2026-12-31 23:59:59.999+00'), (2, '2027-01-01 00:00+00'), "
                    "(3, '2027-01-01 00:30+01')")
        cur.execute("SELECT id, tableoid::regclass::text FROM test_history ORDER BY id")
        assert cur.fetchall() == [(1, "test_history_p202612"), (2, "test_history_p202701"),
                                  (3, "test_history_p202612")]


def test_a_row_for_a_month_without_its_partition_is_refused(history_table):
    month_partitions_ensure(history_table, date(2026, 11, 1), date(2026, 11, 1))
    with pytest.raises(DatabaseError, match="no partition"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("INSERT INTO test_history VALUES (1, '2019-03-04 10:00+00')")


def test_the_daily_task_keeps_every_declared_table_months_ahead(history_table):
    made = partitions_ensure_ahead(today=date(2026, 11, 27), months=3)
    assert made["test_history"] == 5  # October (last month) to February
    assert _partitions(history_table)[0] == "test_history_p202610"
    assert _partitions(history_table)[-1] == "test_history_p202702"
    assert partitions_ensure_ahead(today=date(2026, 11, 28), months=3)["test_history"] == 0


def test_a_table_that_is_not_partitioned_or_a_range_backwards_is_refused_by_name(history_table):
    with pytest.raises(DatabaseError, match="test_plain is not a partitioned table"), transaction.atomic():
        month_partitions_ensure("test_plain", date(2026, 1, 1), date(2026, 2, 1))
    with pytest.raises(DatabaseError, match="before first month"), transaction.atomic():
        month_partitions_ensure(history_table, date(2026, 5, 1), date(2026, 2, 1))


def test_month_arithmetic_crosses_years():
    assert add_months(date(2026, 11, 1), 3) == date(2027, 2, 1)
    assert add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert add_months(datetime(2026, 1, 1, tzinfo=UTC).date(), -13) == date(2024, 12, 1)


def test_a_month_made_in_a_transaction_rolled_back_is_made_again_by_the_next_write(history_table):
    # A month seen inside a transaction is remembered (no look-up by later writes) only once it commits.
    class Undone(Exception):
        pass

    may = datetime(2031, 5, 4, 12, tzinfo=UTC)
    try:
        with pytest.raises(Undone), transaction.atomic():
            assert partitions_for(history_table, [may]) == 1
            raise Undone
        assert _partitions(history_table) == []

        with transaction.atomic():
            assert partitions_for(history_table, [may]) == 1
            with connection.cursor() as cur:
                cur.execute("INSERT INTO test_history VALUES (1, %s)", [may])
        with CaptureQueriesContext(connection) as looked, transaction.atomic():
            assert partitions_for(history_table, [datetime(2031, 5, 31, tzinfo=UTC)]) == 0

        assert _partitions(history_table) == ["test_history_p203105"]
        assert [q["sql"] for q in looked.captured_queries] == ["BEGIN", "COMMIT"]  # no catalogue look-up
    finally:
        partitions._known.discard((str(connection.settings_dict["NAME"]), history_table, date(2031, 5, 1)))
