"""The audit log's writers take no lock; the sealer chains their rows afterwards (crm.audit, issue 32).

These use `crm.audit` by attribute rather than importing names, so that on a CRM without the
sealer they fail on the behaviour they check (a writer kept waiting), not at import.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from crm import audit
from crm.models import AuditLog
from tests.crm.test_audit import REFUSED, _as_owner_with_triggers_off, _run_audit_verify
from tests.waiting import wait_until


def _in_thread(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _write(action: str) -> int:
    with transaction.atomic():
        return audit.audit_record(action=action, object_type="crm.client", object_id=action,
                                  after={"what": action}, reason=f"{action} happened").pk


def _late_committer() -> tuple[int, int]:
    """Two rows whose commit order is the reverse of their id order: a slow transaction writes
    first and commits last, and a quick one writes, commits and is sealed while the slow one is
    still open. Fails if the quick writer has to wait for the slow one. Returns (slow id, quick id)."""
    written, release, quick_done = threading.Event(), threading.Event(), threading.Event()
    ids: dict[str, int] = {}
    errors: list[BaseException] = []

    def slow() -> None:
        with transaction.atomic():
            ids["slow"] = audit.audit_record(action="slow.write", object_type="crm.client", object_id="slow",
                                             after={"what": "slow"}, reason="slow happened").pk
            written.set()
            release.wait(timeout=60)

    def quick() -> None:
        ids["quick"] = _write("quick.write")
        quick_done.set()

    slow_thread = _in_thread(slow, errors)
    try:
        assert written.wait(timeout=60)
        quick_thread = _in_thread(quick, errors)
        wait_until(quick_done.is_set, timeout=30,
                   what="a second audited writer to commit while the first one's transaction is open")
        audit.audit_seal()  # beat's sealer runs between the two commits
    finally:
        release.set()
        slow_thread.join(timeout=60)
    quick_thread.join(timeout=60)
    assert not errors, errors
    audit.audit_seal()
    return ids["slow"], ids["quick"]


@pytest.mark.django_db(transaction=True)
def test_an_open_audited_transaction_does_not_hold_up_other_audited_writers_and_the_chain_follows_commit_order():
    slow_id, quick_id = _late_committer()

    slow_row, quick_row = AuditLog.objects.get(pk=slow_id), AuditLog.objects.get(pk=quick_id)
    assert slow_row.pk < quick_row.pk  # the slow transaction wrote first...
    assert quick_row.seq < slow_row.seq  # ...committed last, and is chained after the quick one
    assert slow_row.prev_hash == quick_row.hash
    report = audit.verify_chain()
    assert report.ok, report.describe()
    assert (report.checked, report.unsealed) == (2, 0)


@pytest.mark.django_db(transaction=True)
def test_tampering_with_a_row_sealed_after_rows_with_higher_ids_is_named():
    _write("first")
    slow_id, quick_id = _late_committer()
    after = _write("after")
    audit.audit_seal()

    _as_owner_with_triggers_off(("UPDATE crm_auditlog SET reason = %s WHERE id = %s", ["nothing to see", slow_id]))
    report = audit.verify_chain()
    assert not report.ok
    assert (report.first_bad_id, report.problem, report.checked) == (slow_id, audit.PROBLEM_CONTENT, 2)
    code, _, err = _run_audit_verify()
    assert code == 1
    assert f"audit chain BROKEN at row {slow_id}:" in err

    # Removing the quick row (sealed before the slow one, whose id is lower) breaks the slow one's link.
    _as_owner_with_triggers_off(("UPDATE crm_auditlog SET reason = %s WHERE id = %s", ["slow happened", slow_id]),
                                ("DELETE FROM crm_auditlog WHERE id = %s", [quick_id]))
    report = audit.verify_chain()
    assert (report.ok, report.first_bad_id, report.problem) == (False, slow_id, audit.PROBLEM_LINK)
    assert after > slow_id


@pytest.mark.django_db
def test_the_database_lets_a_row_be_sealed_once_and_changes_nothing_else():
    row_id = _write("one")
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        # Sealing and editing in one go.
        cursor.execute("UPDATE crm_auditlog SET seq = 1, prev_hash = %s, hash = %s, reason = 'edited' WHERE id = %s",
                       [audit.GENESIS_HASH, "f" * 64, row_id])
    with pytest.raises(DatabaseError, match="inserted unsealed|append-only"), transaction.atomic():
        AuditLog.objects.create(at=AuditLog.objects.get(pk=row_id).at, action="forged", seq=2,
                                prev_hash=audit.GENESIS_HASH, hash="e" * 64)

    assert audit.audit_seal() == 1
    sealed = AuditLog.objects.get(pk=row_id)
    assert (sealed.seq, sealed.prev_hash, sealed.reason) == (1, audit.GENESIS_HASH, "one happened")
    for sql in ("UPDATE crm_auditlog SET hash = %s WHERE id = %s", "UPDATE crm_auditlog SET prev_hash = %s WHERE id = %s"):
        with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, ["d" * 64, row_id])
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE crm_auditlog SET seq = 7 WHERE id = %s", [row_id])
    assert AuditLog.objects.get(pk=row_id).hash == sealed.hash
    assert audit.verify_chain().ok


@pytest.mark.django_db
def test_verification_reports_the_rows_waiting_to_be_sealed_and_audit_verify_seals_them():
    for action in ("a", "b", "c"):
        _write(action)
    report = audit.verify_chain(seal=False)
    assert (report.ok, report.checked, report.unsealed) == (True, 0, 3)

    out = io.StringIO()
    call_command("audit_verify", stdout=out, stderr=io.StringIO())
    assert "audit chain ok: 3 rows; no checkpoint yet; 3 sealed by this run, 0 waiting to be sealed" in out.getvalue()
    assert list(AuditLog.objects.order_by("id").values_list("seq", flat=True)) == [1, 2, 3]


def test_beat_seals_the_audit_log_every_few_seconds(settings):
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "crm.tasks.audit_seal"]
    assert len(entries) == 1
    assert entries[0]["schedule"] <= 60
