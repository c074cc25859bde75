"""Compliance cases: the AML alerts and confirmed screening hits about a client, grouped into one case
per client and worked by the officers to a decision.

A case is opened by the first item that arrives for a client without an unclosed case (an alert,
through the event "compliance.alert_raised"; a confirmed hit, through "compliance.hit_confirmed": see
compliance.handlers); later items join it. Its SLA is the due date its priority gives
(COMPLIANCE_CASE_SLA_HOURS), moved earlier when a more urgent item joins.

The state machine, each move a CaseStep row, an audit row and (for opening, closing and reopening)
an event that names the client in its data only (tipping off):

    open --review--> in_review --decide (no action, restrict)--> closed
                     in_review --decide (report, offboard)--> pending_approval --approve (another officer)--> closed
                                                    pending_approval --send back (another officer)--> in_review
    closed --reopen (within COMPLIANCE_CASE_REOPEN_DAYS, no other unclosed case)--> in_review

The table is compliance.models.CASE_STATES (crm.lib.states): anything else is refused with CaseRefused
(CaseTransitionRefused, naming both statuses) and nothing is written. Closing with a report or an
offboarding needs a second officer (CASE_DECISION, crm.lib.approvals: four-eyes, also a database
constraint). Offboarding ends the client's relationship
as it closes (compliance.offboarding: no deposits or sign-in, the stage closed, the trading accounts
closed on the platform after commit; the balance goes back through the withdrawal queue). The suspicious-activity report is drafted
as a PDF from the case (its items, the linked transactions, the officer's narrative); the officer
files it in the regulator's own system and records the filing date and reference here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from compliance import case_storage, permissions
from compliance.exceptions import CaseRefused
from compliance.models import (
    CASE_STATES,
    SECOND_OFFICER_DECISIONS,
    UNCLOSED_CASE_STATUSES,
    Case,
    CaseAttachment,
    CaseDecision,
    CaseItem,
    CaseItemKind,
    CaseNote,
    CasePriority,
    CaseStatus,
    CaseStep,
    RestrictionKind,
)
from compliance.restrictions import impose_restriction
from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.approvals import FourEyes
from crm.lib.payloads import user_ref
from crm.models import Client
from crm.permissions import user_can

if TYPE_CHECKING:
    from crm.models import User

VIEW_PERMISSION = permissions.CASE_VIEW
WORK_PERMISSION = permissions.CASE_WORK
TEXT_MAX = 10_000
REFERENCE_MAX = 100

# Hours from opening to the decision due, by priority (settings.COMPLIANCE_CASE_SLA_HOURS overrides).
DEFAULT_SLA_HOURS = {CasePriority.CRITICAL: 24, CasePriority.HIGH: 72, CasePriority.NORMAL: 168,
                     CasePriority.LOW: 336}
PRIORITY_RANK: dict[str, int] = {CasePriority.LOW: 0, CasePriority.NORMAL: 1, CasePriority.HIGH: 2, CasePriority.CRITICAL: 3}
DEFAULT_REOPEN_DAYS = 90
DEFAULT_RESTRICT_KINDS = (RestrictionKind.DEPOSIT, RestrictionKind.WITHDRAWAL, RestrictionKind.TRADING)


def sla_hours() -> dict[str, int]:
    return {**DEFAULT_SLA_HOURS, **(getattr(settings, "COMPLIANCE_CASE_SLA_HOURS", None) or {})}


def reopen_days() -> int:
    return int(getattr(settings, "COMPLIANCE_CASE_REOPEN_DAYS", DEFAULT_REOPEN_DAYS))


# Report and offboard take effect only once a second, different officer approves (SECOND_OFFICER_DECISIONS);
# the proposal waits on the case's own fields.
CASE_DECISION = FourEyes(
    name="compliance case decision", proposer_field="proposed_by",
    value_fields=("proposed_decision", "proposed_reason"), approver_field="approved_by", error=CaseRefused,
    audit=audit_record, same_person_code="second_officer_required",
    # The approval is audited by the closing row ("compliance.case_closed", naming the approver).
    actions={"proposed": "compliance.case_decision_proposed", "sent_back": "compliance.case_sent_back"},
    needed=lambda case, values: values.get("proposed_decision") in SECOND_OFFICER_DECISIONS,
    same_person_approve=gettext_lazy("A second, different officer must approve this decision."),
    same_person_send_back=gettext_lazy("A second, different officer must review this decision."),
    not_pending=gettext_lazy("This case is not waiting for a second officer."),
)


def priority_for_score(score: int | None) -> str:
    """An alert's score (0-100) as a case priority."""
    if score is None:
        return CasePriority.NORMAL
    if score >= 90:
        return CasePriority.CRITICAL
    if score >= 70:
        return CasePriority.HIGH
    if score >= 30:
        return CasePriority.NORMAL
    return CasePriority.LOW


