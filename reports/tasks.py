"""Celery tasks of the reporting hub (thin: they call reports.readmodel and reports.delivery)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="reports.tasks.deals_refresh")
def deals_refresh() -> int:
    from reports.readmodel import deals_refresh as refresh
    from reports.readmodel import floating_refresh

    floating_refresh()
    return refresh()


@shared_task(name="reports.tasks.rebuild_nightly")
def rebuild_nightly() -> int:
    from reports.readmodel import rebuild_recent

    return rebuild_recent()


@shared_task(name="reports.tasks.schedules_send_due")
def schedules_send_due() -> int:
    from reports.delivery import schedules_send_due as send

    return send()
