"""Monitoring hears calls through the leads' event: every logged call becomes an activity row (its
duration and outcome), buffered like the accesses (monitoring.recording)."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event
from monitoring.recording import ActivityRow, activity_record


@subscribe("call.logged")
def record_call(event: Event) -> None:
    data = event.data or {}
    if event.actor_id is None:
        return  # a call telephony could not attribute to an agent is nobody's activity
    client = event.client
    activity_record(ActivityRow(
        time=event.occurred_at, agent_id=event.actor_id, kind="call", brand_id=event.brand_id,
        client_id=event.client_id, client_owner_id=client.owner_id if client is not None else None,
        duration_s=int(data.get("duration") or 0), outcome=str(data.get("outcome") or "")[:24],
        ref=f"call:{data.get('call', '')}"[:64],
    ))
