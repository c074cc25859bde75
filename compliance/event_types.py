"""The events of the compliance app: restrictions imposed and lifted, jurisdictions changed."""

from __future__ import annotations

from typing import TypedDict

from crm.event_catalogue import CodeText, DateTimeText, UserRef, declare


class RestrictionImposed(TypedDict):
    restriction: CodeText
    kind: str  # no_deposit, no_withdrawal, no_trading, no_login
    source: str  # manual, jurisdiction, screening
    reason: str
    until: DateTimeText | None
    by: UserRef | None  # None: the system (a jurisdiction rule)


class RestrictionLifted(TypedDict):
    restriction: CodeText
    kind: str
    reason: str  # "expired" when its end date passed
    by: UserRef | None


class JurisdictionChanged(TypedDict):
    country: str
    region: str
    status: str  # sanctioned, high_risk, allowed
    previous: str | None  # None: new
    effective_from: str
    effective_to: str | None
    by: UserRef | None


declare("compliance.restriction_imposed", payload=RestrictionImposed,
        description="A restriction was put on a client (no deposits, withdrawals, trading or login).")
declare("compliance.restriction_lifted", payload=RestrictionLifted,
        description="A client's restriction was lifted, with the reason, or ended on its date.")
declare("compliance.jurisdiction_changed", payload=JurisdictionChanged,
        description="A brand's jurisdiction was added or its status or dates changed.")
