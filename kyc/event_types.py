"""The events the KYC app will emit, declared before the app exists: the leads desk and the
automation playbook already listen for them ("Registered, no KYC after 24 hours" is cancelled by
kyc.submitted and kyc.approved), so these payloads are the contract the KYC app must honour."""

from __future__ import annotations

from typing import TypedDict

from django.utils.translation import gettext_lazy as _

from crm.events.catalogue import CodeText, DateTimeText, Ref, declare
from crm.models import Stage
from crm.models.stages import register_stage_proof


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
# An approved review proves the client verified (crm.models.stages), from the start of the funnel.
KYC_APPROVAL = register_stage_proof(stage=Stage.VERIFIED, event_type="kyc.approved", label=_("KYC approval"),
                                    sources=frozenset({Stage.LEAD, Stage.REGISTERED}))
declare("kyc.rejected", payload=KycRejected, description="A client's verification was rejected.")
declare("kyc.expired", payload=KycExpired,
        description="A verified client's documents expired; re-verification is needed.")


class KycInfoRequested(TypedDict):
    reviewer: Ref
    message: str  # what the officer asked the client for


class KycExpiryWarned(TypedDict):
    document: str  # the document's kind (passport, id_card, ...)
    expires_on: str  # ISO date


declare("kyc.info_requested", payload=KycInfoRequested,
        description="A compliance officer asked the client for more information; verification waits for it.")
declare("kyc.expiry_warned", payload=KycExpiryWarned,
        description="A verified client was told that a document runs out soon (once per document).")


class KycAssessed(TypedDict):
    response: CodeText  # the QuestionnaireResponse
    version: int  # the number of the questionnaire version answered
    score: int
    level: str  # appropriate | appropriate_with_warning | not_appropriate
    max_leverage: int | None  # the highest leverage the result allows (None: no limit from it)
    warnings: list[str]  # the warning keys shown to the client
    knocked_out: bool  # a knock-out answer decided the level whatever the score


declare("kyc.assessed", payload=KycAssessed,
        description="A client answered the appropriateness questionnaire; trading holds the client's leverage "
                    "to the result's limit.")


class KycReopened(TypedDict):
    vendor: str  # the verification vendor's code
    outcome: str  # its new result: approve | review | reject
    reason: str  # the vendor's words
    previous: str  # the submission's status before: approved | rejected


declare("kyc.reopened", payload=KycReopened,
        description="A verification vendor changed its result on a decided submission (an approval it now "
                    "rejects, a rejection it now approves): the verification is pending again and the "
                    "submission waits for an officer.")
