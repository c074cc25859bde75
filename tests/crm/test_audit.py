"""The audit log: append-only in the database, hash-chained, and checked by `audit_verify`."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from psycopg.errors import InsufficientPrivilege

from crm.audit import GENESIS_HASH, audit_checkpoint_write, audit_record, audit_seal, row_hash, verify_chain
from crm.lib import dbroles
from crm.models import AuditCheckpoint, AuditLog
from plumbing import context
from tests.crm.subprocess_env import REPO_ROOT, child_env
from tests.factories import make_user
from tests.waiting import scaled


def _record_some(n: int = 5) -> list[AuditLog]:
    """`n` rows written and then sealed into the chain (as beat's sealer would), as stored."""
    rows = [
        audit_record(action="client.updated", object_type="crm.client", object_id=f"c{i}",
                     before={"stage": "lead", "n": i}, after={"stage": "registered", "n": i},
                     reason=f"change {i}")
        for i in range(n)
    ]
    audit_seal()
    return list(AuditLog.objects.filter(pk__in=[r.pk for r in rows]).order_by("seq"))


@contextmanager
def _as_owner() -> Iterator[Any]:
    """A cursor of the audit tables' owner on a connection of its own, committing each statement:
    what someone holding the owner's password could do. Only committed rows are visible to it, so
    tests that use it are transactional. With one role the owner is the application's role."""
    owner = dbroles.connect_as_owner()
    owner.autocommit = True
    try:
        with owner.cursor() as cursor:
            yield cursor
    finally:
        owner.close()


def _as_owner_with_triggers_off(*statements: tuple[str, list[Any]]) -> None:
    """What the owner of the tables can do: switch the append-only triggers off and rewrite."""
    with _as_owner() as cursor:
        cursor.execute("ALTER TABLE crm_auditlog DISABLE TRIGGER USER")
        try:
            for sql, params in statements:
                cursor.execute(sql, params)
        finally:
            cursor.execute("ALTER TABLE crm_auditlog ENABLE TRIGGER USER")


def _run_audit_verify() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


# --- the database refuses changes ---------------------------------------------------------------
# The application's role lacks the privilege; the owner (and a single role) meets the triggers.
REFUSED = "append-only|permission denied"


@pytest.mark.django_db
def test_orm_update_of_an_audit_row_is_refused_by_the_database():
    row = _record_some(1)[0]
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        AuditLog.objects.filter(pk=row.pk).update(reason="nothing happened")
    assert AuditLog.objects.get(pk=row.pk).reason == "change 0"


@pytest.mark.django_db
def test_raw_sql_update_of_an_audit_row_is_refused_by_the_database():
    row = _record_some(1)[0]
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE crm_auditlog SET reason = %s WHERE id = %s", ["edited", row.pk])
    assert AuditLog.objects.get(pk=row.pk).reason == "change 0"


@pytest.mark.django_db
def test_raw_sql_delete_of_audit_rows_is_refused_by_the_database():
    _record_some(3)
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM crm_auditlog")
    assert AuditLog.objects.count() == 3


@pytest.mark.django_db
def test_orm_delete_of_an_audit_row_is_refused_by_the_database():
    row = _record_some(1)[0]
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        row.delete()
    assert AuditLog.objects.filter(pk=row.pk).exists()


# --- the chain ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_each_row_links_to_the_previous_rows_hash():
    rows = _record_some(3)
    assert rows[0].prev_hash == GENESIS_HASH or AuditLog.objects.filter(pk__lt=rows[0].pk).exists()
    assert rows[1].prev_hash == rows[0].hash
    assert rows[2].prev_hash == rows[1].hash
    stored = AuditLog.objects.values().get(pk=rows[2].pk)
    assert row_hash(stored) == rows[2].hash


@pytest.mark.django_db
def test_verify_chain_is_ok_on_an_intact_chain():
    _record_some(5)
    report = verify_chain()
    assert report.ok, report
    assert report.checked == AuditLog.objects.count() == 5

    code, out, err = _run_audit_verify()
    assert code == 0, err
    assert "audit chain ok: 5 rows" in out


@pytest.mark.django_db
def test_values_that_postgresql_rewrites_still_verify():
    # jsonb prints 1e20 as 100000000000000000000; inet prints an IPv4-mapped IPv6 address its
    # own way. The hash must be over what a later read returns, or sound rows look tampered with.
    ctx = context.ActorContext(ip="::ffff:192.0.2.7", user_agent="pytest", request_id="req-12345678", source="web")
    with context.acting(ctx):
        row = audit_record(action="rate.set", before={"rate": 1e20, "small": 1.5e-7, "d": "x"},
                           after={"rate": 0.1, "nested": {"b": [1, 2.50], "a": None}})
    stored = AuditLog.objects.get(pk=row.pk)
    assert stored.ip == "::ffff:192.0.2.7"
    assert stored.request_id == "req-12345678"
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_audit_verify_names_the_row_whose_reason_was_altered_behind_the_triggers():
    rows = _record_some(5)
    _as_owner_with_triggers_off(("UPDATE crm_auditlog SET reason = %s WHERE id = %s", ["nothing to see", rows[2].pk]))

    report = verify_chain()
    assert not report.ok
    assert report.first_bad_id == rows[2].pk
    assert report.checked == 2

    code, out, err = _run_audit_verify()
    assert code == 1
    assert f"audit chain BROKEN at row {rows[2].pk}:" in err
    assert "content does not match" in err


@pytest.mark.django_db(transaction=True)
def test_audit_verify_names_the_row_after_a_deleted_middle_row():
    rows = _record_some(5)
    _as_owner_with_triggers_off(("DELETE FROM crm_auditlog WHERE id = %s", [rows[2].pk]))

    report = verify_chain()
    assert not report.ok
    # The row after the gap points at a hash that no longer exists.
    assert report.first_bad_id == rows[3].pk
    code, _, err = _run_audit_verify()
    assert code == 1
    assert f"audit chain BROKEN at row {rows[3].pk}:" in err


@pytest.mark.django_db(transaction=True)
def test_a_rehashed_forgery_is_caught_at_the_next_row():
    # An attacker who also recomputes the altered row's own hash still breaks the next link.
    rows = _record_some(4)
    forged = AuditLog.objects.values().get(pk=rows[1].pk)
    forged["reason"] = "forged"
    _as_owner_with_triggers_off(("UPDATE crm_auditlog SET reason = %s, hash = %s WHERE id = %s",
                                 ["forged", row_hash(forged), rows[1].pk]))
    report = verify_chain()
    assert not report.ok
    assert report.first_bad_id == rows[2].pk


@pytest.mark.django_db(transaction=True)
def test_manage_py_audit_verify_exits_non_zero_on_a_broken_chain():
    rows = _record_some(3)
    cmd = [sys.executable, "manage.py", "audit_verify"]
    ok = subprocess.run(cmd, cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=scaled(120))
    assert ok.returncode == 0, ok.stderr
    assert "audit chain ok: 3 rows" in ok.stdout

    _as_owner_with_triggers_off(("UPDATE crm_auditlog SET object_id = %s WHERE id = %s", ["other", rows[1].pk]))
    broken = subprocess.run(cmd, cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=scaled(120))
    assert broken.returncode == 1
    assert f"audit chain BROKEN at row {rows[1].pk}:" in broken.stderr


# --- truncation, the two roles and the checkpoints ----------------------------------------------

def _needs_two_roles() -> None:
    if dbroles.owner_params() is None:
        pytest.skip("DATABASE_OWNER_URL names no other role than DATABASE_URL: the application owns the tables")


@pytest.mark.django_db(transaction=True)
def test_truncate_of_the_audit_log_is_refused_even_to_its_owner():
    _record_some(3)
    audit_checkpoint_write()
    for table in ("crm_auditlog", "crm_auditcheckpoint"):
        with pytest.raises(InsufficientPrivilege, match=f"{table} is append-only: TRUNCATE refused"), \
                _as_owner() as cursor:
            cursor.execute(f"TRUNCATE {table}")
    with pytest.raises(InsufficientPrivilege, match="append-only: UPDATE refused"), _as_owner() as cursor:
        cursor.execute("UPDATE crm_auditcheckpoint SET row_count = 0")
    with pytest.raises(InsufficientPrivilege, match="append-only: DELETE refused"), _as_owner() as cursor:
        cursor.execute("DELETE FROM crm_auditcheckpoint")
    assert AuditLog.objects.count() == 3
    assert AuditCheckpoint.objects.get().row_count == 3


@pytest.mark.django_db
@pytest.mark.parametrize(("sql", "refusal"), [
    ("ALTER TABLE crm_auditlog DISABLE TRIGGER USER", "must be owner of table crm_auditlog"),
    ("ALTER TABLE crm_auditlog DISABLE TRIGGER crm_auditlog_no_delete", "must be owner of table crm_auditlog"),
    ("TRUNCATE crm_auditlog", "permission denied for table crm_auditlog"),
    ("DELETE FROM crm_auditlog", "permission denied for table crm_auditlog"),
    ("DROP TABLE crm_auditlog", "must be owner of table crm_auditlog"),
    ("ALTER TABLE crm_auditcheckpoint DISABLE TRIGGER USER", "must be owner of table crm_auditcheckpoint"),
    ("TRUNCATE crm_auditcheckpoint", "permission denied for table crm_auditcheckpoint"),
    ("DELETE FROM crm_auditcheckpoint", "permission denied for table crm_auditcheckpoint"),
    ("UPDATE crm_auditcheckpoint SET row_count = 0", "permission denied for table crm_auditcheckpoint"),
])
def test_the_application_role_cannot_switch_the_triggers_off_or_empty_the_log(sql, refusal):
    _needs_two_roles()
    _record_some(2)
    audit_checkpoint_write()
    with pytest.raises(DatabaseError, match=refusal), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditLog.objects.count() == 2
    assert AuditCheckpoint.objects.count() == 1
    assert verify_chain().ok


@pytest.mark.django_db
def test_the_application_role_still_writes_and_reads_the_rest_of_the_crm(trio):
    # The grants after migrate cover every other table: the services work as the application role.
    from crm.services import client_update

    _needs_two_roles()
    client_update(actor=trio.owner, client=trio.client, first_name="Amira", last_name="Haddad")
    assert AuditLog.objects.filter(action="client.update", object_id=str(trio.client.code)).exists()
    assert verify_chain().ok


@pytest.mark.django_db
def test_checkpoints_record_the_head_and_the_chain_verifies_against_them():
    from crm.tasks import audit_checkpoint

    empty = audit_checkpoint_write()
    assert (empty.head_id, empty.head_hash, empty.row_count) == (0, GENESIS_HASH, 0)
    rows = _record_some(4)
    audit_checkpoint()  # what beat sends every few minutes
    first = AuditCheckpoint.objects.order_by("-id").first()
    assert (first.head_id, first.head_hash, first.row_count) == (rows[-1].pk, rows[-1].hash, 4)
    more = _record_some(2)
    second = audit_checkpoint_write()
    assert (second.head_id, second.row_count) == (more[-1].pk, 6)

    report = verify_chain()
    assert report.ok, report.describe()
    assert (report.checked, report.checkpoints) == (6, 3)
    code, out, err = _run_audit_verify()
    assert code == 0, err
    assert f"audit chain ok: 6 rows; matches 3 checkpoints, the newest of {second.at.isoformat(timespec='seconds')} " \
           f"(head id {more[-1].pk}, 6 rows)" in out


def test_beat_writes_an_audit_checkpoint_every_few_minutes(settings):
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "crm.tasks.audit_checkpoint"]
    assert len(entries) == 1
    assert entries[0]["schedule"] <= 600


