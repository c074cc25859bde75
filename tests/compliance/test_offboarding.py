"""Offboarding, end to end through the officers' case pages: a case decided "offboard" by one officer and
approved by another closes the client's trading accounts on the platform (the MT5 simulator shows them
disabled) and they take no more deposits; the wallet refuses deposits; the trader's room refuses the sign-in
saying the account is closed; the decision with its reason and both officers is in the audit trail; the
remaining balance goes back through finance's withdrawal queue. Only compliance officers may do any of it."""
# ruff: noqa: F811 - pytest fixtures imported from other conftests are redefined as test arguments

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from compliance.models import Case, CaseDecision, CaseStatus
from compliance.services import case_item_attach
from crm.exceptions import ValidationFailed
from crm.lib.fieldcrypt import keyed_hash
from crm.lib.money import Money
from crm.models import AuditLog, Event, RoleCode
from portal.models import ClientLogin
from portal.services import portal_email_verify, verification_token
from tests.factories import make_user
from tests.portal.conftest import (  # noqa: F401 - fixtures
    _portal_budgets,
    brand,
    eager_celery,
    http,
    ip,
    register,
    sign_in,
)
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401 - fixtures
from tests.trading.crm_fixtures import _fresh_adapters, make_server, open_account  # noqa: F401 - fixtures
from tests.wallet.withdrawal_support import build_world
from trading.exceptions import AccountClosed
from trading.services import balance_operation_request, leverage_cap_save
from wallet.models import Withdrawal
from wallet.services import deposit_create

pytestmark = pytest.mark.django_db

RIGHT_ENABLED = 0x1  # MT5's USER_RIGHT_ENABLED: the login may connect
CLOSED_LOGIN = "Your account has been closed, so you can no longer sign in."
CLOSED_DEPOSIT = "Your account has been closed: we no longer accept deposits."


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def world(brand, register, http, quiet_sim, login_verified):
    """A client registered in the trader's room, with a funded wallet (card deposits), a live account on the
    simulator, an open case, two compliance officers, a sales agent and finance."""
    response = register(brand, email="nadia.hassan@example.com")
    assert response.status_code == 302, response.content.decode()[:1000]
    login = ClientLogin.objects.get(email_hash=keyed_hash("nadia.hassan@example.com", kind="email"))
    portal_email_verify(token=verification_token(login))
    w = build_world(brand=brand, client=login.client)
    w.login, w.sim = login, quiet_sim
    w.server = make_server(quiet_sim, brand)
    # The brand's own cap for UK retail clients (without one, the FCA default 1:30 applies).
    leverage_cap_save(actor=None, brand=brand, country="GB", classification="retail", max_leverage=500)
    w.account = open_account(w, deposit="500")
    w.officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Officer One")
    w.officer2 = make_user(role_code=RoleCode.COMPLIANCE, brand=brand, full_name="Officer Two")
    w.agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    item = case_item_attach(client=w.client, kind="aml_alert", ref_id="offboard-1",
                            summary="deposit of 25,000.00 USD (threshold 10,000.00)", score=80)
    w.case = item.case
    w.login_verified = login_verified
    return w


def _act(w, http, user, case, action, data=None):
    w.login_verified(http, user)  # privileged roles reach pages only with their second factor proven
    return http.post(reverse("compliance_case_action", args=[case.code, action]), data or {})


def _rights(w) -> int:
    return int(next(a for a in w.sim.truth()["accounts"] if int(a["Login"]) == w.account.login)["Rights"])


def test_an_offboard_decision_closes_the_relationship_through_every_app(
        world, http, eager_celery, django_capture_on_commit_callbacks):
    w = world
    assert _rights(w) & RIGHT_ENABLED
    assert _act(w, http, w.officer, w.case, "review").status_code == 302
    reason = "Funds of unexplained origin; the client would not give the source."
    assert _act(w, http, w.officer, w.case, "decide", {"decision": "offboard", "reason": reason}).status_code == 302
    w.case.refresh_from_db()
    assert w.case.status == CaseStatus.PENDING_APPROVAL and w.case.proposed_decision == CaseDecision.OFFBOARD
    # The officer who proposed it cannot approve it; nothing happened to the client yet.
    refused = _act(w, http, w.officer, w.case, "approve")
    assert refused.status_code == 409 and _rights(w) & RIGHT_ENABLED

    with django_capture_on_commit_callbacks(execute=True):
        assert _act(w, http, w.officer2, w.case, "approve").status_code == 302
    w.case.refresh_from_db()
    assert (w.case.status, w.case.decision, w.case.decided_by, w.case.approved_by) == (
        CaseStatus.CLOSED, CaseDecision.OFFBOARD, w.officer, w.officer2)

    # Trading: the account is disabled on the platform, marked closed, and takes no deposit.
    w.account.refresh_from_db()
    assert w.account.closed_at is not None and w.account.access == "disabled"
    assert not _rights(w) & RIGHT_ENABLED
    with pytest.raises(AccountClosed):
        balance_operation_request(actor=None, account=w.account, kind="balance", amount=Decimal("100"), send=False)
    assert Event.objects.filter(name="trading.account_closed", client=w.client).count() == 1

    # The wallet refuses a deposit, saying the account is closed (and never why).
    with pytest.raises(ValidationFailed) as deposit:
        deposit_create(client=w.client, amount=Money("100", "USD"), method="card")
    assert deposit.value.message.startswith(CLOSED_DEPOSIT)

    # The trader's room refuses the sign-in with a clear message that gives no reason.
    response = sign_in(http, w.brand)
    page = response.content.decode()
    assert response.status_code == 400 and CLOSED_LOGIN in page and "unexplained" not in page

    # The stage is closed; the audit trail has the decision, its reason and both officers.
    w.client.refresh_from_db()
    assert w.client.stage == "closed"
    closed = AuditLog.objects.get(action="compliance.case_closed", object_id=str(w.case.code))
    assert closed.reason == reason and closed.actor == w.officer2
    assert closed.after["decision"] == "offboard" and closed.after["decided_by"] == str(w.officer.code)
    offboarded = AuditLog.objects.get(action="compliance.client_offboarded", object_id=str(w.client.code))
    assert offboarded.reason == reason and offboarded.after["case"] == str(w.case.code)
    assert AuditLog.objects.filter(action="trading.account_close", object_id=str(w.account.code)).exists()
    # What reaches the client's timeline (read by sales) is neutral.
    for event in Event.objects.filter(client=w.client, name__in=["compliance.restriction_imposed",
                                                                  "client.stage_changed"]):
        assert "unexplained" not in str(event.data)


