"""Every write of KYC: keyword-only, typed, atomic; each audits and emits its event.

- `submission_create`: the client sends documents (the portal calls it): every file is validated by
  content before anything is stored; the files go to private storage, the verification becomes
  pending (kyc.submitted) and the automatic checks are queued after commit.
- `kyc.vendor_services.submission_checks_run` (the Celery task's service) runs the checks engine; `submission_checks_record`
  records its Report with the database's own checks (the same file or document number from another
  client) and acts on the decision: approve, reject as retryable, or queue for review.
- The review: `submission_claim`, `submission_assign`, `submission_approve` (four eyes for high-risk
  clients), `submission_reject` (retryable or final), `submission_request_info`.
- `kyc_expiry_run`: the daily job (warnings, expiries); `kyc_profile_save`, `kyc_policy_save`.

The verification status moves only through `_status_set` (KycProfile.status_set's machine, KYC_STATES,
plus the event), so every change leaves a KycStatusChange row, an audit row and a domain event.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import FieldErrors, NotAllowed, NotFound, ValidationFailed
from crm.lib.approvals import FourEyes
from crm.lib.enqueue import task_named
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.payloads import user_ref
from crm.models import Brand, Client, User
from crm.models.locks import client_lock
from crm.permissions import client_visible_to, user_can
from crm.services import client_update, client_verification_set
from kyc import storage
from kyc.checks.countries import alpha2
from kyc.checks.report import CheckResult, Decision, OnFail, Outcome, Report
from kyc.emails import in_client_language, kyc_email_send
from kyc.exceptions import KycError, UploadRefused
from kyc.models import (
    BUILTIN_VENDOR,
    SLOT_OF_KIND,
    SUBMISSION_STATES,
    DecisionAction,
    Document,
    DocumentKind,
    ExpiryHold,
    KycDecision,
    KycPolicy,
    KycProfile,
    KycStatus,
    Side,
    Slot,
    Submission,
    SubmissionStatus,
)
from kyc.permissions import APPROVE_HIGH_RISK, CHANGE_PROFILE, MANAGE_POLICY, REVIEW
from kyc.questionnaire import questionnaire_submit
from kyc.selectors import kyc_policy_for, queue_figures_changed
from kyc.uploads import Upload, upload_read, upload_validate

logger = logging.getLogger(__name__)

LEVEL = "full"
DUPLICATE_FILE = "duplicate_file"
DUPLICATE_DOCUMENT = "duplicate_document"
_EXPIRED_REASON = gettext_noop("your identity document has expired")


class SubmissionRefused(KycError):
    default_code = "kyc_submission_refused"


class ReviewRefused(KycError):
    default_code = "kyc_review_refused"


# --- the verification status ---------------------------------------------------------------------

def _profile_locked(client: Client) -> KycProfile:
    """The client's profile, locked after the client's row (crm.models.locks: the client, then its KYC
    rows); a caller that locked a submission first went through `submission_locked`, which took
    the client's row before it."""
    KycProfile.objects.get_or_create(client=client)
    client_lock(client)
    return KycProfile.objects.select_for_update(of=("self",)).select_related("client", "client__brand").get(
        client=client)


def submission_locked(submission_id: int, *, related: tuple[str, ...] = ("client", "client__brand")) -> Submission:
    """The submission locked after its client's row (crm.models.locks), with `related` loaded (not locked):
    every KYC write about a client takes the client first, then the submission, then the profile."""
    client_id = Submission.objects.values_list("client_id", flat=True).get(pk=submission_id)
    client_lock(client_id)
    locked = Submission.objects.select_for_update(of=("self",))
    return (locked.select_related(*related) if related else locked).get(pk=submission_id)


def _status_set(profile: KycProfile, new: str, *, actor: User | None, reason: str = "",
                submission: Submission | None = None, reopen: bool = False, at: datetime | None = None) -> None:
    old = profile.status
    # KycTransitionRefused (a KycError naming both statuses) for a move the machine refuses.
    profile.status_set(new, actor=actor, reason=reason, submission=submission, reopen=reopen, at=at)
    audit_record(action="kyc.status_change", obj=profile.client, before={"kyc_status": old},
                 after={"kyc_status": new, "submission": str(submission.code) if submission else None},
                 reason=reason[:500], actor=actor)
    # The core's one verification state follows, in this transaction: approved sets it; expired,
    # rejected and an approval withdrawn (back to pending) clear it.
    evidence = {"kyc_status": new, "submission": str(submission.code) if submission else None}
    client_verification_set(client=profile.client, verified=new == KycStatus.APPROVED, actor=actor,
                            reason=reason, evidence=evidence)


@transaction.atomic
def kyc_approval_import(*, client: Client, approved_at: datetime, actor: User | None = None,
                        reason: str = "migration import") -> bool:
    """Record that another system approved `client`'s verification at `approved_at` (a migration's
    history: a CPA's "KYC approved" condition reads it as of then): the profile moves to approved
    through pending, both changes dated `approved_at`, the core's verification follows. True when
    recorded; False when the client is approved already (nothing changes: a re-import). No
    "kyc.approved" event: a year-old approval must not send partner postbacks or start automations.
    Needs kyc.review unless `actor` is None (the system). ValidationFailed for a time in the future
    or without a zone; KycTransitionRefused after a final rejection."""
    if actor is not None and not user_can(actor, REVIEW):
        raise NotAllowed()
    if approved_at.tzinfo is None or approved_at > timezone.now():
        raise ValidationFailed(fields={"approved_at": gettext("A past time with its time zone.")})
    profile = _profile_locked(client)
    if profile.status == KycStatus.APPROVED:
        return False
    if profile.status != KycStatus.PENDING:
        _status_set(profile, KycStatus.PENDING, actor=actor, reason=reason, at=approved_at)
    profile.level, profile.verified_at, profile.can_resubmit = LEVEL, approved_at, True
    _status_set(profile, KycStatus.APPROVED, actor=actor, reason=reason, at=approved_at)
    audit_record(action="kyc.approval_import", obj=client, actor=actor,
                 after={"approved_at": approved_at.isoformat(), "level": LEVEL}, reason=reason[:500])
    return True


