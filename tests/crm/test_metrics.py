"""/metrics: request latency by view, failed logins, queue depths, the outbox backlog and trading's
sync lag per server, in Prometheus's text format; only for the token's holder (or this machine when
no token is set); and a Redis outage costs the sample, never the request."""

from __future__ import annotations

import re

import pytest

from crm.celery import app as celery_app
from crm.lib.redis import get_redis
from crm.metrics import PREFIX, observe, render
from tests.factories import make_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_metrics():
    r = get_redis()
    keys = list(r.scan_iter(f"{PREFIX}*"))
    if keys:
        r.delete(*keys)


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line[line.index("{"):line.rindex("}")]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_requests_are_timed_by_view_and_status(client):
    for _ in range(2):
        assert client.get("/healthz").status_code in (200, 503)
    client.get("/no-such-page/")
    text = client.get("/metrics").content.decode()
    assert "# TYPE crm_http_request_duration_seconds histogram" in text
    counted = sum(_sample(text, "crm_http_request_duration_seconds_count", view="healthz", status=s) or 0
                  for s in ("2xx", "5xx"))
    assert counted == 2
    assert _sample(text, "crm_http_request_duration_seconds_count", view="unresolved", status="4xx") == 1
    # Buckets are cumulative and end at the count.
    inf = sum(_sample(text, "crm_http_request_duration_seconds_bucket", view="healthz", status=s, le="+Inf") or 0
              for s in ("2xx", "5xx"))
    assert inf == 2


def test_failed_logins_are_counted_by_where(client):
    from tests.factories import make_user

    user = make_user(password="right-password-123")
    client.post("/login/", {"username": user.email, "password": "wrong-password"})
    text = client.get("/metrics").content.decode()
    assert _sample(text, "crm_login_failures_total", where="staff") == 1


def test_only_the_token_holder_or_this_machine_may_read_it(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 404  # from here too, once a token is set
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}, REMOTE_ADDR="10.1.2.3")
    assert ok.status_code == 200 and ok["Content-Type"].startswith("text/plain; version=0.0.4")


def test_queue_depths_the_outbox_and_the_sync_lag_are_read_when_scraped(settings):
    settings.CELERY_WORKLOAD_QUEUES = True
    previous = celery_app.conf.task_default_queue
    settings.CELERY_TASK_DEFAULT_QUEUE = celery_app.conf.task_default_queue = "crm-test-metrics"
    try:
        celery_app.send_task("trading.tasks.sync_health_check")  # nobody reads this queue here
        client = make_client()  # its events wait in the outbox (no worker here)
        from trading.services import platform_server_save

        platform_server_save(actor=None, manager_password="x-secret-1", brand=client.brand, name="MT5 Metrics",
                             kind="mt5_web", is_active=True, host="127.0.0.1", port=1, manager_login=1000,
                             account_types={"standard": {"label": "Standard", "group": "real\\\\s",
                                                         "leverages": [100], "currency": "USD"}})
        text = render()
    finally:
        celery_app.conf.task_default_queue = previous
        get_redis().delete("crm-test-metrics.sync")
    assert _sample(text, "crm_queue_depth", queue="crm-test-metrics.sync", kind="celery") == 1
    assert _sample(text, "crm_queue_depth", queue="crm-test-metrics", kind="celery") == 0
    assert (_sample(text, "crm_event_outbox_backlog", measure="events") or 0) >= 1
    lag = _sample(text, "crm_platform_sync_lag_seconds", server="MT5 Metrics", sync="deals")
    assert lag is not None and lag >= 0


def test_a_redis_outage_costs_the_sample_not_the_request(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    observe("crm_task_run_seconds", 0.5, {"queue": "x", "task": "y"})  # no exception
    assert client.get("/favicon.ico").status_code == 301
