"""Celery tasks of leads (thin: call a service)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="leads.tasks.lead_sla_sweep", ignore_result=True)
def lead_sla_sweep() -> dict[str, int]:
    """Beat, every minute: escalate (and maybe reassign) leads past their first-contact SLA."""
    from leads.services import lead_sla_sweep as sweep

    return sweep()


@shared_task(name="leads.tasks.lead_queue_route", ignore_result=True)
def lead_queue_route() -> dict[str, int]:
    """Beat, every minute (and when an agent checks in): route the leads waiting in desks' queues
    to the agents who have come on shift."""
    from leads.services import lead_queue_route as route

    return route()