# --- sending documents ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DocumentIn:
    """One file the client sends: its kind (DocumentKind), the side of a two-sided card, and either
    an open file (`file`, read up to the size limit) or its bytes (`data`). `field` names the form
    input in errors."""

    kind: str
    filename: str
    file: IO[bytes] | None = None
    data: bytes | None = None
    side: str = ""
    field: str = ""


@dataclass
class _Checked:
    doc: DocumentIn
    upload: Upload
    slot: str
    storage_name: str = field(default="")


def _validate_set(documents: Sequence[DocumentIn]) -> list[_Checked]:
    errors = FieldErrors()
    checked: list[_Checked] = []
    for index, doc in enumerate(documents):
        name = doc.field or f"documents[{index}]"
        if doc.kind not in SLOT_OF_KIND:
            errors.add(name, gettext("Choose a passport, an identity card, a driving licence, a utility bill or a "
                                     "bank statement."))
            continue
        if doc.side not in Side.values:
            errors.add(name, gettext("Choose the front or the back."))
            continue
        try:
            if doc.file is not None:
                upload = upload_read(doc.file, filename=doc.filename, field=name)
            else:
                upload = upload_validate(doc.data or b"", filename=doc.filename, field=name)
        except UploadRefused as refused:
            for field_name, messages in refused.fields.items():
                for message in messages:
                    errors.add(field_name, message)
            continue
        checked.append(_Checked(doc=doc, upload=upload, slot=SLOT_OF_KIND[doc.kind]))
    if errors:
        raise UploadRefused(fields=errors.fields)
    identity = [c for c in checked if c.slot == Slot.IDENTITY]
    address = [c for c in checked if c.slot == Slot.ADDRESS]
    if not identity:
        errors.add("identity", gettext("Send a passport, an identity card or a driving licence."))
    elif len({c.doc.kind for c in identity}) > 1:
        errors.add("identity", gettext("Send one identity document."))
    elif identity[0].doc.kind == DocumentKind.ID_CARD and {c.doc.side for c in identity} != {Side.FRONT, Side.BACK}:
        errors.add("identity", gettext("Send both sides of the identity card."))
    if not address:
        errors.add("address", gettext("Send a utility bill or a bank statement showing your address."))
    errors.raise_if_any()
    return checked


@transaction.atomic
def submission_create(*, client: Client, documents: Sequence[DocumentIn], actor: User | None = None) -> Submission:
    """The client sends documents for verification.

    Every file is validated (PNG/JPEG/PDF by content, size, readable) and the set must hold an
    identity document (both sides of an identity card) and a proof of address: otherwise
    UploadRefused naming each field, and nothing is stored. Allowed while the client is unverified,
    after a retryable rejection or an expiry, or when an officer asked for more information;
    refused while a submission is being checked or reviewed, after approval and after a final
    rejection. The verification becomes pending (kyc.submitted) and the checks run after commit.
    """
    checked = _validate_set(documents)
    profile = _profile_locked(client)
    last = Submission.objects.filter(client=client).order_by("-submitted_at", "-id").first()
    waiting_for_info = profile.status == KycStatus.PENDING and last is not None \
        and last.status == SubmissionStatus.INFO_REQUESTED
    if not waiting_for_info:
        refusal = profile.transition_refusal(KycStatus.PENDING)
        if refusal is not None:
            raise SubmissionRefused(_submission_refusal(profile))
    policy = kyc_policy_for(brand=client.brand)
    now = timezone.now()
    country = profile.country or client.country
    # The brand's vendor now checks it; an external one is looked at by the poller if the checks
    # task never gets to send it (kyc.vendor_services).
    external = policy.vendor != BUILTIN_VENDOR
    submission = Submission.objects.create(
        client=client, brand_id=client.brand_id, submitted_at=now, due_at=now + timedelta(hours=policy.review_sla_hours),
        resubmission_of=last, high_risk=bool(country and country in policy.high_risk_countries),
        vendor=policy.vendor, vendor_next_at=vendor_first_look(now) if external else None,
    )
    written: list[str] = []
    try:
        for item in checked:
            item.storage_name = storage.new_name(item.upload.content_type)
            storage.file_write(item.storage_name, item.upload.data, scope=client.brand.code)
            written.append(item.storage_name)
        Document.objects.bulk_create([Document(
            submission=submission, client=client, slot=item.slot, kind=item.doc.kind, side=item.doc.side,
            content_type=item.upload.content_type, size=item.upload.size, pages=item.upload.pages,
            sha256=item.upload.sha256, storage_name=item.storage_name, original_name=item.upload.filename[:200],
            created_at=now,
        ) for item in checked])
        if not waiting_for_info:
            _status_set(profile, KycStatus.PENDING, actor=actor, reason="documents submitted", submission=submission)
        audit_record(action="kyc.submission_create", obj=submission, actor=actor, after={
            "client": str(client.code), "documents": [
                {"kind": c.doc.kind, "side": c.doc.side, "sha256": c.upload.sha256, "size": c.upload.size,
                 "content_type": c.upload.content_type} for c in checked],
            "resubmission_of": str(last.code) if last else None, "high_risk": submission.high_risk,
        })
        emit("kyc.submitted", client=client, actor=actor, data={"documents": len(checked)})
    except BaseException:
        for name in written:
            storage.file_remove(name)
        raise
    submission_id = submission.pk
    transaction.on_commit(lambda: _enqueue_checks(submission_id), robust=True)
    return submission