def due_for(priority: str, opened_at: dt.datetime) -> dt.datetime:
    return opened_at + dt.timedelta(hours=sla_hours()[priority])


# --- helpers ------------------------------------------------------------------------------------------

def _require(actor: Any, perm: str = WORK_PERMISSION) -> None:
    if not user_can(actor, perm):
        raise NotAllowed(gettext("You are not allowed to work compliance cases."))


def _text(value: str, *, field: str, required: bool, message: str = "", limit: int = TEXT_MAX) -> str:
    text = (value or "").strip()
    if "\x00" in text:
        raise ValidationFailed(fields={field: [gettext("This text contains a character that cannot be stored.")]})
    if required and not text:
        raise ValidationFailed(fields={field: [message or gettext("This field is required.")]})
    if len(text) > limit:
        raise ValidationFailed(fields={field: [gettext("At most %(n)s characters.") % {"n": limit}]})
    return text


def _locked(case: Case) -> Case:
    return Case.objects.select_for_update(of=("self",)).select_related("client", "proposed_by").get(pk=case.pk)


def _step(case: Case, action: str, *, before: str, actor: Any, reason: str = "", **after: Any) -> None:
    CaseStep.objects.create(case=case, action=action, from_status=before, to_status=case.status, actor=actor,
                            reason=reason)
    audit_record(action=f"compliance.case_{action}", obj=case, actor=actor, reason=reason,
                 before={"status": before},
                 after={"status": case.status, "client": str(case.client.code), **after})


def _move(case: Case, to: str, action: str, *, actor: Any, reason: str = "", via: str | None = None,
          also: dict[str, Any] | None = None, **after: Any) -> str:
    """Move the case along CASE_STATES (refused before anything is written), saving the status and
    the fields of `also`, with its CaseStep row and its audit row; returns the status it left."""
    before = case.status
    CASE_STATES.move(case, to, via=via, also=also, save=(), action=action, actor=actor, reason=reason)
    audit_record(action=f"compliance.case_{action}", obj=case, actor=actor, reason=reason,
                 before={"status": before},
                 after={"status": case.status, "client": str(case.client.code), **after})
    return before


def _event(name: str, case: Case, *, by: Any) -> None:
    # Not the client's event: the client's timeline is read by the sales floor (tipping off).
    emit(name, brand=case.client.brand_id, actor=by, data={
        "case": str(case.code), "client": str(case.client.code), "status": case.status, "decision": case.decision,
        "by": user_ref(by)})


def _refuse_unless(case: Case, *statuses: str) -> None:
    """For the work on a case that does not move it (assigning, the narrative): the statuses it is done in."""
    if case.status not in statuses:
        raise CaseRefused(gettext("This case cannot do that now (it is %(status)s).")
                          % {"status": case.get_status_display()})


# --- opening, items -----------------------------------------------------------------------------------

