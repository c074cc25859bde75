"""Sequences (marketing.sequences) on the domain events: registering, verification and a first
deposit enrol the client in the sequences they start; verification, a first deposit and a first trade
end the active enrolments whose goal they are."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event
from marketing.sequences import GOAL_EVENTS, TRIGGER_EVENTS, sequences_on_event


@subscribe(*sorted(set(TRIGGER_EVENTS) | set(GOAL_EVENTS)))
def sequence_trigger_or_goal(event: Event) -> None:
    if event.client is None:
        return
    sequences_on_event(event_name=event.name, client=event.client, at=event.occurred_at)
