"""Submissions checked by a verification vendor (kyc.vendors): sending, results, changed results.

- `submission_vendor_start` (the checks task's service): sends the submission to its vendor. The
  built-in checks answer at once and their Report is recorded as it always was
  (`submission_checks_record`); an external vendor answers with its reference, and the result comes
  by webhook (kyc.webhooks) or, when none came within settings.KYC_VENDOR_WEBHOOK_WAIT_MINUTES, by
  `vendor_checks_resolve_due` looking it up. A vendor that cannot be reached leaves the submission
  being checked (the client pending) and is tried again later with a growing pause: never approved.
- `vendor_result_apply`: one result, whichever way it came, applied once: results are numbered per
  applicant (`sequence`), so a copy or an older result arriving late changes nothing.
- A changed result on a decided submission: approved, then rejected or doubted (the vendor's ongoing
  monitoring found the document forged), withdraws the approval: the verification goes back to
  pending and the submission to the officers' queue with the vendor's reason (kyc.reopened). A
  rejection the vendor later turns into an approval also goes to the queue, never straight to
  approved. A final rejection stays final; the change is recorded on the submission.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from crm.audit import audit_record
from crm.events import emit
from crm.lib.public_url import public_url
from kyc import storage
from kyc.exceptions import KycError, VendorError
from kyc.models import (
    BUILTIN_VENDOR,
    REOPEN_ROUTE,
    SUBMISSION_STATES,
    DecisionAction,
    KycDecision,
    KycProfile,
    KycStatus,
    Slot,
    Submission,
    SubmissionStatus,
)
from kyc.selectors import kyc_policy_for, queue_figures_changed
from kyc.services import submission_locked, vendor_wait
from kyc.vendors import vendor_get
from kyc.vendors.base import VendorDocument, VendorOutcome, VendorResult, VerificationRequest

logger = logging.getLogger(__name__)

RETRY_CAP = timedelta(hours=1)


def _retry_after(attempts: int) -> timedelta:
    base = float(getattr(settings, "KYC_VENDOR_RETRY_SECONDS", 60))
    return min(timedelta(seconds=base * (2 ** max(attempts - 1, 0))), RETRY_CAP)


def vendor_webhook_url(vendor: str) -> str:
    return public_url(reverse("kyc_vendor_webhook", args=[vendor]))


def verification_request(submission: Submission) -> VerificationRequest:
    """What the vendor is sent: the applicant as registered, the brand's rules and the files."""
    from kyc.checks import Applicant, CheckPolicy
    from kyc.checks.countries import alpha2

    client = submission.client
    profile = KycProfile.objects.filter(client=client).first() or KycProfile(client=client)
    policy = kyc_policy_for(brand=client.brand)
    applicant = Applicant(first_name=client.first_name, last_name=client.last_name, middle_name="",
                          date_of_birth=client.date_of_birth, country=profile.country or client.country,
                          address=profile.address_text)
    # The policy names issuing countries as the MRZ does (alpha-3); the engine compares alpha-2.
    check_policy = CheckPolicy(allowed_issuing_countries=frozenset(alpha2(c) for c in policy.allowed_issuing_countries),
                               poa_max_age_days=policy.poa_max_age_days,
                               expiry_warning_days=policy.expiry_warning_days)
    documents = tuple(
        VendorDocument(kind=d.kind, side=d.side, filename=d.original_name, content_type=d.content_type,
                       sha256=d.sha256, data=storage.file_read(d.storage_name))
        for slot in (Slot.IDENTITY, Slot.ADDRESS) for d in submission.documents.filter(slot=slot).order_by("id"))
    return VerificationRequest(reference=str(submission.code), applicant=applicant, policy=check_policy,
                               documents=documents, as_of=timezone.localdate(), email=client.email or "",
                               webhook_url=vendor_webhook_url(submission.vendor))


# --- sending -------------------------------------------------------------------------------------

def submission_checks_run(*, submission_id: int) -> Submission | None:
    """Send a submission still being checked to its vendor (submission_vendor_start): the built-in
    checks' report is recorded at once; an external vendor's result comes later. None when there is
    nothing to do (already recorded or sent, gone, or the vendor is down and it is tried again)."""
    return submission_vendor_start(submission_id=submission_id)