@transaction.atomic
def case_item_attach(*, client: Client | int, kind: str, ref_id: str | int, summary: str, score: int | None = None,
                     priority: str | None = None, actor: Any = None) -> CaseItem:
    """Attach an alert or a confirmed screening hit to the client's unclosed case, opening one if
    there is none. Idempotent: an item already attached (same kind and reference) is returned as it
    is. A more urgent item raises the case's priority and moves its due date earlier, never later."""
    if kind not in CaseItemKind.values:
        raise ValidationFailed(fields={"kind": [gettext("Not a kind of case item.")]})
    ref = str(ref_id)
    existing = CaseItem.objects.filter(kind=kind, ref_id=ref).select_related("case").first()
    if existing is not None:
        return existing
    client_id = client if isinstance(client, int) else client.pk
    # The client's lock: two items arriving together open one case.
    locked_client = Client.objects.select_for_update(of=("self",), no_key=True).get(pk=client_id)
    wanted = priority or priority_for_score(score)
    case = Case.objects.select_for_update(of=("self",)).filter(
        client_id=client_id, status__in=UNCLOSED_CASE_STATUSES).first()
    now = timezone.now()
    if case is None:
        case = Case.objects.create(client=locked_client, priority=wanted, opened_at=now, due_at=due_for(wanted, now))
        _step(case, "opened", before="", actor=actor, reason=summary[:500], priority=wanted)
        _event("compliance.case_opened", case, by=actor)
    elif PRIORITY_RANK[wanted] > PRIORITY_RANK[case.priority]:
        case.priority = wanted
        case.due_at = min(case.due_at, due_for(wanted, case.opened_at))
        case.save(update_fields=["priority", "due_at"])
    try:
        with transaction.atomic():
            item = CaseItem.objects.create(case=case, kind=kind, ref_id=ref, summary=summary[:TEXT_MAX], score=score)
    except IntegrityError:  # the same item delivered twice at once: the first one stands
        return CaseItem.objects.select_related("case").get(kind=kind, ref_id=ref)
    audit_record(action="compliance.case_item_added", obj=case, actor=actor,
                 after={"kind": kind, "ref": ref, "score": score, "client": str(case.client.code)})
    return item


@transaction.atomic
def case_assign(*, case: Case, assignee: User | None, actor: User) -> Case:
    """Give the case to an officer (compliance.permissions.case_assignable: may work cases and sees
    the case's client), or take it back to the queue (None)."""
    _require(actor)
    if assignee is not None and not permissions.case_assignable(case=case, user=assignee):
        raise ValidationFailed(fields={"assignee": [gettext("Choose an officer who works compliance cases.")]})
    case = _locked(case)
    _refuse_unless(case, *UNCLOSED_CASE_STATUSES)
    previous = case.assignee
    case.assignee = assignee
    case.save(update_fields=["assignee"])
    _step(case, "assigned", before=case.status, actor=actor,
          previous=str(previous.code) if previous else "", assignee=str(assignee.code) if assignee else "")
    return case


# --- the state machine --------------------------------------------------------------------------------

@transaction.atomic
def case_review_start(*, case: Case, actor: User) -> Case:
    """An officer starts working an open case; it is theirs if nobody has it."""
    _require(actor)
    case = _locked(case)
    _move(case, CaseStatus.IN_REVIEW, "review_started", actor=actor,
          also={"assignee": case.assignee if case.assignee_id is not None else actor})
    return case


@transaction.atomic
def case_narrative_set(*, case: Case, actor: User, narrative: str) -> Case:
    """The officer's account of the facts (the report's narrative), while the case is being worked."""
    _require(actor)
    text = _text(narrative, field="narrative", required=False)
    case = _locked(case)
    _refuse_unless(case, CaseStatus.OPEN, CaseStatus.IN_REVIEW)
    case.narrative = text
    case.save(update_fields=["narrative"])
    # A step (not only an audit row): the trail export's case actions show who wrote the report's account.
    _step(case, "narrative_set", before=case.status, actor=actor, length=len(text))
    return case


@transaction.atomic
def case_decide(*, case: Case, actor: User, decision: str, reason: str,
                restrict_kinds: Iterable[str] | None = None) -> Case:
    """Decide a case in review. No action, or restrict (the client is restricted from `restrict_kinds`,
    by default deposits, withdrawals and trading, in neutral words): the case closes at once. Report
    (which needs the narrative) and offboard wait for a second officer (pending_approval)."""
    _require(actor)
    if decision not in CaseDecision.values:
        raise ValidationFailed(fields={"decision": [gettext("Choose a decision.")]})
    text = _text(reason, field="reason", required=True, message=gettext("Give the reason for the decision."))
    case = _locked(case)
    values = {"proposed_decision": decision, "proposed_reason": text}
    if CASE_DECISION.needed(case, values):
        CASE_STATES.check(case, CaseStatus.PENDING_APPROVAL)
        if decision == CaseDecision.REPORT and not case.narrative.strip():
            raise ValidationFailed(fields={"narrative": [gettext("Write the narrative before reporting.")]})
        CASE_STATES.move(case, CaseStatus.PENDING_APPROVAL, save=(), action="decision_proposed", actor=actor,
                         reason=text)
        CASE_DECISION.propose(case, actor=actor, values=values, reason=text, before={"status": CaseStatus.IN_REVIEW},
                              after={"status": case.status, "client": str(case.client.code), "proposed": decision})
        return case
    CASE_STATES.check(case, CaseStatus.CLOSED)
    kinds = list(restrict_kinds or DEFAULT_RESTRICT_KINDS) if decision == CaseDecision.RESTRICT else []
    return _close(case, decision=decision, reason=text, decided_by=actor, approved_by=None, restrict_kinds=kinds)


