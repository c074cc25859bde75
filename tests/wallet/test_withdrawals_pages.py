"""The withdrawal pages: the trader's room page (blockers before submitting, htmx re-check, the
form, cancel) and finance's queue (approve, four eyes, reject), each with its permission trio."""
# ruff: noqa: F811 - pytest fixtures imported from the portal's conftest are redefined as arguments

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.fieldcrypt import keyed_hash
from crm.lib.money import Money
from portal.models import ClientLogin
from portal.services import portal_email_verify, verification_token
from tests.portal.conftest import (  # noqa: F401 - fixtures
    _portal_budgets,
    brand,
    eager_celery,
    http,
    ip,
    register,
    sign_in,
)
from tests.wallet.withdrawal_support import CARD, build_world
from wallet.ledger import available, wallet_account_for
from wallet.models import Withdrawal, WithdrawalState
from wallet.withdrawals import withdrawal_policy_save, withdrawal_request

S = WithdrawalState


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


def _registered(register, brand, email, **fields):
    response = register(brand, email=email, **fields)
    assert response.status_code == 302, response.content.decode()[:1000]
    login = ClientLogin.objects.get(email_hash=keyed_hash(email, kind="email"))
    portal_email_verify(token=verification_token(login))
    return login


@pytest.fixture
def world(brand, register, http):
    owner = _registered(register, brand, "nadia.hassan@example.com")
    other = _registered(register, brand, "omar.other@example.com", first_name="Omar", last_name="Other",
                        phone="+442071838222")
    world = build_world(brand=brand, client=owner.client)
    world.other = other
    assert sign_in(http, brand).status_code == 302
    return world


def test_the_page_shows_the_form_and_the_htmx_check_names_what_blocks(world, http):
    page = http.get(reverse("portal:withdraw"))
    assert page.status_code == 200
    assert b"USD: 1,000.00 available" in page.content and b"hx-get" in page.content
    assert b"set aside" not in page.content  # nothing is held: nothing to say about it
    check = http.get(reverse("portal:withdraw_check"), {"currency": "USD", "amount": "5000",
                                                        "method": str(world.card.code)})
    assert check.status_code == 200 and b'data-code="insufficient_funds"' in check.content
    fine = http.get(reverse("portal:withdraw_check"), {"currency": "USD", "amount": "100",
                                                       "method": str(world.card.code)})
    assert b"Nothing stands in the way" in fine.content


def test_the_fee_and_what_is_paid_out_are_shown_before_the_request_and_in_the_list(world, http):
    # The card's payouts cost 1.00 USD: said while the client fills the form, then beside the request.
    check = http.get(reverse("portal:withdraw_check"), {"currency": "USD", "amount": "100",
                                                        "method": str(world.card.code)}).content.decode()
    assert 'id="withdraw-quote"' in check and 'data-fee="1.00"' in check and 'data-net="99.00"' in check
    assert "Paid out to you" in check and "99.00" in check
    response = http.post(reverse("portal:withdraw"), {"currency": "USD", "amount": "100",
                                                      "method": str(world.card.code), "destination": "4242424242424242"})
    assert response.status_code == 302
    row = http.get(reverse("portal:withdraw")).content.decode().split("<tbody>", 1)[1]
    assert "100.00" in row and "1.00" in row and "99.00" in row


def test_the_client_requests_and_cancels_a_withdrawal_from_the_page(world, http):
    response = http.post(reverse("portal:withdraw"), {"currency": "USD", "amount": "250",
                                                      "method": str(world.card.code), "destination": "4242424242424242"})
    assert response.status_code == 302
    w = Withdrawal.objects.get(client=world.client)
    assert w.state == S.REQUESTED and w.requested_by is None
    wallet = wallet_account_for(client=world.client, currency="USD")
    assert available(wallet) == Money("750", "USD")
    page = http.get(reverse("portal:withdraw"))
    assert "…4242" in page.content.decode() and reverse("portal:withdraw_cancel", args=[w.code]).encode() in page.content
    assert "USD: 750.00 available (250.00 set aside for withdrawals)" in page.content.decode()
    assert http.post(reverse("portal:withdraw_cancel", args=[w.code])).status_code == 302
    w.refresh_from_db()
    assert w.state == S.CANCELLED and available(wallet) == Money("1000", "USD")


