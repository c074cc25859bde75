"""Celery tasks of trading- and partner-abuse detection (monitoring.abuse): thin, a day in, the
detectors run and their findings raised as alerts. Beat: hourly, today's trading-pattern detectors
(so far in the day); nightly, every detector over yesterday. Imported by the worker through
CELERY_IMPORTS (agent monitoring's tasks module is its own)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone


@shared_task(name="monitoring.abuse_tasks.abuse_scan_hourly", ignore_result=True)
def abuse_scan_hourly() -> dict[str, int]:
    from monitoring.abuse_detectors import HOURLY, abuse_scan

    return abuse_scan(day=timezone.now().date(), names=HOURLY)


@shared_task(name="monitoring.abuse_tasks.abuse_scan_nightly", ignore_result=True)
def abuse_scan_nightly(day: str | None = None) -> dict[str, int]:
    from monitoring.abuse_detectors import abuse_scan

    when = dt.date.fromisoformat(day) if day else timezone.now().date() - dt.timedelta(days=1)
    return abuse_scan(day=when)
