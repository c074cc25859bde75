"""The events leads emits, and their payloads (see crm.events.catalogue)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from crm.events.catalogue import CodeText, DateTimeText, Ref, declare


class LeadTouched(TypedDict):
    touch: CodeText
    channel: str
    source: str
    campaign: str
    score: int
    filled: list[str]  # blank details the new touch filled in


class SkippedAgent(TypedDict):
    agent: CodeText
    name: str
    reason: str


class LeadRouted(TypedDict):
    rule: Ref | None
    strategy: str
    owner: Ref | None
    desk: Ref | None
    queued: bool  # nobody was available: the lead waits in the desk's queue
    why: list[str]
    skipped: list[SkippedAgent]
    manual: NotRequired[bool]  # assigned by hand after waiting in the queue
    from_queue: NotRequired[bool]  # routed from the desk's queue once somebody could take it


class LeadContacted(TypedDict):
    via: str
    minutes: int
    within_sla: bool | None
    by: Ref | None


class LeadSlaBreached(TypedDict):
    owner: Ref | None
    desk: Ref | None
    due_at: DateTimeText | None
    minutes: int | None
    escalated_to: Ref | None
    auto_reassign: bool


LeadStatusChanged = TypedDict("LeadStatusChanged", {
    "from": str | None, "from_label": str | None, "to": str, "to_label": str, "reason": str,
    "won": bool, "lost": bool,
})


class ClientMerged(TypedDict):
    merged: Ref
    moved: dict[str, int]  # rows moved to the kept client, by kind
    reason: str


class ClientMergedInto(TypedDict):
    kept: Ref
    reason: str


class CallLogged(TypedDict):
    call: CodeText
    direction: str
    outcome: str
    duration: int
    talk_seconds: int
    agent: Ref | None
    source: str  # "agent" or the telephony provider's webhook
    recording: bool


declare("lead.touched", payload=LeadTouched,
        description="A known person came in again (form, API or import): a new touch on the existing client.")
declare("lead.routed", payload=LeadRouted,
        description="Routing gave a lead an owner or put it in a desk's queue; the playbook's first call follows it.")
declare("lead.contacted", payload=LeadContacted, description="A lead's first contact (within the SLA or not).")
declare("lead.sla_breached", payload=LeadSlaBreached,
        description="A lead was not contacted within its desk's first-contact SLA.")
declare("lead.status_changed", payload=LeadStatusChanged,
        description="A client moved along the brand's sales pipeline.")
declare("client.merged", payload=ClientMerged, description="A duplicate client was merged into this one.")
declare("client.merged_into", payload=ClientMergedInto, description="This client was merged into another.")
declare("call.logged", payload=CallLogged, description="A call with a client was logged (by an agent or telephony).")
