"""The events the trader's room emits (see crm.event_catalogue)."""

from __future__ import annotations

from typing import TypedDict

from crm.event_catalogue import CodeText, declare


class Registered(TypedDict):
    login: CodeText
    brand: str
    language: str
    matched_lead: bool  # an existing lead (same contact keys) became the registered client
    attribution: dict[str, str]  # utm_*, referrer_code, source, campaign... as kept on the client
    marketing: bool


declare("portal.registered", payload=Registered,
        description="A client registered in the trader's room (an existing lead, or a new person).")