@transaction.atomic
def case_approve(*, case: Case, actor: User) -> Case:
    """The second officer approves the proposed decision; the case closes. The officer who proposed
    it cannot approve it (CaseRefused, code second_officer_required)."""
    _require(actor)
    case = _locked(case)
    CASE_STATES.check(case, CaseStatus.CLOSED, via="approve")
    proposal = CASE_DECISION.approve(case, actor=actor, reason=case.proposed_reason,
                                     before={"status": CaseStatus.PENDING_APPROVAL},
                                     after={"client": str(case.client.code), "proposed": case.proposed_decision})
    return _close(case, decision=proposal.values["proposed_decision"], reason=proposal.values["proposed_reason"],
                  decided_by=proposal.by, approved_by=actor, restrict_kinds=[])


@transaction.atomic
def case_send_back(*, case: Case, actor: User, reason: str) -> Case:
    """The second officer disagrees: the case goes back to review with the reason."""
    _require(actor)
    text = _text(reason, field="reason", required=True, message=gettext("Say why the decision is sent back."))
    case = _locked(case)
    CASE_STATES.check(case, CaseStatus.IN_REVIEW)
    proposal = CASE_DECISION.check_second(case, actor=actor, sending_back=True)
    CASE_STATES.move(case, CaseStatus.IN_REVIEW, save=(), action="sent_back", actor=actor, reason=text)
    CASE_DECISION.send_back(case, actor=actor, reason=text, before={"status": CaseStatus.PENDING_APPROVAL},
                            after={"status": case.status, "client": str(case.client.code),
                                   "proposed": proposal.values["proposed_decision"]})
    return case


def _close(case: Case, *, decision: str, reason: str, decided_by: User | None, approved_by: User | None,
           restrict_kinds: list[str]) -> Case:
    actor = approved_by or decided_by
    if decision == CaseDecision.RESTRICT:
        # Neutral words: restriction events reach the client's timeline, which the sales floor reads.
        impose_restriction(client=case.client, kinds=restrict_kinds, by=actor,
                           reason=gettext("Compliance review, case %(case)s") % {"case": str(case.code)[:8]})
    _move(case, CaseStatus.CLOSED, "closed", actor=actor, reason=reason,
          via="approve" if approved_by is not None else None,
          also={"decision": decision, "decision_reason": reason, "decided_by": decided_by, "approved_by": approved_by,
                "closed_at": timezone.now()},
          decision=decision, decided_by=str(decided_by.code) if decided_by else "",
          approved_by=str(approved_by.code) if approved_by else "", restricted=restrict_kinds)
    if decision == CaseDecision.OFFBOARD:
        from compliance.offboarding import offboarding_apply

        offboarding_apply(case=case, by=actor, reason=reason)
    _event("compliance.case_closed", case, by=actor)
    return case


@transaction.atomic
def case_reopen(*, case: Case, actor: User, reason: str) -> Case:
    """Reopen a closed case into review, with the reason: within COMPLIANCE_CASE_REOPEN_DAYS of its
    closing, and only while the client has no other unclosed case (what arrives later opens a new
    case instead). Its decision is kept in its steps and history, and cleared on the case."""
    _require(actor)
    text = _text(reason, field="reason", required=True, message=gettext("Say why the case is reopened."))
    case = _locked(case)
    CASE_STATES.check(case, CaseStatus.IN_REVIEW, via="reopen")
    assert case.closed_at is not None
    if timezone.now() - case.closed_at > dt.timedelta(days=reopen_days()):
        raise CaseRefused(gettext("This case was closed more than %(days)s days ago: open a new one.")
                          % {"days": reopen_days()}, code="reopen_too_late")
    if Case.objects.filter(client_id=case.client_id, status__in=UNCLOSED_CASE_STATUSES).exclude(pk=case.pk).exists():
        raise CaseRefused(gettext("The client has another open case: work that one."), code="other_case_open")
    previous = case.decision
    _move(case, CaseStatus.IN_REVIEW, "reopened", actor=actor, reason=text, via="reopen",
          also={"decision": "", "decision_reason": "", "closed_at": None, "decided_by": None, "approved_by": None,
                "proposed_by": None, "proposed_decision": "", "proposed_reason": ""},
          previous_decision=previous)
    _event("compliance.case_reopened", case, by=actor)
    return case