def submission_vendor_start(*, submission_id: int) -> Submission | None:
    """Send a submission still being checked to its vendor; None when there is nothing to do (it was
    decided, already sent, is gone, or the vendor could not be reached: then it is tried again)."""
    submission = Submission.objects.select_related("client", "client__brand").filter(pk=submission_id).first()
    if submission is None or submission.status != SubmissionStatus.CHECKING or submission.vendor_ref:
        return None
    if submission.vendor == BUILTIN_VENDOR:
        # The built-in checks: offline and synchronous; their Report is recorded as it always was.
        from kyc.services import submission_checks_record

        start = vendor_get(BUILTIN_VENDOR).start(verification_request(submission))
        assert start.result is not None and start.result.report is not None  # noqa: S101 - synchronous by design
        with transaction.atomic():
            locked = submission_locked(submission_id)
            if locked.status != SubmissionStatus.CHECKING:
                return None
            return submission_checks_record(submission=locked, report=start.result.report)
    try:
        adapter = vendor_get(submission.vendor)
        start = adapter.start(verification_request(submission))
    except (VendorError, KycError) as exc:
        _start_failed(submission_id, exc)
        return None
    with transaction.atomic():
        locked = submission_locked(submission_id)
        if not locked.vendor_ref:
            locked.vendor_ref = start.reference[:100]
            locked.vendor_next_at = timezone.now() + vendor_wait()
            locked.save(update_fields=["vendor_ref", "vendor_next_at"])
            KycDecision.objects.create(submission=locked, action=DecisionAction.VENDOR_SENT,
                                       evidence={"vendor": locked.vendor, "reference": locked.vendor_ref,
                                                 "attempts": locked.vendor_attempts + 1})
            audit_record(action="kyc.vendor_sent", obj=locked, actor=None, after={
                "client": str(locked.client.code), "vendor": locked.vendor, "reference": locked.vendor_ref})
        if start.result is not None:
            vendor_result_apply(submission=locked, result=start.result)
        return locked


@transaction.atomic
def _start_failed(submission_id: int, error: Exception) -> None:
    locked = submission_locked(submission_id, related=())
    locked.vendor_attempts = min(locked.vendor_attempts + 1, 32000)
    locked.vendor_next_at = timezone.now() + _retry_after(locked.vendor_attempts)
    locked.save(update_fields=["vendor_attempts", "vendor_next_at"])
    logger.warning("the KYC vendor could not be reached; the submission stays pending and is sent again later",
                   extra={"submission": str(locked.code), "vendor": locked.vendor,
                          "attempts": locked.vendor_attempts, "error": str(error)[:300]})


# --- results -------------------------------------------------------------------------------------

def submission_for_vendor_ref(*, vendor: str, reference: str, external_ref: str = "") -> Submission | None:
    """The submission a vendor's notification is about, locked: by the vendor's reference, or by our
    own (the submission's code, echoed by the vendor) while the reference is not stored yet."""
    found = None
    if reference:
        found = Submission.objects.filter(vendor=vendor, vendor_ref=reference).values_list("pk", flat=True).first()
    if found is None and external_ref:
        try:
            code = uuid.UUID(external_ref)
        except ValueError:
            return None
        found = (Submission.objects.filter(vendor=vendor, code=code)
                 .filter(Q(vendor_ref="") | Q(vendor_ref=reference)).values_list("pk", flat=True).first())
    if found is None:
        return None
    locked = submission_locked(found, related=())  # after its client's row (crm.models.locks)
    return locked if locked.vendor_ref in {"", reference} else None


@transaction.atomic
def vendor_result_apply(*, submission: Submission, result: VendorResult) -> Submission:
    """Apply one vendor result to `submission` (see the module's docstring); a copy, an older
    result or a pending one changes nothing but the poller's next look."""
    from kyc.services import submission_checks_record

    submission = submission_locked(submission.pk)
    fields: list[str] = []
    if result.reference and not submission.vendor_ref:
        submission.vendor_ref, fields = result.reference[:100], [*fields, "vendor_ref"]
    if not result.final:
        if submission.status == SubmissionStatus.CHECKING:
            submission.vendor_next_at, fields = timezone.now() + vendor_wait(), [*fields, "vendor_next_at"]
        if fields:
            submission.save(update_fields=fields)
        return submission
    if submission.vendor_result is not None and result.sequence <= submission.vendor_sequence:
        if fields:
            submission.save(update_fields=fields)
        return submission  # already applied, or older than what was
    submission.vendor_sequence, submission.vendor_reason = result.sequence, result.reason[:500]
    submission.vendor_result = dict(result.raw) or {"outcome": str(result.outcome), "reason": result.reason}
    submission.save(update_fields=[*fields, "vendor_sequence", "vendor_reason", "vendor_result"])
    if submission.status == SubmissionStatus.CHECKING:
        return submission_checks_record(submission=submission, report=result.as_report(submission.vendor))
    return _result_changed(submission, result)


def _evidence(submission: Submission, result: VendorResult) -> dict[str, Any]:
    return {"vendor": submission.vendor, "reference": submission.vendor_ref, "outcome": str(result.outcome),
            "reason": result.reason, "sequence": result.sequence,
            "checks": [{"name": c.name, "outcome": str(c.outcome), "evidence": dict(c.evidence)} for c in result.checks]}


