"""The staff API of compliance cases (mounted by compliance.api): the queue, a case with its items,
steps and notes, and the same operations as the pages (review, assign, narrative, decide, approve,
send back, reopen, note, the report's filing). For staff sessions of officers only: an API key gets
403 (a case's decisions are an officer's), anyone without "compliance.view_case" 404."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from uuid import UUID

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from pydantic import Field

from compliance import case_selectors as selectors
from compliance import cases as services
from compliance import offboarding
from compliance.cases import VIEW_PERMISSION, WORK_PERMISSION
from compliance.models import Case
from compliance.permissions import case_assignable
from crm.api import ApiError, PageIn, Text10k, Text80, caller_of, paginate
from crm.exceptions import NotFound, ValidationFailed
from crm.lib.pagination import Key
from crm.models import User
from crm.permissions import user_can

router = Router(tags=["compliance"])
DUE_ASC = (Key("due_at", False, "datetime"), Key("id", False, "int"))


def _officer(request: HttpRequest, perm: str) -> User:
    caller = caller_of(request)
    if caller.api_key is not None or caller.user is None:
        raise ApiError(403, "staff_only", _("Compliance cases are worked by staff, signed in."))
    if not user_can(caller.user, perm):
        raise NotFound()
    return caller.user


class CaseItemOut(Schema):
    kind: str = Field(..., description="aml_alert or screening_hit")
    ref_id: str = Field(..., description="The alert's id or the hit's code")
    summary: str
    score: int | None
    added_at: dt.datetime


class CaseStepOut(Schema):
    action: str
    from_status: str
    to_status: str
    actor: UUID | None
    reason: str
    at: dt.datetime


class CaseNoteOut(Schema):
    author: UUID
    body: str
    at: dt.datetime


class CaseOut(Schema):
    code: UUID
    client: UUID
    status: str = Field(..., description="open, in_review, pending_approval or closed")
    priority: str
    assignee: UUID | None
    opened_at: dt.datetime
    due_at: dt.datetime
    overdue: bool
    narrative: str
    proposed_decision: str
    proposed_by: UUID | None
    decision: str = Field(..., description="Once closed: no_action, restrict, report or offboard")
    decision_reason: str
    decided_by: UUID | None
    approved_by: UUID | None
    closed_at: dt.datetime | None
    sar_drafted_at: dt.datetime | None
    sar_filed_on: dt.date | None
    sar_reference: str
    items: list[CaseItemOut]
    steps: list[CaseStepOut]
    notes: list[CaseNoteOut]


class CasePage(Schema):
    items: list[CaseOut]
    next_cursor: str | None


class CaseQueueFilters(Schema):
    status: Literal["unclosed", "open", "in_review", "pending_approval", "closed", "all"] = "unclosed"
    assignee: str = Field("", description="me, none, or a staff code")
    priority: Literal["", "critical", "high", "normal", "low"] = ""
    overdue: bool = False


class CaseAssignIn(Schema):
    assignee: UUID | None = Field(None, description="The officer's code; null: back to the queue")


class CaseNarrativeIn(Schema):
    narrative: Text10k


class CaseDecideIn(Schema):
    decision: Literal["no_action", "restrict", "report", "offboard"]
    reason: Text10k
    restrict: list[Text80] | None = Field(None, description="For restrict: no_deposit, no_withdrawal, no_trading, "
                                                            "no_login (default the first three)")


class CaseReasonIn(Schema):
    reason: Text10k


class CaseNoteIn(Schema):
    body: Text10k


class CaseBalanceReturnIn(Schema):
    currency: Text80 = Field(..., description="The wallet's currency, such as USD")
    method: UUID = Field(..., description="A withdrawal method of the client's brand (its code)")
    destination: Text80 = Field(..., description="Card number, e-wallet or IBAN")
    reason: Text10k


class CaseBalanceReturnOut(Schema):
    withdrawal: UUID
    amount: str
    currency: str
    state: str


class CaseFilingIn(Schema):
    filed_on: dt.date
    reference: Text80


def _code(user: User | None) -> UUID | None:
    return user.code if user is not None else None


def case_out(case: Case) -> dict[str, Any]:
    return {
        "code": case.code, "client": case.client.code, "status": case.status, "priority": case.priority,
        "assignee": _code(case.assignee), "opened_at": case.opened_at, "due_at": case.due_at,
        "overdue": case.overdue_at(timezone.now()), "narrative": case.narrative,
        "proposed_decision": case.proposed_decision, "proposed_by": _code(case.proposed_by),
        "decision": case.decision, "decision_reason": case.decision_reason, "decided_by": _code(case.decided_by),
        "approved_by": _code(case.approved_by), "closed_at": case.closed_at, "sar_drafted_at": case.sar_drafted_at,
        "sar_filed_on": case.sar_filed_on, "sar_reference": case.sar_reference,
        "items": [{"kind": i.kind, "ref_id": i.ref_id, "summary": i.summary, "score": i.score, "added_at": i.added_at}
                  for i in case.items.all()],
        "steps": [{"action": s.action, "from_status": s.from_status, "to_status": s.to_status,
                   "actor": _code(s.actor), "reason": s.reason, "at": s.at} for s in case.steps.select_related("actor")],
        "notes": [{"author": n.author.code, "body": n.body, "at": n.at} for n in case.notes.select_related("author")],
    }


def _case(user: User, code: UUID) -> Case:
    return selectors.case_get_for_user(user, code)


def _fresh(user: User, case: Case) -> dict[str, Any]:
    return case_out(_case(user, case.code))


@router.get("/compliance/cases", response=CasePage, url_name="api_compliance_cases", summary="The case queue")
def case_list(request: HttpRequest, filters: Query[CaseQueueFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Cases of the clients within your reach, the earliest due first; by default those not closed."""
    user = _officer(request, VIEW_PERMISSION)
    qs = selectors.case_queue(user=user, status="" if filters.status == "all" else filters.status,
                              assignee=filters.assignee, priority=filters.priority, overdue=filters.overdue)
    result = paginate(qs.select_related("proposed_by", "decided_by", "approved_by"), page, keys=DUE_ASC)
    return {"items": [case_out(c) for c in result.items], "next_cursor": result.next_cursor}


