"""The events the trader's room emits (see crm.events.catalogue)."""

from __future__ import annotations

from typing import TypedDict

from crm.events.catalogue import CodeText, declare


class Registered(TypedDict):
    login: CodeText
    brand: str
    language: str
    matched_lead: bool  # an existing lead (same contact keys) became the registered client
    attribution: dict[str, str]  # utm_*, referrer_code, source, campaign... as kept on the client
    marketing: bool


declare("portal.registered", payload=Registered,
        description="A client registered in the trader's room (an existing lead, or a new person).")


class LiveAccountRefused(TypedDict):
    reason: str  # why, in the client's language (the brand's rule, or the limit no account type fits)
    account_type: str  # the type that was tried; "" when no type of the brand fits the client's caps
    approval: str  # the uuid of the "kyc.approved" event it followed; "" when opened otherwise


declare("portal.live_account_refused", payload=LiveAccountRefused,
        description="A verified client's first live account was not opened: the brand's policy refused it. "
                    "The client is told why, the owner is notified and staff get a task.")


class LiveAccountWaiting(TypedDict):
    approval: str  # the uuid of the "kyc.approved" event it followed; "" when found otherwise


declare("portal.live_account_waiting", payload=LiveAccountWaiting,
        description="A verified client's first live account waits: the brand has no live trading server. "
                    "It opens when a server is added (or at the next sweep); the owner is notified and "
                    "staff get a task.")
