"""The KYC API: a client's verification status (what a broker's onboarding flow polls), and a
submission's status with its automatic checks' report, as the `kyc_check` command and the review page
read it (Report.as_dict(): decision, engine_version, checks with their evidence, facts). API keys need
the `kyc:read` scope and see their brand's clients and submissions; staff sessions see what their role
and scope allow (kyc.view_kycprofile for the status, kyc.view_submission for submissions)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from crm.api import caller_of, client_for, requires_scope
from crm.exceptions import NotFound
from crm.permissions import user_can
from kyc import selectors
from kyc.checks.report import Report
from kyc.models import Submission
from kyc.permissions import submission_get_for_user

router = Router(tags=["kyc"])


class CheckOut(Schema):
    name: str
    outcome: str = Field(..., description="pass, fail or unreadable")
    evidence: dict[str, Any]
    document: str
    on_fail: str = Field(..., description="review or reject")
    client_hint: str


class SubmissionOut(Schema):
    code: UUID
    client: UUID
    status: str = Field(..., description="checking, review, info_requested, approved or rejected")
    submitted_at: str
    decided_at: str | None
    decision: str | None = Field(None, description="The automatic checks' decision: approve, review or reject; "
                                                   "null until the checks have run.")
    engine_version: str | None
    checks: list[CheckOut]
    facts: dict[str, Any]


def submission_out(submission: Submission) -> dict[str, Any]:
    report = submission.report and Report.from_dict(submission.report).as_dict()
    return {"code": submission.code, "client": submission.client.code, "status": submission.status,
            "submitted_at": submission.submitted_at.isoformat(),
            "decided_at": submission.decided_at.isoformat() if submission.decided_at else None,
            "decision": report["decision"] if report else None,
            "engine_version": report["engine_version"] if report else None,
            "checks": report["checks"] if report else [], "facts": report["facts"] if report else {}}


@router.get("/kyc/submissions/{uuid:code}", response=SubmissionOut, url_name="api_kyc_submission",
            summary="A KYC submission and its checks")
@requires_scope("kyc:read")
def submission_get(request: HttpRequest, code: UUID) -> dict[str, Any]:
    """The submission's status and the automatic checks' report (each check's outcome and evidence)."""
    caller = caller_of(request)
    if caller.api_key is None:
        submission = submission_get_for_user(caller.user, code)
    else:
        found = Submission.objects.select_related("client").filter(code=code, brand_id=caller.api_key.brand_id).first()
        if found is None:
            raise NotFound()
        submission = found
    return submission_out(submission)


class KycStatusOut(Schema):
    client: UUID
    status: str = Field(..., description="unverified, pending, approved, rejected or expired (the client's "
                                         "verification as the client's page shows it)")
    level: str
    can_resubmit: bool = Field(..., description="False after a final rejection.")
    verified_at: str | None = Field(None, description="UTC")
    expires_on: str | None = Field(None, description="The day the verification expires (YYYY-MM-DD).")
    open_submission: UUID | None = Field(None, description="The submission being checked or reviewed, if any.")


@router.get("/clients/{uuid:code}/kyc", response=KycStatusOut, url_name="api_kyc_client_status",
            summary="A client's verification status")
@requires_scope("kyc:read")
def client_kyc_status(request: HttpRequest, code: UUID) -> dict[str, Any]:
    """The client's KYC status and the submission under way. A client outside your scope is 404."""
    caller = caller_of(request)
    if caller.api_key is None and not user_can(caller.user, "kyc.view_kycprofile"):
        raise NotFound()
    client = client_for(caller, code)
    profile = selectors.kyc_profile_for(client=client)
    submission = selectors.open_submission(client=client)
    return {"client": client.code, "status": profile.status, "level": profile.level,
            "can_resubmit": profile.can_resubmit,
            "verified_at": profile.verified_at.astimezone(dt.UTC).isoformat() if profile.verified_at else None,
            "expires_on": profile.expires_on.isoformat() if profile.expires_on else None,
            "open_submission": submission.code if submission else None}
