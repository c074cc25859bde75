"""The events of alert review (see crm.events.catalogue). Written without a client: a client's own
events make its timeline, which the sales floor (and the agent under review) reads."""

from __future__ import annotations

from typing import TypedDict

from crm.events.catalogue import CodeText, Ref, declare


class AlertEscalated(TypedDict):
    alert: CodeText
    subject_kind: str  # agent, client, partner
    agent: Ref | None  # the agent the alert is about
    client: CodeText | None  # the client's code (subject_kind "client")
    detector: str
    day: str  # ISO date
    score: float
    reasons: list[str]
    reason: str  # why the reviewer escalated it
    by: Ref | None  # the reviewer
    officer: Ref | None  # the brand's reporting officer, when one is set


class AlertDecided(TypedDict):
    alert: CodeText
    decision: str  # benign, coaching, escalated, restricted
    by: Ref | None
    quiet_until: str | None  # ISO date (benign)


declare("monitoring.alert_escalated", payload=AlertEscalated,
        description="A reviewer escalated a monitoring alert to compliance: compliance opens a task for an "
                    "officer (or, for an alert about a client, adds it to the client's case).")
declare("monitoring.alert_decided", payload=AlertDecided,
        description="A reviewer decided a monitoring alert: benign (quiet for some days), coaching, escalated "
                    "or restricted now.")
