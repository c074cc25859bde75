"""The verification status moves only along the allowed transitions, through the services, and each
move leaves a status-change row, an audit row and its domain event."""

from __future__ import annotations

import pytest

from crm.models import AuditLog, Event
from kyc.exceptions import KycError, KycTransitionRefused
from kyc.models import TRANSITIONS, KycProfile, KycStatus, KycStatusChange, SubmissionStatus
from kyc.services import (
    SubmissionRefused,
    kyc_expiry_run,
    submission_approve,
    submission_checks_record,
    submission_reject,
)
from tests.kyc.conftest import report, submit, submit_for_review

pytestmark = pytest.mark.django_db

ALL = [s.value for s in KycStatus]


@pytest.mark.parametrize("old", ALL)
@pytest.mark.parametrize("new", ALL)
def test_the_model_guard_allows_exactly_the_listed_transitions(old, new):
    profile = KycProfile(status=old)
    allowed = new in TRANSITIONS[old]
    assert (profile.transition_refusal(new) is None) == allowed


def test_a_final_rejection_cannot_go_back_to_pending():
    assert KycProfile(status=KycStatus.REJECTED, can_resubmit=False).transition_refusal(KycStatus.PENDING)
    assert KycProfile(status=KycStatus.REJECTED, can_resubmit=True).transition_refusal(KycStatus.PENDING) is None


def test_status_set_refuses_a_move_outside_the_machine_and_writes_nothing(kyc_world):
    profile = KycProfile.objects.get(client=kyc_world.client)
    with pytest.raises(KycTransitionRefused):
        profile.status_set(KycStatus.APPROVED, actor=None)
    assert KycStatusChange.objects.count() == 0
    assert KycProfile.objects.get(pk=profile.pk).status == KycStatus.UNVERIFIED


def _statuses(client):
    return list(KycStatusChange.objects.filter(profile__client=client).order_by("id")
                .values_list("from_status", "to_status"))


def test_unverified_pending_approved_expired_pending_through_the_services(kyc_world):
    from datetime import date, timedelta

    client = kyc_world.client
    submission = submit(client)
    assert KycProfile.objects.get(client=client).status == KycStatus.PENDING
    assert Event.objects.filter(client=client, name="kyc.submitted").get().data == {"documents": 2}
    expiry = date.today() + timedelta(days=10)
    submission_checks_record(submission=submission, report=report(expiry=expiry))
    profile = KycProfile.objects.get(client=client)
    assert profile.status == KycStatus.APPROVED and profile.expires_on == expiry
    approved = Event.objects.get(client=client, name="kyc.approved")
    assert approved.data == {"level": "full", "reviewer": None}
    kyc_expiry_run(today=expiry)
    assert KycProfile.objects.get(client=client).status == KycStatus.EXPIRED
    submit(client, tag="again")
    assert _statuses(client) == [("unverified", "pending"), ("pending", "approved"), ("approved", "expired"),
                                 ("expired", "pending")]
    assert AuditLog.objects.filter(action="kyc.status_change", object_id=str(client.code)).count() == 4


def test_pending_to_rejected_retryable_then_pending_again(kyc_world):
    client = kyc_world.client
    submission_checks_record(submission=submit(client), report=report(decision="reject"))
    profile = KycProfile.objects.get(client=client)
    assert profile.status == KycStatus.REJECTED and profile.can_resubmit
    rejected = Event.objects.get(client=client, name="kyc.rejected")
    assert rejected.data == {"reason": "document_not_expired", "reviewer": None, "can_resubmit": True}
    submit(client, tag="second")
    assert KycProfile.objects.get(client=client).status == KycStatus.PENDING


def test_a_final_rejection_refuses_the_next_submission_and_stores_nothing(kyc_world, _kyc_storage):
    client = kyc_world.client
    submission = submit_for_review(client)
    submission_reject(submission=submission, actor=kyc_world.officer, reason="Forged document", can_resubmit=False)
    files_before = sorted(p.name for p in _kyc_storage.rglob("*") if p.is_file())
    with pytest.raises(SubmissionRefused):
        submit(client, tag="again")
    assert sorted(p.name for p in _kyc_storage.rglob("*") if p.is_file()) == files_before
    assert client.kyc_submissions.count() == 1


@pytest.mark.parametrize("state", ["pending", "approved"])
def test_sending_documents_again_while_pending_or_approved_is_refused(kyc_world, state):
    client = kyc_world.client
    submission = submit(client)
    if state == "approved":
        submission_checks_record(submission=submission, report=report())
    with pytest.raises(SubmissionRefused):
        submit(client, tag="again")


def test_deciding_twice_is_refused(kyc_world):
    submission = submit_for_review(kyc_world.client)
    submission_approve(submission=submission, actor=kyc_world.officer)
    with pytest.raises(KycError):
        submission_reject(submission=submission, actor=kyc_world.officer, reason="x", can_resubmit=True)
    with pytest.raises(KycError):
        submission_checks_record(submission=submission, report=report())
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.APPROVED
