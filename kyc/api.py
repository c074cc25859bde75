"""The KYC API: a submission's status and its automatic checks' report, as the `kyc_check` command and
the review page read it (Report.as_dict(): decision, engine_version, checks with their evidence,
facts), plus the submission's status. API keys need the `kyc:read` scope and see their brand's
submissions; staff sessions see what their role and scope allow (kyc.view_submission)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from crm.api import caller_of, requires_scope
from crm.exceptions import NotFound
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
