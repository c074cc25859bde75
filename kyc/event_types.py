"""The events the KYC app will emit, declared before the app exists: the leads desk and the
automation playbook already listen for them ("Registered, no KYC after 24 hours" is cancelled by
kyc.submitted and kyc.approved), so these payloads are the contract the KYC app must honour."""

from __future__ import annotations

from typing import TypedDict

from crm.event_catalogue import DateTimeText, Ref, declare


class KycSubmitted(TypedDict):
    documents: int  # how many documents the client sent with this submission


class KycApproved(TypedDict):
    level: str  # the verification level reached (e.g. "basic", "full")
    reviewer: Ref | None  # None: approved by the automatic checks


class KycRejected(TypedDict):
    reason: str  # shown to staff; the client sees the template's wording
    reviewer: Ref | None
    can_resubmit: bool


class KycExpired(TypedDict):
    expired_at: DateTimeText
    reason: str  # which document or check ran out (e.g. "proof of address older than 6 months")


declare("kyc.submitted", payload=KycSubmitted,
        description="A client sent documents for verification; cancels the playbook's KYC reminder.")
declare("kyc.approved", payload=KycApproved,
        description="A client's verification was approved; the client becomes verified.")
declare("kyc.rejected", payload=KycRejected, description="A client's verification was rejected.")
declare("kyc.expired", payload=KycExpired,
        description="A verified client's documents expired; re-verification is needed.")
