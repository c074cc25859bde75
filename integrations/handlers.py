"""The outbound webhooks' subscription to the domain event stream."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event
from integrations.services import deliveries_for_events


@subscribe("*", batch=True, client_fields=["code"])  # the payload names the client by its code
def webhook_deliveries_queue(events: list[Event]) -> None:
    """Outbound webhooks are one more subscriber: queue the events for the brand's API clients that
    chose their type (integrations.services); a worker sends them after commit. A batch handler:
    one INSERT for a dispatch batch's events instead of a savepoint and an INSERT each."""
    deliveries_for_events(events)
