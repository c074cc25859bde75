"""The events of agent monitoring (see crm.events.catalogue).

Alerts are written without a client: a client's own events make its timeline, which the sales floor
reads, and the agent under review must not learn of an alert about them from there."""

from __future__ import annotations

from typing import TypedDict

from crm.events.catalogue import CodeText, Ref, declare


class AlertRaised(TypedDict):
    alert: CodeText
    subject_kind: str  # agent, client, partner
    agent: Ref | None  # the agent the alert is about (subject_kind "agent")
    client: CodeText | None  # the client's code (subject_kind "client")
    partner: CodeText | None  # the partner's code (subject_kind "partner")
    detector: str
    day: str  # ISO date
    score: float
    routed_to: Ref | None  # the manager or reporting officer who reviews it


declare("monitoring.alert_raised", payload=AlertRaised,
        description="A monitoring detector raised an alert (agent behaviour, trader or partner) with its reasons "
                    "and evidence; it waits for the manager or reporting officer it was routed to.")
