"""The requests' latency is added up in each process and written to Redis once METRICS_FLUSH_SECONDS
have passed, not one round trip per request; a scrape of the process counts its own requests to the
last, and the other processes' within the interval."""

from __future__ import annotations

from typing import Any

import pytest

from crm import metrics
from crm.lib.redis import get_redis

pytestmark = pytest.mark.django_db
KEY = f"{metrics.PREFIX}h:crm_http_request_duration_seconds"


@pytest.fixture(autouse=True)
def clean_metrics() -> None:
    metrics.flush()
    r = get_redis()
    keys = list(r.scan_iter(f"{metrics.PREFIX}*"))
    if keys:
        r.delete(*keys)


def _fields() -> dict[str, str]:
    def text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    return {text(f): text(v) for f, v in get_redis().hgetall(KEY).items()}


def _healthz_count() -> int:
    return sum(int(v) for f, v in _fields().items() if 'view="healthz"' in f and f.endswith("\x1f+Inf"))


def test_requests_wait_in_the_process_until_the_interval_has_passed(client: Any, settings: Any) -> None:
    settings.METRICS_FLUSH_SECONDS = 3600
    metrics.flush()  # the interval starts now
    for _ in range(3):
        client.get("/healthz")

    assert _healthz_count() == 0  # no round trip per request
    text = client.get("/metrics").content.decode()  # the scrape writes this process's requests first
    assert _healthz_count() == 3
    assert 'crm_http_request_duration_seconds_count{method="GET",status=' in text


def test_once_the_interval_has_passed_the_next_request_writes_them_all(client: Any, settings: Any) -> None:
    settings.METRICS_FLUSH_SECONDS = 0
    client.get("/healthz")
    client.get("/healthz")

    assert _healthz_count() == 2
    sums = [float(v) for f, v in _fields().items() if f.endswith("\x1fsum")]
    assert sums and all(s > 0 for s in sums)