def _submission_refusal(profile: KycProfile) -> str:
    if profile.status == KycStatus.REJECTED:
        return gettext("The verification was refused for good: documents cannot be sent again.")
    if profile.status == KycStatus.APPROVED:
        return gettext("The client is already verified.")
    return gettext("Documents were already sent and are being checked.")


def _enqueue_checks(submission_id: int) -> None:
    from kombu.exceptions import OperationalError

    try:
        task_named("kyc.tasks.submission_check").delay(submission_id)
    except OperationalError:
        logger.warning("could not queue the KYC checks", extra={"submission_id": submission_id}, exc_info=True)


# --- the automatic checks ------------------------------------------------------------------------

def vendor_wait() -> timedelta:
    """How long an external vendor's answer (its webhook) is waited for before the poller
    (kyc.vendor_services) looks."""
    return timedelta(minutes=int(getattr(settings, "KYC_VENDOR_WEBHOOK_WAIT_MINUTES", 10)))


def vendor_first_look(now: datetime) -> datetime:
    """When the poller first looks at a new external check (sends it if the task never did)."""
    return now + vendor_wait()


def _normalise_number(value: Any) -> str:
    return re.sub(r"[^0-9A-Z]", "", str(value or "").upper())[:40]


def _duplicate_checks(submission: Submission, number: str) -> list[CheckResult]:
    checks: list[CheckResult] = []
    for doc in submission.documents.all().order_by("id"):
        other = (Document.objects.filter(sha256=doc.sha256).exclude(client_id=submission.client_id)
                 .select_related("client", "submission").order_by("id").first())
        if other is None:
            checks.append(CheckResult(name=DUPLICATE_FILE, outcome=Outcome.PASS, document=doc.label,
                                      evidence={"sha256": doc.sha256}))
        else:
            checks.append(CheckResult(
                name=DUPLICATE_FILE, outcome=Outcome.FAIL, document=doc.label, on_fail=OnFail.REVIEW,
                evidence={"sha256": doc.sha256, "other_client": str(other.client.code),
                          "other_client_name": other.client.full_name, "other_submission": str(other.submission.code)}))
    if number:
        other_sub = (Submission.objects.filter(document_number_hash__in=keyed_hashes(number, kind="document"))
                     .exclude(client_id=submission.client_id)
                     .select_related("client").order_by("id").first())
        if other_sub is None:
            checks.append(CheckResult(name=DUPLICATE_DOCUMENT, outcome=Outcome.PASS, evidence={"document_number": number}))
        else:
            checks.append(CheckResult(
                name=DUPLICATE_DOCUMENT, outcome=Outcome.FAIL, on_fail=OnFail.REVIEW,
                evidence={"document_number": number, "other_client": str(other_sub.client.code),
                          "other_client_name": other_sub.client.full_name,
                          "other_submission": str(other_sub.code)}))
    return checks


def _parse_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@transaction.atomic
def submission_checks_record(*, submission: Submission, report: Report) -> Submission:
    """Record the automatic checks' `report` on a submission being checked, with the database's own
    checks added (duplicate_file: the same file from another client; duplicate_document: the same
    document number), and act on the decision: approve (no reviewer), reject as retryable with the
    failing checks' hints for the client, or queue for review with the failing checks named. A
    high-risk client's submission always goes to review (four eyes)."""
    submission = submission_locked(submission.pk)
    if submission.status != SubmissionStatus.CHECKING:
        raise ReviewRefused(gettext("The checks of this submission were already recorded."))
    number = _normalise_number(report.facts.get("document_number"))
    full = report + Report(checks=tuple(_duplicate_checks(submission, number)))
    submission.report = full.as_dict()
    submission.auto_decision = str(full.decision)
    submission.problems = [c.name for c in full.problems][:50]
    submission.document_number = number
    submission.save(update_fields=["report", "auto_decision", "problems", "document_number", "document_number_hash"])
    expires = _parse_date(full.facts.get("expiry_date"))
    if expires is not None:
        submission.documents.filter(slot=Slot.IDENTITY).update(expires_on=expires)
    evidence = {"decision": str(full.decision), "problems": submission.problems,
                "engine_version": full.engine_version}
    audit_record(action="kyc.checks_record", obj=submission, after=evidence, actor=None)
    decision = full.decision
    if decision is Decision.APPROVE and not submission.high_risk:
        KycDecision.objects.create(submission=submission, action="auto_approve", evidence=evidence)
        return _approve(submission, reviewer=None, evidence=evidence)
    if decision is Decision.REJECT:
        failing = [c for c in full.problems if c.outcome is Outcome.FAIL and c.on_fail is OnFail.REJECT]
        hints = [c.hint_message for c in failing if c.client_hint]
        reason = "; ".join(c.name for c in failing)
        KycDecision.objects.create(submission=submission, action="auto_reject", reason=reason, evidence=evidence)
        return _reject(submission, reviewer=None, reason=reason, can_resubmit=True, hints=hints, evidence=evidence)
    SUBMISSION_STATES.move(submission, SubmissionStatus.REVIEW, save=())
    transaction.on_commit(queue_figures_changed)
    KycDecision.objects.create(submission=submission, action="queued", evidence=evidence)
    return submission


# --- the review ----------------------------------------------------------------------------------

def _require_reviewer(actor: User, submission: Submission) -> None:
    if not user_can(actor, REVIEW):
        raise NotAllowed(gettext("You are not allowed to review verifications."))
    if not client_visible_to(actor, submission.client):
        raise NotFound()


def _locked(submission: Submission) -> Submission:
    return submission_locked(submission.pk, related=("client", "client__brand", "claimed_by", "first_approval_by"))


def _open_for(actor: User, submission: Submission) -> Submission:
    _require_reviewer(actor, submission)
    submission = _locked(submission)
    if submission.status != SubmissionStatus.REVIEW:
        raise ReviewRefused(gettext("This submission is not waiting for review (it is %(status)s).")
                            % {"status": SubmissionStatus(submission.status).label})
    return submission


