"""Submissions through the real checks engine: the client's own documents decide where they land.

The documents are generated (tests/kyc/docgen.py) for a client registered as Anna Maria Eriksson,
born 12 August 1974, living at 12 Baker Street, London; the clock stands on docgen.AS_OF so that the
passport is valid and the bill recent."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from datetime import timedelta

import pytest
import time_machine

from crm.events import deliver_event
from crm.models import Event, Stage
from kyc.models import KycProfile, KycStatus, SubmissionStatus
from kyc.services import (
    DocumentIn,
    kyc_profile_save,
    submission_create,
    submission_reject,
)
from kyc.vendor_services import submission_checks_run
from tests.factories import make_client
from tests.kyc import docgen

pytestmark = pytest.mark.django_db(transaction=False)

NOON = dt.datetime.combine(docgen.AS_OF, dt.time(12), tzinfo=dt.UTC)


def _anna(world, **fields):
    fields = {"first_name": "Anna", "last_name": "Eriksson", "date_of_birth": docgen.ANNA.birth,
              "country": "GB", "language": "en", "stage": "registered", **fields}
    client = make_client(actor=world.agent, brand=world.brand, email=f"{fields['first_name']}@example.com".lower(),
                         **fields)
    kyc_profile_save(client=client, actor=None, address_line1="12 Baker Street", city="London", postcode="NW1 6XE",
                     country="GB")
    return client


def _documents(holder: docgen.Holder, *, number: str = "L898902C3", bill_name: str = "Anna Maria Eriksson"):
    passport = docgen.encode(docgen.identity_image(docgen.IdDoc("passport", holder, number=number)), "jpeg")
    bill = docgen.bill_image(docgen.Bill("utility_bill", bill_name, "12 Baker Street\nLondon NW1 6XE",
                                         docgen.AS_OF - timedelta(days=20)))
    return [DocumentIn(kind="passport", filename="passport.jpg", data=passport),
            DocumentIn(kind="utility_bill", filename="bill.png", data=docgen.encode(bill, "png"))]


def _checked(client, documents):
    submission = submission_create(client=client, documents=documents)
    submission_checks_run(submission_id=submission.pk)
    submission.refresh_from_db()
    return submission


@time_machine.travel(NOON, tick=False)
def test_a_clean_passport_and_bill_are_approved_without_a_reviewer(kyc_world, kyc_checks_isolated, caplog):
    client = _anna(kyc_world)

    with caplog.at_level(logging.INFO, logger="kyc.checks.isolated"):
        submission = _checked(client, _documents(replace(docgen.ANNA, nationality="SWE")))

    # As in production, the checks ran in a process of their own, which reported its peak memory.
    assert [r.getMessage() for r in caplog.records if "peak" in r.getMessage()], caplog.text

    assert submission.status == SubmissionStatus.APPROVED, submission.report
    assert submission.reviewer_id is None
    assert KycProfile.objects.get(client=client).status == KycStatus.APPROVED
    approved = Event.objects.get(name="kyc.approved", client=client)
    assert approved.data["reviewer"] is None
    # The approval proves the client verified (delivered by the event handlers in production).
    deliver_event(approved)
    client.refresh_from_db()
    assert client.stage == Stage.VERIFIED
    # The passport's machine-readable zone gave the nationality screening compares with the lists.
    assert client.nationality == "SE"


@time_machine.travel(NOON, tick=False)
def test_a_mismatched_name_goes_to_review_and_is_approved_after_a_retryable_rejection(kyc_world):
    client = _anna(kyc_world, first_name="Annika", last_name="Lindqvist")

    first = _checked(client, _documents(docgen.ANNA, bill_name="Annika Lindqvist"))

    assert first.status == SubmissionStatus.REVIEW
    assert "name_match" in first.problems
    submission_reject(submission=first, actor=kyc_world.officer, reason="The passport is someone else's.",
                      can_resubmit=True, hints=["Upload your own passport."])
    profile = KycProfile.objects.get(client=client)
    assert (profile.status, profile.can_resubmit) == (KycStatus.REJECTED, True)

    annika = docgen.Holder("Lindqvist", "Annika", docgen.ANNA.birth)
    second = _checked(client, _documents(annika, number="X12345674", bill_name="Annika Lindqvist"))

    assert second.resubmission_of_id == first.pk
    assert second.status == SubmissionStatus.APPROVED, second.problems
    assert KycProfile.objects.get(client=client).status == KycStatus.APPROVED
