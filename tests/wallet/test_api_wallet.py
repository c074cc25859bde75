"""The wallet API: balances, the deposit and withdrawal lists, withdrawal decisions under the same
four-eyes rule as finance's queue, and amounts read by crm.lib.money (a bad one is 422 naming it)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from crm.lib.money import Money
from crm.models import AuditLog, RoleCode
from tests.crm.api_support import API, KeyClient, assert_error, new_key, post_json, session_client
from tests.factories import make_brand, make_user
from tests.wallet.withdrawal_support import CARD, build_world
from wallet.demo import demo_wire_deposit
from wallet.models import WithdrawalState
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.withdrawals import withdrawal_policy_save, withdrawal_request

S = WithdrawalState


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def world(db):
    world = build_world()
    world.wire = payment_provider_save(code="wire-api", name="Bank wire", kind="bank_wire", settings={
        "beneficiary": "Broker Ltd", "iban": "CY17002001280000001200527600", "bic": "BCYPCY2N", "bank_name": "Bank"})
    payment_method_save(brand=world.brand, method="bank_wire", direction="deposit", provider=world.wire, order=30,
                        currencies=[CurrencyRule("USD", Decimal("10"))])
    world.other_brand = make_brand()
    world.admin = make_user(role_code=RoleCode.ADMIN, brand=world.brand)
    return world


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def _request(world: Any, amount: str) -> Any:
    return withdrawal_request(client=world.client, amount=usd(amount), method=world.card, destination=CARD)


def _key(world: Any, *scopes: str, brand: Any = None) -> KeyClient:
    return KeyClient(new_key(brand or world.brand, scopes=list(scopes), actor=world.admin))


# --- balances ---------------------------------------------------------------------------------------


def test_balances_show_what_is_held_and_available_as_decimal_strings(world):
    _request(world, "250.50")
    response = _key(world, "wallet:read").get(f"/clients/{world.client.code}/wallet/balances")
    assert response.status_code == 200, response.content
    assert response.json() == [{"currency": "USD", "balance": "1000", "held": "250.5", "available": "749.5"}]


def test_balances_permission_trio_for_keys(world):
    path = f"/clients/{world.client.code}/wallet/balances"
    assert_error(_key(world, "wallet:read", brand=world.other_brand).get(path), 404, "not_found")
    assert_error(_key(world, "trading:read").get(path), 403, "missing_scope")


def test_staff_read_balances_with_finances_permission_in_their_brand_only(world, login_verified):
    path = f"{API}/clients/{world.client.code}/wallet/balances"
    assert session_client(world.finance, login_verified).get(path).status_code == 200
    assert_error(session_client(world.outsider, login_verified).get(path), 404, "not_found")
    assert_error(session_client(world.agent).get(path), 404, "not_found")  # sees the client, not its money


# --- lists --------------------------------------------------------------------------------------------


def test_withdrawals_page_newest_first_and_filter_by_state_provider_and_period(world):
    first, second, third = _request(world, "100"), _request(world, "50"), _request(world, "20")
    api = _key(world, "wallet:read")
    seen, cursor = [], None
    while True:
        body = api.get("/withdrawals", {"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [w["code"] for w in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(third.code), str(second.code), str(first.code)]
    item = api.get(f"/withdrawals/{first.code}").json()
    assert item["amount"] == "100" and item["currency"] == "USD" and item["state"] == "requested"
    assert item["provider"] == world.provider.code and item["approvals"] == 0
    assert len(api.get("/withdrawals", {"state": "requested", "provider": world.provider.code}).json()["items"]) == 3
    assert api.get("/withdrawals", {"provider": "nobody"}).json()["items"] == []
    later = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    assert api.get("/withdrawals", {"since": later}).json()["items"] == []
    assert assert_error(api.get("/withdrawals", {"state": "lost"}), 422, "invalid")["fields"].keys() == {"state"}
    assert_error(_key(world, "wallet:read", brand=world.other_brand).get(f"/withdrawals/{first.code}"), 404)
    assert _key(world, "wallet:read", brand=world.other_brand).get("/withdrawals").json()["items"] == []


def test_deposits_list_with_status_filter_and_refund_amounts_read_by_the_money_parser(world, login_verified):
    deposit = demo_wire_deposit(provider=world.wire, client=world.client, amount=usd("300"), at=timezone.now(), n=1)
    api = _key(world, "wallet:read", "wallet:write")
    items = api.get("/deposits", {"status": "succeeded"}).json()["items"]
    assert [d["code"] for d in items] == [str(deposit.code)]
    assert items[0]["amount"] == "300" and items[0]["currency"] == "USD" and items[0]["provider"] == "wire-api"
    assert api.get("/deposits", {"status": "failed"}).json()["items"] == []
    assert "status" in assert_error(api.get("/deposits", {"status": "paid"}), 422)["fields"]
    path = f"/deposits/{deposit.code}/refunds"
    assert "amount" in assert_error(api.post(path, {"amount": "1e3", "reason": "r"}), 422)["fields"]
    # Issue 57: each of these was refunded. One grammar: ASCII digits, one point, no sign or exponent.
    for amount in ("1E2", "\u0967\u0966", ".5", "+5", " 5", "5 ", "\uff15", "\u0665", "1,0"):
        assert "amount" in assert_error(api.post(path, {"amount": amount, "reason": "r"}), 422)["fields"], amount
    assert "currency" in assert_error(api.post(path, {"amount": "5", "currency": "usd", "reason": "r"}),
                                      422)["fields"]
    deposit.refresh_from_db()
    assert deposit.refunded == 0
    assert "amount" in assert_error(api.post(path, {"amount": "10.001", "reason": "r"}), 422)["fields"]
    assert "amount" in assert_error(api.post(path, {"amount": "-5", "reason": "r"}), 422)["fields"]
    assert "amount" in assert_error(api.post(path, {"amount": "400", "reason": "r"}), 422)["fields"]  # above it
    assert "currency" in assert_error(api.post(path, {"amount": "5", "currency": "EUR", "reason": "r"}),
                                      422)["fields"]
    assert "currency" in assert_error(api.post(path, {"amount": "5", "currency": "ZZZ", "reason": "r"}),
                                      422)["fields"]
    assert_error(_key(world, "wallet:read").post(path, {"amount": "5", "reason": "r"}), 403, "missing_scope")
    assert_error(_key(world, "wallet:write", brand=world.other_brand).post(path, {"amount": "5", "reason": "r"}), 404)
    # Staff without the refund permission: as if the deposit were not there.
    agent = session_client(world.agent)
    assert_error(post_json(agent, path, {"amount": "5", "reason": "r"}), 404)


# --- decisions ------------------------------------------------------------------------------------------


def test_a_key_approves_a_withdrawal_needing_one_approval_and_the_audit_names_it(world):
    w = _request(world, "100")
    response = _key(world, "wallet:approve").post(f"/withdrawals/{w.code}/approval")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "approved"
    w.refresh_from_db()
    assert w.state == S.APPROVED
    row = AuditLog.objects.filter(action="wallet.withdrawal_approved").latest("pk")
    assert row.actor is None and row.source == "api"
    again = _key(world, "wallet:approve").post(f"/withdrawals/{w.code}/approval")
    assert_error(again, 409, "withdrawal_not_requested")


def test_four_eyes_hold_through_the_api(world, login_verified):
    withdrawal_policy_save(brand=world.brand, actor=None, four_eyes_above={"USD": "500"})
    w = _request(world, "600")
    assert_error(_key(world, "wallet:approve").post(f"/withdrawals/{w.code}/approval"), 403, "four_eyes_needs_staff")
    one = session_client(world.finance, login_verified)
    path = f"/withdrawals/{w.code}/approval"
    first = post_json(one, path, {})
    assert first.status_code == 200 and first.json()["approvals"] == 1 and first.json()["state"] == "requested"
    assert_error(post_json(one, path, {}), 409, "withdrawal_four_eyes")
    second = post_json(session_client(world.finance2, login_verified), path, {})
    assert second.status_code == 200 and second.json()["state"] == "approved" and second.json()["approvals"] == 2


def test_rejection_needs_a_reason_the_scope_and_the_brand(world, login_verified):
    w = _request(world, "100")
    path = f"/withdrawals/{w.code}/rejection"
    assert_error(_key(world, "wallet:read").post(path, {"reason": "No"}), 403, "missing_scope")
    assert_error(_key(world, "wallet:approve", brand=world.other_brand).post(path, {"reason": "No"}), 404)
    assert "reason" in assert_error(_key(world, "wallet:approve").post(path, {"reason": ""}), 422)["fields"]
    assert_error(post_json(session_client(world.outsider, login_verified), path, {"reason": "No"}), 404)
    assert_error(post_json(session_client(world.agent), path, {"reason": "No"}), 404)
    done = post_json(session_client(world.finance, login_verified), path, {"reason": "Card not the client's"})
    assert done.status_code == 200 and done.json()["state"] == "rejected"
    assert done.json()["reason"] == "Card not the client's"
    balances = _key(world, "wallet:read").get(f"/clients/{world.client.code}/wallet/balances").json()
    assert balances[0]["available"] == "1000"  # the hold is released


def test_a_transfer_names_the_account_that_is_not_the_clients(world):
    path = f"/clients/{world.client.code}/transfers"
    body = {"target": "0b6f1a7e-8a49-4c8e-9d0e-3b7f5f3d2c11", "amount": "10", "key": "t-1"}
    assert "target" in assert_error(_key(world, "wallet:write").post(path, body), 422, "invalid")["fields"]
    nowhere = assert_error(_key(world, "wallet:write").post(path, {"amount": "10", "key": "t-2"}), 422)
    assert "target" in nowhere["fields"]
    assert_error(_key(world, "wallet:read").post(path, body), 403, "missing_scope")
    assert_error(_key(world, "wallet:write", brand=world.other_brand).post(path, body), 404)
    assert_error(post_json(session_client(world.agent), path, body), 404)  # no wallet.transfer_funds