def _take(actor: User, submission: Submission) -> None:
    """Deciding claims an unclaimed submission; one claimed by another officer is theirs to decide."""
    holder = submission.claimed_by
    if holder is not None and holder.pk != actor.pk:
        raise ReviewRefused(gettext("%(name)s is reviewing this submission.")
                            % {"name": holder.full_name or holder.email})


@transaction.atomic
def submission_claim(*, submission: Submission, actor: User) -> Submission:
    """`actor` takes the submission (refused if another officer holds it)."""
    submission = _open_for(actor, submission)
    _take(actor, submission)
    if submission.claimed_by_id == actor.pk:
        return submission
    submission.claimed_by, submission.claimed_at = actor, timezone.now()
    submission.save(update_fields=["claimed_by", "claimed_at"])
    KycDecision.objects.create(submission=submission, action="claim", officer=actor)
    audit_record(action="kyc.submission_claim", obj=submission, after={"claimed_by": actor.email}, actor=actor)
    return submission


@transaction.atomic
def submission_assign(*, submission: Submission, actor: User, assignee: User | None) -> Submission:
    """Give the submission to `assignee` (an officer who may review it), or release it (None)."""
    submission = _open_for(actor, submission)
    before = submission.claimed_by.email if submission.claimed_by else None
    if assignee is not None:
        if not assignee.is_active or not user_can(assignee, REVIEW) or not client_visible_to(assignee, submission.client):
            raise ValidationFailed(fields={"assignee": [gettext("This user cannot review this client's verification.")]})
        if assignee.pk == submission.first_approval_by_id:
            raise ValidationFailed(fields={"assignee": [gettext(
                "This officer gave the first approval; a second, different officer must approve.")]})
    submission.claimed_by = assignee
    submission.claimed_at = timezone.now() if assignee is not None else None
    submission.save(update_fields=["claimed_by", "claimed_at"])
    KycDecision.objects.create(submission=submission, action="assign" if assignee else "release", officer=actor,
                               evidence={"assignee": assignee.email if assignee else None})
    audit_record(action="kyc.submission_assign", obj=submission, before={"claimed_by": before},
                 after={"claimed_by": assignee.email if assignee else None}, actor=actor)
    return submission


def _approve(submission: Submission, *, reviewer: User | None, evidence: dict[str, Any]) -> Submission:
    profile = _profile_locked(submission.client)
    now = timezone.now()
    expires = submission.documents.filter(slot=Slot.IDENTITY, expires_on__isnull=False).order_by("expires_on") \
        .values_list("expires_on", flat=True).first()
    SUBMISSION_STATES.move(submission, SubmissionStatus.APPROVED, save=(),
                           also={"decided_at": now, "reviewer": reviewer, "claimed_by": None})
    transaction.on_commit(queue_figures_changed)
    profile.level, profile.verified_at, profile.expires_on, profile.can_resubmit = LEVEL, now, expires, True
    _status_set(profile, KycStatus.APPROVED, actor=reviewer,
                reason="approved" if reviewer else "approved by the automatic checks", submission=submission)
    audit_record(action="kyc.submission_approve", obj=submission, actor=reviewer, after={
        "client": str(submission.client.code), "level": LEVEL, "expires_on": expires,
        "first_approval_by": submission.first_approval_by.email if submission.first_approval_by else None,
        "evidence": evidence})
    emit("kyc.approved", client=submission.client, actor=reviewer, data={"level": LEVEL, "reviewer": user_ref(reviewer)})
    _nationality_record(submission)
    return submission


def _nationality_record(submission: Submission) -> None:
    """The nationality that the approved identity document's machine-readable zone gives, recorded on a
    client who has none (sanctions screening compares it with the lists'; a change screens again).
    One typed by staff is kept: a second nationality is theirs to decide."""
    facts = (submission.report or {}).get("facts") or {}
    code = alpha2(str(facts.get("nationality") or ""))
    client = submission.client
    if code and not client.nationality:
        client_update(actor=None, client=client, nationality=code,
                      reason="read from the identity document approved by KYC")


# A high-risk client's verification needs two different officers (the second holding
# "kyc.approve_high_risk"); the first approval waits on the submission's own fields.
KYC_APPROVAL = FourEyes(
    name="kyc high-risk approval", proposer_field="first_approval_by", value_fields=("first_approved_at",),
    error=ReviewRefused, audit=audit_record, same_person_code="kyc_four_eyes",
    # The approval is audited by the approval's own row (kyc.submission_approve, with the reviewer).
    actions={"proposed": "kyc.submission_first_approval", "sent_back": "kyc.submission_first_approval_sent_back"},
    needed=lambda submission, values: bool(submission.high_risk),
    same_person_approve=gettext_lazy("You gave the first approval: a second, different officer must approve."),
    same_person_send_back=gettext_lazy("You gave the first approval: a second, different officer must review it."),
    not_pending=gettext_lazy("This verification has no first approval waiting for a second officer."),
)


@transaction.atomic
def submission_approve(*, submission: Submission, actor: User, note: str = "") -> Submission:
    """Approve the verification. A high-risk client's needs two different officers: the first
    approval is recorded and the submission waits in the queue (released) for a second officer,
    who holds "kyc.approve_high_risk"; the same officer twice is refused."""
    submission = _open_for(actor, submission)
    _take(actor, submission)
    evidence = {"problems": submission.problems, "note": note[:1000]}
    if KYC_APPROVAL.needed(submission, {}):
        if KYC_APPROVAL.pending(submission) is None:
            submission.claimed_by = None  # released to the queue for the second officer
            KYC_APPROVAL.propose(submission, actor=actor, values={"first_approved_at": timezone.now()},
                                 save=("claimed_by",), after=evidence)
            KycDecision.objects.create(submission=submission, action="first_approval", officer=actor, reason=note,
                                       evidence=evidence)
            return submission
        KYC_APPROVAL.check_second(submission, actor=actor)
        if not user_can(actor, APPROVE_HIGH_RISK):
            raise NotAllowed(gettext("The second approval of a high-risk client needs the high-risk approval "
                                     "permission."))
    KycDecision.objects.create(submission=submission, action="approve", officer=actor, reason=note, evidence=evidence)
    return _approve(submission, reviewer=actor, evidence=evidence)


