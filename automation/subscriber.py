"""The automation engine's subscription to the domain-event stream, imported by
AutomationConfig.ready after every app's handlers (crm.events autodiscovery).

One wildcard batch handler: the outbox gives it every event once (a delivery row per event),
inside the outbox's transaction, after the per-event handlers of the dispatch batch (so that rules
see what those handlers did), and it judges each event by the brand's automation rules, in event
order. Most events concern no rule and cost nothing: a batch is one call and one savepoint instead
of a savepoint per event. An event that fails makes the outbox give the batch's events one by
one, so it fails (and is retried) alone.
"""

from __future__ import annotations

from automation.services import automation_handle_event, automation_tick  # noqa: F401  (the beat task)
from crm.events import subscribe
from crm.models import Event
from emails import services as email_templates  # noqa: F401  (its Celery task and timeline entries)
from plumbing import context


@subscribe("*", batch=True, client_fields=[])  # reads the client itself when a rule concerns it
def automation_on_event(events: list[Event]) -> None:
    for event in events:
        # As the outbox acts for a per-event handler: the event's actor and request.
        with context.acting_as(event.actor, source="task", request_id=event.request_id or None):
            automation_handle_event(event=event)