@pytest.mark.django_db(transaction=True)
def test_audit_verify_names_the_newest_rows_removed_behind_the_triggers():
    rows = _record_some(6)
    checkpoint = audit_checkpoint_write()
    later = _record_some(2)  # after the checkpoint: removing these alone is what the next one catches
    _as_owner_with_triggers_off(("DELETE FROM crm_auditlog WHERE id > %s", [rows[2].pk]))

    report = verify_chain()
    assert not report.ok
    assert report.checkpoint.pk == checkpoint.pk
    assert report.chain_end_id == rows[2].pk
    code, out, err = _run_audit_verify()
    assert code == 1, out
    # Chain order is the sealer's order, not id order: the missing rows are named by their place.
    assert (f"audit chain BROKEN: 3 rows are missing from the chain's end (rows number 4 to 6): the chain ends "
            f"at id {rows[2].pk} after 3 rows, but the checkpoint of {checkpoint.at.isoformat(timespec='seconds')} "
            f"recorded 6 rows up to id {rows[5].pk} (hash {rows[5].hash})") in err
    assert later[0].pk > rows[5].pk


@pytest.mark.django_db(transaction=True)
def test_audit_verify_says_the_log_was_emptied():
    rows = _record_some(4)
    checkpoint = audit_checkpoint_write()
    _as_owner_with_triggers_off(("DELETE FROM crm_auditlog", []))

    code, out, err = _run_audit_verify()
    assert code == 1, out
    assert "ok" not in out
    assert (f"the audit log was emptied: it has no rows, but the checkpoint of "
            f"{checkpoint.at.isoformat(timespec='seconds')} recorded 4 rows up to id {rows[-1].pk}") in err


