"""Marketing's events and their payloads (see crm.events.catalogue)."""

from __future__ import annotations

from typing import TypedDict

from crm.events.catalogue import CodeText, DateTimeText, declare


class ConsentChanged(TypedDict):
    client: CodeText
    channel: str  # "email" or "sms"
    given: bool
    source: str  # "portal", "unsubscribe", "preference_page", "lead_intake", "staff", ...
    at: DateTimeText


declare(
    "marketing.consent_changed",
    payload=ConsentChanged,
    description="A client gave or withdrew consent to marketing on a channel (email or SMS).",
)
