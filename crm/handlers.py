"""The core's subscribers of the domain event stream."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event


@subscribe("*")
def webhook_deliveries_queue(event: Event) -> None:
    """Outbound webhooks are one more subscriber: queue the event for the brand's API clients that
    chose its type (crm.services.outbound); a worker sends it after commit."""
    from crm.services.outbound import deliveries_for_event

    deliveries_for_event(event)