# --- notes and attachments ----------------------------------------------------------------------------

@transaction.atomic
def case_note_add(*, case: Case, actor: User, body: str) -> CaseNote:
    _require(actor)
    text = _text(body, field="body", required=True, message=gettext("Write the note."))
    note = CaseNote.objects.create(case=case, author=actor, body=text)
    audit_record(action="compliance.case_note_added", obj=case, actor=actor, after={"note": note.pk})
    return note


@transaction.atomic
def case_attachment_add(*, case: Case, actor: User, filename: str, data: bytes) -> CaseAttachment:
    """Store a file on the case: PNG, JPEG or PDF by its content, not empty, at most
    COMPLIANCE_CASE_MAX_UPLOAD_BYTES (ValidationFailed on "file" otherwise; nothing is stored)."""
    _require(actor)
    content_type = case_storage.check(data)
    name = _text(filename, field="file", required=False, limit=200) or "file"
    storage_name = case_storage.new_name(content_type)
    case_storage.file_write(storage_name, data, scope=case.client.brand.code)  # encrypted with the brand's key
    try:
        with transaction.atomic():
            row = CaseAttachment.objects.create(case=case, filename=name, content_type=content_type, size=len(data),
                                                sha256=hashlib.sha256(data).hexdigest(), storage_name=storage_name,
                                                uploaded_by=actor)
    except BaseException:
        case_storage.file_remove(storage_name)
        raise
    audit_record(action="compliance.case_attachment_added", obj=case, actor=actor,
                 after={"attachment": str(row.code), "name": name, "type": content_type, "size": len(data),
                        "sha256": row.sha256})
    return row


# --- the suspicious-activity report -------------------------------------------------------------------

def case_sar_pdf(*, case: Case, actor: User, context: dict[str, Any]) -> bytes:
    """The report's draft as a PDF (client, facts, linked transactions, narrative), recorded on the
    case (its drafting time) and in the audit log. `context`: what compliance.case_selectors gives."""
    from crm.lib.pdf import pdf_render

    _require(actor)
    if not case.narrative.strip():
        raise ValidationFailed(fields={"narrative": [gettext("Write the narrative before drafting the report.")]})
    pdf = pdf_render("compliance/cases/sar.html", {**context, "case": case, "drafted_by": actor,
                                                   "drafted_at": timezone.now()})
    with transaction.atomic():
        Case.objects.filter(pk=case.pk).update(sar_drafted_at=timezone.now())
        # A step: the trail export's case actions show each draft, by whom, with the PDF's hash.
        digest = hashlib.sha256(pdf).hexdigest()
        _step(case, "sar_drafted", before=case.status, actor=actor, reason=f"sha256 {digest}", sha256=digest)
    return pdf


@transaction.atomic
def case_sar_filing_record(*, case: Case, actor: User, filed_on: dt.date | None, reference: str) -> Case:
    """Record that the report was filed with the regulator: the date and the regulator's reference.
    Only on a case decided (or proposed) as a report, once drafted; not in the future."""
    _require(actor)
    ref = _text(reference, field="reference", required=True, limit=REFERENCE_MAX,
                message=gettext("Give the regulator's reference."))
    if filed_on is None:
        raise ValidationFailed(fields={"filed_on": [gettext("Give the filing date.")]})
    if filed_on > timezone.localdate():
        raise ValidationFailed(fields={"filed_on": [gettext("The filing date cannot be in the future.")]})
    case = _locked(case)
    if CaseDecision.REPORT not in (case.decision, case.proposed_decision):
        raise CaseRefused(gettext("Only a case decided as a report has a filing."))
    if case.sar_drafted_at is None:
        raise CaseRefused(gettext("Draft the report before recording its filing."))
    case.sar_filed_on, case.sar_reference = filed_on, ref
    case.save(update_fields=["sar_filed_on", "sar_reference"])
    _step(case, "sar_filed", before=case.status, actor=actor, reason=ref, filed_on=filed_on.isoformat())
    return case
