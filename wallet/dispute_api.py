"""The disputes API: finance's payment disputes (retrieval requests and chargebacks) as the disputes
queue shows them, worked through the same services as the pages: evidence, representment, acceptance
and the provider's outcome, and the chargeback ratio per provider and method per month.

Scope `wallet:disputes`. An API key sees its brand's disputes and acts as the system (the audit log
names the key); staff sessions need finance's permission to work disputes (wallet.manage_dispute) and
see the disputes of the clients within their scope (404 otherwise, as the pages). Each step the API
takes is a step of the dispute, an audit row and an event (`wallet.dispute_updated`,
`wallet.dispute_decided`), exactly as a click on the dispute's page.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from crm.api import (
    ApiError,
    Caller,
    InputSchema,
    IsoDatetime,
    PageIn,
    Text40,
    Text500,
    caller_of,
    one_of,
    paginate,
    requires_scope,
    utc_text,
)
from crm.exceptions import NotFound, ValidationFailed
from crm.lib.money import decimal_text
from crm.lib.pagination import Key
from crm.permissions import user_can
from wallet.disputes import (
    MANAGE_PERMISSION,
    chargeback_ratios,
    dispute_accept,
    dispute_evidence_add,
    dispute_evidence_limit,
    dispute_list_for_user,
    dispute_outcome_record,
    dispute_represent,
    dispute_steps,
    evidence_content,
)
from wallet.models import OPEN_DISPUTE_STATUSES, Dispute, DisputeEvidence, DisputeKind, DisputeStatus

router = Router(tags=["wallet"])

SCOPE = "wallet:disputes"
URGENT_FIRST = (Key("due_at", False, "datetime"), Key("id", False, "int"))



# --- schemas --------------------------------------------------------------------------------------


class EvidenceOut(Schema):
    code: UUID
    title: str
    content_type: str = Field(..., description="application/pdf, image/png or image/jpeg (read from the file's bytes).")
    size: int = Field(..., description="Bytes.")
    sha256: str = Field(..., description="The file's SHA-256, as kept in the audit log.")
    added_at: str


class StepOut(Schema):
    action: str = Field(..., description="opened, escalated, evidence_added, represented, accepted, won or lost.")
    from_status: str
    to_status: str
    note: str
    at: str


class DisputeOut(Schema):
    code: UUID
    deposit: UUID = Field(..., description="The disputed deposit's code.")
    client: UUID
    provider: str = Field(..., description="The payment provider's code.")
    method: str = Field(..., description="The deposit's method (card, ewallet, crypto...).")
    kind: str = Field(..., description="retrieval_request, chargeback or pre_arbitration.")
    status: str = Field(..., description="open, evidence_gathering, represented (open); accepted, won or lost (closed).")
    amount: str = Field(..., description="Disputed, a decimal string in `currency`.")
    currency: str
    reason_code: str = Field(..., description="The card scheme's or provider's reason code, as reported.")
    reason: str
    provider_ref: str = Field(..., description="The provider's reference of the dispute.")
    received_at: str
    due_at: str = Field(..., description="The provider's deadline for the representment.")
    overdue: bool = Field(..., description="Open and past its deadline.")
    represented_at: str | None
    decided_at: str | None
    outcome_note: str


class DisputeDetailOut(DisputeOut):
    evidence: list[EvidenceOut]
    steps: list[StepOut] = Field(..., description="The dispute's history, oldest first.")


class DisputePage(Schema):
    items: list[DisputeOut]
    next_cursor: str | None


class DisputeFilters(Schema):
    status: Text40 | None = Field(None, description="Only disputes in this status, or `open` for every open one "
                                                    "(open, evidence_gathering, represented).")
    kind: Text40 | None = Field(None, description="Only this kind.")
    provider: Text40 | None = Field(None, description="Only this payment provider (its code).")
    overdue: bool | None = Field(None, description="true: only open disputes past their deadline.")
    since: IsoDatetime | None = Field(None, description="Received at or after this time.")
    until: IsoDatetime | None = Field(None, description="Received before this time.")


class NoteIn(InputSchema):
    note: Text500 = Field(..., min_length=1, description="What was sent to the provider (kept on the dispute).")


class ReasonIn(InputSchema):
    reason: Text500 = Field(..., min_length=1, description="Why the dispute is not fought.")


class OutcomeIn(InputSchema):
    outcome: Text40 = Field(..., description="won or lost, as the provider decided.")
    note: Text500 = Field("", description="The provider's decision in words.")


class RatioFilters(Schema):
    months: int = Field(6, ge=1, le=24, description="How many months back, this one included (1-24).")


class RatioOut(Schema):
    month: str = Field(..., description="The first day of the month, YYYY-MM-DD.")
    provider: str
    method: str
    currency: str
    deposits: int = Field(..., description="Deposits that succeeded that month.")
    deposit_amount: str
    chargebacks: int = Field(..., description="Chargebacks received that month (retrieval requests not counted).")
    chargeback_amount: str
    count_ratio: str | None = Field(None, description="Chargebacks per 100 deposits (a percentage, two decimals); "
                                                    "null with no deposit.")
    amount_ratio: str | None = Field(None, description="chargeback_amount as a percentage of deposit_amount; "
                                                     "null with no deposit.")


def dispute_out(d: Dispute) -> dict[str, Any]:
    is_open = d.status in OPEN_DISPUTE_STATUSES
    return {"code": d.code, "deposit": d.deposit.code, "client": d.client.code, "provider": d.provider.code,
            "method": d.method, "kind": d.kind, "status": d.status, "amount": decimal_text(d.amount),
            "currency": d.currency, "reason_code": d.reason_code, "reason": d.reason, "provider_ref": d.provider_ref,
            "received_at": utc_text(d.received_at), "due_at": utc_text(d.due_at),
            "overdue": is_open and d.due_at < timezone.now(), "represented_at": utc_text(d.represented_at),
            "decided_at": utc_text(d.decided_at), "outcome_note": d.outcome_note}


def _evidence_out(e: DisputeEvidence) -> dict[str, Any]:
    return {"code": e.code, "title": e.title, "content_type": e.content_type, "size": e.size, "sha256": e.sha256,
            "added_at": utc_text(e.added_at)}


def _detail(d: Dispute) -> dict[str, Any]:
    return {**dispute_out(d), "evidence": [_evidence_out(e) for e in d.evidence.order_by("added_at", "id")],
            "steps": [{"action": s.action, "from_status": s.from_status, "to_status": s.to_status, "note": s.note,
                       "at": utc_text(s.at)} for s in dispute_steps(d)]}


# --- access ---------------------------------------------------------------------------------------


def _disputes(caller: Caller) -> QuerySet[Dispute]:
    """The key's brand's disputes, or those of the clients in a staff user's scope who works disputes
    (nothing otherwise: 404 as the pages)."""
    if caller.api_key is None:
        if not user_can(caller.user, MANAGE_PERMISSION):
            raise NotFound()
        return dispute_list_for_user(caller.user)
    return Dispute.objects.filter(brand_id=caller.api_key.brand_id).select_related("client", "provider", "deposit")


def _dispute(caller: Caller, code: UUID) -> Dispute:
    found = _disputes(caller).filter(code=code).first()
    if found is None:
        raise NotFound()
    return found



# --- operations -----------------------------------------------------------------------------------


@router.get("/disputes", response=DisputePage, url_name="api_dispute_list", summary="List payment disputes")
@requires_scope(SCOPE)
def dispute_list(request: HttpRequest, filters: Query[DisputeFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Disputes by urgency, the nearest deadline first (the disputes queue's order). Filters combine."""
    qs = _disputes(caller_of(request))
    if filters.since is not None and filters.until is not None and filters.until <= filters.since:
        raise ValidationFailed(fields={"until": [_("Give a time after `since`.")]})
    status = one_of(filters.status, ["open", *DisputeStatus.values], "status")
    if status == "open":
        qs = qs.filter(status__in=OPEN_DISPUTE_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    kind = one_of(filters.kind, list(DisputeKind.values), "kind")
    if kind:
        qs = qs.filter(kind=kind)
    if filters.provider:
        qs = qs.filter(provider__code=filters.provider)
    if filters.overdue:
        qs = qs.filter(status__in=OPEN_DISPUTE_STATUSES, due_at__lt=timezone.now())
    elif filters.overdue is False:
        qs = qs.exclude(status__in=OPEN_DISPUTE_STATUSES, due_at__lt=timezone.now())
    if filters.since is not None:
        qs = qs.filter(received_at__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(received_at__lt=filters.until)
    result = paginate(qs, page, keys=URGENT_FIRST)
    return {"items": [dispute_out(d) for d in result.items], "next_cursor": result.next_cursor}


@router.get("/disputes/{uuid:code}", response=DisputeDetailOut, url_name="api_dispute_detail",
            summary="Get a payment dispute")
@requires_scope(SCOPE)
def dispute_get(request: HttpRequest, code: UUID) -> dict[str, Any]:
    """One dispute with its evidence (without the files' bytes) and its history."""
    return _detail(_dispute(caller_of(request), code))


@router.get("/disputes/{uuid:code}/evidence/{uuid:evidence}", url_name="api_dispute_evidence_file",
            summary="Download a dispute's evidence file")
@requires_scope(SCOPE)
def dispute_evidence_get(request: HttpRequest, code: UUID, evidence: UUID) -> HttpResponse:
    """The file's bytes with its content type, as attached."""
    found = _dispute(caller_of(request), code).evidence.filter(code=evidence).first()
    if found is None:
        raise NotFound()
    response = HttpResponse(evidence_content(found), content_type=found.content_type)
    response["Content-Disposition"] = f'attachment; filename="evidence-{found.code}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.post("/disputes/{uuid:code}/evidence", response={201: EvidenceOut}, url_name="api_dispute_evidence_add",
             summary="Attach evidence to a dispute")
@requires_scope(SCOPE)
def dispute_evidence_post(request: HttpRequest, code: UUID, title: Form[str],
                          file: File[UploadedFile]) -> Status[dict[str, Any]]:
    """Multipart: `title` (what the file shows) and one `file`, a PDF, PNG or JPEG recognised by its
    bytes (**422** naming `file` otherwise, or when it is empty or too large). The first file moves an
    open dispute to evidence gathering. A closed dispute: **409** `dispute_refused`."""
    caller = caller_of(request)
    dispute = _dispute(caller, code)
    if len(title) > 200:
        raise ValidationFailed(fields={"title": [_("At most 200 characters.")]})
    if file.size is not None and file.size > dispute_evidence_limit():
        raise ValidationFailed(fields={"file": [_("The file is too large.")]})
    evidence = dispute_evidence_add(dispute=dispute, title=title, data=file.read(), actor=caller.user)
    return Status(201, _evidence_out(evidence))


@router.post("/disputes/{uuid:code}/representment", response=DisputeDetailOut,
             url_name="api_dispute_represent", summary="Record the representment sent to the provider")
@requires_scope(SCOPE)
def dispute_representment(request: HttpRequest, code: UUID, payload: NoteIn) -> dict[str, Any]:
    """The evidence package went to the provider: the dispute waits for its decision (`represented`).
    Without evidence attached: **422** naming `note`; closed: **409** `dispute_refused`."""
    caller = caller_of(request)
    return _detail(dispute_represent(dispute=_dispute(caller, code), note=payload.note, actor=caller.user))


@router.post("/disputes/{uuid:code}/acceptance", response=DisputeDetailOut, url_name="api_dispute_accept",
             summary="Accept a dispute without fighting it")
@requires_scope(SCOPE)
def dispute_acceptance(request: HttpRequest, code: UUID, payload: ReasonIn) -> dict[str, Any]:
    """Finance does not fight it: the client's wallet is debited as for a lost chargeback (the deposit
    becomes charged back; the IB clawback follows). After a representment, or closed: **409**
    `dispute_refused`."""
    caller = caller_of(request)
    return _detail(dispute_accept(dispute=_dispute(caller, code), reason=payload.reason, actor=caller.user))


@router.post("/disputes/{uuid:code}/outcome", response=DisputeDetailOut, url_name="api_dispute_outcome",
             summary="Record the provider's outcome")
@requires_scope(SCOPE)
def dispute_outcome(request: HttpRequest, code: UUID, payload: OutcomeIn) -> dict[str, Any]:
    """`won` (the provider gives the money back, the hold on the wallet is released) or `lost` (the
    wallet is debited, the deposit charged back). Anything else: **422** naming `outcome`; closed:
    **409** `dispute_refused`."""
    caller = caller_of(request)
    return _detail(dispute_outcome_record(dispute=_dispute(caller, code), outcome=payload.outcome,
                                          note=payload.note, actor=caller.user))


@router.get("/chargeback-ratios", response=list[RatioOut], url_name="api_chargeback_ratios",
            summary="Chargeback ratios per provider and method per month")
@requires_scope(SCOPE)
def chargeback_ratio_list(request: HttpRequest, filters: Query[RatioFilters]) -> list[dict[str, Any]]:
    """What acquirers watch: per month, provider, method and currency, the deposits that succeeded and
    the chargebacks received, and their ratios by count and amount, the newest month first. Staff
    only (the ratios span every brand the user works for): an API key gets **403** `staff_only`."""
    caller = caller_of(request)
    if caller.api_key is not None:
        raise ApiError(403, "staff_only", _("Chargeback ratios are read by finance staff, not by an API key."))
    _disputes(caller)  # the permission, 404 without it
    rows = chargeback_ratios(user=caller.user, months=filters.months)
    return [{"month": r.month.isoformat(), "provider": r.provider, "method": r.method, "currency": r.currency,
             "deposits": r.deposits, "deposit_amount": decimal_text(r.deposit_amount), "chargebacks": r.chargebacks,
             "chargeback_amount": decimal_text(r.chargeback_amount),
             "count_ratio": None if r.count_ratio is None else decimal_text(r.count_ratio),
             "amount_ratio": None if r.amount_ratio is None else decimal_text(r.amount_ratio)} for r in rows]