def _result_changed(submission: Submission, result: VendorResult) -> Submission:
    """A result for a submission already decided (or waiting for an officer)."""
    from kyc.services import _profile_locked, _status_set

    client = submission.client
    profile = _profile_locked(client)
    latest = Submission.objects.filter(client=client).order_by("-submitted_at", "-id").values_list("pk", flat=True) \
        .first() == submission.pk
    evidence = _evidence(submission, result)
    report = result.as_report(submission.vendor)
    withdrawn = (submission.status == SubmissionStatus.APPROVED and profile.status == KycStatus.APPROVED
                 and result.outcome in (VendorOutcome.REJECT, VendorOutcome.REVIEW))
    second_look = (submission.status == SubmissionStatus.REJECTED and profile.status == KycStatus.REJECTED
                   and profile.can_resubmit and result.outcome in (VendorOutcome.APPROVE, VendorOutcome.REVIEW))
    if latest and (withdrawn or second_look):
        before = {"submission": submission.status, "kyc_status": profile.status}
        now = timezone.now()
        policy = kyc_policy_for(brand=client.brand)
        SUBMISSION_STATES.move(submission, SubmissionStatus.REVIEW, via=REOPEN_ROUTE, save=(), also={
            "decided_at": None, "reviewer": None, "claimed_by": None, "claimed_at": None,
            # Two officers again if high-risk.
            "first_approval_by": None, "first_approved_at": None,
            "due_at": now + timedelta(hours=policy.review_sla_hours),
            "report": report.as_dict(), "auto_decision": str(report.decision),
            "problems": [c.name for c in report.problems][:50], "reason": result.reason[:2000]})
        transaction.on_commit(queue_figures_changed)
        reason = f"vendor {submission.vendor}: {result.outcome}" + (f" ({result.reason})" if result.reason else "")
        _status_set(profile, KycStatus.PENDING, actor=None, reason=reason, submission=submission, reopen=withdrawn)
        KycDecision.objects.create(submission=submission, action=DecisionAction.VENDOR_REOPENED,
                                   reason=result.reason[:2000], evidence={**evidence, "before": before})
        audit_record(action="kyc.vendor_reopen", obj=submission, actor=None, before=before,
                     after={"submission": SubmissionStatus.REVIEW, "kyc_status": KycStatus.PENDING, **evidence},
                     reason=reason[:500])
        emit("kyc.reopened", client=client, actor=None, data={
            "vendor": submission.vendor, "outcome": str(result.outcome), "reason": result.reason[:500],
            "previous": str(before["submission"])})
        return submission
    if submission.status == SubmissionStatus.REVIEW:
        submission.report, submission.auto_decision = report.as_dict(), str(report.decision)
        submission.problems = [c.name for c in report.problems][:50]
        submission.save(update_fields=["report", "auto_decision", "problems"])
    KycDecision.objects.create(submission=submission, action=DecisionAction.VENDOR_UPDATE,
                               reason=result.reason[:2000], evidence=evidence)
    audit_record(action="kyc.vendor_update", obj=submission, actor=None, after=evidence)
    return submission


# --- lost webhooks and unreachable vendors -------------------------------------------------------

@dataclass(frozen=True)
class ResolveReport:
    sent: int = 0
    resolved: int = 0
    waiting: int = 0
    failed: int = 0


def vendor_checks_resolve_due(*, now: datetime | None = None, limit: int = 200) -> ResolveReport:
    """The poller: each external check still open whose time has come is sent again (never sent:
    the vendor was down) or looked up by its reference (no webhook came). Each is its own
    transaction; a vendor still down is tried again later."""
    now = now or timezone.now()
    due = list(Submission.objects.filter(status=SubmissionStatus.CHECKING, vendor_next_at__lte=now)
               .exclude(vendor=BUILTIN_VENDOR).order_by("vendor_next_at", "id").values_list("pk", "vendor_ref")[:limit])
    sent = resolved = waiting = failed = 0
    for pk, reference in due:
        if not reference:
            if submission_vendor_start(submission_id=pk) is not None:
                sent += 1
            else:
                failed += 1
            continue
        outcome = submission_vendor_poll(submission_id=pk)
        resolved += outcome == "resolved"
        waiting += outcome == "waiting"
        failed += outcome == "failed"
    return ResolveReport(sent=sent, resolved=resolved, waiting=waiting, failed=failed)


def submission_vendor_poll(*, submission_id: int) -> str:
    """Look one sent submission's result up at its vendor: "resolved", "waiting" or "failed"."""
    submission = Submission.objects.filter(pk=submission_id).first()
    if submission is None or submission.status != SubmissionStatus.CHECKING or not submission.vendor_ref:
        return "skipped"
    try:
        result = vendor_get(submission.vendor).fetch_result(submission.vendor_ref)
    except (VendorError, KycError) as exc:
        _start_failed(submission_id, exc)
        return "failed"
    applied = vendor_result_apply(submission=submission, result=result)
    return "resolved" if applied.status != SubmissionStatus.CHECKING else "waiting"


__all__ = ["ResolveReport", "submission_for_vendor_ref", "submission_vendor_poll", "submission_vendor_start",
           "vendor_checks_resolve_due", "vendor_result_apply", "vendor_webhook_url", "verification_request"]
