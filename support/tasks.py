"""Celery tasks of support (thin: call a service)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="support.tasks.sla_sweep", ignore_result=True)
def sla_sweep() -> dict[str, int]:
    """Beat, every minute: warn before SLA breaches, mark and escalate the breaches (support.sla_services)."""
    from support.sla_services import sla_sweep as sweep

    return sweep().as_dict()
