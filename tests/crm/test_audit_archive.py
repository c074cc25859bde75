"""The audit log's oldest months archived to files (crm.lib.partitions) without breaking its hash chain: each
month leaves a signed anchor (crm.models.AuditArchiveAnchor) that `audit_verify` starts from; a month is
archived only when it is the oldest left; the month boundary, where the sealer can place a row of the
month after rows of the next, is carried by the anchor; a month reattached is walked again."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from datetime import UTC, date, datetime

import psycopg
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from crm.audit import (
    PROBLEM_ARCHIVE,
    PROBLEM_CONTENT,
    PROBLEM_LINK,
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
    PartitionArchiveError,
    archive_partition,
    partition_reattach,
    partitions_due,
    retention_pass,
)
from crm.models import AuditArchiveAnchor, AuditLog, RoleCode
from plumbing import context
from tests.crm.owner_sql import as_owner
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

AUDIT = MonthlyTable(table="crm_auditlog", column="at", retention_setting="AUDIT_RETENTION_YEARS")


@pytest.fixture
def archive(settings, tmp_path):
    """The audit log alone declared (other tests' tables may hold old months), archived under tmp_path."""
    settings.PARTITION_ARCHIVE_DIR = tmp_path
    settings.AUDIT_RETENTION_YEARS = 7
    declared = list(PARTITIONED_TABLES)
    for table in declared:
        PARTITIONED_TABLES.unregister(table.table)
    try:
        with PARTITIONED_TABLES.temporarily(AUDIT):
            yield tmp_path
    finally:
        PARTITIONED_TABLES.register(*declared)


def _audit_at(moment: datetime, time_machine, n: int, *, seal: bool = True) -> list[int]:
    time_machine.move_to(moment, tick=False)
    # Values PostgreSQL prints its own way (a mapped address, a large number): the archive checks
    # each row's hash over what a read returns, as the seal made it.
    with context.acting(context.ActorContext(ip="::ffff:192.0.2.7", user_agent="pytest", source="web")):
        ids = [audit_record(action="client.updated", object_type="crm.client", object_id=f"c{i}",
                            before={"rate": 1e20, "small": 1.5e-7}, after={"n": i, "text": 'quote " é'},
                            reason=f"change {i} of {moment:%Y-%m-%d}").pk
               for i in range(n)]
    if seal:
        audit_seal()
    return ids


def _seq(pk: int) -> int:
    return int(AuditLog.objects.get(pk=pk).seq or 0)


def _verify() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def _archive(today: date) -> list[str]:
    return [r.candidate.partition for r in retention_pass(apply=True, today=today)
            if isinstance(r, ArchiveResult) and r.rows]


def test_archived_audit_months_leave_anchors_and_the_chain_still_verifies_through_them(archive, time_machine, client,
                                                                                    login_verified):
    jan = _audit_at(datetime(2018, 1, 10, 9, tzinfo=UTC), time_machine, 3)
    feb = _audit_at(datetime(2018, 2, 10, 9, tzinfo=UTC), time_machine, 2)
    mar = _audit_at(datetime(2018, 3, 10, 9, tzinfo=UTC), time_machine, 2)
    kept = _audit_at(datetime(2020, 5, 10, 9, tzinfo=UTC), time_machine, 2)
    audit_checkpoint_write()
    assert verify_chain().ok

    assert _archive(date(2026, 11, 27)) == ["crm_auditlog_p201801", "crm_auditlog_p201802", "crm_auditlog_p201803"]
    assert not AuditLog.objects.filter(pk__in=jan + feb + mar).exists()
    anchors = list(AuditArchiveAnchor.objects.order_by("month"))
    assert [(f"{a.month:%Y-%m}", a.row_count) for a in anchors] == [("2018-01", 3), ("2018-02", 2), ("2018-03", 2)]
    manifest = json.loads((archive / "crm_auditlog_p201802.json").read_text())
    feb_anchor = anchors[1]
    assert (feb_anchor.first_seq, feb_anchor.last_seq) == (anchors[0].last_seq + 1, anchors[0].last_seq + 2)
    assert feb_anchor.file_sha256 == manifest["sha256"] and feb_anchor.data_file == "crm_auditlog_p201802.csv.gz"
    assert feb_anchor.chain_seq == feb_anchor.last_seq and feb_anchor.ghosts == []
    assert _seq(kept[0]) == anchors[2].chain_seq + 1

    # The first row left points at a row that is gone; the newest anchor bridges it.
    report = verify_chain()
    assert report.ok and report.checked == 2 and report.position == _seq(kept[-1])
    assert report.archived_months == ("2018-01", "2018-02", "2018-03")
    code, out, _err = _verify()
    assert code == 0 and "audit chain ok: 2 rows" in out and "archived months 2018-01, 2018-02, 2018-03" in out
    # The chain goes on from where it was, and a checkpoint taken now holds.
    time_machine.move_to(datetime(2026, 11, 27, 10, tzinfo=UTC), tick=False)
    later = audit_record(action="client.updated", object_type="crm.client", object_id="later").pk
    audit_checkpoint_write()
    assert _seq(later) == _seq(kept[-1]) + 1 and verify_chain().ok
    # The audit log page's check says so too.
    login_verified(client, make_user(role_code=RoleCode.ADMIN))
    page = client.post("/admin-tools/audit/verify/", headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert "intact" in page.content.decode() and "archived months 2018-01, 2018-02, 2018-03" in page.content.decode()

    # The anchors are append-only, to the application and to the owner alike.
    with pytest.raises(DatabaseError, match="permission denied|append-only"), transaction.atomic(), \
            connection.cursor() as cur:
        cur.execute("UPDATE crm_auditarchiveanchor SET chain_hash = %s", ["0" * 64])
    with pytest.raises(psycopg.Error, match="append-only"):
        as_owner("DELETE FROM crm_auditarchiveanchor")


def test_a_reattached_month_is_walked_again_and_must_end_on_its_anchor(archive, time_machine):
    jan = _audit_at(datetime(2018, 1, 10, 9, tzinfo=UTC), time_machine, 2)
    feb = _audit_at(datetime(2018, 2, 10, 9, tzinfo=UTC), time_machine, 3)
    _audit_at(datetime(2018, 3, 10, 9, tzinfo=UTC), time_machine, 2)
    _audit_at(datetime(2020, 5, 10, 9, tzinfo=UTC), time_machine, 1)
    _archive(date(2026, 11, 27))

    call_command("partitions_reattach", str(archive / "crm_auditlog_p201802.json"), stdout=io.StringIO())
    assert set(AuditLog.objects.filter(pk__in=jan + feb).values_list("pk", flat=True)) == set(feb)
    report = verify_chain()
    assert report.ok and report.checked == 4  # February's three and the kept row
    assert report.archived_months == ("2018-01", "2018-03")  # February is walked in the table

    # A reattached row changed (by the owner, triggers off) is named, as in any month.
    owner = dbroles.connect_as_owner()
    owner.autocommit = True
    try:
        with owner.cursor() as cur:
            cur.execute("ALTER TABLE crm_auditlog DISABLE TRIGGER USER")
            cur.execute("UPDATE crm_auditlog SET reason = 'rewritten' WHERE id = %s", [feb[1]])
            cur.execute("ALTER TABLE crm_auditlog ENABLE TRIGGER USER")
    finally:
        owner.close()
    report = verify_chain()
    assert not report.ok and report.first_bad_id == feb[1] and report.problem == PROBLEM_CONTENT
    # Archiving the changed month again is refused: it is not the month its anchor recorded.
    with pytest.raises(PartitionArchiveError, match=r"row .* of the audit log's 2018-02 does not match its hash"):
        retention_pass(apply=True, today=date(2026, 11, 27))
    assert AuditLog.objects.filter(pk__in=feb).count() == 3


def test_a_month_reattached_and_archived_again_keeps_its_one_anchor(archive, time_machine):
    _audit_at(datetime(2018, 1, 10, 9, tzinfo=UTC), time_machine, 2)
    _audit_at(datetime(2020, 5, 10, 9, tzinfo=UTC), time_machine, 1)
    _archive(date(2026, 11, 27))
    first = AuditArchiveAnchor.objects.get()
    partition_reattach(archive / "crm_auditlog_p201801.json")
    assert _archive(date(2026, 11, 27)) == ["crm_auditlog_p201801"]
    assert list(AuditArchiveAnchor.objects.values_list("pk", flat=True)) == [first.pk]
    assert verify_chain().ok


def test_only_the_oldest_audit_month_left_may_be_archived(archive, time_machine):
    jan = _audit_at(datetime(2018, 1, 10, 9, tzinfo=UTC), time_machine, 2)
    feb = _audit_at(datetime(2018, 2, 10, 9, tzinfo=UTC), time_machine, 2)
    due = {c.partition: c for c in partitions_due(today=date(2026, 11, 27))}
    with pytest.raises(PartitionArchiveError, match="2018-02 cannot be archived while the older month 2018-01 is "
                                                    "still in the database.*nothing was changed"):
        archive_partition(due["crm_auditlog_p201802"], directory=archive)
    assert AuditLog.objects.filter(pk__in=jan + feb).count() == 4
    assert not AuditArchiveAnchor.objects.exists() and not list(archive.iterdir())
    # In turn, both go.
    assert _archive(date(2026, 11, 27)) == ["crm_auditlog_p201801", "crm_auditlog_p201802"]
    assert verify_chain().ok


def test_the_month_boundary_where_a_row_is_sealed_after_the_next_months_is_carried_by_the_anchor(
        archive, time_machine):
    _audit_at(datetime(2018, 3, 20, 9, tzinfo=UTC), time_machine, 2)
    april = _audit_at(datetime(2018, 4, 1, 0, 0, 1, tzinfo=UTC), time_machine, 1)
    # A row written at March's last second whose transaction committed after April's first row was
    # sealed: the sealer gives it the later place.
    late = _audit_at(datetime(2018, 3, 31, 23, 59, 59, tzinfo=UTC), time_machine, 1)
    after = _audit_at(datetime(2018, 4, 2, 9, tzinfo=UTC), time_machine, 2)
    late_seq = _seq(late[0])
    assert late_seq == _seq(april[0]) + 1
    audit_checkpoint_write()

    assert _archive(date(2025, 4, 15)) == ["crm_auditlog_p201803"]  # April is kept yet
    anchor = AuditArchiveAnchor.objects.get()
    assert (anchor.first_seq, anchor.last_seq, anchor.row_count) == (_seq(april[0]) - 2, late_seq, 3)
    assert anchor.chain_seq == _seq(april[0]) - 1
    assert [g[0] for g in anchor.ghosts] == [late_seq]
    report = verify_chain()
    assert report.ok and report.checked == 3 and report.archived_months == ("2018-03",)

    # April's row after the gap must still point at the archived March row.
    owner = dbroles.connect_as_owner()
    owner.autocommit = True
    try:
        with owner.cursor() as cur:
            cur.execute("ALTER TABLE crm_auditlog DISABLE TRIGGER USER")
            cur.execute("UPDATE crm_auditlog SET prev_hash = %s WHERE id = %s", ["f" * 64, after[0]])
            cur.execute("ALTER TABLE crm_auditlog ENABLE TRIGGER USER")
            broken = verify_chain(seal=False)
            cur.execute("ALTER TABLE crm_auditlog DISABLE TRIGGER USER")
            cur.execute("UPDATE crm_auditlog SET prev_hash = %s WHERE id = %s", [anchor.ghosts[0][2], after[0]])
            cur.execute("ALTER TABLE crm_auditlog ENABLE TRIGGER USER")
    finally:
        owner.close()
    assert not broken.ok and broken.first_bad_id == after[0] and broken.problem == PROBLEM_LINK

    # April goes too: its anchor takes the March row over, and the chain ends on it.
    end = _seq(after[-1])
    assert _archive(date(2025, 5, 15)) == ["crm_auditlog_p201804"]
    april_anchor = AuditArchiveAnchor.objects.get(month=date(2018, 4, 1))
    assert april_anchor.ghosts == [] and april_anchor.chain_seq == end
    report = verify_chain()
    assert report.ok and report.checked == 0 and report.archived_months == ("2018-03", "2018-04")
    # March reattached: walked up to the place April's first row took, then through the archive.
    partition_reattach(archive / "crm_auditlog_p201803.json")
    report = verify_chain()
    assert report.ok and report.checked == 3


def test_a_file_that_is_not_the_archived_one_is_not_reattached_even_with_a_matching_manifest(archive, time_machine):
    _audit_at(datetime(2018, 1, 10, 9, tzinfo=UTC), time_machine, 2)
    _archive(date(2026, 11, 27))
    data, manifest_path = archive / "crm_auditlog_p201801.csv.gz", archive / "crm_auditlog_p201801.json"
    forged = gzip.decompress(data.read_bytes()).replace(b"change 0", b"change 9")
    data.write_bytes(gzip.compress(forged))
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = hashlib.sha256(forged).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(PartitionArchiveError, match="is not the file the audit log's 2018-01 was archived to"):
        partition_reattach(manifest_path)


def test_a_forged_anchor_is_named(archive, time_machine):
    _audit_at(datetime(2018, 1, 10, 9, tzinfo=UTC), time_machine, 2)
    _audit_at(datetime(2020, 5, 10, 9, tzinfo=UTC), time_machine, 1)
    _archive(date(2026, 11, 27))
    owner = dbroles.connect_as_owner()
    owner.autocommit = True
    try:
        with owner.cursor() as cur:
            cur.execute("ALTER TABLE crm_auditarchiveanchor DISABLE TRIGGER USER")
            cur.execute("UPDATE crm_auditarchiveanchor SET chain_seq = chain_seq + 1")
            cur.execute("ALTER TABLE crm_auditarchiveanchor ENABLE TRIGGER USER")
    finally:
        owner.close()
    report = verify_chain()
    assert not report.ok and report.anchor is not None and "2018-01 has a bad signature" in report.describe()
    assert report.problem != PROBLEM_ARCHIVE
