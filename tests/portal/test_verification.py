"""The verification journey in the trader's room: address, documents, the live status, the client's own
documents and the dashboard's panel. States are reached through the kyc services."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.lib.fieldcrypt import keyed_hash
from kyc.models import Document, KycProfile, KycStatus, Submission, SubmissionStatus
from tests.kyc.conftest import pdf, png, report
from tests.portal.conftest import sign_in

URL = "/portal/verification/"
HINT = "your identity document has expired"  # an English message id with an Arabic translation


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"
    return settings.KYC_STORAGE_DIR


@pytest.fixture
def me(http, registered):
    """The registered client, signed in."""
    assert sign_in(http, registered.brand).status_code == 302
    return registered


@pytest.fixture
def officer(registered):
    from crm.models import RoleCode
    from tests.factories import make_user

    return make_user(role_code=RoleCode.COMPLIANCE, brand=registered.brand, full_name="Olga Officer")


def save_address(client):
    from kyc.services import kyc_profile_save

    kyc_profile_save(client=client, actor=None, address_line1="12 Harbour Road", city="London", postcode="E14 5AB",
                     country="GB")


def send(client):
    from kyc.services import DocumentIn, submission_create

    return submission_create(client=client, documents=[
        DocumentIn(kind="passport", filename="passport.png", data=png(f"P {client.pk}"), field="identity"),
        DocumentIn(kind="utility_bill", filename="bill.pdf", data=pdf(f"B {client.pk}"), field="address")])


def files(**overrides):
    data = {"action": "documents", "identity_kind": "passport", "address_kind": "utility_bill",
            "identity": SimpleUploadedFile("passport.png", png("PASSPORT"), "image/png"),
            "address": SimpleUploadedFile("bill.pdf", pdf("BILL"), "application/pdf")}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def stored(settings) -> list:
    root = settings.KYC_STORAGE_DIR
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- access ----------------------------------------------------------------------------------------------

def test_it_sends_a_signed_out_visitor_to_the_login(http, registered):
    response = http.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


# --- 1. the address --------------------------------------------------------------------------------------

def test_it_starts_with_the_address_and_names_each_bad_field(me, http):
    page = http.get(URL)
    assert page.status_code == 200
    assert 'id="step-address"' in page.content.decode()
    response = http.post(URL, {"action": "address", "address_line1": "", "city": "London", "postcode": "@@",
                               "country": "GB"})
    assert response.status_code == 400
    body = text(response)
    assert "This field is required." in body
    assert "Enter a postcode of letters, digits, spaces and hyphens." in body
    assert not KycProfile.objects.filter(client=me.client).exclude(address_hash="").exists()


def test_a_saved_address_leads_to_the_documents(me, http):
    response = http.post(URL, {"action": "address", "address_line1": "12  Harbour Road", "address_line2": "",
                               "city": "London", "postcode": "e14 5ab", "country": "GB"})
    assert response.status_code == 302
    profile = KycProfile.objects.get(client=me.client)
    assert (profile.address_line1, profile.postcode, profile.country) == ("12 Harbour Road", "E14 5AB", "GB")
    page = http.get(URL)
    assert 'id="step-documents"' in page.content.decode()
    assert 'enctype="multipart/form-data"' in page.content.decode()


def test_the_documents_step_waits_for_the_address(me, http):
    assert 'id="step-address"' in http.get(URL + "?step=documents").content.decode()


# --- 3. the documents ------------------------------------------------------------------------------------

def test_a_passport_and_a_bill_are_sent_for_checking(me, http, settings):
    save_address(me.client)
    response = http.post(URL, files())
    assert response.status_code == 302, text(response)[:3000]
    assert response["Location"] == URL + "?step=status"
    [submission] = Submission.objects.filter(client=me.client)
    assert submission.status == SubmissionStatus.CHECKING
    assert sorted(submission.documents.values_list("kind", flat=True)) == ["passport", "utility_bill"]
    assert KycProfile.objects.get(client=me.client).status == KycStatus.PENDING
    page = text(http.get(response["Location"]))
    assert "Checking your documents…" in page
    assert 'hx-trigger="every 2s"' in page


def test_an_identity_card_needs_both_sides(me, http):
    save_address(me.client)
    response = http.post(URL, files(identity_kind="id_card"))
    assert response.status_code == 400
    assert "Choose the file of the back of your identity card." in text(response)
    response = http.post(URL, files(identity_kind="id_card", identity_back=SimpleUploadedFile(
        "back.png", png("BACK"), "image/png")))
    assert response.status_code == 302
    sides = set(Document.objects.filter(client=me.client, kind="id_card").values_list("side", flat=True))
    assert sides == {"front", "back"}


@pytest.mark.parametrize(("field", "upload", "message"), [
    ("identity", SimpleUploadedFile("passport.zip", b"PK\x03\x04" + b"x" * 200, "image/png"),
     "Only PNG, JPEG or PDF files are accepted; this file is a ZIP archive or an Office document."),
    ("identity", SimpleUploadedFile("passport.png", b"\x89PNG\r\n\x1a\n" + b"broken" * 20, "image/png"),
     "The image is damaged and cannot be opened."),
    ("address", SimpleUploadedFile("bill.pdf", b"%PDF-1.4 not really", "application/pdf"),
     "The PDF is damaged or protected and cannot be opened."),
    ("address", SimpleUploadedFile("bill.pdf", b"", "application/pdf"), "The file is empty."),
])
def test_a_refused_file_is_named_next_to_its_field_and_nothing_is_stored(me, http, settings, field, upload,
                                                                       message):
    save_address(me.client)
    upload.seek(0)
    response = http.post(URL, files(**{field: upload}))
    assert response.status_code == 400
    body = response.content.decode()
    # The message sits inside the field's own block.
    block = re.search(rf'<div class="p-field has-error">\s*<label for="id_{field}">.*?</div>', body, re.S)
    assert block is not None, body[:4000]
    assert message in block.group(0).replace("&#x27;", "'")
    assert not Submission.objects.filter(client=me.client).exists()
    assert not Document.objects.filter(client=me.client).exists()
    assert stored(settings) == []
    assert KycProfile.objects.get(client=me.client).status == KycStatus.UNVERIFIED


def test_a_file_over_the_limit_is_refused(me, http, settings):
    settings.KYC_MAX_UPLOAD_BYTES = 1000
    save_address(me.client)
    response = http.post(URL, files(identity=SimpleUploadedFile("big.png", png("BIG", size=(900, 900)), "image/png")))
    assert response.status_code == 400
    assert "The file is larger than" in text(response)
    assert stored(settings) == []


def test_documents_cannot_be_sent_twice_while_checked(me, http):
    save_address(me.client)
    send(me.client)
    response = http.post(URL, files())
    assert response.status_code == 302
    assert Submission.objects.filter(client=me.client).count() == 1


# --- 4. the status -----------------------------------------------------------------------------------------

def status(http) -> str:
    response = http.get(reverse("portal:kyc_status"))
    assert response.status_code == 200
    return text(response)


def test_the_status_partial_follows_the_checks_until_decided(me, http):
    from kyc.services import submission_checks_record

    save_address(me.client)
    submission = send(me.client)
    partial = status(http).strip()
    assert partial.startswith('<section id="kyc-status"')
    assert "<html" not in partial
    assert "Checking your documents…" in partial and 'hx-trigger="every 2s"' in partial
    submission_checks_record(submission=submission, report=report(decision="approve"))
    partial = status(http)
    assert "You are verified" in partial
    assert "hx-trigger" not in partial


def test_under_review_the_client_sees_the_expected_time(me, http):
    from kyc.services import submission_checks_record

    save_address(me.client)
    submission = submission_checks_record(submission=send(me.client), report=report(decision="review"))
    partial = status(http)
    assert "Your documents are being reviewed" in partial
    assert "within 24 hours" in partial
    assert submission.due_at.strftime("%Y") in partial
    assert "hx-trigger" in partial


def test_a_retryable_rejection_shows_each_hint_in_the_clients_language_and_a_resubmit_button(me, http, officer):
    from kyc.services import submission_checks_record, submission_reject
    from portal.services import portal_profile_update

    portal_profile_update(login=me.login, phone=me.client.phone, language="ar")
    me.client.refresh_from_db()
    save_address(me.client)
    submission = submission_checks_record(submission=send(me.client), report=report(decision="review"))
    submission_reject(submission=submission, actor=officer, reason="The name does not match.", can_resubmit=True,
                      hints=[HINT])
    page = text(http.get(URL + "?lang=ar"))
    assert 'id="hints"' in page
    assert HINT not in page  # shown in Arabic
    [hint] = Submission.objects.get(pk=submission.pk).client_hints
    assert hint in page and hint != HINT
    assert 'id="resubmit"' in page
    # Resubmitting opens the documents step again, and a new submission is accepted.
    assert 'id="step-documents"' in text(http.get(URL + "?step=documents"))
    assert http.post(URL, files()).status_code == 302
    assert Submission.objects.filter(client=me.client).count() == 2


def test_a_final_rejection_says_to_contact_support_and_refuses_documents(me, http, officer):
    from kyc.services import submission_checks_record, submission_reject

    save_address(me.client)
    submission = submission_checks_record(submission=send(me.client), report=report(decision="review"))
    submission_reject(submission=submission, actor=officer, reason="Fraud", can_resubmit=False)
    page = text(http.get(URL + "?step=documents"))
    assert "We cannot verify you" in page and "contact our support team" in page
    assert 'id="step-documents"' not in page
    http.post(URL, files())
    assert Submission.objects.filter(client=me.client).count() == 1


def test_more_information_shows_the_officers_message_and_takes_documents(me, http, officer):
    from kyc.services import submission_checks_record, submission_request_info

    save_address(me.client)
    submission = submission_checks_record(submission=send(me.client), report=report(decision="review"))
    submission_request_info(submission=submission, actor=officer, message="Please send a bank statement instead.")
    page = text(http.get(URL))
    assert "Please send a bank statement instead." in page
    assert 'id="documents-form"' in page
    response = http.post(URL, files(address_kind="bank_statement"))
    assert response.status_code == 302
    assert Submission.objects.filter(client=me.client).count() == 2
    assert "Checking your documents…" in status(http)


# --- the client's own documents ----------------------------------------------------------------------------

def test_a_client_sees_their_own_documents_and_nobody_elses(me, http, brand):
    from portal.models import ClientLogin
    from portal.services import portal_email_verify, verification_token

    save_address(me.client)
    submission = send(me.client)
    mine = submission.documents.get(kind="passport")
    page = http.get(URL).content.decode()
    assert reverse("portal:kyc_document", args=[mine.code]) in page
    response = http.get(reverse("portal:kyc_document", args=[mine.code]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")

    # Another client of the same brand, with documents of their own.
    from tests.portal.conftest import form_data

    http.post(reverse("portal:register", args=[brand.code]), form_data(email="other@example.com", phone="+442071838222"))
    other = ClientLogin.objects.get(email_hash=keyed_hash("other@example.com", kind="email"))
    portal_email_verify(token=verification_token(other))
    save_address(other.client)
    theirs = send(other.client).documents.get(kind="passport")
    assert http.get(reverse("portal:kyc_document", args=[theirs.code])).status_code == 404
    assert http.get(reverse("portal:kyc_document", args=["not-a-code"])).status_code == 404
    # Signed out: the login, not the file.
    http.post(reverse("portal:logout"))
    assert http.get(reverse("portal:kyc_document", args=[mine.code])).status_code == 302


# --- the dashboard ----------------------------------------------------------------------------------------

def panel(http) -> str:
    page = text(http.get(reverse("portal:home")))
    match = re.search(r'<section class="p-card p-panel" id="kyc-panel".*?</section>', page)
    assert match is not None
    return match.group(0)


def test_the_dashboard_panel_follows_the_status_with_a_call_to_action(me, http, officer):
    from kyc.services import submission_approve, submission_checks_record

    assert "Verify your identity" in panel(http)
    save_address(me.client)
    submission = send(me.client)
    assert "Checking your documents…" in panel(http)
    submission = submission_checks_record(submission=submission, report=report(decision="review"))
    assert "Your documents are being reviewed" in panel(http)
    submission_approve(submission=submission, actor=officer)
    assert "Your identity is verified" in panel(http)


def test_the_dashboard_warns_before_the_passport_expires(me, http):
    from kyc.services import submission_checks_record

    save_address(me.client)
    expires = date.today() + timedelta(days=10)
    submission_checks_record(submission=send(me.client), report=report(decision="approve", expiry=expires))
    html = panel(http)
    assert "expiry-warning" in html
    assert "Your passport expires on" in html
    assert str(expires.year) in html


def test_no_expiry_warning_far_from_the_date(me, http):
    from kyc.services import submission_checks_record

    save_address(me.client)
    submission_checks_record(submission=send(me.client), report=report(decision="approve"))
    assert "expiry-warning" not in panel(http)


def test_the_journey_page_renders_right_to_left_in_arabic(me, http):
    page = http.get(URL + "?lang=ar").content.decode()
    assert 'dir="rtl"' in page
    assert "<script>" not in page and "style=" not in page


# --- 2. the appropriateness questionnaire ------------------------------------------------------------------

@pytest.fixture
def quest(registered):
    from kyc.questionnaire import questionnaire_draft_save, questionnaire_version_publish
    from kyc.questionnaire_demo import demo_content

    draft = questionnaire_draft_save(actor=None, brand=registered.brand, content=demo_content())
    return questionnaire_version_publish(actor=None, version=draft)


def answers(values):
    return {"action": "questionnaire", **values}


def test_the_questionnaire_comes_after_the_address_and_its_result_shows_the_warnings_and_the_leverage(
        me, http, quest):
    from kyc.questionnaire_demo import ANSWERS_WITH_WARNING

    save_address(me.client)
    page = text(http.get(URL))
    assert 'id="step-questionnaire"' in page
    assert "About your experience" in page
    response = http.post(URL, answers(ANSWERS_WITH_WARNING))
    assert response.status_code == 302
    page = text(http.get(response["Location"]))
    assert 'data-level="appropriate_with_warning"' in page
    assert '<dd class="p-num" id="leverage-limit">1:30</dd>' in page
    assert "your leverage is limited" in page and "Trade only with money you can afford to lose." in page
    # Then the documents.
    assert 'id="step-documents"' in text(http.get(URL))


def test_an_unanswered_question_is_named_and_nothing_is_recorded(me, http, quest):
    from kyc.models import QuestionnaireResponse
    from kyc.questionnaire_demo import ANSWERS_APPROPRIATE

    save_address(me.client)
    partial = {k: v for k, v in ANSWERS_APPROPRIATE.items() if k != "stop_out"}
    response = http.post(URL, answers(partial))
    assert response.status_code == 400
    body = response.content.decode()
    block = re.search(r'data-question="stop_out">.*?</fieldset>', body, re.S)
    assert block is not None and "This field is required." in block.group(0)
    assert not QuestionnaireResponse.objects.filter(client=me.client).exists()


def test_the_questionnaire_is_in_arabic_on_an_arabic_page(me, http, quest):
    save_address(me.client)
    page = http.get(URL + "?lang=ar").content.decode()
    assert 'class="p-questionnaire" lang="ar" dir="rtl"' in page
    assert "لا أعرف" in page


def test_a_brand_without_a_questionnaire_has_no_questionnaire_step(me, http):
    save_address(me.client)
    page = text(http.get(URL))
    assert "About your experience" not in page
    assert 'id="step-documents"' in page