@router.get("/compliance/cases/{uuid:code}", response=CaseOut, url_name="api_compliance_case", summary="A case")
def case_get(request: HttpRequest, code: UUID) -> dict[str, Any]:
    return case_out(_case(_officer(request, VIEW_PERMISSION), code))


@router.post("/compliance/cases/{uuid:code}/review", response=CaseOut, url_name="api_compliance_case_review",
             summary="Start the review of an open case")
def case_review(request: HttpRequest, code: UUID) -> dict[str, Any]:
    user = _officer(request, WORK_PERMISSION)
    return _fresh(user, services.case_review_start(case=_case(user, code), actor=user))


@router.post("/compliance/cases/{uuid:code}/assignment", response=CaseOut, url_name="api_compliance_case_assign",
             summary="Give the case to an officer")
def case_assign(request: HttpRequest, code: UUID, payload: CaseAssignIn) -> dict[str, Any]:
    user = _officer(request, WORK_PERMISSION)
    case = _case(user, code)
    assignee = None
    if payload.assignee is not None:
        assignee = User.objects.filter(code=payload.assignee).first()
        if assignee is None or not case_assignable(case=case, user=assignee):
            raise ValidationFailed(fields={"assignee": [_("Choose an officer who works compliance cases.")]})
    return _fresh(user, services.case_assign(case=case, assignee=assignee, actor=user))


@router.post("/compliance/cases/{uuid:code}/narrative", response=CaseOut, url_name="api_compliance_case_narrative",
             summary="Set the officer's narrative")