@pytest.mark.django_db
def test_a_checkpoint_with_a_bad_signature_is_reported():
    # The application's role may append checkpoints: one it made up (here claiming fewer rows than
    # there are, to cover for a later removal) does not carry the key's signature.
    rows = _record_some(3)
    genuine = audit_checkpoint_write()
    forged = AuditCheckpoint.objects.create(at=genuine.at, head_id=rows[1].pk, head_hash=rows[1].hash,
                                            row_count=2, signature=genuine.signature)

    report = verify_chain()
    assert not report.ok
    assert report.checkpoint.pk == forged.pk
    code, _, err = _run_audit_verify()
    assert code == 1
    assert f"checkpoint {forged.pk} of {genuine.at.isoformat(timespec='seconds')} has a bad signature" in err


@pytest.mark.django_db
def test_a_checkpoint_signed_with_another_key_is_reported(settings):
    _record_some(2)
    audit_checkpoint_write()
    settings.AUDIT_CHECKPOINT_KEY = ["a-key-the-checkpoint-was-not-signed-with"]
    assert verify_chain().describe().endswith("(it was forged or altered, or its key was retired)")
    settings.AUDIT_CHECKPOINT_KEY = ["a-new-key", settings.SECRET_KEY]  # rotated: the old key still verifies
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_audit_verify_warns_when_the_application_owns_the_audit_table():
    _needs_two_roles()
    _record_some(1)
    code, _, err = _run_audit_verify()
    assert code == 0
    assert "owns the audit table" not in err
    with dbroles.as_owner():  # as a CRM run with one role would be
        code, _, err = _run_audit_verify()
    assert code == 0
    assert "warning: this database role owns the audit table" in err


