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

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from crm.audit import GENESIS_HASH, audit_record, row_hash, verify_chain
from crm.lib import context
from crm.models import AuditLog
from tests.crm.subprocess_env import REPO_ROOT, child_env
from tests.factories import make_user


def _record_some(n: int = 5) -> list[AuditLog]:
    return [
        audit_record(action="client.updated", object_type="crm.client", object_id=f"c{i}",
                     before={"stage": "lead", "n": i}, after={"stage": "registered", "n": i},
                     reason=f"change {i}")
        for i in range(n)
    ]


@contextmanager
def _user_triggers_disabled() -> Iterator[None]:
    """What an attacker with table-owner rights could do: switch the append-only triggers off."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE crm_auditlog DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE crm_auditlog ENABLE TRIGGER USER")


def _run_audit_verify() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


# --- the database refuses changes ---------------------------------------------------------------

@pytest.mark.django_db
def test_orm_update_of_an_audit_row_is_refused_by_the_database():
    row = _record_some(1)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditLog.objects.filter(pk=row.pk).update(reason="nothing happened")
    assert AuditLog.objects.get(pk=row.pk).reason == "change 0"


@pytest.mark.django_db
def test_raw_sql_update_of_an_audit_row_is_refused_by_the_database():
    row = _record_some(1)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE crm_auditlog SET reason = %s WHERE id = %s", ["edited", row.pk])
    assert AuditLog.objects.get(pk=row.pk).reason == "change 0"


@pytest.mark.django_db
def test_raw_sql_delete_of_audit_rows_is_refused_by_the_database():
    _record_some(3)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM crm_auditlog")
    assert AuditLog.objects.count() == 3


@pytest.mark.django_db
def test_orm_delete_of_an_audit_row_is_refused_by_the_database():
    row = _record_some(1)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
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


@pytest.mark.django_db
def test_audit_verify_names_the_row_whose_reason_was_altered_behind_the_triggers():
    rows = _record_some(5)
    with _user_triggers_disabled():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE crm_auditlog SET reason = %s WHERE id = %s", ["nothing to see", rows[2].pk])

    report = verify_chain()
    assert not report.ok
    assert report.first_bad_id == rows[2].pk
    assert report.checked == 2

    code, out, err = _run_audit_verify()
    assert code == 1
    assert f"audit chain BROKEN at row {rows[2].pk}:" in err
    assert "content does not match" in err


@pytest.mark.django_db
def test_audit_verify_names_the_row_after_a_deleted_middle_row():
    rows = _record_some(5)
    with _user_triggers_disabled():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM crm_auditlog WHERE id = %s", [rows[2].pk])

    report = verify_chain()
    assert not report.ok
    # The row after the gap points at a hash that no longer exists.
    assert report.first_bad_id == rows[3].pk
    code, _, err = _run_audit_verify()
    assert code == 1
    assert f"audit chain BROKEN at row {rows[3].pk}:" in err


@pytest.mark.django_db
def test_a_rehashed_forgery_is_caught_at_the_next_row():
    # An attacker who also recomputes the altered row's own hash still breaks the next link.
    rows = _record_some(4)
    forged = AuditLog.objects.values().get(pk=rows[1].pk)
    forged["reason"] = "forged"
    with _user_triggers_disabled():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE crm_auditlog SET reason = %s, hash = %s WHERE id = %s",
                           ["forged", row_hash(forged), rows[1].pk])
    report = verify_chain()
    assert not report.ok
    assert report.first_bad_id == rows[2].pk


@pytest.mark.django_db(transaction=True)
def test_manage_py_audit_verify_exits_non_zero_on_a_broken_chain():
    rows = _record_some(3)
    cmd = [sys.executable, "manage.py", "audit_verify"]
    ok = subprocess.run(cmd, cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "audit chain ok: 3 rows" in ok.stdout

    with _user_triggers_disabled():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE crm_auditlog SET object_id = %s WHERE id = %s", ["other", rows[1].pk])
    broken = subprocess.run(cmd, cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert f"audit chain BROKEN at row {rows[1].pk}:" in broken.stderr


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
                    # Widen the window between reading the chain's head and committing: without
                    # the advisory lock, other writers would read the same head and fork the chain.
                    time.sleep(0.003)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads_n)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=60)
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
    login_verified(client, make_user(role_code=role_code))

    response = client.get(reverse("audit_list"))

    assert response.status_code == 200
    html = response.content.decode()
    stage_row = AuditLog.objects.get(action="client.stage_change")
    assert f'id="audit-{stage_row.pk}"' in html
    assert "<del>lead</del>" in html and "<ins>registered</ins>" in html
    assert "documents received" in html
    assert "<del>1.0812</del>" in html and "<ins>1.0815</ins>" in html
    assert reverse("client_detail", args=[trail.client.code]) in html


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
    viewer = make_user(role_code="compliance", timezone="Pacific/Kiritimati")
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


def test_verify_button_reports_an_intact_then_a_broken_chain(admin_client, trail):
    url = reverse("audit_verify")
    ok = admin_client.post(url, HTTP_HX_REQUEST="true")
    assert ok.status_code == 200
    assert 'id="chain-status"' in ok.content.decode()
    assert f"The chain is intact: {AuditLog.objects.count()} rows checked." in ok.content.decode()

    tampered = AuditLog.objects.get(action="client.update")
    with _user_triggers_disabled():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE crm_auditlog SET after = %s WHERE id = %s", ['{"first_name": "Eve"}', tampered.pk])
    broken = admin_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert f"The chain is BROKEN at row {tampered.pk}" in broken
    assert "changed after it was written" in broken

    plain = admin_client.post(url)
    assert plain.status_code == 302
    assert plain["Location"] == reverse("audit_list")
