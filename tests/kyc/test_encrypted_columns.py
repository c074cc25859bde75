"""A submission's identity document number, its checks' report and its vendor's raw result are
encrypted in their columns: the table holds no document number, name or date read from a document,
the CRM reads them back whole, the same document from another client is still found (by keyed hash),
a key rotation re-encrypts the rows after which the old key can go, a value moved to another column
does not open, and the migration encrypts existing rows (and decrypts them on the way back)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from crm.audit import app_privileges_grant
from crm.lib import dbroles
from kyc.models import Submission, SubmissionStatus
from kyc.services import submission_checks_record, submission_create
from plumbing.envelope import DEFAULT_SCOPE, KeyError_, new_key
from tests.factories import make_client
from tests.kyc.conftest import documents, report, submit
from tests.migrating import apps_at, leaves, migrate

NUMBER = "P1234567"


def _raw(submission) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT document_number, report, vendor_result, document_number_hash FROM kyc_submission "
                       "WHERE id = %s", [submission.pk])
        return dict(zip(["document_number", "report", "vendor_result", "hash"], cursor.fetchone(), strict=True))


def _checked(kyc_world, number: str = NUMBER):
    return submission_checks_record(submission=submit(kyc_world.client), report=report(number=number))


def test_the_document_number_and_report_are_stored_encrypted_and_read_back_whole(key_ring, kyc_world):
    submission = _checked(kyc_world)
    raw = _raw(submission)
    for column in ("document_number", "report"):
        assert raw[column].startswith("enc1:") and NUMBER not in raw[column], column
    assert "passport" not in raw["report"] and "mrz_check_digits" not in raw["report"]
    assert NUMBER not in raw["hash"] and len(raw["hash"]) == 64

    again = Submission.objects.get(pk=submission.pk)
    assert again.document_number == NUMBER
    assert again.report["facts"]["document_number"] == NUMBER
    assert {c["name"] for c in again.report["checks"]} >= {"mrz_check_digits", "duplicate_document"}


def test_the_same_document_number_from_another_client_is_found_by_its_hash(key_ring, kyc_world):
    _checked(kyc_world)
    other = make_client(actor=kyc_world.agent, brand=kyc_world.brand, email="other@example.com")
    second = submission_checks_record(submission=submission_create(client=other, documents=documents("other")),
                                      report=report(number="p 123-4567"))
    assert second.status == SubmissionStatus.REVIEW and "duplicate_document" in second.problems
    fails = {c["name"]: c for c in second.report["checks"] if c["outcome"] == "fail"}
    assert fails["duplicate_document"]["evidence"]["other_client"] == str(kyc_world.client.code)


def test_a_rotation_re_encrypts_the_rows_and_then_the_old_key_can_go(key_ring, kyc_world):
    submission = _checked(kyc_world)
    before = _raw(submission)
    ring = json.loads(key_ring.read_text())
    old_kids = list(ring[DEFAULT_SCOPE]["keys"])
    ring[DEFAULT_SCOPE]["keys"]["k-new"] = new_key()
    ring[DEFAULT_SCOPE]["current"] = "k-new"
    key_ring.write_text(json.dumps(ring))
    # Before the rotation the old key still opens the rows; new writes use the new key.
    assert Submission.objects.get(pk=submission.pk).document_number == NUMBER

    call_command("encryption_rotate_columns")
    after = _raw(submission)
    assert after["document_number"].startswith("enc1:k-new:") and after["report"].startswith("enc1:k-new:")
    assert after["document_number"] != before["document_number"] and after["hash"] == before["hash"]

    for kid in old_kids:
        del ring[DEFAULT_SCOPE]["keys"][kid]
    key_ring.write_text(json.dumps(ring))
    again = Submission.objects.get(pk=submission.pk)
    assert again.document_number == NUMBER and again.report["facts"]["document_number"] == NUMBER
    call_command("encryption_rotate_columns")  # nothing left to do
    assert _raw(submission) == after


def test_a_value_whose_key_left_the_ring_or_moved_to_another_column_is_refused_by_name(key_ring, kyc_world):
    submission = _checked(kyc_world)
    with connection.cursor() as cursor:  # the document number's ciphertext put in the report's column
        cursor.execute("UPDATE kyc_submission SET report = document_number WHERE id = %s", [submission.pk])
    with pytest.raises(KeyError_, match='"report" does not open'):
        Submission.objects.get(pk=submission.pk)

    ring = json.loads(key_ring.read_text())
    was = ring[DEFAULT_SCOPE]["current"]
    ring[DEFAULT_SCOPE] = {"current": "k9", "keys": {"k9": new_key()}}
    key_ring.write_text(json.dumps(ring))
    with pytest.raises(KeyError_, match=f'"document_number" was encrypted with the key "{was}"'):
        Submission.objects.only("document_number").get(pk=submission.pk)


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_rows_and_decrypts_them_on_the_way_back(kyc_world):
    before, after = [("kyc", "0007_published_questionnaire_answers")], [("kyc", "0008_submission_encrypted")]
    facts = {"facts": {"document_number": NUMBER, "surname": "ERIKSSON"}}
    with dbroles.as_owner():  # migrations are the schema owner's work, as `manage.py migrate` does them
        newest = leaves()
        try:
            migrate(before)
            Old = apps_at(before).get_model("kyc", "Submission")
            old = Old.objects.create(client_id=kyc_world.client.pk, brand_id=kyc_world.brand.pk,
                                     due_at=timezone.now() + timedelta(days=1), document_number=NUMBER,
                                     report=facts, vendor_result={"ref": "v-1", "number": NUMBER})

            migrate(after)
            raw = _raw(old)
            assert all(raw[c].startswith("enc1:") and NUMBER not in raw[c]
                       for c in ("document_number", "report", "vendor_result"))
            new = Submission.objects.get(pk=old.pk)
            assert (new.document_number, new.report, new.vendor_result["number"]) == (NUMBER, facts, NUMBER)
            assert Submission.objects.filter(document_number_hash=raw["hash"]).count() == 1

            migrate(before)  # and back: the plain values in their old columns
            back = Old.objects.get(pk=old.pk)
            assert (back.document_number, back.report, back.vendor_result["ref"]) == (NUMBER, facts, "v-1")
        finally:  # and forward again (the step after `before` is `after`), to the newest
            migrate(newest)
            app_privileges_grant()