def _reject(submission: Submission, *, reviewer: User | None, reason: str, can_resubmit: bool,
            hints: list[tuple[str, dict[str, Any]]],
            evidence: dict[str, Any]) -> Submission:
    client = submission.client
    profile = _profile_locked(client)
    # A hint is a message id and its parameters (a bill's age, the allowed countries), translated
    # before it is filled in.
    translated = [in_client_language(client, message, params) for message, params in hints]
    SUBMISSION_STATES.move(submission, SubmissionStatus.REJECTED, save=(), also={
        "decided_at": timezone.now(), "reviewer": reviewer, "reason": reason, "client_hints": translated,
        "claimed_by": None})
    transaction.on_commit(queue_figures_changed)
    profile.can_resubmit = can_resubmit
    _status_set(profile, KycStatus.REJECTED, actor=reviewer, reason=reason or "rejected", submission=submission)
    audit_record(action="kyc.submission_reject", obj=submission, actor=reviewer, after={
        "client": str(client.code), "reason": reason, "can_resubmit": can_resubmit,
        "hints": [message % params if params else message for message, params in hints],
        "evidence": evidence})
    emit("kyc.rejected", client=client, actor=reviewer,
         data={"reason": reason, "reviewer": user_ref(reviewer), "can_resubmit": can_resubmit})
    kyc_email_send(client=client, key="kyc_resubmit" if can_resubmit else "kyc_rejected", actor=reviewer,
                   data={"reason": reason if reviewer else "", "hints": translated, "can_resubmit": can_resubmit})
    return submission


def _failing_hints(submission: Submission) -> list[tuple[str, dict[str, Any]]]:
    report = Report.from_dict(submission.report) if submission.report else Report(checks=())
    return [c.hint_message for c in report.problems if c.client_hint]


