"""The read-replica router against a real streaming replica of the test server, made with
PostgreSQL's own tools (pg_basebackup, pg_ctl): marked reads go to the replica, a user's writes are
read back from the primary (within the request, and for a few seconds after by cookie), a lagging
replica (replay paused) or a stopped one leaves reads on the primary, and caught up it serves again."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, connections
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from crm import dbrouter
from crm.dbrouter import PIN_COOKIE, REPLICA, ReplicaMiddleware, reads_from_replica, replica_lag_seconds
from crm.models import Client
from tests.factories import make_client
from tests.waiting import scaled

pytestmark = pytest.mark.worker


def _bin(name: str) -> str:
    pgserver = pytest.importorskip("pgserver")
    path = Path(pgserver.__file__).parent / "pginstall" / "bin" / name
    if not path.exists():
        pytest.skip(f"no {name} beside the embedded server")
    return str(path)


def _run_as() -> dict[str, str]:
    # The embedded server runs as the "pgserver" system user when the suite runs as root (PostgreSQL
    # refuses root); its replica must too.
    return {"user": "pgserver"} if os.geteuid() == 0 else {}


@pytest.fixture(scope="module")
def replica_server(django_db_setup, django_db_blocker) -> Iterator[dict[str, str]]:
    """One streaming replica of the test server for this module (pg_basebackup -R, then pg_ctl start)."""
    with django_db_blocker.unblock():
        primary = dict(connection.settings_dict)
    host = str(primary.get("HOST") or "")
    if not host.startswith("/"):
        pytest.skip("the replica drill runs against the embedded server (a Unix socket)")
    root = Path(tempfile.mkdtemp(prefix="crm-rep-", dir="/tmp"))
    data = root / "data"
    as_user = _run_as()
    if as_user:
        shutil.chown(root, user=as_user["user"])
    try:
        subprocess.run([_bin("pg_basebackup"), "-h", host, "-U", "postgres", "-D", str(data), "-R", "-X", "stream",
                        "-c", "fast"], check=True, capture_output=True, timeout=scaled(180), **as_user)  # noqa: S603
        subprocess.run([_bin("pg_ctl"), "-D", str(data), "-w", "-t", str(int(scaled(60))), "-l", str(root / "log"),
                        "-o", f"-h '' -k {root} -c hot_standby=on", "start"],
                       check=True, capture_output=True, timeout=scaled(90), **as_user)  # noqa: S603
        yield {"root": str(root), "data": str(data)}
    finally:
        subprocess.run([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                       timeout=scaled(60), check=False, **as_user)  # noqa: S603
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def replica(replica_server, transactional_db, settings) -> Iterator[dict[str, str]]:
    """The replica as the CRM's "replica" database, for one test."""
    alias = dict(connection.settings_dict)
    alias.update(HOST=replica_server["root"], TEST={"MIRROR": None})
    connections.settings[REPLICA] = alias
    # Connected here, directly: the test database guard lets only connections the test declared
    # connect on demand, and this alias did not exist when it was set up.
    connections[REPLICA].connect()
    settings.REPLICA_LAG_CHECK_SECONDS = 0
    settings.REPLICA_MAX_LAG_SECONDS = 2
    try:
        with dbrouter.scope():
            yield replica_server
    finally:
        if REPLICA in connections:
            connections[REPLICA].close()
            del connections[REPLICA]
        connections.settings.pop(REPLICA, None)


