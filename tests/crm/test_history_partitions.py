"""The CRM's history tables partitioned by month (crm.lib.partitions): the event outbox, the audit log and the
access events working on their partitions (the migrations' converter: tests/crm/test_partition_swap.py)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import TypedDict

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from crm import events
from crm.audit import (
    PROBLEM_CONTENT,
    PROBLEM_SHARED,
    audit_checkpoint_write,
    audit_record,
    audit_seal,
    verify_chain,
)
from crm.lib import dbroles
from crm.lib.partitions import (
    PARTITIONED_TABLES,
    ArchiveResult,
    MonthlyTable,
    partition_reattach,
    retention_pass,
)
from crm.models import AuditLog, Event, EventDelivery
from tests.factories import make_client

pytestmark = pytest.mark.django_db(transaction=True)


class HistoryData(TypedDict, total=False):
    day: int
    text: str


events.declare("test.partitioned_history", payload=HistoryData)


def _partitions(table: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = %s::regclass ORDER BY 1", [table])
        return [r[0] for r in cur.fetchall()]


def test_the_event_outbox_is_partitioned_and_an_old_months_event_makes_its_partition():
    assert PARTITIONED_TABLES.get("crm_event") is not None
    client = make_client()
    old = events.emit("test.partitioned_history", client=client, occurred_at=datetime(2016, 4, 5, 6, 7, tzinfo=UTC))
    assert "crm_event_p201604" in _partitions("crm_event")
    assert Event.objects.get(pk=old.pk).occurred_at == datetime(2016, 4, 5, 6, 7, tzinfo=UTC)
    newer = events.emit("test.partitioned_history", client=client)
    assert newer.pk > old.pk
    EventDelivery.objects.create(event=old, handler="tests.handler", status="succeeded")
    # A client's deletion still takes its events and their deliveries (the ORM's cascade: no
    # database constraint points at a partitioned table).
    client.delete()
    assert not Event.objects.filter(pk__in=[old.pk, newer.pk]).exists()
    assert not EventDelivery.objects.filter(event_id=old.pk).exists()


def test_an_events_month_past_retention_is_archived_and_reattached_identical(settings, tmp_path):
    settings.PARTITION_ARCHIVE_DIR = tmp_path
    client = make_client()
    for day in (1, 15):
        events.emit("test.partitioned_history", client=client, occurred_at=datetime(2012, 6, day, 12, tzinfo=UTC),
                    data={"day": day, "text": 'quote " and, comma'})
    events.dispatch_pending()  # a month is kept while its events wait for their handlers
    old = list(Event.objects.filter(occurred_at__year=2012).order_by("id").values())
    with PARTITIONED_TABLES.temporarily(MonthlyTable(table="crm_event", column="occurred_at",
                                                     retention_setting="EVENT_RETENTION_YEARS")):
        done = retention_pass(apply=True, today=date(2026, 11, 27))
    assert "crm_event_p201206" in [r.candidate.partition for r in done if isinstance(r, ArchiveResult)]
    assert not Event.objects.filter(occurred_at__year=2012).exists()
    partition_reattach(tmp_path / "crm_event_p201206.json")
    assert list(Event.objects.filter(occurred_at__year=2012).order_by("id").values()) == old


def _audit_in(month: datetime, time_machine, n: int) -> list[int]:
    time_machine.move_to(month, tick=False)
    return [audit_record(action="client.updated", object_type="crm.client", object_id=f"c{i}",
                         after={"n": i}, reason=f"change {i} of {month:%Y-%m}").pk for i in range(n)]


def test_the_audit_chain_verifies_across_months_and_catches_a_change_in_an_old_partition(time_machine):
    march = _audit_in(datetime(2031, 3, 30, 10, tzinfo=UTC), time_machine, 3)
    audit_seal()
    april = _audit_in(datetime(2031, 4, 2, 10, tzinfo=UTC), time_machine, 2)
    audit_checkpoint_write()
    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT tableoid::regclass::text FROM crm_auditlog WHERE id = ANY(%s) ORDER BY 1",
                    [march + april])
        assert [r[0] for r in cur.fetchall()] == ["crm_auditlog_p203103", "crm_auditlog_p203104"]
    report = verify_chain()
    assert report.ok and report.checked >= 5
    code, out, err = _audit_verify()
    assert code == 0 and "audit chain ok" in out

    # The application role cannot reach around the table to a partition.
    for sql in ("UPDATE crm_auditlog_p203103 SET reason = 'x'", "DELETE FROM crm_auditlog_p203103"):
        if dbroles.owner_params() is None:
            break
        with pytest.raises(DatabaseError, match="permission denied|append-only"), transaction.atomic(), \
                connection.cursor() as cur:
            cur.execute(sql)
    # Its owner, triggers off, rewrites a row of the older month: the chain names it.
    owner = dbroles.connect_as_owner()
    owner.autocommit = True
    try:
        with owner.cursor() as cur:
            cur.execute("ALTER TABLE crm_auditlog DISABLE TRIGGER USER")
            cur.execute("UPDATE crm_auditlog_p203103 SET reason = 'nothing to see' WHERE id = %s", [march[1]])
            cur.execute("ALTER TABLE crm_auditlog ENABLE TRIGGER USER")
    finally:
        owner.close()
    report = verify_chain()
    assert not report.ok and report.first_bad_id == march[1] and report.problem == PROBLEM_CONTENT
    assert _audit_verify()[0] == 1


def test_the_chain_names_two_rows_given_one_place(time_machine):
    march = _audit_in(datetime(2031, 3, 30, 10, tzinfo=UTC), time_machine, 2)
    april = _audit_in(datetime(2031, 4, 2, 10, tzinfo=UTC), time_machine, 1)
    audit_seal()
    seq = AuditLog.objects.get(pk=march[1]).seq
    # The database's unique key holds `at` now: another month's row can be forced onto the same place.
    owner = dbroles.connect_as_owner()
    owner.autocommit = True
    try:
        with owner.cursor() as cur:
            cur.execute("ALTER TABLE crm_auditlog DISABLE TRIGGER USER")
            cur.execute("UPDATE crm_auditlog SET seq = %s WHERE id = %s", [seq, april[0]])
            cur.execute("ALTER TABLE crm_auditlog ENABLE TRIGGER USER")
    finally:
        owner.close()
    report = verify_chain(seal=False)
    assert not report.ok and report.problem == PROBLEM_SHARED and report.first_bad_id == april[0]


def _audit_verify() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_access_events_land_in_their_months_partition_and_go_with_their_client(time_machine):
    from crm.models import AccessEvent
    from crm.services.access import client_view_record
    from tests.factories import make_user

    agent = make_user(role_code="sales_agent")
    client = make_client(actor=agent)
    time_machine.move_to(datetime(2032, 2, 29, 23, 59, tzinfo=UTC), tick=False)
    client_view_record(actor=agent, client=client)
    seen = AccessEvent.objects.get(client=client, kind="view")
    assert AccessEvent.objects.get(pk=seen.pk).at == datetime(2032, 2, 29, 23, 59, tzinfo=UTC)
    with connection.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text FROM crm_accessevent WHERE id = %s", [seen.pk])
        assert cur.fetchone()[0] == "crm_accessevent_p203202"
    client.delete()
    assert not AccessEvent.objects.filter(pk=seen.pk).exists()
