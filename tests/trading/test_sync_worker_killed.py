"""A Celery worker killed (SIGKILL) in the middle of a deal sync: its lease lapses within one TTL,
the next worker takes the server over, and the CRM ends with exactly the platform's deals.

The workers are real `celery -A crm worker` processes on a queue of their own, against this run's
test database (committed data: transactional_db) and the module's simulator.
"""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from crm.celery import app as celery_app
from crm.lib.redis import get_redis
from tests.crm.subprocess_env import REPO_ROOT, _die_with_parent, child_env
from tests.crm.subprocess_env import stop_group as _stop
from tests.factories import make_brand, make_client, make_desk, make_user
from tests.trading.crm_fixtures import _fresh_adapters, crm_deals, make_server, open_account, truth_deals  # noqa: F401
from tests.waiting import scaled
from trading import tasks
from trading.models import Deal, PlatformServer

pytestmark = [pytest.mark.worker]

LEASE_SECONDS = 4  # the workers' lease TTL (TRADING_SYNC_LEASE_SECONDS); production's is 30
DEALS = "/api/deal/get_batch"


@pytest.fixture
def queue_name() -> Iterator[str]:
    name = f"crm-test-{uuid.uuid4().hex[:12]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    try:
        yield name
    finally:
        celery_app.conf.task_default_queue = previous
        r = get_redis()
        r.delete(name, *r.keys(f"_kombu.binding*.{name}"))


@pytest.fixture
def start_worker(transactional_db, queue_name, tmp_path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        log = tmp_path / f"{name}.log"
        cmd = [sys.executable, "-m", "celery", "-A", "crm", "worker", "--queues", queue_name,
               "--hostname", f"{name}-{queue_name}@localhost", "--pool", "prefork", "--concurrency", "1",
               "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv
                cmd, cwd=REPO_ROOT, env=child_env(TRADING_SYNC_LEASE_SECONDS=str(LEASE_SECONDS)), stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        proc.log_path = log  # type: ignore[attr-defined]
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            _stop(proc)


@pytest.fixture
def committed_world(transactional_db, quiet_sim) -> SimpleNamespace:
    brand = make_brand()
    owner = make_user(role_code="sales_agent", desk=make_desk(brand=brand))
    client = make_client(actor=owner, email="killed-worker@example.com", stage="funded")
    world = SimpleNamespace(sim=quiet_sim, brand=brand, client=client, server=make_server(quiet_sim, brand))
    return world


def _wait(check: Callable[[], bool], what: str, seconds: float, logs: list[Path]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < scaled(seconds):
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs)
    pytest.fail(f"timed out after {seconds}s waiting for {what}\n{tails}")


def test_a_worker_killed_mid_sync_leaves_no_stuck_lock_and_no_lost_or_doubled_deals(committed_world,
                                                                                        start_worker):
    world = committed_world
    sim = world.sim
    first = [open_account(world, persona="scalper"), open_account(world, persona="swing")]
    sim.advance(seconds=3 * 3600)
    worker = start_worker("first")
    logs = [worker.log_path]
    server = world.server
    tasks.deals_sync.delay(server.pk)
    _wait(lambda: PlatformServer.objects.get(pk=server.pk).last_deal_sync_ok_at is not None,
          "the first sync", 60, logs)
    done_first = PlatformServer.objects.get(pk=server.pk)

    # A new account (read back to its opening first, and stored), then the known accounts'
    # read, which the platform answers slowly: the worker is killed while it waits there,
    # holding the lease, with part of the poll written and the watermark not yet moved.
    late = open_account(world, persona="scalper")
    sim.advance(seconds=2 * 3600)
    sim.faults({"type": "latency", "path": DEALS, "skip": 1, "count": 1, "seconds": 20})
    tasks.deals_sync.delay(server.pk)
    key = f"crm:trading:sync:deals:{server.pk}"
    _wait(lambda: Deal.objects.filter(account=late).exists() and get_redis().exists(key),
          "the sync to be half-way", 60, logs)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)
    killed_at = time.monotonic()
    assert PlatformServer.objects.get(pk=server.pk).deal_watermark == done_first.deal_watermark
    assert get_redis().exists(key)  # the dead worker's lease is still there, for now

    # A restarted worker, fed by beat as in production (here: a poll request every second).
    sim.control("/_sim/faults/clear", {})
    restarted = start_worker("restarted")
    logs.append(restarted.log_path)

    def resumed() -> bool:
        tasks.deals_sync.delay(server.pk)
        now = PlatformServer.objects.get(pk=server.pk)
        return now.last_deal_sync_ok_at is not None and now.last_deal_sync_ok_at > done_first.last_deal_sync_ok_at

    _wait(resumed, "sync to resume", 60, logs)
    took = time.monotonic() - killed_at
    assert took < LEASE_SECONDS + 20, f"sync resumed only {took:.1f}s after the kill"

    accounts = [*first, late]
    truth, _deleted = truth_deals(sim, {a.login for a in accounts})
    live, marked = crm_deals(server)
    assert live == truth  # nothing lost, nothing extra
    assert not marked
    rows = list(Deal.objects.filter(server=server).values_list("deal_id", flat=True))
    assert len(rows) == len(set(rows)) == len(truth)  # nothing doubled
