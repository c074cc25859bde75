"""Portal logins beside a long audited transaction: no deadlock, no 500 (issue 32).

The trading demo's set-up wrote an audit row early in a long transaction and later needed the
client's row; a login held that row (its FOR UPDATE reached the client and the brand through a
join) and then wrote its own audit row. With one lock for the whole audit chain, held until
commit, each waited for the other: PostgreSQL broke the cycle with "deadlock detected", and the
login answered 500. Audit writes now take no lock (crm.audit), and the login locks only its row.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test import Client as HttpClient
from django.urls import reverse

from crm.audit import audit_record, verify_chain
from crm.models import AuditLog, Client
from tests.concurrency import blocked_backends, in_thread
from tests.portal.conftest import PASSWORD
from tests.waiting import wait_until

LOGINS = 4




@pytest.mark.django_db(transaction=True)
def test_portal_logins_beside_a_long_audited_transaction_that_touches_the_client_do_not_deadlock(registered, ip):
    client, brand = registered.client, registered.brand
    audit_written = threading.Event()
    statuses: list[int] = []
    errors: list[BaseException] = []

    def long_transaction() -> None:
        # The shape of the demo's set-up: an audit row first, the client's row later.
        with transaction.atomic():
            audit_record(action="demo.setup", obj=client, after={"step": "accounts"})
            audit_written.set()
            # Let the logins run into whatever they would wait for (or finish) before touching the client.
            wait_until(lambda: len(statuses) == LOGINS or blocked_backends(), timeout=60,
                       what="the logins to finish or wait for a lock")
            row = Client.objects.select_for_update().get(pk=client.pk)
            Client.objects.filter(pk=row.pk).update(last_name="Hassan-Demo")

    def login() -> None:
        audit_written.wait(timeout=60)
        http = HttpClient(raise_request_exception=False, REMOTE_ADDR=ip)
        response = http.post(reverse("portal:login_brand", args=[brand.code]),
                              {"email": registered.login.email, "password": PASSWORD})
        statuses.append(response.status_code)

    threads = [in_thread(long_transaction, errors)] + [in_thread(login, errors) for _ in range(LOGINS)]
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread is still waiting: the two shapes deadlocked"

    assert not errors, errors  # the long transaction was not chosen as a deadlock's victim
    assert statuses == [302] * LOGINS  # every login signed in: no 500
    assert Client.objects.get(pk=client.pk).last_name == "Hassan-Demo"
    assert AuditLog.objects.filter(action="portal.login", object_id=str(client.code)).count() == LOGINS
    report = verify_chain()
    assert report.ok, report.describe()
    assert report.checked == AuditLog.objects.count()


@pytest.mark.django_db
def test_a_portal_login_locks_only_its_own_row_not_the_client_or_the_brand(registered, http):
    # The lock order: a login holds its ClientLogin row only. Locking the client and the brand too
    # (FOR UPDATE over the join) made every login a wait for whoever held the client, and a block on
    # every insert that references the brand.
    from django.test.utils import CaptureQueriesContext

    from tests.portal.conftest import sign_in

    with CaptureQueriesContext(connection) as queries:
        assert sign_in(http, registered.brand).status_code == 302
    locking = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert locking, "the login no longer locks its row"
    assert all('FOR UPDATE OF "portal_clientlogin"' in sql for sql in locking), locking
