"""Operations: /healthz, heartbeats, request ids into tasks, JSON access logs, the web workers
(make run's supervisor: tests/demo/test_runner.py)."""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import redis
from celery import signals
from celery.utils.timer2 import Timer
from django.conf import settings
from django.db.backends.postgresql.base import DatabaseWrapper
from rq import Queue

from crm import celery as crm_celery
from crm.lib import heartbeat
from crm.lib.redis import get_redis
from crm.rq_worker import HeartbeatWorker
from crm.views import ops
from plumbing import context
from plumbing import heartbeat as plumbing_heartbeat
from plumbing.jsonlog import JsonFormatter, RequestIdFilter


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def own_heartbeat_keys(monkeypatch):
    """Heartbeats under a prefix of this test only, so real workers running elsewhere cannot interfere."""
    prefix = f"crm:test-heartbeat:{uuid.uuid4().hex}:"
    monkeypatch.setattr(plumbing_heartbeat, "PREFIX", prefix)
    yield prefix
    r = get_redis()
    for key in r.scan_iter(f"{prefix}*"):
        r.delete(key)


def _beat_everything() -> None:
    for component in heartbeat.COMPONENTS:
        heartbeat.beat(component, "host-1")


# --- /healthz ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_healthz_is_ok_when_database_redis_and_every_process_kind_are_alive(client):
    _beat_everything()

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "celery_worker", "celery_beat", "rq_worker"}
    for name in ("database", "redis"):
        assert body["checks"][name]["status"] == "ok"
        assert body["checks"][name]["latency_ms"] >= 0
    for name in ("celery_worker", "celery_beat", "rq_worker"):
        assert body["checks"][name] == {"status": "ok", "count": 1, "age_seconds": pytest.approx(0, abs=5)}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_healthz_is_degraded_but_200_when_no_celery_worker_has_beaten(client):
    heartbeat.beat(heartbeat.CELERY_BEAT, "host-1")
    heartbeat.beat(heartbeat.RQ_WORKER, "host-1")

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["celery_worker"] == {"status": "missing", "count": 0, "age_seconds": None}
    assert body["checks"]["rq_worker"]["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_healthz_reports_the_age_of_the_freshest_beat_and_counts_processes(client, own_heartbeat_keys):
    r = get_redis()
    r.set(f"{own_heartbeat_keys}{heartbeat.CELERY_WORKER}:old", str(time.time() - 40), ex=90)
    r.set(f"{own_heartbeat_keys}{heartbeat.CELERY_WORKER}:older", str(time.time() - 70), ex=90)

    check = client.get("/healthz").json()["checks"]["celery_worker"]

    assert check["count"] == 2
    assert 39 <= check["age_seconds"] <= 45


@pytest.mark.django_db
def test_healthz_is_down_with_503_when_redis_does_not_answer(client, monkeypatch):
    _beat_everything()
    unreachable = redis.Redis(
        host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1, socket_timeout=1
    )
    monkeypatch.setattr(ops, "get_redis", lambda: unreachable)
    monkeypatch.setattr(heartbeat, "get_redis", lambda: unreachable)

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["checks"]["redis"]["status"] == "down"
    assert body["checks"]["redis"]["error"] == "ConnectionError"
    assert body["checks"]["celery_worker"]["status"] == "unknown"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_healthz_is_down_with_503_when_the_database_does_not_answer(client, monkeypatch):
    _beat_everything()
    params = {
        **settings.DATABASES["default"],
        "HOST": "127.0.0.1",
        "PORT": str(_closed_port()),
        "OPTIONS": {"connect_timeout": 2},
    }
    broken = DatabaseWrapper(params, alias="healthz-broken")
    monkeypatch.setattr(ops, "_db_connection", lambda: broken)

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["checks"]["database"]["status"] == "down"
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert body["checks"]["redis"]["status"] == "ok"


@pytest.mark.django_db
def test_healthz_answers_anonymous_callers_without_connection_details(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    text = response.content.decode()
    db = settings.DATABASES["default"]
    for secret in (settings.REDIS_URL, settings.SECRET_KEY, db["NAME"], db["HOST"], socket.gethostname()):
        if secret:
            assert secret not in text
    assert client.post("/healthz").status_code == 405


# --- heartbeats --------------------------------------------------------------------------------
def test_a_heartbeat_expires_by_itself_and_forget_removes_it(own_heartbeat_keys):
    heartbeat.beat(heartbeat.RQ_WORKER, "box:42")

    r = get_redis()
    assert 0 < r.ttl(f"{own_heartbeat_keys}rq-worker:box:42") <= plumbing_heartbeat.TTL_SECONDS
    [(name, age)] = heartbeat.alive(heartbeat.RQ_WORKER)
    assert name == "box:42"
    assert 0 <= age < 5

    heartbeat.forget(heartbeat.RQ_WORKER, "box:42")
    assert heartbeat.alive(heartbeat.RQ_WORKER) == []


def test_container_health_check_passes_only_for_a_process_that_has_beaten(monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", settings.REDIS_URL)
    assert plumbing_heartbeat.main(["celery-worker"]) == 1

    heartbeat.beat(heartbeat.CELERY_WORKER, "celery@box-1")

    assert plumbing_heartbeat.main(["celery-worker"]) == 0
    assert plumbing_heartbeat.main(["celery-worker", "celery@box-1"]) == 0
    assert plumbing_heartbeat.main(["celery-worker", "celery@box-2"]) == 1
    assert plumbing_heartbeat.main(["rq-worker"]) == 1
    assert plumbing_heartbeat.main(["web"]) == 2
    assert "usage" in capsys.readouterr().err


def test_celery_worker_step_beats_at_start_and_clears_its_heartbeat_at_stop():
    timer = Timer()
    worker = SimpleNamespace(hostname="celery@test-box", timer=timer)
    step = crm_celery.HeartbeatStep(worker)
    try:
        step.start(worker)
        assert [name for name, _ in heartbeat.alive(heartbeat.CELERY_WORKER)] == ["celery@test-box"]
        assert step.tref is not None

        step.stop(worker)
        assert heartbeat.alive(heartbeat.CELERY_WORKER) == []
        assert step.tref is None
    finally:
        timer.stop()


def test_celery_worker_step_is_part_of_every_worker():
    assert crm_celery.HeartbeatStep in crm_celery.app.steps["worker"]


def _rq_heartbeats_seen_by_a_job() -> list[str]:
    return [name for name, _ in heartbeat.alive(heartbeat.RQ_WORKER)]


def test_rq_worker_beats_while_it_works_and_clears_its_heartbeat_when_it_stops():
    connection = get_redis()
    queue = Queue(f"test-ops-{uuid.uuid4().hex}", connection=connection)
    job = queue.enqueue(_rq_heartbeats_seen_by_a_job)
    worker = HeartbeatWorker([queue], connection=connection, name=f"rq-test-{uuid.uuid4().hex[:8]}")
    try:
        worker.work(burst=True)

        assert job.return_value() == [worker.name]
        assert heartbeat.alive(heartbeat.RQ_WORKER) == []
    finally:
        queue.delete(delete_jobs=True)


def test_idle_rq_worker_wakes_up_often_enough_to_keep_its_heartbeat_fresh():
    worker = HeartbeatWorker(["default"], connection=get_redis(), worker_ttl=420)

    assert worker.dequeue_timeout <= heartbeat.INTERVAL_SECONDS < plumbing_heartbeat.TTL_SECONDS


# --- request ids into Celery tasks -------------------------------------------------------------
def test_a_task_published_during_a_request_runs_under_that_request_id():
    from crm.tasks import beat_heartbeat

    headers: dict[str, object] = {}
    with context.acting(context.ActorContext(request_id="req-0123456789", source="web")):
        signals.before_task_publish.send(sender=beat_heartbeat.name, headers=headers, body=())
    assert headers[crm_celery.REQUEST_ID_HEADER] == "req-0123456789"

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(RequestIdFilter())
    log = logging.getLogger("tests.ops.task")
    log.addHandler(handler)
    beat_heartbeat.push_request(id="task-1", **headers)
    try:
        signals.task_prerun.send(
            sender=beat_heartbeat, task_id="task-1", task=beat_heartbeat, args=(), kwargs={}
        )
        inside = context.current()
        log.warning("inside the task")
        signals.task_postrun.send(sender=beat_heartbeat, task_id="task-1", task=beat_heartbeat)
    finally:
        beat_heartbeat.pop_request()
        log.removeHandler(handler)

    assert inside.request_id == "req-0123456789"
    assert inside.source == "task"
    assert json.loads(JsonFormatter().format(records[0]))["request_id"] == "req-0123456789"
    assert context.current().request_id == ""  # restored after the task


def test_a_task_published_outside_a_request_gets_a_fresh_request_id():
    from crm.tasks import beat_heartbeat

    headers: dict[str, object] = {}
    signals.before_task_publish.send(sender=beat_heartbeat.name, headers=headers, body=())
    assert crm_celery.REQUEST_ID_HEADER not in headers

    beat_heartbeat.push_request(id="task-2")
    try:
        signals.task_prerun.send(
            sender=beat_heartbeat, task_id="task-2", task=beat_heartbeat, args=(), kwargs={}
        )
        request_id = context.current().request_id
        signals.task_postrun.send(sender=beat_heartbeat, task_id="task-2", task=beat_heartbeat)
    finally:
        beat_heartbeat.pop_request()
    assert len(request_id) == 32


# --- gunicorn ----------------------------------------------------------------------------------
def test_gunicorn_writes_one_json_access_line_without_the_query_string():
    from gunicorn.config import Config

    from deploy.gunicorn_conf import JsonAccessLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    access_logger = JsonAccessLogger(cfg)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    access_logger.access_log.addHandler(handler)
    try:
        resp = SimpleNamespace(status="200 OK", headers=[("X-Request-ID", "abcdef123456")], sent=512)
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/clients/",
            "QUERY_STRING": "q=jane.doe@example.com",
            "RAW_URI": "/clients/?q=jane.doe@example.com",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "10.0.0.9",
            "HTTP_USER_AGENT": "pytest",
        }
        access_logger.access(resp, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=12.5))
    finally:
        access_logger.access_log.removeHandler(handler)

    line = JsonFormatter().format(records[0])
    payload = json.loads(line)
    assert payload["logger"] == "gunicorn.access"
    assert payload["request_id"] == "abcdef123456"
    assert payload["status"] == 200
    assert payload["method"] == "GET"
    assert payload["path"] == "/clients/"
    assert payload["duration_ms"] == pytest.approx(12.5)
    assert "jane.doe" not in line


def test_gunicorn_binds_to_localhost_by_default_and_follows_host_and_port(monkeypatch):
    import importlib

    import deploy.gunicorn_conf as conf

    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    assert importlib.reload(conf).bind == "127.0.0.1:8000"
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "9123")
    reloaded = importlib.reload(conf)
    assert reloaded.bind == "0.0.0.0:9123"
    assert reloaded.worker_class == "gthread"
    monkeypatch.delenv("HOST")
    monkeypatch.delenv("PORT")
    importlib.reload(conf)


def test_a_web_worker_freezes_what_start_up_allocated_and_collects_young_objects_less_often():
    """The collector a page's requests meet in a web worker (the page benchmarks settle their own
    process the same way): start-up's objects out of the full collections' reach."""
    import gc

    import deploy.gunicorn_conf as conf
    from plumbing.heap import GC_THRESHOLDS

    saved = gc.get_threshold()
    try:
        conf.post_worker_init(None)
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # Django, the URL conf, the models...
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
