"""A KYC submission's status moves through its state machine (kyc.models.SUBMISSION_STATES): decided
once by the checks or an officer, reopened for review only by a vendor's later result (the route),
and a request for more information is an end (the client's next documents are a new submission)."""

from __future__ import annotations

import pytest

from kyc.exceptions import SubmissionTransitionRefused
from kyc.models import REOPEN_ROUTE, SUBMISSION_STATES, Submission, SubmissionStatus
from kyc.services import ReviewRefused, submission_approve, submission_request_info
from tests.kyc.conftest import submit_for_review

pytestmark = pytest.mark.django_db


def test_a_submission_waiting_for_more_information_is_refused_an_approval_by_any_path(kyc_world):
    submission = submit_for_review(kyc_world.client)
    asked = submission_request_info(submission=submission, actor=kyc_world.officer, message="Send a clearer photo.")
    assert asked.status == SubmissionStatus.INFO_REQUESTED

    with pytest.raises(ReviewRefused):  # the officer's page: not waiting for review
        submission_approve(submission=asked, actor=kyc_world.officer2)
    for via in (None, REOPEN_ROUTE):
        with pytest.raises(SubmissionTransitionRefused) as caught:
            SUBMISSION_STATES.move(asked, SubmissionStatus.APPROVED, via=via, save=())
        assert caught.value.message == "A submission that is more information requested cannot become approved."
        assert caught.value.status_code == 409
    assert Submission.objects.get(pk=submission.pk).status == SubmissionStatus.INFO_REQUESTED


def test_an_approved_submission_goes_back_to_review_only_by_the_vendor_route(kyc_world):
    submission = submit_for_review(kyc_world.client)
    approved = submission_approve(submission=submission, actor=kyc_world.officer)
    assert approved.status == SubmissionStatus.APPROVED
    with pytest.raises(SubmissionTransitionRefused) as caught:
        SUBMISSION_STATES.move(approved, SubmissionStatus.REVIEW, save=())
    assert caught.value.message == "A submission that is approved cannot become waiting for review."
    assert SUBMISSION_STATES.sources(SubmissionStatus.REVIEW, via=REOPEN_ROUTE) == [
        SubmissionStatus.APPROVED, SubmissionStatus.CHECKING, SubmissionStatus.REJECTED]
