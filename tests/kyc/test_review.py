"""The compliance review: claims, four eyes, final and retryable rejections (the client is told what
to fix in their language), requests for information, duplicate flags, and the pages' permission trio."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.exceptions import NotAllowed, NotFound
from crm.models import AccessEvent, AuditLog, Event
from emails.models import OutboundEmail
from kyc.models import KycDecision, KycProfile, KycStatus, Submission, SubmissionStatus
from kyc.services import (
    ReviewRefused,
    submission_approve,
    submission_assign,
    submission_checks_record,
    submission_claim,
    submission_create,
    submission_reject,
    submission_request_info,
)
from tests.factories import make_client
from tests.kyc.conftest import documents, report, submit, submit_for_review
from tests.writes import written

pytestmark = pytest.mark.django_db


def test_a_review_decision_sends_the_submission_to_the_queue_with_the_failing_checks_named(kyc_world):
    submission = submit_for_review(kyc_world.client)
    assert submission.status == SubmissionStatus.REVIEW
    assert submission.problems == ["name_matches"]
    assert KycProfile.objects.get(client=kyc_world.client).status == KycStatus.PENDING
    assert submission.due_at - submission.submitted_at == __import__("datetime").timedelta(hours=24)


def test_four_eyes_the_same_officer_twice_is_refused_and_a_second_officer_approves(kyc_world):
    client = make_client(actor=kyc_world.agent, brand=kyc_world.brand, country="IR", email="risk@example.com")
    submission = submission_checks_record(submission=submission_create(client=client, documents=documents("risk")),
                                          report=report())
    assert submission.high_risk and submission.status == SubmissionStatus.REVIEW  # no automatic approval
    first = submission_approve(submission=submission, actor=kyc_world.officer)
    assert first.status == SubmissionStatus.REVIEW and first.first_approval_by == kyc_world.officer
    assert KycProfile.objects.get(client=client).status == KycStatus.PENDING
    assert not Event.objects.filter(client=client, name="kyc.approved").exists()
    with pytest.raises(ReviewRefused) as refused:
        submission_approve(submission=submission, actor=kyc_world.officer)
    assert refused.value.code == "kyc_four_eyes"
    done = submission_approve(submission=submission, actor=kyc_world.officer2)
    assert done.status == SubmissionStatus.APPROVED and done.reviewer == kyc_world.officer2
    assert KycProfile.objects.get(client=client).status == KycStatus.APPROVED
    assert list(KycDecision.objects.filter(submission=submission, action__in=["first_approval", "approve"])
                .values_list("action", "officer")) == [("first_approval", kyc_world.officer.pk),
                                                       ("approve", kyc_world.officer2.pk)]
    event = Event.objects.get(client=client, name="kyc.approved")
    assert event.data["reviewer"]["code"] == str(kyc_world.officer2.code)


def test_a_claimed_submission_is_decided_only_by_its_officer(kyc_world):
    submission = submit_for_review(kyc_world.client)
    submission_claim(submission=submission, actor=kyc_world.officer)
    with pytest.raises(ReviewRefused):
        submission_approve(submission=submission, actor=kyc_world.officer2)
    submission_assign(submission=submission, actor=kyc_world.officer, assignee=kyc_world.officer2)
    assert submission_approve(submission=submission, actor=kyc_world.officer2).status == SubmissionStatus.APPROVED


def test_a_retryable_rejection_tells_the_client_what_to_fix_in_their_language(kyc_world):
    client = make_client(actor=kyc_world.agent, brand=kyc_world.brand, email="layla@example.com", language="ar",
                         country="AE")
    submission = submission_checks_record(submission=submission_create(client=client, documents=documents("ar")),
                                          report=report(decision="reject", hint="Send a passport that has not expired."))
    assert submission.status == SubmissionStatus.REJECTED and submission.reviewer is None
    email = OutboundEmail.objects.get(client=client)
    assert email.language == "ar" and email.template_key == "kyc_resubmit"
    assert "Send a passport that has not expired." in email.body_text or "جواز" in email.body_text
    assert KycProfile.objects.get(client=client).can_resubmit


def test_an_officer_rejects_retryable_with_the_failing_checks_hints_or_final(kyc_world):
    submission = submit_for_review(kyc_world.client)
    submission_reject(submission=submission, actor=kyc_world.officer, reason="The photo is blurred.",
                      can_resubmit=True, hints=["Send a sharper photo of your passport."])
    email = OutboundEmail.objects.get(client=kyc_world.client)
    assert "The photo is blurred." in email.body_text and "Send a sharper photo" in email.body_text
    event = Event.objects.get(client=kyc_world.client, name="kyc.rejected")
    assert event.data == {"reason": "The photo is blurred.", "reviewer": {"code": str(kyc_world.officer.code),
                                                                        "name": "Priya Officer"}, "can_resubmit": True}
    second = submit_for_review(kyc_world.client)
    assert second.resubmission_of_id == submission.pk
    submission_reject(submission=second, actor=kyc_world.officer, reason="Forged.", can_resubmit=False)
    assert KycProfile.objects.get(client=kyc_world.client).can_resubmit is False
    assert OutboundEmail.objects.filter(client=kyc_world.client, template_key="kyc_rejected").exists()


def test_a_rejection_needs_a_reason_naming_the_field(kyc_world):
    submission = submit_for_review(kyc_world.client)
    with pytest.raises(Exception) as refused:  # noqa: PT011 - ValidationFailed, checked below
        submission_reject(submission=submission, actor=kyc_world.officer, reason="  ", can_resubmit=True)
    assert "reason" in refused.value.fields


def test_request_info_notifies_the_client_and_waits_for_the_resubmission(kyc_world):
    submission = submit_for_review(kyc_world.client)
    submission_request_info(submission=submission, actor=kyc_world.officer, message="Send the back of your card.")
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.INFO_REQUESTED
    assert KycProfile.objects.get(client=kyc_world.client).status == KycStatus.PENDING
    assert "Send the back of your card." in OutboundEmail.objects.get(client=kyc_world.client).body_text
    assert Event.objects.filter(client=kyc_world.client, name="kyc.info_requested").exists()
    again = submit(kyc_world.client, tag="more")
    assert again.resubmission_of_id == submission.pk and again.status == SubmissionStatus.CHECKING


def test_the_same_file_or_document_number_from_another_client_is_flagged(kyc_world):
    first = submission_checks_record(submission=submit(kyc_world.client, tag="same"), report=report(number="123456789"))
    assert first.status == SubmissionStatus.APPROVED
    other = make_client(actor=kyc_world.agent, brand=kyc_world.brand, email="other@example.com")
    second = submission_checks_record(submission=submission_create(client=other, documents=documents("same")),
                                      report=report(number="123 456 789"))
    assert second.status == SubmissionStatus.REVIEW
    assert "duplicate_file" in second.problems and "duplicate_document" in second.problems
    checks = {c["name"]: c for c in second.report["checks"] if c["outcome"] == "fail"}
    assert checks["duplicate_document"]["evidence"]["other_client"] == str(kyc_world.client.code)
    assert checks["duplicate_file"]["evidence"]["other_submission"] == str(first.code)


# --- pages and the permission trio --------------------------------------------------------------------

def test_queue_and_review_pages_officer_yes_agent_and_anonymous_no(kyc_world, client, login_verified):
    submission = submit_for_review(kyc_world.client)
    urls = [reverse("kyc_queue"), reverse("kyc_submission", args=[submission.code])]
    for url in urls:
        assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(kyc_world.agent)
    for url in urls:
        assert client.get(url).status_code == 404
    before = written(Submission, KycDecision)
    assert client.post(reverse("kyc_submission_action", args=[submission.code, "approve"])).status_code == 404
    assert written(Submission, KycDecision) == before
    login_verified(client, kyc_world.outsider)  # a compliance officer of another brand
    assert client.get(urls[1]).status_code == 404
    assert str(submission.code) not in client.get(urls[0]).content.decode()
    login_verified(client, kyc_world.officer)
    page = client.get(urls[0]).content.decode()
    assert f'data-submission="{submission.code}"' in page and "name_matches" in page
    review = client.get(urls[1]).content.decode()
    assert 'data-check="name_matches" data-outcome="fail"' in review and "check-failed" in review
    response = client.post(reverse("kyc_submission_action", args=[submission.code, "approve"]), {"note": "ok"})
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.APPROVED and submission.reviewer == kyc_world.officer


def test_rejecting_from_the_page_without_a_reason_names_the_field(kyc_world, client, login_verified):
    submission = submit_for_review(kyc_world.client)
    login_verified(client, kyc_world.officer)
    response = client.post(reverse("kyc_submission_action", args=[submission.code, "reject"]), {"reason": ""})
    assert response.status_code == 400 and 'name="reason"' in response.content.decode()
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.REVIEW


def test_document_view_is_for_officers_only_and_every_view_is_recorded(kyc_world, client, login_verified):
    submission = submit_for_review(kyc_world.client)
    document = submission.documents.get(kind="passport")
    url = reverse("kyc_document", args=[document.code])
    assert client.get(url).status_code == 302
    client.force_login(kyc_world.agent)  # owns the client but holds no KYC rights
    before = written()
    assert client.get(url).status_code == 404
    assert written() == before
    login_verified(client, kyc_world.outsider)
    assert client.get(url).status_code == 404
    login_verified(client, kyc_world.officer)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG") and response["Cache-Control"] == "private, no-store"
    assert AccessEvent.objects.filter(user=kyc_world.officer, client=kyc_world.client,
                                      detail__startswith="kyc document").count() == 1
    assert AuditLog.objects.filter(action="kyc.document_view", object_id=str(document.code)).count() == 1


def test_services_refuse_an_agent_and_an_officer_who_cannot_see_the_client(kyc_world):
    submission = submit_for_review(kyc_world.client)
    with pytest.raises(NotAllowed):
        submission_approve(submission=submission, actor=kyc_world.agent)
    with pytest.raises(NotFound):
        submission_approve(submission=submission, actor=kyc_world.outsider)


def test_the_portal_selector_gives_a_client_only_its_own_documents(kyc_world):
    from kyc.selectors import document_for_client

    submission = submit(kyc_world.client)
    document = submission.documents.first()
    assert document_for_client(client=kyc_world.client, code=document.code) == document
    other = make_client(actor=kyc_world.agent, brand=kyc_world.brand)
    with pytest.raises(NotFound):
        document_for_client(client=other, code=document.code)


def test_the_owner_agent_is_told_when_the_client_is_verified(kyc_world):
    from crm.events import dispatch_pending
    from crm.models import Notification

    submission = submit_for_review(kyc_world.client)
    submission_approve(submission=submission, actor=kyc_world.officer)
    dispatch_pending()
    [note] = Notification.objects.filter(user=kyc_world.agent, kind="kyc_approved")
    assert note.title == f"{kyc_world.client.full_name} is verified" and note.url.endswith("?tab=kyc")
    assert not Notification.objects.filter(user=kyc_world.officer, kind="kyc_approved").exists()