def case_narrative(request: HttpRequest, code: UUID, payload: CaseNarrativeIn) -> dict[str, Any]:
    user = _officer(request, WORK_PERMISSION)
    return _fresh(user, services.case_narrative_set(case=_case(user, code), actor=user, narrative=payload.narrative))


@router.post("/compliance/cases/{uuid:code}/decision", response=CaseOut, url_name="api_compliance_case_decide",
             summary="Decide a case in review")
def case_decide(request: HttpRequest, code: UUID, payload: CaseDecideIn) -> dict[str, Any]:
    """No action or restrict close the case; report and offboard wait for a second officer (409 on a case
    not in review)."""
    user = _officer(request, WORK_PERMISSION)
    case = services.case_decide(case=_case(user, code), actor=user, decision=payload.decision, reason=payload.reason,
                                restrict_kinds=payload.restrict)
    return _fresh(user, case)


@router.post("/compliance/cases/{uuid:code}/approval", response=CaseOut, url_name="api_compliance_case_approve",
             summary="Approve the proposed decision (a second officer)")
def case_approve(request: HttpRequest, code: UUID) -> dict[str, Any]:
    user = _officer(request, WORK_PERMISSION)
    return _fresh(user, services.case_approve(case=_case(user, code), actor=user))


@router.post("/compliance/cases/{uuid:code}/send-back", response=CaseOut, url_name="api_compliance_case_send_back",
             summary="Send the proposed decision back to review (a second officer)")
def case_send_back(request: HttpRequest, code: UUID, payload: CaseReasonIn) -> dict[str, Any]:
    user = _officer(request, WORK_PERMISSION)
    return _fresh(user, services.case_send_back(case=_case(user, code), actor=user, reason=payload.reason))


@router.post("/compliance/cases/{uuid:code}/reopen", response=CaseOut, url_name="api_compliance_case_reopen",
             summary="Reopen a closed case")
def case_reopen(request: HttpRequest, code: UUID, payload: CaseReasonIn) -> dict[str, Any]:
    user = _officer(request, WORK_PERMISSION)
    return _fresh(user, services.case_reopen(case=_case(user, code), actor=user, reason=payload.reason))


@router.post("/compliance/cases/{uuid:code}/notes", response=CaseOut, url_name="api_compliance_case_note",
             summary="Add a note")
def case_note(request: HttpRequest, code: UUID, payload: CaseNoteIn) -> dict[str, Any]:
    user = _officer(request, WORK_PERMISSION)
    case = _case(user, code)
    services.case_note_add(case=case, actor=user, body=payload.body)
    return _fresh(user, case)


@router.post("/compliance/cases/{uuid:code}/filing", response=CaseOut, url_name="api_compliance_case_filing",
             summary="Record the report's filing with the regulator")
def case_filing(request: HttpRequest, code: UUID, payload: CaseFilingIn) -> dict[str, Any]:
    user = _officer(request, WORK_PERMISSION)
    return _fresh(user, services.case_sar_filing_record(case=_case(user, code), actor=user, filed_on=payload.filed_on,
                                                        reference=payload.reference))


@router.post("/compliance/cases/{uuid:code}/balance-return", response=CaseBalanceReturnOut,
             url_name="api_compliance_case_balance_return",
             summary="Return an offboarded client's remaining balance through the withdrawal queue")
def case_balance_return(request: HttpRequest, code: UUID, payload: CaseBalanceReturnIn) -> dict[str, Any]:
    """Only on a case closed as offboard (409); the whole available balance of the currency becomes a
    withdrawal waiting for finance's approval."""
    user = _officer(request, WORK_PERMISSION)
    withdrawal = offboarding.case_balance_return(case=_case(user, code), actor=user, currency=payload.currency,
                                                 method_code=payload.method, destination=payload.destination,
                                                 reason=payload.reason)
    return {"withdrawal": withdrawal.code, "amount": withdrawal.money.text(), "currency": withdrawal.currency,
            "state": withdrawal.state}
