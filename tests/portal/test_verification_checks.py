"""The journey's pages with the real checks engine (OCR and MRZ of generated documents): a clean passport
and bill are approved without an officer; a passport in another name goes to review."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.lib.fieldcrypt import keyed_hash
from kyc.models import KycStatus, Submission, SubmissionStatus
from tests.portal.conftest import sign_in
from tests.portal.kyc_docs import CITY, POSTCODE, STREET, bill_pdf, holder, passport_png

URL = "/portal/verification/"
BIRTH = date(1988, 3, 14)


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def laura(http, brand, register):
    from portal.models import ClientLogin
    from portal.services import portal_email_verify, verification_token

    register(brand, first_name="Laura", last_name="Fischer", email="laura.fischer@example.com",
             date_of_birth=BIRTH.isoformat())
    login = ClientLogin.objects.get(email_hash=keyed_hash("laura.fischer@example.com", kind="email"))
    portal_email_verify(token=verification_token(login))
    assert sign_in(http, brand, email="laura.fischer@example.com").status_code == 302
    http.post(URL, {"action": "address", "address_line1": STREET, "city": CITY, "postcode": POSTCODE, "country": "GB"})
    return login.client


def send_and_check(http, client, passport: bytes, bill: bytes) -> Submission:
    from kyc.tasks import submission_check

    response = http.post(URL, {"action": "documents", "identity_kind": "passport", "address_kind": "utility_bill",
                               "identity": SimpleUploadedFile("passport.png", passport, "image/png"),
                               "address": SimpleUploadedFile("bill.pdf", bill, "application/pdf")})
    assert response.status_code == 302, response.content.decode()[:3000]
    submission = Submission.objects.get(client=client, status=SubmissionStatus.CHECKING)
    submission_check.run(submission.pk)  # the task's body, as the worker runs it
    submission.refresh_from_db()
    return submission


def test_a_clean_passport_and_bill_are_approved_by_the_checks(laura, http):
    submission = send_and_check(http, laura, passport_png(holder("Laura", "Fischer", BIRTH)), bill_pdf("Laura Fischer"))
    assert submission.status == SubmissionStatus.APPROVED, submission.report
    assert submission.reviewer_id is None
    page = http.get(URL).content.decode()
    assert "You are verified" in page


def test_a_passport_in_another_name_goes_to_review(laura, http):
    submission = send_and_check(http, laura, passport_png(holder("Anna", "Eriksson", BIRTH)), bill_pdf("Laura Fischer"))
    assert submission.status == SubmissionStatus.REVIEW, submission.report
    assert "name_match" in submission.problems
    assert laura.kyc_profile.status == KycStatus.PENDING
    assert "Your documents are being reviewed" in http.get(URL).content.decode()