def _superuser_on_replica(root: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(host=root, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(sql)


def _made(**fields) -> Client:
    """A client written as its own unit of work (a request): the write pins only itself."""
    with dbrouter.scope():
        return make_client(**fields)


def _wait(what: str, check) -> None:
    started = time.monotonic()
    while time.monotonic() - started < scaled(30):
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _on_replica(pk: int) -> bool:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT 1 FROM crm_client WHERE id = %s", [pk])
        return cursor.fetchone() is not None


def test_marked_reads_go_to_the_replica_and_writes_pin_the_request_to_the_primary(replica, settings):
    # The replica copies the whole server, where the other test processes keep writing: on a loaded
    # machine its replay may be seconds behind theirs. The lag limit is the next tests' subject.
    settings.REPLICA_MAX_LAG_SECONDS = scaled(30)
    client = _made()
    _wait("the client to reach the replica", lambda: _on_replica(client.pk))
    with CaptureQueriesContext(connections[REPLICA]) as on_replica, reads_from_replica():
        assert Client.objects.filter(pk=client.pk).exists()
    assert any("crm_client" in q["sql"] for q in on_replica.captured_queries)
    # Unmarked reads stay on the primary.
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        Client.objects.filter(pk=client.pk).exists()
    assert not on_replica.captured_queries
    # A write inside the request: what follows reads the primary (read-your-writes).
    with CaptureQueriesContext(connections[REPLICA]) as on_replica, dbrouter.scope(), reads_from_replica():
        Client.objects.filter(pk=client.pk).update(first_name="Renamed")
        assert Client.objects.get(pk=client.pk).first_name == "Renamed"
    assert not any("crm_client" in q["sql"] for q in on_replica.captured_queries)


def test_a_users_post_keeps_their_next_reads_on_the_primary_for_a_while(replica, settings):
    settings.REPLICA_PIN_SECONDS = 30
    seen: list[bool] = []

    def view(request):
        seen.append(dbrouter._pinned.get())
        from django.http import HttpResponse

        return HttpResponse("ok")

    middleware = ReplicaMiddleware(view)
    posted = middleware(RequestFactory().post("/anything/"))
    assert PIN_COOKIE in posted.cookies and posted.cookies[PIN_COOKIE]["max-age"] == 30
    factory = RequestFactory()
    later = factory.get("/reports/dashboard/")
    later.COOKIES[PIN_COOKIE] = posted.cookies[PIN_COOKIE].value
    middleware(later)
    middleware(factory.get("/reports/dashboard/"))  # another user, no cookie
    assert seen == [True, True, False]


def test_a_lagging_or_stopped_replica_leaves_reads_on_the_primary(replica, settings):
    first = _made()
    _wait("the replica to catch up", lambda: _on_replica(first.pk))
    _superuser_on_replica(replica["root"], "SELECT pg_wal_replay_pause()")
    time.sleep(scaled(2.5))
    second = _made()  # the replica receives it but does not replay it
    _wait("the replica to report its lag", lambda: (replica_lag_seconds() or 0) > 2)
    with CaptureQueriesContext(connections[REPLICA]) as on_replica, reads_from_replica():
        assert Client.objects.filter(pk=second.pk).exists()  # from the primary: the replica has not got it
    assert not any("crm_client" in q["sql"] for q in on_replica.captured_queries)

    _superuser_on_replica(replica["root"], "SELECT pg_wal_replay_resume()")
    _wait("the replica to catch up again", lambda: replica_lag_seconds() == 0 and _on_replica(second.pk))
    settings.REPLICA_MAX_LAG_SECONDS = scaled(30)  # caught up; the other processes' writes may follow
    with CaptureQueriesContext(connections[REPLICA]) as on_replica, reads_from_replica():
        assert Client.objects.filter(pk=second.pk).exists()
    assert any("crm_client" in q["sql"] for q in on_replica.captured_queries)

    # Stopped: reads go on, from the primary.
    subprocess.run([_bin("pg_ctl"), "-D", replica["data"], "-m", "immediate", "stop"], check=True,
                   capture_output=True, timeout=scaled(60), **_run_as())  # noqa: S603
    connections[REPLICA].close()
    with reads_from_replica():
        assert Client.objects.filter(pk=second.pk).exists()
    assert replica_lag_seconds() is None


def test_every_page_named_for_the_replica_exists():
    from django.conf import settings
    from django.urls import NoReverseMatch, reverse

    for name in settings.REPLICA_READ_VIEWS:
        try:
            reverse(name)
        except NoReverseMatch:
            reverse(name, args=["daily-money"])  # a report's page takes its name
