"""What KYC promises other apps' SQL (kyc.selectors.APPROVALS_VIEW): every approval of a client's
verification, which the commission engine's "KYC approved" CPA condition reads as of a moment. A
change of KYC that breaks the promise fails here."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from kyc import selectors
from kyc.services import kyc_expiry_run, submission_checks_record
from tests.factories import make_client
from tests.kyc.conftest import report, submit
from tests.published_views import assert_as_declared, view_rows

pytestmark = pytest.mark.django_db


def _approvals(client):
    return [row["approved_at"] for row in view_rows(selectors.APPROVALS_VIEW, "client_id = %s", [client.pk])]


def test_the_view_has_exactly_its_declared_columns_and_types():
    assert [v.name for v in selectors.PUBLISHED_VIEWS] == ["kyc_public_approvals"]
    assert_as_declared(selectors.APPROVALS_VIEW)


def test_each_approval_through_the_services_shows_once_and_outlives_a_later_expiry(kyc_world):
    client = kyc_world.client
    expiry = date.today() + timedelta(days=10)
    submission = submit(client)
    assert _approvals(client) == []  # submitted, pending: not approved
    before = timezone.now()
    submission_checks_record(submission=submission, report=report(expiry=expiry))
    first = _approvals(client)
    assert len(first) == 1 and before <= first[0] <= timezone.now()

    kyc_expiry_run(today=expiry)
    assert _approvals(client) == first  # the approval happened: an expiry does not undo it
    submission_checks_record(submission=submit(client, tag="again"), report=report(expiry=expiry + timedelta(days=365)))
    again = _approvals(client)
    assert len(again) == 2 and again[0] == first[0] and again[1] > first[0]


def test_a_rejected_client_and_a_client_without_kyc_show_no_approval(kyc_world):
    client = kyc_world.client
    submission_checks_record(submission=submit(client), report=report(decision="reject"))
    assert _approvals(client) == []
    assert _approvals(make_client(brand=kyc_world.brand)) == []
