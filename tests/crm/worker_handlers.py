"""Event handlers for tests that run outside the test process (a real Celery worker).

Loaded by the worker through CRM_EXTRA_HANDLER_MODULES=tests.crm.worker_handlers; the test
process imports it too, so that a second, in-process delivery attempt is a real one.
"""

from __future__ import annotations

from typing import TypedDict

from crm.events import declare, subscribe
from crm.models import Event, Notification

WORKER_PING = "test.worker_ping"
PING_KIND = "test_worker_ping"


class Ping(TypedDict):
    user_id: int


declare(WORKER_PING, payload=Ping)


@subscribe(WORKER_PING)
def notify_ping(event: Event) -> None:
    """The effect under test: one notification per event, titled with the event's uuid."""
    Notification.objects.create(user_id=event.data["user_id"], kind=PING_KIND, title=str(event.uuid))
