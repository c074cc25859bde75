"""What KYC promises other apps' SQL (kyc.selectors.APPROVALS_VIEW): every approval of a client's
verification, which the commission engine's "KYC approved" CPA condition reads as of a moment. A
change of KYC that breaks the promise fails here."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hash
from kyc import selectors
from kyc.services import kyc_expiry_run, submission_checks_record
from tests.factories import make_client
from tests.kyc.conftest import report, submit
from tests.published_views import assert_as_declared, view_rows

pytestmark = pytest.mark.django_db


def _approvals(client):
    return [row["approved_at"] for row in view_rows(selectors.APPROVALS_VIEW, "client_id = %s", [client.pk])]


def test_the_view_has_exactly_its_declared_columns_and_types():
    assert [v.name for v in selectors.PUBLISHED_VIEWS] == ["kyc_public_approvals", "kyc_public_addresses",
                                                           "kyc_public_questionnaire_answers"]
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


def test_addresses_show_with_keys_equal_for_one_address_written_two_ways():
    """kyc_public_addresses: what monitoring's multi-accounting detector joins clients on."""
    from kyc.services import kyc_profile_save

    assert_as_declared(selectors.ADDRESSES_VIEW)
    me, flatmate, nowhere = make_client(), make_client(), make_client()
    kyc_profile_save(client=me, actor=None, address_line1="1 High Street", city="London", postcode="SW1A 1AA",
                     country="GB")
    kyc_profile_save(client=flatmate, actor=None, address_line1="1, high street.", city="London",
                     postcode="sw1a-1aa", country="GB")
    kyc_profile_save(client=nowhere, actor=None, address_line1="9 Low Road", city="London", postcode="",
                     country="GB")  # no postcode: nothing to compare
    rows = view_rows(selectors.ADDRESSES_VIEW, "client_id = ANY(%s)", [[me.pk, flatmate.pk, nowhere.pk]])
    assert [r["client_id"] for r in rows] == sorted([me.pk, flatmate.pk])
    # The street is encrypted in its column: its key is a keyed hash of the squeezed line, never the text.
    line_key = keyed_hash("1highstreet", kind="address")
    assert {(r["line_key"], r["postcode_key"], r["country"]) for r in rows} == {(line_key, "sw1a1aa", "GB")}
    assert rows[0]["postcode"] in ("SW1A 1AA", "sw1a-1aa")


def test_questionnaire_answers_show_the_latest_response_one_row_per_chosen_option(time_machine):
    """kyc_public_questionnaire_answers: what compliance's AML rule over_declared compares deposits with."""
    import datetime as dt
    import io

    from django.core.management import call_command

    from kyc.models import QuestionnaireVersion
    from kyc.questionnaire import questionnaire_submit
    from kyc.questionnaire_demo import ANSWERS_APPROPRIATE

    assert_as_declared(selectors.QUESTIONNAIRE_ANSWERS_VIEW)
    me, silent = make_client(), make_client()
    call_command("kyc_questionnaire_seed", stdout=io.StringIO())
    version = QuestionnaireVersion.objects.get(questionnaire__brand_id=me.brand_id, status="published")
    questionnaire_submit(actor=None, client=me, version=version, answers=ANSWERS_APPROPRIATE)
    time_machine.move_to(timezone.now() + dt.timedelta(hours=25))  # the retake rule: a day between answers
    questionnaire_submit(actor=None, client=me, version=version,
                         answers={**ANSWERS_APPROPRIATE, "annual_income": "over_100k"})
    rows = view_rows(selectors.QUESTIONNAIRE_ANSWERS_VIEW, "client_id = ANY(%s)", [[me.pk, silent.pk]])
    assert {r["client_id"] for r in rows} == {me.pk}  # who never answered has no row
    answers = {(r["question"], r["option"]) for r in rows}
    assert ("annual_income", "over_100k") in answers and ("annual_income", "15k_50k") not in answers  # the latest
    assert {("other_products", "shares"), ("other_products", "options")} <= answers  # a row per chosen option
    assert len({r["submitted_at"] for r in rows}) == 1