def test_a_blocked_request_says_why_and_holds_nothing(world, http):
    response = http.post(reverse("portal:withdraw"), {"currency": "USD", "amount": "1500",
                                                      "method": str(world.card.code), "destination": "4242"})
    assert response.status_code == 400 and b'data-code="insufficient_funds"' in response.content
    assert not Withdrawal.objects.filter(client=world.client).exists()


def test_a_negative_amount_is_refused_once_beside_its_field(world, http):
    response = http.post(reverse("portal:withdraw"), {"currency": "USD", "amount": "-5",
                                                      "method": str(world.card.code), "destination": "4242"})
    page = response.content.decode()
    assert response.status_code == 400 and page.count("Enter an amount above zero.") == 1
    assert "Nothing stands in the way" not in page  # the panel does not contradict the field
    assert not Withdrawal.objects.filter(client=world.client).exists()


def test_another_client_and_a_signed_out_visitor_cannot_cancel_the_withdrawal(world, http, ip):
    w = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    other = HttpClient(REMOTE_ADDR=ip)
    assert sign_in(other, world.brand, email="omar.other@example.com").status_code == 302
    assert other.post(reverse("portal:withdraw_cancel", args=[w.code])).status_code == 404
    anonymous = HttpClient(REMOTE_ADDR=ip)
    assert anonymous.post(reverse("portal:withdraw_cancel", args=[w.code])).status_code == 302  # to the login
    w.refresh_from_db()
    assert w.state == S.REQUESTED


def test_finance_approves_twice_by_two_people_and_others_see_nothing(world, login_verified):
    withdrawal_policy_save(brand=world.brand, actor=None, four_eyes_above={"USD": "500"})
    w = withdrawal_request(client=world.client, amount=Money("600", "USD"), method=world.card, destination=CARD)
    staff = HttpClient()
    login_verified(staff, world.finance)
    page = staff.get(reverse("wallet_withdrawal_queue"))
    assert page.status_code == 200 and b"two approvers" in page.content
    staff.post(reverse("wallet_withdrawal_approve", args=[w.code]))
    staff.post(reverse("wallet_withdrawal_approve", args=[w.code]))  # the same person again: refused
    w.refresh_from_db()
    assert w.state == S.REQUESTED and w.second_approved_by is None
    second = HttpClient()
    login_verified(second, world.finance2)
    second.post(reverse("wallet_withdrawal_approve", args=[w.code]))
    w.refresh_from_db()
    assert w.state == S.APPROVED and w.second_approved_by == world.finance2

    for user in (world.outsider, world.agent):
        someone = HttpClient()
        login_verified(someone, user)
        assert someone.post(reverse("wallet_withdrawal_reject", args=[w.code]), {"reason": "x"}).status_code == 404
        page = someone.get(reverse("wallet_withdrawal_queue"))
        assert page.status_code == 404 or str(w.code).encode() not in page.content


def test_finance_rejects_with_a_reason_from_the_queue(world, login_verified):
    w = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.card, destination=CARD)
    staff = HttpClient()
    login_verified(staff, world.finance)
    staff.post(reverse("wallet_withdrawal_reject", args=[w.code]), {"reason": ""})
    w.refresh_from_db()
    assert w.state == S.REQUESTED
    staff.post(reverse("wallet_withdrawal_reject", args=[w.code]), {"reason": "Name on the card differs"})
    w.refresh_from_db()
    assert w.state == S.REJECTED and w.reason == "Name on the card differs"
