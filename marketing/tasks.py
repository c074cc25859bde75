"""Celery tasks of marketing (thin: call a service)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="marketing.tasks.campaigns_start_due", ignore_result=True)
def campaigns_start_due() -> int:
    """Beat, every minute: start the scheduled campaigns whose time has come (marketing.campaigns)."""
    from marketing.campaigns import campaigns_start_due as start

    return start()
