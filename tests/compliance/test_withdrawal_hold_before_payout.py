"""A hold that appears after a withdrawal was approved still stops the payout before money leaves (issue 60,
section 3): compliance raises an AML alert after the approval; when the payout is about to be sent the
withdrawal goes back to finance's queue with the flag, its approvals withdrawn and audited; the client
reads "Under review" only. Finance's withdrawal page shows the client, the method and destination, each
flag as far as the reader's permissions allow, the trail and the decisions; the API gives finance the
flags' codes and reasons, nobody else."""
# ruff: noqa: F811 - pytest fixtures imported from the portal's and compliance's tests are redefined as arguments

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.exceptions import Conflict
from crm.lib.money import Money
from crm.models import AuditLog
from tests.compliance.test_withdrawal_holds import (  # noqa: F401 - fixtures
    _kyc_storage,
    _raise_alert,
    _request_in_the_room,
    _staff,
    world,
)
from tests.crm.api_support import API, KeyClient, new_key
from tests.portal.conftest import (  # noqa: F401 - fixtures
    _portal_budgets,
    brand,
    eager_celery,
    http,
    ip,
    register,
    sign_in,
)
from tests.wallet.withdrawal_support import CARD
from wallet.ledger import available, wallet_account_for
from wallet.models import WithdrawalState
from wallet.services import withdrawal_approve, withdrawal_policy_save, withdrawal_request
from wallet.withdrawals import withdrawal_payout_send

S = WithdrawalState


def test_an_alert_raised_after_the_approval_stops_the_payout_and_sends_it_back_to_finance(world, http, login_verified):
    w = _request_in_the_room(world, http)
    assert w.state == S.APPROVED and w.auto_approved  # nothing held it when it was asked for
    alert = _raise_alert(world)

    # The payout task runs after the alert: nothing leaves, the withdrawal waits for finance again.
    withdrawal_payout_send(withdrawal_id=w.pk)
    w.refresh_from_db()
    assert w.state == S.REQUESTED and not w.auto_approved and not w.provider_ref
    assert w.first_approved_by is None and w.first_approved_at is None
    assert available(wallet_account_for(client=world.client, currency="USD")) == Money("750", "USD")
    held = AuditLog.objects.get(action="wallet.withdrawal_held")
    assert held.after == {"holds": ["aml_alert"], "before_payout": True, "state": "requested"}
    assert held.before["state"] == "approved" and held.before["automatic"] is True
    assert [c.to_state for c in w.changes.order_by("at", "id")] == [S.APPROVED, S.REQUESTED]

    # The client reads "Under review", nothing of the alert.
    room = http.get(reverse("portal:withdraw")).content.decode()
    assert "Under review" in room and alert.summary not in room and "AML" not in room

    # Finance's queue shows the hold; its page the kind, "Under compliance review" and the trail.
    finance = _staff(login_verified, world.finance)
    queue = finance.get(reverse("wallet_withdrawal_queue")).content.decode()
    assert 'data-flag="aml_alert"' in queue and reverse("wallet_withdrawal_detail", args=[w.code]) in queue
    page = finance.get(reverse("wallet_withdrawal_detail", args=[w.code])).content.decode()
    assert 'data-flag="aml_alert"' in page and "Under compliance review" in page and alert.summary not in page
    assert reverse("compliance_aml_alert", args=[alert.code]) not in page
    assert "Approved automatically" in page and "Held before the payout; its approvals withdrawn (aml_alert)" in page
    with pytest.raises(Conflict) as refused:
        withdrawal_approve(withdrawal=w, actor=world.finance)
    assert refused.value.code == "withdrawal_held"

    # Compliance dismisses the alert; finance approves from the withdrawal's page.
    officer = _staff(login_verified, world.officer)
    officer.post(reverse("compliance_aml_alert_dismiss", args=[alert.code]), {"reason": "Salary; payslips on file."})
    response = finance.post(reverse("wallet_withdrawal_approve", args=[w.code]), {"back": "detail"})
    assert response.status_code == 302 and response["Location"] == reverse("wallet_withdrawal_detail", args=[w.code])
    w.refresh_from_db()
    assert w.state == S.APPROVED and w.first_approved_by == world.finance
    assert "Under review" not in http.get(reverse("portal:withdraw")).content.decode()


def test_the_withdrawal_page_shows_the_flag_s_reason_and_link_only_to_who_may_read_them(world, login_verified):
    alert = _raise_alert(world)
    w = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    url = reverse("wallet_withdrawal_detail", args=[w.code])
    link = reverse("compliance_aml_alert", args=[alert.code])
    admin = _staff(login_verified, world.admin).get(url).content.decode()
    assert "Large deposit" in admin and link in admin
    page = _staff(login_verified, world.finance).get(url).content.decode()
    assert reverse("client_detail", args=[world.client.code]) in page
    assert w.destination_masked in page and "Card" in page and "Requested" in page
    assert "Large deposit" not in page and link not in page and "Under compliance review" in page
    # Outside finance or the brand the page does not exist.
    for user in (world.outsider, world.agent):
        assert _staff(login_verified, user).get(url).status_code == 404


def test_a_second_approver_sends_the_first_approval_back_from_the_withdrawal_page(world, login_verified):
    withdrawal_policy_save(brand=world.brand, actor=None, four_eyes_above={"USD": "50"})
    w = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    withdrawal_approve(withdrawal=w, actor=world.finance)
    url = reverse("wallet_withdrawal_detail", args=[w.code])
    assert "data-send-back" not in _staff(login_verified, world.finance).get(url).content.decode()
    second = _staff(login_verified, world.finance2)
    page = second.get(url).content.decode()
    assert "data-send-back" in page and "Second approval" in page and "First approval" in page
    second.post(reverse("wallet_withdrawal_send_back", args=[w.code]), {"reason": "Ask for the payslip first",
                                                                        "back": "detail"})
    w.refresh_from_db()
    assert w.state == S.REQUESTED and w.first_approved_by is None
    page = second.get(url).content.decode()
    assert "First approval sent back" in page and "Ask for the payslip first" in page


def test_the_api_gives_finance_the_flags_and_nobody_else(world, login_verified):
    alert = _raise_alert(world)
    w = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    path = f"{API}/withdrawals/{w.code}"
    finance = _staff(login_verified, world.finance).get(path).json()
    assert finance["flags"] == [{"kind": "aml_alert", "label": "AML alert", "holds": True,
                                 "reason": "Under compliance review"}]
    admin = _staff(login_verified, world.admin).get(path).json()
    assert alert.summary in admin["flags"][0]["reason"]
    approver = KeyClient(new_key(world.brand, scopes=["wallet:read", "wallet:approve"], actor=world.admin))
    body = approver.get(f"/withdrawals/{w.code}").json()
    assert [f["kind"] for f in body["flags"]] == ["aml_alert"] and body["flags"][0]["reason"] == "Under compliance review"
    listed = approver.get("/withdrawals").json()["items"]
    assert [f["kind"] for f in listed[0]["flags"]] == ["aml_alert"]
    reader = KeyClient(new_key(world.brand, scopes=["wallet:read"], actor=world.admin))
    assert reader.get(f"/withdrawals/{w.code}").json()["flags"] is None
