"""Workload queues and the one-beat guard: each kind of background work is routed to a queue of its
own, a worker given some queues runs only their tasks (two real workers), deliveries stuck on slow
receivers hold only the deliveries worker while the default and sync queues keep their pace, and of
two real beats only one sends while the other waits, taking over when the first stops."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from crm import queues
from crm.beat import Lease
from crm.celery import app as celery_app
from crm.lib.redis import get_redis
from tests.crm.subprocess_env import REPO_ROOT, child_env
from tests.crm.subprocess_env import stop_group as _stop
from tests.waiting import scaled


def test_each_workload_has_its_queue_and_the_rest_stays_on_the_default():
    assert queues.workload_of("trading.tasks.deals_sync_due") == "sync"
    assert queues.workload_of("ib.tasks.commissions_daily") == "commissions"
    assert queues.workload_of("compliance.tasks.aml_pass") == "scoring"
    assert queues.workload_of("integrations.tasks.webhooks_send_due") == "deliveries"
    assert queues.workload_of("ib.tasks.postbacks_retry_due") == "deliveries"
    assert queues.workload_of("ib.tasks.postback_send") == "deliveries"
    assert queues.workload_of("compliance.tasks.screening_rescreen_version") == "screening"
    assert queues.workload_of("crm.tasks.task_reminders_send") == "notifications"
    assert queues.workload_of("crm.email_templates.email_deliver") == "notifications"
    assert queues.workload_of("reports.tasks.rebuild_nightly") == "reports"
    assert queues.workload_of("crm.tasks.events_dispatch_pending") == "default"
    assert queues.queue_name("sync", default="celery") == "celery.sync"
    assert queues.queue_name("default", default="crm-b") == "crm-b"
    # Every scheduled task lands on a queue that the all-workloads worker reads.
    read = set(queues.worker_queues(default="celery"))
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert queues.queue_name(queues.workload_of(entry["task"]), default="celery") in read


def test_the_router_follows_the_setting(settings):
    settings.CELERY_WORKLOAD_QUEUES = True
    settings.CELERY_TASK_DEFAULT_QUEUE = "crm-x"
    assert queues.route_task("trading.tasks.deals_sync_due", (), {}, {}) == {"queue": "crm-x.sync"}
    assert queues.route_task("crm.tasks.events_dispatch_pending", (), {}, {}) is None
    settings.CELERY_WORKLOAD_QUEUES = False
    assert queues.route_task("trading.tasks.deals_sync_due", (), {}, {}) is None


def test_a_worker_is_given_the_queues_of_the_workloads_named(capsys, monkeypatch):
    monkeypatch.setenv("CELERY_TASK_DEFAULT_QUEUE", "celery")
    assert queues.main(["sync", "scoring"]) == 0
    assert capsys.readouterr().out.strip() == "celery.sync,celery.scoring"
    assert queues.main(["syncing"]) == 2
    assert "unknown workload 'syncing'" in capsys.readouterr().err


def test_one_lease_holder_at_a_time_and_the_next_takes_over_when_it_ends():
    r = get_redis()
    key = f"test-lease:{uuid.uuid4().hex}"
    first, second = Lease(r, key=key, seconds=30, holder="a"), Lease(r, key=key, seconds=30, holder="b")
    assert first.hold() and first.hold()  # taken, then renewed
    assert not second.hold()
    second.release()  # not its own: nothing happens
    assert first.current_holder() == "a"
    first.release()
    assert second.hold() and second.current_holder() == "b"
    r.pexpire(key, 1)  # the holder died: its lease runs out
    time.sleep(0.05)
    assert first.hold() and first.current_holder() == "a"
    r.delete(key)


# --- real processes ------------------------------------------------------------------------------

def _start(argv: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "celery", "-A", "crm", *argv], cwd=REPO_ROOT, env=child_env(LOG_LEVEL="INFO", TASK_LOG_LEVEL="INFO", **env),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(what: str, check, *logs: Path, seconds: float = 60) -> None:
    started = time.monotonic()
    while time.monotonic() - started < scaled(seconds):
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}:\n" + "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs))


@pytest.fixture
def private_default() -> Iterator[str]:
    name = f"crm-test-q-{uuid.uuid4().hex[:10]}"
    yield name
    r = get_redis()
    keys = [k for k in r.keys(f"{name}*")]
    if keys:
        r.delete(*keys)


@pytest.mark.worker
def test_two_workers_on_different_queues_each_run_only_their_own_tasks(transactional_db, tmp_path, settings,
                                                                       private_default):
    settings.CELERY_WORKLOAD_QUEUES = True
    settings.CELERY_TASK_DEFAULT_QUEUE = private_default
    sync_q, scoring_q = (queues.queue_name(w, default=private_default) for w in ("sync", "scoring"))
    logs = {"sync": tmp_path / "sync.log", "scoring": tmp_path / "scoring.log"}
    procs = [
        _start(["worker", "--queues", q, "--hostname", f"{w}-{private_default}@localhost", "--pool", "solo",
                "--without-gossip", "--without-mingle", "--loglevel", "INFO"], logs[w],
               CELERY_TASK_DEFAULT_QUEUE=private_default)
        for w, q in (("sync", sync_q), ("scoring", scoring_q))]
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = private_default
    try:
        for log in logs.values():
            _wait_for("the worker to be ready", lambda log=log: "ready." in log.read_text(), *logs.values())
        celery_app.send_task("trading.tasks.sync_health_check")
        celery_app.send_task("compliance.tasks.jurisdictions_enforce")

        def received(log: Path, name: str) -> bool:
            return re.search(rf"Task {re.escape(name)}\[[0-9a-f-]+\] received", log.read_text()) is not None

        _wait_for("both tasks to be received", lambda: received(logs["sync"], "trading.tasks.sync_health_check")
                  and received(logs["scoring"], "compliance.tasks.jurisdictions_enforce"), *logs.values())
        # Each worker timed its task for /metrics: the wait in its queue and the run (crm/metrics.py).
        from crm.metrics import render

        ran = f'crm_task_run_seconds_count{{queue="{sync_q}",task="trading.tasks.sync_health_check"}} 1'

        def timed() -> bool:
            text = render()
            return ran in text and all(f'crm_task_wait_seconds_count{{queue="{q}"}} 1' in text
                                       for q in (sync_q, scoring_q))

        _wait_for("the task metrics", timed, *logs.values())
        time.sleep(1.0)
        assert not received(logs["sync"], "compliance.tasks.jurisdictions_enforce")
        assert not received(logs["scoring"], "trading.tasks.sync_health_check")
    finally:
        celery_app.conf.task_default_queue = previous
        for proc in procs:
            _stop(proc)


@pytest.mark.worker
def test_of_two_beats_one_sends_and_the_other_takes_over_when_it_stops(tmp_path, private_default):
    env = {"CELERY_TASK_DEFAULT_QUEUE": private_default, "CRM_BEAT_LEASE_SECONDS": "3",
           "CELERY_WORKLOAD_QUEUES": "0"}
    get_redis().delete("crm:celery-beat:leader")
    logs = [tmp_path / "beat-a.log", tmp_path / "beat-b.log"]
    procs = [_start(["beat", "--loglevel", "INFO", "--schedule", str(tmp_path / f"schedule-{i}")], log, **env)
             for i, log in enumerate(logs)]
    try:
        def roles() -> list[str]:
            out = []
            for log in logs:
                text = log.read_text()
                out.append("leader" if "celery beat: leader" in text else
                           "standby" if "celery beat: standby" in text else "")
            return out

        _wait_for("one leader and one standby", lambda: sorted(roles()) == ["leader", "standby"], *logs)
        leader = roles().index("leader")
        _stop(procs[leader])
        standby_log = logs[1 - leader]
        _wait_for("the standby to take over", lambda: "celery beat: leader" in standby_log.read_text(), *logs,
                  seconds=30)
    finally:
        for proc in procs:
            _stop(proc)
        get_redis().delete("crm:celery-beat:leader")


@pytest.mark.worker
def test_deliveries_stuck_on_slow_receivers_hold_only_their_own_worker(transactional_db, tmp_path, settings,
                                                                       private_default):
    """Issue 57, item 4: a receiver that drips one byte a second and one that never answers hold the
    deliveries worker up to the delivery deadline; meanwhile the worker of the other queues
    dispatches a new event (the default queue) and runs the platforms' health check (sync) at once."""
    from crm.events import KICK_KEY, emit
    from crm.models import Event
    from integrations import services as outbound
    from integrations.models import WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus
    from tests.crm.test_outbound_egress import Listener, _subscriber, _tenant
    from tests.factories import make_client

    settings.CELERY_WORKLOAD_QUEUES = True
    settings.CELERY_TASK_DEFAULT_QUEUE = private_default
    deadline = round(max(4.0, scaled(3)), 1)  # the whole-delivery deadline of the worker processes
    env = {"CELERY_TASK_DEFAULT_QUEUE": private_default, "CELERY_WORKLOAD_QUEUES": "1",
           "CRM_WEBHOOK_TIMEOUT_SECONDS": str(deadline), "CRM_WEBHOOK_BACKOFF_SECONDS": "600"}
    others = [w for w in (queues.DEFAULT, *queues.WORKLOADS) if w != "deliveries"]
    roles = {"deliveries": ["deliveries"], "others": others}
    logs = {role: tmp_path / f"{role}.log" for role in roles}
    procs = [_start(["worker", "--queues", ",".join(queues.worker_queues(workloads, default=private_default)),
                     "--hostname", f"{role}-{private_default}@localhost", "--pool", "solo", "--without-gossip",
                     "--without-mingle", "--loglevel", "INFO"], logs[role], **env)
             for role, workloads in roles.items()]
    listeners = [Listener("drip", drip=1.0).start(), Listener("silent").start()]
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = private_default
    get_redis().delete(KICK_KEY, outbound.KICK_KEY)
    try:
        for log in logs.values():
            _wait_for("the worker to be ready", lambda log=log: "ready." in log.read_text(), *logs.values())
        slow, calm = _tenant(), _tenant()
        subs = [_subscriber(slow, f"http://127.0.0.1:{listener.port}/x") for listener in listeners]
        emit("task.completed", client=make_client(brand=slow.brand), data={"task": str(uuid.uuid4()), "title": "Call"})
        # The deliveries worker is now stuck: both receivers hold a connection open.
        _wait_for("the slow receivers to be reached", lambda: all(listener.connections for listener in listeners),
                  *logs.values())
        stuck = WebhookDelivery.objects.filter(subscriber__in=subs)

        event = emit("task.completed", client=make_client(brand=calm.brand), data={"task": str(uuid.uuid4()),
                                                                                    "title": "Call back"})
        health = celery_app.send_task("trading.tasks.sync_health_check")

        def done() -> bool:
            return (Event.objects.filter(pk=event.pk, dispatched_at__isnull=False).exists()
                    and f"trading.tasks.sync_health_check[{health.id}] succeeded" in logs["others"].read_text())

        _wait_for("the other queues' work", done, *logs.values(), seconds=2)  # within a couple of seconds
        # ... while the deliveries were still in flight: their worker had not come back.
        assert stuck.filter(status=WebhookDeliveryStatus.SENDING).count() == 2
        # The slow ones end at the deadline, each attempted once and recorded "timed out".
        _wait_for("the slow deliveries to time out", lambda: not stuck.filter(status=WebhookDeliveryStatus.SENDING)
                  .exists(), *logs.values(), seconds=deadline + 5)
        assert list(WebhookAttempt.objects.filter(delivery__in=stuck).values_list("error", flat=True)) == [
            "timed out", "timed out"]
    finally:
        celery_app.conf.task_default_queue = previous
        for listener in listeners:
            listener.close()
        for proc in procs:
            _stop(proc)
        get_redis().delete(KICK_KEY, outbound.KICK_KEY)