# --- concurrency --------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_produce_one_unbroken_chain():
    threads_n, per_thread = 8, 6
    start = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with transaction.atomic():
                    audit_record(action="thread.write", object_id=f"{n}-{i}", after={"n": n, "i": i})
                    # Widen the window between writing and committing: rows commit out of id
                    # order, and the sealer (run by verify_chain below) must still make one chain.
                    time.sleep(0.003)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads_n)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=scaled(60))
    assert not errors, errors
    assert AuditLog.objects.count() == threads_n * per_thread
    report = verify_chain()
    assert report.ok, report
    assert report.checked == threads_n * per_thread
    prevs = list(AuditLog.objects.values_list("prev_hash", flat=True))
    assert len(set(prevs)) == len(prevs), "two rows claim the same predecessor: the chain forked"


# --- the audit log page -------------------------------------------------------------------------

@pytest.fixture
def trail(trio, time_machine):
    """Audit rows written by the real services on three different days."""
    from crm.services import client_stage_change, client_update

    time_machine.move_to(datetime(2030, 3, 1, 10, 0, tzinfo=UTC), tick=False)
    with context.acting_as(trio.owner, source="web"):
        client_stage_change(actor=trio.owner, client=trio.client, stage="registered", reason="documents received")
    time_machine.move_to(datetime(2030, 3, 2, 10, 0, tzinfo=UTC), tick=False)
    client_update(actor=None, client=trio.client, first_name="Amira", last_name="Haddad")
    time_machine.move_to(datetime(2030, 3, 3, 10, 0, tzinfo=UTC), tick=False)
    audit_record(action="rate.set", object_type="wallet.rate", object_id="EURUSD",
                 before={"rate": "1.0812"}, after={"rate": "1.0815"}, actor=trio.colleague)
    return trio


def _ids(html: str) -> set[int]:
    return {int(m) for m in re.findall(r'id="audit-(\d+)"', html)}


@pytest.fixture
def admin_client(client, login_verified, db):
    login_verified(client, make_user(role_code="admin"))
    return client


@pytest.mark.parametrize("role_code", ["admin", "compliance"])
def test_audit_page_shows_changes_with_before_and_after(client, login_verified, trail, role_code):
    login_verified(client, make_user(role_code=role_code, brand=trail.client.brand))

    response = client.get(reverse("audit_list"))

    assert response.status_code == 200
    html = response.content.decode()
    stage_row = AuditLog.objects.get(action="client.stage_change")
    assert f'id="audit-{stage_row.pk}"' in html
    assert "<del>lead</del>" in html and "<ins>registered</ins>" in html
    assert "documents received" in html
    if role_code == "admin":
        assert "<del>1.0812</del>" in html and "<ins>1.0815</ins>" in html
    else:  # a brand-limited officer: a row of no brand (system-wide) is for all-brand readers only
        assert "1.0812" not in html
    assert reverse("client_detail", args=[trail.client.code]) in html