def test_the_officer_returns_the_balance_through_the_withdrawal_queue(
        world, http, eager_celery, django_capture_on_commit_callbacks):
    w = world
    _act(w, http, w.officer, w.case, "review")
    _act(w, http, w.officer, w.case, "decide", {"decision": "offboard", "reason": "Relationship ends"})
    with django_capture_on_commit_callbacks(execute=True):
        _act(w, http, w.officer2, w.case, "approve")
    w.login_verified(http, w.officer)
    page = http.get(reverse("compliance_case_detail", args=[w.case.code])).content.decode()
    assert "data-balance-return" in page
    option = f"USD|{w.card.code}"
    assert option in page
    # A sales agent may not; the case is invisible to them.
    assert _act(w, http, w.agent, w.case, "return-balance", {"method": option, "destination": "4242424242424242",
                                                          "reason": "x"}).status_code in (403, 404)
    assert not Withdrawal.objects.filter(client=w.client).exists()
    response = _act(w, http, w.officer, w.case, "return-balance", {
        "method": option, "destination": "4242424242424242", "reason": "Offboarded: balance back to the card"})
    assert response.status_code == 302, response.content.decode()[:3000]
    [withdrawal] = Withdrawal.objects.filter(client=w.client)
    assert withdrawal.state == "requested" and not withdrawal.auto_approved  # finance's queue
    assert withdrawal.money == Money("1000.00", "USD") and withdrawal.requested_by == w.officer
    assert AuditLog.objects.filter(action="compliance.case_balance_returned", object_id=str(w.case.code)).exists()
    # Nothing left: the page says so, and asking again is refused by name.
    again = _act(w, http, w.officer, w.case, "return-balance", {
        "method": option, "destination": "4242424242424242", "reason": "again"})
    assert again.status_code == 400 and Withdrawal.objects.filter(client=w.client).count() == 1


def test_a_case_not_offboarded_has_no_balance_return(world, http):
    w = world
    _act(w, http, w.officer, w.case, "review")
    _act(w, http, w.officer, w.case, "decide", {"decision": "no_action", "reason": "Explained"})
    w.case.refresh_from_db()
    assert w.case.status == CaseStatus.CLOSED
    response = _act(w, http, w.officer, w.case, "return-balance", {
        "method": f"USD|{w.card.code}", "destination": "4242424242424242", "reason": "x"})
    assert response.status_code in (400, 409) and not Withdrawal.objects.filter(client=w.client).exists()
    assert Case.objects.get(pk=w.case.pk).decision == CaseDecision.NO_ACTION


def test_the_api_offboards_with_a_second_officer_and_returns_the_balance(
        world, client, login_verified, eager_celery, django_capture_on_commit_callbacks):
    import json

    w = world
    base = f"/api/v1/compliance/cases/{w.case.code}"

    def post(path, body=None):
        return client.post(base + path, json.dumps(body or {}), content_type="application/json")

    login_verified(client, w.officer)
    post("/review")
    assert post("/decision", {"decision": "offboard", "reason": "Ends"}).json()["status"] == "pending_approval"
    login_verified(client, w.officer2)
    with django_capture_on_commit_callbacks(execute=True):
        assert post("/approval").json()["decision"] == "offboard"
    w.account.refresh_from_db()
    assert w.account.closed_at is not None
    bad = post("/balance-return", {"currency": "USD", "method": str(w.ewallet.code), "destination": "", "reason": "x"})
    assert bad.status_code == 422
    answer = post("/balance-return", {"currency": "USD", "method": str(w.card.code),
                                      "destination": "4242424242424242", "reason": "Back to the card"})
    assert answer.status_code == 200, answer.content
    assert answer.json()["state"] == "requested" and answer.json()["currency"] == "USD"
