"""The automation engine's subscription to the domain-event stream, imported by
AutomationConfig.ready after every app's handlers (crm.events autodiscovery), so that rules see
what those handlers did.

One wildcard handler: the outbox gives it every event once (a delivery row per event), inside
the outbox's transaction, and it judges the event by the brand's automation rules.
"""

from __future__ import annotations

from automation.services import automation_handle_event, automation_tick  # noqa: F401  (the beat task)
from crm.events import subscribe
from crm.models import Event
from emails import services as email_templates  # noqa: F401  (its Celery task and timeline entries)


@subscribe("*")
def automation_on_event(event: Event) -> None:
    automation_handle_event(event=event)