@transaction.atomic
def submission_reject(*, submission: Submission, actor: User, reason: str, can_resubmit: bool,
                      hints: Iterable[str] | None = None) -> Submission:
    """Reject the verification, retryable (the client is told what to fix, in their language: the
    officer's reason and the failing checks' hints, or `hints`) or final (no more submissions)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(fields={"reason": [gettext("Say why the verification is rejected.")]})
    submission = _open_for(actor, submission)
    _take(actor, submission)
    given = [(h, {}) for h in hints] if hints is not None else _failing_hints(submission)
    hint_list = [(m, p) for m, p in given if m] if can_resubmit else []
    evidence = {"problems": submission.problems}
    KycDecision.objects.create(submission=submission, action="reject", officer=actor, reason=reason,
                               evidence={**evidence, "can_resubmit": can_resubmit})
    return _reject(submission, reviewer=actor, reason=reason[:2000], can_resubmit=bool(can_resubmit), hints=hint_list,
                   evidence=evidence)


@transaction.atomic
def submission_request_info(*, submission: Submission, actor: User, message: str) -> Submission:
    """Ask the client for more information: the client is emailed `message`, the submission leaves
    the queue and the verification stays pending until the client sends documents again."""
    message = (message or "").strip()
    if not message:
        raise ValidationFailed(fields={"message": [gettext("Say what the client should send.")]})
    submission = _open_for(actor, submission)
    _take(actor, submission)
    SUBMISSION_STATES.move(submission, SubmissionStatus.INFO_REQUESTED, save=(), also={
        "decided_at": timezone.now(), "reviewer": actor, "reason": message[:2000], "claimed_by": None})
    transaction.on_commit(queue_figures_changed)
    KycDecision.objects.create(submission=submission, action="request_info", officer=actor, reason=message,
                               evidence={"problems": submission.problems})
    audit_record(action="kyc.submission_request_info", obj=submission, actor=actor,
                 after={"client": str(submission.client.code), "message": message})
    emit("kyc.info_requested", client=submission.client, actor=actor,
         data={"reviewer": user_ref(actor), "message": message[:2000]})
    kyc_email_send(client=submission.client, key="kyc_info_requested", actor=actor, data={"message": message})
    return submission


# --- expiry --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExpiryReport:
    warned: int
    expired: int


def _holds_text(client: Client, policy: KycPolicy) -> str:
    from django.utils import translation

    from kyc.emails import client_language

    holds = [h for h in policy.expiry_holds if h in ExpiryHold.values]
    if not holds:
        return ""
    with translation.override(client_language(client)):
        return gettext("held: %(what)s") % {"what": ", ".join(str(ExpiryHold(h).label).lower() for h in holds)}


def kyc_expiry_run(*, today: date | None = None) -> ExpiryReport:
    """The daily job: warn each verified client once per document that runs out within the brand's
    warning period, and expire the verifications whose day has come (kyc.expired; the brand's
    holds then apply). Idempotent: a warned document is not warned again, an expired verification
    is no longer approved. Each client is its own transaction."""
    today = today or timezone.localdate()
    warned = expired = 0
    due = KycProfile.objects.filter(status=KycStatus.APPROVED, expires_on__lte=today).values_list("pk", flat=True)
    for profile_id in list(due):
        expired += _expire_one(profile_id, today)
    horizon = today + timedelta(days=366)
    candidates = (Document.objects.filter(expires_on__gt=today, expires_on__lte=horizon, expiry_warned_at__isnull=True,
                                          submission__status=SubmissionStatus.APPROVED)
                  .values_list("pk", flat=True))
    for document_id in list(candidates):
        warned += _warn_one(document_id, today)
    return ExpiryReport(warned=warned, expired=expired)


@transaction.atomic
def _expire_one(profile_id: int, today: date) -> int:
    client_lock(KycProfile.objects.values_list("client_id", flat=True).get(pk=profile_id))  # the client first
    profile = KycProfile.objects.select_for_update(of=("self",)).select_related("client", "client__brand").get(
        pk=profile_id)
    if profile.status != KycStatus.APPROVED or profile.expires_on is None or profile.expires_on > today:
        return 0
    client = profile.client
    policy = kyc_policy_for(brand=client.brand)
    reason = "identity document expired on %s" % profile.expires_on.isoformat()  # noqa: UP031 - a record, not UI
    _status_set(profile, KycStatus.EXPIRED, actor=None, reason=reason)
    emit("kyc.expired", client=client, actor=None,
         data={"expired_at": timezone.now().isoformat(), "reason": reason})
    audit_record(action="kyc.expire", obj=client, after={"reason": reason, "holds": list(policy.expiry_holds)},
                 actor=None)
    kyc_email_send(client=client, key="kyc_expired", actor=None, data={
        "reason": in_client_language(client, _EXPIRED_REASON),
        "holds": _holds_text(client, policy)})
    return 1


@transaction.atomic
def _warn_one(document_id: int, today: date) -> int:
    document = Document.objects.select_for_update(of=("self",)).select_related("client", "client__brand") \
        .get(pk=document_id)
    if document.expiry_warned_at is not None or document.expires_on is None:
        return 0
    client = document.client
    profile = KycProfile.objects.filter(client=client).first()
    if profile is None or profile.status != KycStatus.APPROVED:
        return 0
    policy = kyc_policy_for(brand=client.brand)
    if (document.expires_on - today).days > policy.expiry_warning_days:
        return 0
    document.expiry_warned_at = timezone.now()
    document.save(update_fields=["expiry_warned_at"])
    emit("kyc.expiry_warned", client=client, actor=None,
         data={"document": document.kind, "expires_on": document.expires_on.isoformat()})
    kyc_email_send(client=client, key="kyc_expiry_warning", actor=None, data={
        "document": in_client_language(client, str(DocumentKind(document.kind).label)).lower(),
        "expires_on": document.expires_on.isoformat()})
    return 1


# --- the address and the policy ------------------------------------------------------------------

_POSTCODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]{0,18}$")


@transaction.atomic
def kyc_profile_save(*, client: Client, actor: User | None, address_line1: str, address_line2: str = "", city: str,
                     postcode: str, country: str) -> KycProfile:
    """Save the client's address of residence (the portal calls this for the client, actor None;
    staff need "kyc.change_kycprofile"). Each bad field is named; nothing is written then."""
    if actor is not None and not user_can(actor, CHANGE_PROFILE):
        raise NotAllowed(gettext("You are not allowed to change clients' addresses."))
    errors = FieldErrors()
    values = {"address_line1": " ".join((address_line1 or "").split()),
              "address_line2": " ".join((address_line2 or "").split()),
              "city": " ".join((city or "").split()), "postcode": " ".join((postcode or "").split()).upper(),
              "country": (country or "").strip().upper()}
    for name, limit in (("address_line1", 200), ("address_line2", 200), ("city", 100)):
        if len(values[name]) > limit:
            errors.add(name, gettext("At most %(n)s characters.") % {"n": limit})
    for name in ("address_line1", "city", "country"):
        if not values[name]:
            errors.add(name, gettext("This field is required."))
    if values["postcode"] and not _POSTCODE.match(values["postcode"]):
        errors.add("postcode", gettext("Enter a postcode of letters, digits, spaces and hyphens."))
    if values["country"] and not re.fullmatch(r"[A-Z]{2}", values["country"]):
        errors.add("country", gettext("Enter a two-letter country code (ISO 3166-1), e.g. GB."))
    errors.raise_if_any()
    profile = _profile_locked(client)
    before = {name: getattr(profile, name) for name in values}
    if before == values:
        return profile
    for name, value in values.items():
        setattr(profile, name, value)
    profile.save(update_fields=[*values, "updated_at"])
    audit_record(action="kyc.profile_save", obj=client, before=_address_masked(before),
                 after=_address_masked(values), actor=actor)
    return profile


# Encrypted in their columns: the audit log (append-only, never encrypted) keeps only their first letter.
_ADDRESS_PERSONAL = ("address_line1", "address_line2", "city")


def _address_masked(values: dict[str, str]) -> dict[str, str]:
    return {name: f"{value[:1]}***" if name in _ADDRESS_PERSONAL and value else value
            for name, value in values.items()}


def _codes(values: Iterable[str], *, length: int, field: str, errors: FieldErrors) -> list[str]:
    out: list[str] = []
    for raw in values:
        code = (raw or "").strip().upper()
        if not code:
            continue
        if not re.fullmatch(rf"[A-Z]{{{length}}}", code):
            errors.add(field, gettext("“%(code)s” is not a %(n)s-letter country code.") % {"code": raw, "n": length})
        elif code not in out:
            out.append(code)
    return sorted(out)


@transaction.atomic
def kyc_policy_save(*, actor: User | None, brand: Brand, allowed_issuing_countries: Iterable[str],
                    poa_max_age_days: int, expiry_warning_days: int, review_sla_hours: int,
                    high_risk_countries: Iterable[str], expiry_holds: Iterable[str],
                    vendor: str | None = None) -> KycPolicy:
    """Set the brand's KYC policy (needs "kyc.manage_policy"); every bad field is named. `vendor`
    (a code of kyc.vendors.VENDORS) is who checks the brand's submissions; None keeps it."""
    from kyc.vendors import VENDORS

    if actor is not None and not user_can(actor, MANAGE_POLICY):
        raise NotAllowed(gettext("You are not allowed to change the KYC policy."))
    errors = FieldErrors()
    issuing = _codes(allowed_issuing_countries, length=3, field="allowed_issuing_countries", errors=errors)
    high_risk = _codes(high_risk_countries, length=2, field="high_risk_countries", errors=errors)
    holds = sorted(set(expiry_holds))
    if any(h not in ExpiryHold.values for h in holds):
        errors.add("expiry_holds", gettext("Choose among the listed holds."))
    for name, value, low, high in (("poa_max_age_days", poa_max_age_days, 1, 3650),
                                   ("expiry_warning_days", expiry_warning_days, 0, 365),
                                   ("review_sla_hours", review_sla_hours, 1, 24 * 30)):
        if not isinstance(value, int) or not low <= value <= high:
            errors.add(name, gettext("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high})
    if vendor is not None and vendor not in VENDORS:
        errors.add("vendor", gettext("Choose one of the listed verification vendors."))
    errors.raise_if_any()
    policy, created = KycPolicy.objects.select_for_update().get_or_create(brand=brand)
    fields = ("allowed_issuing_countries", "poa_max_age_days", "expiry_warning_days", "review_sla_hours",
              "high_risk_countries", "expiry_holds", "vendor")
    before = None if created else {name: getattr(policy, name) for name in fields}
    values = {"allowed_issuing_countries": issuing, "poa_max_age_days": poa_max_age_days,
              "expiry_warning_days": expiry_warning_days, "review_sla_hours": review_sla_hours,
              "high_risk_countries": high_risk, "expiry_holds": holds,
              "vendor": policy.vendor if vendor is None else vendor}
    for name, new_value in values.items():
        setattr(policy, name, new_value)
    policy.save()
    if before != values:
        audit_record(action="kyc.policy_save", obj=policy, object_id=brand.code, before=before,
                     after={"brand": brand.code, **values}, actor=actor)
    return policy


@transaction.atomic
def document_view_record(*, actor: User, document: Document) -> bytes:
    """The bytes of `document` for `actor` (who was authorised by kyc.permissions), with the view
    recorded twice: an access event (agent monitoring reads these) and an audit row."""
    from crm.services import client_view_record

    client_view_record(actor=actor, client=document.client, detail=f"kyc document {document.kind} {document.code}")
    audit_record(action="kyc.document_view", obj=document, actor=actor, after={
        "client": str(document.client.code), "submission": str(document.submission.code), "kind": document.kind,
        "sha256": document.sha256})
    return storage.file_read(document.storage_name)


def staff_reviewers(*, submission: Submission) -> list[User]:
    """The active officers who may review this submission's client (for the assign form)."""
    from crm.permissions import users_who_can_see

    users = users_who_can_see(submission.client).filter(Q(is_superuser=True) | Q(role__isnull=False)).order_by(
        "full_name", "email")
    return [u for u in users if user_can(u, REVIEW)]


def _files_remove(names: list[str]) -> None:
    for name in names:
        storage.file_remove(name)


@transaction.atomic
def kyc_records_erase(*, client: Client, actor: User | None) -> int:
    """Erasure (compliance.erasure decides and authorises): the client's documents go, their rows now and
    their files from the private store once the transaction commits (a rollback keeps them), and the
    address of residence is emptied, in the profile's history too. Status, dates and decisions stay.
    Returns the documents removed; audited without personal data."""
    documents = list(Document.objects.filter(client=client).values_list("storage_name", flat=True))
    Document.objects.filter(client=client).delete()
    blank = {"address_line1": "", "address_line2": "", "city": "", "postcode": ""}
    KycProfile.objects.filter(client=client).update(**blank, address_hash="")
    KycProfile.history.filter(client_id=client.pk).update(**blank)
    transaction.on_commit(lambda: _files_remove(documents))
    audit_record(action="kyc.records_erase", obj=client, after={"documents": len(documents)}, actor=actor)
    return len(documents)


# --- a migration's history -----------------------------------------------------------------------
# The verifications another system decided, recorded as they were decided (integrations.moving_in):
# the same file checks and private store as an upload, the same status machine, dated then; what a
# live decision also does is left out on purpose (no event, no email, no checks queued).

IMPORTED_DECISIONS = (SubmissionStatus.APPROVED, SubmissionStatus.REJECTED)


def _document_checked(doc: DocumentIn, name: str) -> _Checked:
    """One file of a migration by KYC's own rules (kind, side, content type by content, size,
    readable); UploadRefused naming `name`."""
    if doc.kind not in SLOT_OF_KIND:
        raise UploadRefused(fields={name: [gettext("Choose a passport, an identity card, a driving licence, a "
                                                   "utility bill or a bank statement.")]})
    if doc.side not in Side.values:
        raise UploadRefused(fields={name: [gettext("Choose the front or the back.")]})
    if doc.file is not None:
        upload = upload_read(doc.file, filename=doc.filename, field=name)
    else:
        upload = upload_validate(doc.data or b"", filename=doc.filename, field=name)
    return _Checked(doc=doc, upload=upload, slot=SLOT_OF_KIND[doc.kind])


@transaction.atomic
def kyc_submission_import(*, client: Client, documents: Sequence[DocumentIn], decision: str,
                          submitted_at: datetime, decided_at: datetime, reason: str = "", can_resubmit: bool = True,
                          reviewer: User | None = None, source: str = "migration import",
                          store_files: bool = True) -> Submission:
    """Record a verification another system decided (a migration's history): a submission with its
    documents, approved or rejected (with its reason) at `decided_at` by `reviewer` (None: the old
    system), the profile's status following through KYC_STATES, dated then.

    Every file is checked by KYC's own rules (as `submission_create` checks one) before anything is
    stored: UploadRefused naming each bad file by its DocumentIn.field. A set needs no particular
    documents (the old system decided on what it had). No event, no email, no checks queued: a
    year-old decision must not send postbacks, mail the client or wait in the review queue.
    `store_files=False` checks everything and writes the rows but stores no file: for a caller that
    rolls its transaction back (a dry run), as the file store is outside the transaction.
    ValidationFailed for a decision other than approved or rejected, a rejection without its reason,
    a time in the future or without its zone, a decision before its submission;
    KycTransitionRefused when the verification cannot move (a final rejection before it). An
    approval over an approved verification leaves its status; a rejection after one reopens it."""
    checked = _checked(documents, decision=decision, reason=reason, submitted_at=submitted_at, decided_at=decided_at)
    reason = (reason or "").strip()
    profile = _profile_locked(client)
    why = f"{'Approved' if decision == SubmissionStatus.APPROVED else 'Rejected'} in {source}"
    why = (f"{why}: {reason}" if reason else why)[:500]
    submission = Submission.objects.create(client=client, brand_id=client.brand_id, submitted_at=submitted_at,
                                           due_at=submitted_at, vendor=BUILTIN_VENDOR)
    also: dict[str, Any] = {"decided_at": decided_at, "reviewer": reviewer}
    if decision == SubmissionStatus.REJECTED:
        also["reason"] = reason[:2000]
    SUBMISSION_STATES.move(submission, decision, also=also, save=())
    action = DecisionAction.APPROVE if decision == SubmissionStatus.APPROVED else DecisionAction.REJECT
    KycDecision.objects.create(submission=submission, action=action, officer=reviewer, at=decided_at, reason=reason,
                               evidence={"imported_from": source, "can_resubmit": bool(can_resubmit)})
    _profile_follow(profile, submission, decision=decision, why=why, can_resubmit=can_resubmit)
    written: list[str] = []
    try:
        for item in checked:
            item.storage_name = storage.new_name(item.upload.content_type)
            if store_files:
                storage.file_write(item.storage_name, item.upload.data, scope=client.brand.code)
                written.append(item.storage_name)
        Document.objects.bulk_create([Document(
            submission=submission, client=client, slot=item.slot, kind=item.doc.kind, side=item.doc.side,
            content_type=item.upload.content_type, size=item.upload.size, pages=item.upload.pages,
            sha256=item.upload.sha256, storage_name=item.storage_name, original_name=item.upload.filename[:200],
            created_at=submitted_at,
        ) for item in checked])
        audit_record(action="kyc.submission_import", obj=submission, actor=reviewer, reason=why, after={
            "client": str(client.code), "decision": decision, "submitted_at": submitted_at.isoformat(),
            "decided_at": decided_at.isoformat(), "can_resubmit": bool(can_resubmit), "documents": [
                {"kind": c.doc.kind, "side": c.doc.side, "sha256": c.upload.sha256, "size": c.upload.size,
                 "content_type": c.upload.content_type} for c in checked]})
    except BaseException:
        _files_remove(written)
        raise
    return submission


def _checked(documents: Sequence[DocumentIn], *, decision: str, reason: str, submitted_at: datetime,
             decided_at: datetime) -> list[_Checked]:
    """Every file and value checked, or ValidationFailed (UploadRefused for files) naming each."""
    errors = FieldErrors()
    if decision not in IMPORTED_DECISIONS:
        errors.add("decision", gettext("Only an approval or a rejection is imported."))
    if decision == SubmissionStatus.REJECTED and not (reason or "").strip():
        errors.add("reason", gettext("Say why the verification was rejected."))
    now = timezone.now()
    for name, at in (("submitted_at", submitted_at), ("decided_at", decided_at)):
        if at.tzinfo is None or at > now:
            errors.add(name, gettext("A past time with its time zone."))
    if not errors and decided_at < submitted_at:
        errors.add("decided_at", gettext("The decision cannot come before the documents were sent."))
    checked: list[_Checked] = []
    file_errors = FieldErrors()
    for index, doc in enumerate(documents):
        try:
            checked.append(_document_checked(doc, doc.field or f"documents[{index}]"))
        except UploadRefused as refused:
            for field_name, messages in refused.fields.items():
                for message in messages:
                    file_errors.add(field_name, message)
    if file_errors:
        raise UploadRefused(fields={**errors.fields, **file_errors.fields})
    errors.raise_if_any()
    return checked


def _profile_follow(profile: KycProfile, submission: Submission, *, decision: str, why: str, can_resubmit: bool) -> None:
    """The verification moves as the old system moved it: to pending when the documents came (unless
    it is), then to the decision, each dated then; an approval over an approval changes nothing."""
    reviewer = submission.reviewer
    if decision == SubmissionStatus.APPROVED and profile.status == KycStatus.APPROVED:
        return
    if profile.status != KycStatus.PENDING:
        _status_set(profile, KycStatus.PENDING, actor=reviewer, reason=why, submission=submission,
                    reopen=profile.status == KycStatus.APPROVED, at=submission.submitted_at)
    if decision == SubmissionStatus.APPROVED:
        profile.level, profile.verified_at, profile.can_resubmit = LEVEL, submission.decided_at, True
        _status_set(profile, KycStatus.APPROVED, actor=reviewer, reason=why, submission=submission,
                    at=submission.decided_at)
    else:
        profile.can_resubmit = bool(can_resubmit)
        _status_set(profile, KycStatus.REJECTED, actor=reviewer, reason=why, submission=submission,
                    at=submission.decided_at)


__all__ = [
    "DocumentIn", "ExpiryReport", "document_view_record", "ReviewRefused", "SubmissionRefused", "kyc_expiry_run", "kyc_policy_save",
    "kyc_profile_save", "questionnaire_submit", "staff_reviewers", "submission_approve", "submission_assign", "submission_checks_record",
    "submission_claim", "submission_create", "submission_reject", "submission_request_info",
    # The upload checks, which support's attachments pass too (one safe-file rule for every upload).
    "upload_read", "upload_validate",
    # erasure of a person's data (compliance.erasure)
    "kyc_records_erase",
    # a migration's history (integrations.moving_in)
    "kyc_submission_import",
]
