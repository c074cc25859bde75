"""Automation runs point at events (db_constraint=False): a month of the outbox is kept while a run waits
on one of its events, and once archived the run log says "event archived" for its runs."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automation.models import AutomationRun, RunStatus
from automation.runner import automation_fire_due
from automation.services import automation_rule_save
from crm import events
from crm.lib.partitions import (
    PARTITIONED_TABLES,
    ArchiveResult,
    MonthlyTable,
    PartitionArchiveError,
    retention_pass,
)
from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = date(2026, 11, 27)
OLD = datetime(2012, 6, 5, 10, tzinfo=UTC)


@pytest.fixture
def outbox_only(settings, tmp_path):
    settings.PARTITION_ARCHIVE_DIR = tmp_path
    declared = list(PARTITIONED_TABLES)
    for table in declared:
        PARTITIONED_TABLES.unregister(table.table)
    try:
        with PARTITIONED_TABLES.temporarily(MonthlyTable(table="crm_event", column="occurred_at",
                                                         retention_setting="EVENT_RETENTION_YEARS")):
            yield tmp_path
    finally:
        PARTITIONED_TABLES.register(*declared)


def test_a_run_waiting_on_an_event_keeps_its_month_and_the_log_says_when_it_was_archived(
        outbox_only, client, login_verified):
    brand = make_brand()
    automation_rule_save(actor=None, brand=brand, name="Tag after a call", trigger="task.completed",
                         conditions=[], actions=[{"type": "add_tag", "tag": "called"}], delay_hours=1)
    customer = make_client(brand=brand)
    events.emit("task.completed", client=customer, occurred_at=OLD, data={"task": str(uuid.uuid4()), "title": "Call"})
    events.dispatch_pending()
    run = AutomationRun.objects.get(client=customer)
    assert run.status == RunStatus.SCHEDULED
    with pytest.raises(PartitionArchiveError, match=r"2012-06 still has work under way \(1 automation runs scheduled"):
        retention_pass(apply=True, today=TODAY)

    automation_fire_due(now=timezone.now() + timedelta(days=1))
    run.refresh_from_db()
    assert run.status != RunStatus.SCHEDULED
    done = [r.candidate.partition for r in retention_pass(apply=True, today=TODAY) if isinstance(r, ArchiveResult)]
    assert "crm_event_p201206" in done

    login_verified(client, make_user(role_code=RoleCode.ADMIN))
    page = client.get(reverse("automation_run_list"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Tag after a call" in text and "event archived" in text and f"#{run.event_id}" in text
