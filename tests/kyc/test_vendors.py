"""KYC vendors: the built-in checks stay the default; an external vendor (the simulator, a real
process on loopback) gets the documents and answers by signed webhook; a webhook counts once however
often it comes; forged, stale and unknown ones are refused and logged; a result the vendor changes
later takes an approval back to an officer; a lost webhook is found by polling; a vendor that is
down leaves the client pending, is tried again and never approves anyone."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.utils import timezone

from crm.exceptions import ValidationFailed
from crm.models import AuditLog, Event
from crm.registry import TIMELINE
from kyc.models import (
    DecisionAction,
    KycDecision,
    KycProfile,
    KycStatus,
    KycStatusChange,
    Submission,
    SubmissionStatus,
    VendorEvent,
)
from kyc.services import kyc_policy_save, kyc_profile_save, submission_reject
from kyc.vendor_services import submission_checks_run, vendor_checks_resolve_due
from kyc.webhooks import vendor_webhook_receive
from tests.factories import make_client
from tests.kyc.conftest import submit
from tests.kyc.vendor_support import WEBHOOK_PATH, WEBHOOK_SECRET, signed
from tests.waiting import wait_until

FORGED = "the passport was found forged by ongoing monitoring"


def _use_vendor(world, vendor: str = "kycsim") -> None:
    kyc_policy_save(actor=world.admin, brand=world.brand, allowed_issuing_countries=[], poa_max_age_days=90,
                    expiry_warning_days=30, review_sla_hours=24, high_risk_countries=["IR"],
                    expiry_holds=["withdrawals"], vendor=vendor)


def _client(world, first: str, last: str):
    client = make_client(actor=world.agent, brand=world.brand, email=f"{first}.{uuid.uuid4().hex[:6]}@example.com".lower(),
                         first_name=first, last_name=last, country="GB", language="en", stage="registered")
    kyc_profile_save(client=client, actor=None, address_line1="1 High Street", city="London", postcode="SW1A 1AA",
                     country="GB")
    return client


def _sent(client) -> Submission:
    submission = submit(client)
    submission_checks_run(submission_id=submission.pk)  # what the checks task does
    submission.refresh_from_db()
    return submission


def _status(client) -> str:
    return KycProfile.objects.get(client=client).status


def _settled(submission: Submission, status: str = SubmissionStatus.CHECKING) -> Submission:
    """Wait until the submission has left `status` (the webhook came and was applied)."""
    def moved():
        submission.refresh_from_db()
        return submission.status != status
    wait_until(moved, what=f"submission {submission.code} to leave {status}")
    return submission


def _body(*, reference: str = "apl_unknown", external_id: str = "", answer: str = "approved", sequence: int = 1,
          event_id: str = "evt_test1") -> str:
    return json.dumps({"id": event_id, "type": "applicant.reviewed", "created": "2026-11-23T10:00:00Z", "data": {
        "id": reference, "external_id": external_id or str(uuid.uuid4()), "status": "completed",
        "result": {"answer": answer, "reason": "", "sequence": sequence, "checks": [], "document": {}}}})


def _post(headers, body, vendor: str = "kycsim"):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
    return HttpClient(enforce_csrf_checks=True).post(f"/kyc/vendors/{vendor}/webhook/", data=body,
                                                     content_type="application/json", **extra)


# --- the built-in checks -----------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_built_in_checks_stay_the_default_vendor_and_decide_at_once(kyc_world):
    submission = _sent(kyc_world.client)

    assert submission.vendor == "builtin" and submission.vendor_ref == ""
    assert submission.status != SubmissionStatus.CHECKING  # decided by the checks engine, no waiting
    assert (submission.report or {})["engine_version"] == "1"
    assert not submission.decisions.filter(action=DecisionAction.VENDOR_SENT).exists()
    assert vendor_checks_resolve_due(now=timezone.now() + timedelta(days=1)).sent == 0


@pytest.mark.django_db
def test_a_policy_naming_an_unknown_vendor_is_refused_on_the_field(kyc_world):
    with pytest.raises(ValidationFailed) as refused:
        _use_vendor(kyc_world, vendor="nosuch")
    assert "vendor" in refused.value.fields


# --- an external vendor ------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_an_external_approval_comes_by_webhook_and_counts_once_though_delivered_three_times(
        kyc_world, kycsim, live_server, settings):
    settings.CRM_PUBLIC_URL = live_server.url
    _use_vendor(kyc_world)
    kycsim.faults({"type": "duplicate_webhooks", "copies": 2, "count": 1})
    client = _client(kyc_world, "Nora", "Lindgren")

    submission = _sent(client)

    assert submission.vendor == "kycsim" and submission.vendor_ref.startswith("apl_")
    assert _status(client) == KycStatus.PENDING
    _settled(submission)
    wait_until(lambda: VendorEvent.objects.filter(reference=submission.vendor_ref).count() >= 3, what="3 deliveries")
    assert submission.status == SubmissionStatus.APPROVED and submission.reviewer_id is None
    assert _status(client) == KycStatus.APPROVED
    assert sorted(VendorEvent.objects.filter(reference=submission.vendor_ref).values_list("outcome", flat=True)) == \
        ["accepted", "duplicate", "duplicate"]
    assert Event.objects.filter(name="kyc.approved", client=client).count() == 1
    checks = {c["name"]: c for c in (submission.report or {})["checks"]}
    assert checks["vendor_decision"]["outcome"] == "pass"
    assert checks["document_authenticity"]["evidence"]["vendor"] == "kycsim"
    assert (submission.vendor_result or {})["result"]["answer"] == "approved"  # the vendor's own payload, kept
    # The vendor got the applicant and the files.
    assert submission.decisions.filter(action=DecisionAction.VENDOR_SENT).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_external_rejection_rejects_with_the_vendors_evidence_and_a_hint(kyc_world, kycsim, live_server, settings):
    settings.CRM_PUBLIC_URL = live_server.url
    _use_vendor(kyc_world)
    client = _client(kyc_world, "Dana", "Decline")

    submission = _settled(_sent(client))

    assert submission.status == SubmissionStatus.REJECTED
    profile = KycProfile.objects.get(client=client)
    assert profile.status == KycStatus.REJECTED and profile.can_resubmit
    assert "vendor_decision" in submission.reason
    assert submission.client_hints and "valid documents" in submission.client_hints[0]
    checks = {c["name"]: c for c in (submission.report or {})["checks"]}
    assert checks["document_authenticity"]["outcome"] == "fail"
    assert checks["document_authenticity"]["evidence"]["finding"] == "font mismatch in the name field"
    assert submission.vendor_reason == "the identity document looks tampered with"
    assert Event.objects.filter(name="kyc.rejected", client=client).count() == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_deliveries_of_one_webhook_make_one_decision(kyc_world, kycsim, settings):
    settings.CRM_PUBLIC_URL = "http://127.0.0.1:9"
    _use_vendor(kyc_world)
    kycsim.faults({"type": "drop_webhooks"})
    client = _client(kyc_world, "Ines", "Moreau")
    submission = _sent(client)
    [hook] = wait_until(lambda: kycsim.webhooks(submission.vendor_ref), what="the vendor's decision")
    headers, body = signed(hook["body"])
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait(10)
            outcomes.append(vendor_webhook_receive(vendor_code="kycsim", headers=headers, body=body).outcome)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(outcomes) == ["accepted"] + ["duplicate"] * 19
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.APPROVED
    assert KycDecision.objects.filter(submission=submission, action="auto_approve").count() == 1
    assert Event.objects.filter(name="kyc.approved", client=client).count() == 1
    assert KycStatusChange.objects.filter(profile__client=client, to_status=KycStatus.APPROVED).count() == 1


@pytest.mark.django_db
def test_forged_stale_unknown_and_malformed_webhooks_are_refused_logged_and_change_nothing(kyc_world, settings,
                                                                                           caplog):
    settings.KYC_VENDORS = {"kycsim": {"webhook_secret": WEBHOOK_SECRET}}
    _use_vendor(kyc_world)
    submission = submit(kyc_world.client)  # being checked by the vendor, not sent yet
    ours = _body(reference="apl_ours", external_id=str(submission.code))
    caplog.set_level(logging.WARNING, logger="kyc.webhooks")

    answers = {
        "bad_signature": _post(*signed(ours, secret="not-the-secret")),
        "stale": _post(*signed(ours, at=time.time() - 3600)),
        "unknown_reference": _post(*signed(_body(reference="apl_other", event_id="evt_other"))),
        "malformed": _post(*signed('{"id": "evt_m", "type": "applicant.reviewed"}')),
        "unknown_vendor": _post(*signed(ours), vendor="nosuch"),
        "builtin": _post(*signed(ours), vendor="builtin"),
    }

    assert {k: (r.status_code, r.json()["outcome"]) for k, r in answers.items()} == {
        "bad_signature": (401, "refused_bad_signature"), "stale": (401, "refused_stale"),
        "unknown_reference": (404, "unknown_reference"), "malformed": (400, "refused_malformed"),
        "unknown_vendor": (404, "unknown_vendor"), "builtin": (404, "unknown_vendor")}
    assert VendorEvent.objects.count() == 6 and not VendorEvent.objects.filter(outcome="accepted").exists()
    assert len([r for r in caplog.records if r.name == "kyc.webhooks"]) == 6
    assert VendorEvent.objects.get(outcome="refused_bad_signature").body == ours
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.CHECKING and _status(kyc_world.client) == KycStatus.PENDING
    assert HttpClient().get(WEBHOOK_PATH).status_code == 405
    # The same notification, signed right, is taken (by our own reference: the vendor's is not stored yet).
    accepted = _post(*signed(ours))
    assert (accepted.status_code, accepted.json()["outcome"]) == (200, "accepted")
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.APPROVED and submission.vendor_ref == "apl_ours"


# --- results that change later -------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_an_approval_the_vendor_later_rejects_goes_back_to_an_officer_with_the_vendors_reason(
        kyc_world, kycsim, live_server, settings, login_verified):
    settings.CRM_PUBLIC_URL = live_server.url
    _use_vendor(kyc_world)
    client = _client(kyc_world, "Omar", "Haddad")
    submission = _settled(_sent(client))
    assert submission.status == SubmissionStatus.APPROVED and _status(client) == KycStatus.APPROVED

    kycsim.control(f"/_sim/applicants/{submission.vendor_ref}/result", {"answer": "declined", "reason": FORGED})

    _settled(submission, SubmissionStatus.APPROVED)
    assert submission.status == SubmissionStatus.REVIEW
    assert _status(client) == KycStatus.PENDING  # no longer verified: withdrawals and the rest are held
    assert submission.vendor_reason == FORGED and submission.reason == FORGED
    assert "ongoing_monitoring" in submission.problems
    [reopened] = Event.objects.filter(name="kyc.reopened", client=client)
    assert reopened.data == {"vendor": "kycsim", "outcome": "reject", "reason": FORGED, "previous": "approved"}
    assert TIMELINE.get("kyc.reopened") is not None
    assert submission.decisions.filter(action=DecisionAction.VENDOR_REOPENED, reason=FORGED).count() == 1
    assert AuditLog.objects.filter(action="kyc.vendor_reopen").count() == 1
    page = HttpClient()
    login_verified(page, kyc_world.officer)
    queue = page.get("/kyc/queue/")
    assert queue.status_code == 200 and FORGED in queue.content.decode() and str(submission.code) in queue.content.decode()
    # The officer decides, through the usual review.
    submission_reject(submission=submission, actor=kyc_world.officer, reason="forged passport", can_resubmit=False)
    assert _status(client) == KycStatus.REJECTED
    assert Event.objects.filter(name="kyc.rejected", client=client).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_rejection_by_an_officer_that_the_vendor_later_approves_waits_for_an_officer(
        kyc_world, kycsim, live_server, settings):
    settings.CRM_PUBLIC_URL = live_server.url
    _use_vendor(kyc_world)
    client = _client(kyc_world, "Rita", "Review")
    submission = _settled(_sent(client))
    assert submission.status == SubmissionStatus.REVIEW  # the vendor could not decide
    submission_reject(submission=submission, actor=kyc_world.officer, reason="photo unclear", can_resubmit=True)

    kycsim.control(f"/_sim/applicants/{submission.vendor_ref}/result", {"answer": "approved", "reason": "recheck"})

    _settled(submission, SubmissionStatus.REJECTED)
    assert submission.status == SubmissionStatus.REVIEW
    assert _status(client) == KycStatus.PENDING
    assert not Event.objects.filter(name="kyc.approved", client=client).exists()
    assert Event.objects.filter(name="kyc.reopened", client=client).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_older_result_arriving_after_a_newer_one_changes_nothing(kyc_world, kycsim, live_server, settings):
    settings.CRM_PUBLIC_URL = live_server.url
    _use_vendor(kyc_world)
    kycsim.faults({"type": "reorder_webhooks", "count": 2})
    client = _client(kyc_world, "Lena", "Vogel")
    submission = _sent(client)
    wait_until(lambda: kycsim.webhooks(submission.vendor_ref), what="the first result")
    kycsim.control(f"/_sim/applicants/{submission.vendor_ref}/result", {"answer": "declined", "reason": FORGED})

    # Sent newest first: the rejection (2) decides, the approval (1) arriving after it is ignored.
    _settled(submission)
    wait_until(lambda: VendorEvent.objects.filter(reference=submission.vendor_ref, outcome="accepted").count() == 2,
               what="both deliveries")
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.REJECTED and submission.vendor_sequence == 2
    assert _status(client) == KycStatus.REJECTED
    assert not Event.objects.filter(name="kyc.approved", client=client).exists()


# --- lost webhooks and an unreachable vendor -----------------------------------------------------------

@pytest.mark.django_db
def test_a_lost_webhook_is_resolved_by_polling_after_the_wait(kyc_world, kycsim, settings):
    settings.CRM_PUBLIC_URL = "http://127.0.0.1:9"  # nobody listens: the webhook is lost
    _use_vendor(kyc_world)
    kycsim.faults({"type": "drop_webhooks"})
    client = _client(kyc_world, "Paul", "Keller")
    submission = _sent(client)
    wait_until(lambda: kycsim.webhooks(submission.vendor_ref), what="the vendor's decision")

    early = vendor_checks_resolve_due()
    submission.refresh_from_db()
    assert early.resolved == 0 and submission.status == SubmissionStatus.CHECKING

    late = vendor_checks_resolve_due(now=timezone.now() + timedelta(minutes=11))

    submission.refresh_from_db()
    assert late.resolved == 1
    assert submission.status == SubmissionStatus.APPROVED and _status(client) == KycStatus.APPROVED


@pytest.mark.django_db
def test_a_vendor_that_is_down_leaves_the_client_pending_and_is_tried_again_never_approving(kyc_world, kycsim,
                                                                                           settings):
    settings.CRM_PUBLIC_URL = "http://127.0.0.1:9"  # nobody listens: results are found by polling
    _use_vendor(kyc_world)
    kycsim.faults({"type": "http_error", "status": 503, "path": "/v1/applicants"})
    client = _client(kyc_world, "Sven", "Berg")

    submission = _sent(client)

    assert submission.status == SubmissionStatus.CHECKING and submission.vendor_ref == ""
    assert submission.vendor_attempts == 1
    assert submission.vendor_next_at is not None and submission.vendor_next_at > timezone.now()
    assert _status(client) == KycStatus.PENDING
    again = vendor_checks_resolve_due(now=timezone.now() + timedelta(minutes=2))
    submission.refresh_from_db()
    assert again.failed == 1 and submission.vendor_attempts == 2 and submission.vendor_ref == ""
    assert _status(client) == KycStatus.PENDING

    kycsim.control("/_sim/faults/clear", {})
    back = vendor_checks_resolve_due(now=timezone.now() + timedelta(hours=2))
    submission.refresh_from_db()
    assert back.sent == 1 and submission.vendor_ref.startswith("apl_")
    assert submission.status == SubmissionStatus.CHECKING and _status(client) == KycStatus.PENDING
    wait_until(lambda: kycsim.webhooks(submission.vendor_ref), what="the vendor's decision")
    vendor_checks_resolve_due(now=timezone.now() + timedelta(hours=3))  # its webhook had nowhere to go
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.APPROVED
    assert Event.objects.filter(name="kyc.approved", client=client).count() == 1


def test_a_vendor_that_answers_at_once_refuses_a_lookup_as_a_domain_error():
    from kyc.exceptions import VendorRejected
    from kyc.vendors import vendor_get

    with pytest.raises(VendorRejected) as refused:
        vendor_get("builtin").fetch_result("any-reference")
    assert refused.value.code == "kyc_vendor_no_lookup"