def test_audit_page_names_objects_and_links_only_what_the_viewer_may_open(client, login_verified, trail):
    from crm.models import Brand

    other_brand = make_user(role_code="compliance", brand=Brand.objects.create(code="zeta", name="Zeta FX"))
    login_verified(client, make_user(role_code="admin"))
    html = client.get(reverse("audit_list")).content.decode()
    profile = reverse("client_detail", args=[trail.client.code])
    assert f'<a href="{profile}" dir="auto">Amira Haddad</a>' in html  # a name, not crm.client:<uuid>
    assert "wallet.rate:EURUSD" in html  # not a model's row: shown as recorded
    client.logout()
    login_verified(client, other_brand)
    html = client.get(reverse("audit_list")).content.decode()
    assert "Amira Haddad" not in html and profile not in html  # another brand's rows are not shown at all


@pytest.mark.parametrize("role_code", ["sales_agent", "desk_manager", "finance", "ib_manager", "dealer"])
def test_audit_page_is_not_found_for_roles_without_the_audit_permission(client, login_verified, trail, role_code):
    login_verified(client, make_user(role_code=role_code))
    assert client.get(reverse("audit_list")).status_code == 404
    assert client.post(reverse("audit_verify"), HTTP_HX_REQUEST="true").status_code == 404


def test_audit_page_sends_anonymous_visitors_to_login(client, db):
    response = client.get(reverse("audit_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_audit_page_filters_by_actor_action_object_and_dates(admin_client, trail):
    stage_row = AuditLog.objects.get(action="client.stage_change")
    update_row = AuditLog.objects.get(action="client.update")
    rate_row = AuditLog.objects.get(action="rate.set")
    url = reverse("audit_list")

    def shown(**params):
        response = admin_client.get(url, params, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert "<html" not in response.content.decode()
        return _ids(response.content.decode()) & {stage_row.pk, update_row.pk, rate_row.pk}

    assert shown() == {stage_row.pk, update_row.pk, rate_row.pk}
    assert shown(actor=str(trail.owner.code)) == {stage_row.pk}
    assert shown(actor="system") == {update_row.pk}
    assert shown(action="client.") == {stage_row.pk, update_row.pk}
    assert shown(object_type="wallet.rate", object_id="EURUSD") == {rate_row.pk}
    assert shown(object_type="crm.client", object_id=str(trail.client.code)) == {stage_row.pk, update_row.pk}
    assert shown(date_from="2030-03-02", date_to="2030-03-02") == {update_row.pk}
    assert shown(date_from="2030-03-02") == {update_row.pk, rate_row.pk}
    assert shown(date_to="2030-03-01") == {stage_row.pk}


def test_audit_dates_are_whole_days_in_the_users_time_zone(client, login_verified, trail):
    # In Kiritimati (UTC+14) 2030-03-01 10:00 UTC is midnight starting 2030-03-02, and
    # 2030-03-02 10:00 UTC is midnight starting 2030-03-03.
    viewer = make_user(role_code="compliance", timezone="Pacific/Kiritimati", brand=trail.client.brand)
    login_verified(client, viewer)
    stage_row = AuditLog.objects.get(action="client.stage_change")
    html = client.get(reverse("audit_list"), {"date_from": "2030-03-02", "date_to": "2030-03-02"}).content.decode()
    assert _ids(html) == {stage_row.pk}


def test_audit_page_is_paginated_newest_first(admin_client):
    for i in range(57):
        audit_record(action="bulk.write", object_id=str(i))
    ids = list(AuditLog.objects.filter(action="bulk.write").order_by("-id").values_list("id", flat=True))

    first = admin_client.get(reverse("audit_list"), {"action": "bulk."}).content.decode()
    assert _ids(first) == set(ids[:50])
    older = re.search(r'href="(\?[^"]*cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    assert "action=bulk." in older

    second = admin_client.get(reverse("audit_list") + older).content.decode()
    assert _ids(second) == set(ids[50:])
    assert 'rel="next"' not in second  # the last page


@pytest.mark.django_db(transaction=True)
def test_verify_button_reports_an_intact_then_a_broken_chain(admin_client, trail):
    url = reverse("audit_verify")
    ok = admin_client.post(url, HTTP_HX_REQUEST="true")
    assert ok.status_code == 200
    assert 'id="chain-status"' in ok.content.decode()
    assert f"The chain is intact: {AuditLog.objects.count()} rows checked." in ok.content.decode()

    tampered = AuditLog.objects.get(action="client.update")
    _as_owner_with_triggers_off(("UPDATE crm_auditlog SET after = %s WHERE id = %s",
                                 ['{"first_name": "Eve"}', tampered.pk]))
    broken = admin_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert f"The chain is BROKEN at row {tampered.pk}" in broken
    assert "changed after it was written" in broken

    plain = admin_client.post(url)
    assert plain.status_code == 302
    assert plain["Location"] == reverse("audit_list")
