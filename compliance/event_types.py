"""The events of compliance (see crm.events.catalogue): screening hits raised and decided, restrictions
imposed and lifted, jurisdictions changed.

Screening events name the client in their data (`client`, its code) and are written without the
client: a client's own events make its timeline, which the sales floor reads, and a sanctions alert must not
reach them (tipping off)."""

from __future__ import annotations

from typing import TypedDict

from crm.events.catalogue import CodeText, DateTimeText, PersonalText, Ref, UserRef, declare


class HitRaised(TypedDict):
    hit: CodeText
    client: CodeText
    list: str  # the watchlist's name
    ent_num: str  # the list's own entry number
    matched_name: PersonalText
    score: float
    trigger: str  # registration, kyc_submission, details_changed, list_update, daily


class HitDecided(TypedDict):
    hit: CodeText
    client: CodeText
    list: str
    ent_num: str
    score: float
    reason: str
    decided_by: Ref | None
    approved_by: Ref | None  # the second officer, for a hit above the high score; else None


declare("compliance.hit_raised", payload=HitRaised,
        description="Screening found a client on a sanctions or PEP list entry; the hit waits in the review queue.")
declare("compliance.hit_confirmed", payload=HitDecided,
        description="An officer (and, above the high score, a second officer) confirmed a screening hit: the "
                    "client is the listed person; a compliance task is opened and the client is restricted.")
declare("compliance.hit_dismissed", payload=HitDecided,
        description="A screening hit was dismissed as a false positive, with the reason; the pair is not raised "
                    "again until the client's or the entry's details change.")


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


class RiskChanged(TypedDict):
    score: CodeText
    client: CodeText
    band: str  # low, medium, high
    previous: str | None  # None: the client's first score
    points: int
    trigger: str  # the event or action that recomputed it
    review_due: str  # ISO date of the next periodic review
    by: UserRef | None  # None: recomputed by the system on an event


class TrailExported(TypedDict):
    export: CodeText
    client: CodeText | None  # None: the whole brand
    start: DateTimeText
    end: DateTimeText
    by: UserRef | None


declare("compliance.risk_changed", payload=RiskChanged,
        description="A client's risk score was recomputed with another result (points, band or a factor's "
                    "finding); a client who becomes high risk gets an enhanced due diligence task.")
declare("compliance.trail_exported", payload=TrailExported,
        description="An officer built the compliance trail export of a brand or a client over a period.")


class CaseChanged(TypedDict):
    case: CodeText
    client: CodeText
    status: str  # open, in_review, pending_approval, closed
    decision: str  # empty until closed: no_action, restrict, report
    by: UserRef | None


# Case events name the client in their data only (not on the client's timeline: tipping off).
declare("compliance.case_opened", payload=CaseChanged,
        description="A compliance case was opened for a client (an AML alert or a confirmed screening hit).")
declare("compliance.case_closed", payload=CaseChanged,
        description="A compliance case was closed with its decision (no action, restrict or report).")
declare("compliance.case_reopened", payload=CaseChanged,
        description="A closed compliance case was reopened by an officer, with the reason.")


class AlertRaised(TypedDict):
    alert_id: int  # compliance_amlalert.id (the cases part groups alerts into a client's case by it)
    rule: str  # the rule's kind: large_transaction, structuring, rapid_in_out, high_risk_jurisdiction, dormant_account
    rule_version: int  # the number of the rule's version that raised it
    score: int  # 1 to 100


declare("compliance.alert_raised", payload=AlertRaised,
        description="An AML rule found a pattern in a client's money movements: the alert waits in the alert "
                    "queue with the ledger transactions that made it. Written without the client (tipping off).")


class DataRequestChanged(TypedDict):
    request: CodeText
    client: CodeText
    kind: str  # access, erasure
    status: str  # received, in_progress, fulfilled, refused
    due: DateTimeText
    by: UserRef | None  # None: the client, in the trader's room


# Data-subject requests (compliance.data_requests): written without the client, the data names it.
declare("compliance.data_request_received", payload=DataRequestChanged,
        description="A client asked for a copy of their personal data or for its erasure (in the trader's room, "
                    "or recorded by staff); it is due one month after.")
declare("compliance.data_request_started", payload=DataRequestChanged,
        description="An officer started the export of a client's personal data for their access request.")
declare("compliance.data_request_fulfilled", payload=DataRequestChanged,
        description="A data-subject request was fulfilled: the copy of the data is ready for the client, or the "
                    "erasure was applied.")
declare("compliance.data_request_refused", payload=DataRequestChanged,
        description="An officer refused a data-subject request, with the reason the client reads.")
