from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import redis
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import reverse

from crm import events
from crm.services import access_export_record
from leads.calls import call_log
from monitoring import recording
from monitoring.recording import ActivityRow, activity_buffered, activity_flush, activity_partitions_ahead
from tests.monitoring.helpers import activity_rows

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_buffer():
    recording.get_redis().delete(recording.BUFFER_KEY, recording.FLUSH_LOCK_KEY, recording.FLUSH_KICK_KEY)
    yield
    recording.get_redis().delete(recording.BUFFER_KEY, recording.FLUSH_LOCK_KEY, recording.FLUSH_KICK_KEY)


def test_opening_a_client_page_is_buffered_then_flushed_to_the_table(client, trio):
    client.force_login(trio.owner)
    assert client.get(reverse("client_detail", args=[trio.client.code])).status_code == 200
    assert activity_buffered() >= 1
    rows = activity_rows(agent_id=trio.owner.pk, kind="client_open")
    assert activity_buffered() == 0
    assert len(rows) == 1
    row = rows[0]
    assert row["client_id"] == trio.client.pk and row["client_owner_id"] == trio.owner.pk
    assert row["brand_id"] == trio.brand.pk and row["client_high_value"] is False
    assert row["ref"].startswith("access:")


def test_reveals_exports_and_calls_are_recorded_with_their_numbers(client, trio):
    client.force_login(trio.owner)
    client.post(reverse("client_reveal", args=[trio.client.code]), {"field": "phone"})
    access_export_record(actor=trio.owner, what="client list export (csv)", rows=321)
    call_log(actor=trio.owner, client=trio.client, outcome="no_answer", duration_seconds=3)
    events.dispatch_pending()
    kinds = {r["kind"]: r for r in activity_rows(agent_id=trio.owner.pk)}
    assert kinds["pii_reveal"]["client_id"] == trio.client.pk
    assert kinds["export"]["rows"] == 321
    assert kinds["call"]["duration_s"] == 3 and kinds["call"]["outcome"] == "no_answer"
    assert kinds["call"]["client_owner_id"] == trio.owner.pk


def test_a_login_is_recorded_with_ip_and_device(client, trio):
    trio.owner.set_password("a-Long-pass-phrase-77")
    trio.owner.save(update_fields=["password"])
    client.post(reverse("login"), {"username": trio.owner.email, "password": "a-Long-pass-phrase-77"},
                REMOTE_ADDR="192.0.2.44", HTTP_USER_AGENT="TestBrowser/1.0")
    rows = activity_rows(agent_id=trio.owner.pk, kind="login")
    assert len(rows) == 1
    assert str(rows[0]["ip"]) == "192.0.2.44" and rows[0]["device"] == "TestBrowser/1.0"


def test_rows_are_written_in_batches_and_the_buffer_empties(trio):
    now = datetime.now(tz=UTC)
    for i in range(25):
        recording.activity_record(ActivityRow(time=now + timedelta(seconds=i), agent_id=trio.owner.pk,
                                              kind="search", brand_id=trio.brand.pk, ref=f"t{i}"))
    assert activity_buffered() == 25
    assert activity_flush(batch=10) == 25
    assert activity_buffered() == 0
    assert len(activity_rows(agent_id=trio.owner.pk, kind="search")) == 25


def test_a_failed_insert_keeps_the_batch_for_the_next_flush(trio, monkeypatch):
    recording.activity_record(ActivityRow(time=datetime.now(tz=UTC), agent_id=trio.owner.pk, kind="search"))

    def broken(rows):
        raise DatabaseError("database went away")

    monkeypatch.setattr(recording, "activity_write", broken)
    with pytest.raises(DatabaseError):
        activity_flush()
    assert activity_buffered() == 1
    monkeypatch.undo()
    assert activity_flush() == 1


def test_with_redis_down_the_row_is_written_at_once(trio, monkeypatch):
    class Down:
        def rpush(self, *args, **kwargs):
            raise redis.ConnectionError("connection refused")

    monkeypatch.setattr(recording, "get_redis", lambda: Down())
    recording.activity_record(ActivityRow(time=datetime.now(tz=UTC), agent_id=trio.owner.pk, kind="export",
                                          rows=12, ref="direct"))
    monkeypatch.undo()
    assert [r["ref"] for r in activity_rows(agent_id=trio.owner.pk, kind="export")] == ["direct"]


def test_the_table_refuses_update_and_delete(trio):
    recording.activity_write([ActivityRow(time=datetime.now(tz=UTC), agent_id=trio.owner.pk, kind="search")])
    for statement in ("UPDATE monitoring_activity SET rows = 5", "DELETE FROM monitoring_activity"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(statement)
    assert len(activity_rows(agent_id=trio.owner.pk)) == 1


def test_partitions_are_created_ahead_once(db):
    far = date(2031, 3, 1)
    assert activity_partitions_ahead(today=far, days=14) == 16
    assert activity_partitions_ahead(today=far, days=14) == 0
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('monitoring_activity_p20310315') IS NOT NULL, "
                    "to_regclass('monitoring_activity_p20310316') IS NOT NULL")
        assert cur.fetchone() == (True, False)


def test_a_row_of_a_day_without_partition_gets_one(trio):
    long_ago = datetime(2024, 2, 29, 12, tzinfo=UTC)
    recording.activity_write([ActivityRow(time=long_ago, agent_id=trio.owner.pk, kind="login")])
    assert activity_rows(agent_id=trio.owner.pk)[0]["time"] == long_ago
