"""Uploads refused with nothing stored, private storage, the daily expiry job (warnings once per
document, expiry on the day with the brand's holds, idempotent), the tab, the timeline, the API."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
import time_machine
from django.urls import reverse

from crm.exceptions import ValidationFailed
from crm.models import ApiKey, Event
from crm.views.ui.timeline import kind_for
from emails.models import OutboundEmail
from kyc.exceptions import UploadRefused
from kyc.models import Document, KycProfile, KycStatus, Submission
from kyc.selectors import withdrawal_block
from kyc.services import DocumentIn, kyc_expiry_run, submission_checks_record, submission_create
from tests.kyc.conftest import png, report, submit, submit_for_review
from tests.writes import written

pytestmark = pytest.mark.django_db


def test_a_bad_upload_is_refused_naming_the_field_and_nothing_is_stored(kyc_world, _kyc_storage):
    before = written(Submission, Document, KycProfile)
    docs = [DocumentIn(kind="passport", filename="passport.png", data=png(), field="identity"),
            DocumentIn(kind="utility_bill", filename="bill.exe", data=b"MZ\x90\x00 not a document", field="address")]
    with pytest.raises(UploadRefused) as refused:
        submission_create(client=kyc_world.client, documents=docs)
    assert "address" in refused.value.fields and "Windows program" in refused.value.fields["address"][0]
    assert written(Submission, Document, KycProfile) == before
    assert not _kyc_storage.exists() or not any(p.is_file() for p in _kyc_storage.rglob("*"))
    with pytest.raises(ValidationFailed) as incomplete:
        submission_create(client=kyc_world.client, documents=docs[:1])
    assert "address" in incomplete.value.fields
    assert written(Submission, Document, KycProfile) == before


def test_files_are_stored_privately_named_by_uuid_with_their_hash(kyc_world, _kyc_storage, settings):
    submission = submit(kyc_world.client)
    for document in submission.documents.all():
        assert document.original_name not in document.storage_name
        path = _kyc_storage / document.storage_name[:2] / document.storage_name
        assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
        import hashlib

        from kyc import storage
        from plumbing.envelope import MAGIC

        # Encrypted at rest with the brand's key (its wrapped data key beside it, as private), and
        # read back whole.
        assert path.read_bytes().startswith(MAGIC)
        key_file = path.with_name(document.storage_name + ".key")
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert hashlib.sha256(storage.file_read(document.storage_name)).hexdigest() == document.sha256
        assert not str(path).startswith(str(settings.MEDIA_ROOT))
    assert {d.content_type for d in submission.documents.all()} == {"image/png", "application/pdf"}


def test_expiry_job_warns_once_per_document_then_expires_on_the_day_and_holds_withdrawals(kyc_world):
    client = kyc_world.client
    expiry = date(2031, 6, 30)
    with time_machine.travel(datetime(2031, 1, 10, 9, 0), tick=False):
        submission_checks_record(submission=submit(client), report=report(expiry=expiry))
        assert kyc_expiry_run().warned == 0  # 171 days ahead: outside the 30-day warning
    with time_machine.travel(datetime(2031, 6, 5, 4, 10), tick=False):
        first = kyc_expiry_run()
        second = kyc_expiry_run()
    assert (first.warned, second.warned) == (1, 0)
    assert Event.objects.filter(client=client, name="kyc.expiry_warned").get().data == {
        "document": "passport", "expires_on": "2031-06-30"}
    assert OutboundEmail.objects.filter(client=client, template_key="kyc_expiry_warning").count() == 1
    assert withdrawal_block(client=client) is None
    with time_machine.travel(datetime(2031, 6, 30, 4, 10), tick=False):
        assert kyc_expiry_run().expired == 1
        assert kyc_expiry_run().expired == 0
    assert KycProfile.objects.get(client=client).status == KycStatus.EXPIRED
    expired = Event.objects.get(client=client, name="kyc.expired")
    assert expired.data["reason"] == "identity document expired on 2031-06-30"
    assert OutboundEmail.objects.filter(client=client, template_key="kyc_expired").count() == 1
    assert "withdrawals" in withdrawal_block(client=client)


def test_the_kyc_tab_shows_status_submissions_checks_and_history_and_the_timeline_labels(kyc_world, client,
                                                                                         login_verified):
    submission = submit_for_review(kyc_world.client)
    url = reverse("client_detail", args=[kyc_world.client.code]) + "?tab=kyc"
    client.force_login(kyc_world.agent)
    page = client.get(url).content.decode()
    assert 'data-kyc-status="pending"' in page and f'data-submission="{submission.code}"' in page
    assert 'data-check="name_matches" data-outcome="fail"' in page
    assert reverse("kyc_document", args=[submission.documents.first().code]) not in page  # no document rights
    login_verified(client, kyc_world.officer)
    page = client.get(url).content.decode()
    assert reverse("kyc_document", args=[submission.documents.first().code]) in page
    assert 'data-change="unverified-pending"' in page
    assert str(kind_for("kyc.submitted").label) == "KYC documents sent"
    timeline = client.get(reverse("client_detail", args=[kyc_world.client.code]) + "?tab=timeline").content.decode()
    assert "KYC documents sent" in timeline


def test_api_returns_the_report_and_the_status(kyc_world, client, login_verified):
    from integrations.services import apikey_create

    submission = submit_for_review(kyc_world.client)
    created = apikey_create(actor=kyc_world.admin, brand=kyc_world.brand, name="kyc", scopes=["kyc:read"])
    raw = created[1] if isinstance(created, tuple) else created.raw
    url = f"/api/v1/kyc/submissions/{submission.code}"
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert body["status"] == "review" and body["decision"] == "review"
    assert [c["name"] for c in body["checks"]][:2] == ["mrz_check_digits", "name_matches"]
    assert ApiKey.objects.count() == 1
