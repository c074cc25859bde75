"""The payment flags finance sees on a withdrawal (issue 60, section 3): failed deposit attempts in a row,
card velocity, a new payout destination soon after a deposit, third-party funding, and a chargeback
(which holds). Deposits go through the PSP simulator's hosted page and its signed webhooks. A flag keeps
the withdrawal from automatic approval; only a holding flag stops finance approving it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.exceptions import Conflict
from crm.lib.money import Money
from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_user
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET
from tests.wallet.support import checkout
from tests.wallet.withdrawal_support import kyc_approve
from wallet.deposits import deposit_create
from wallet.disputes import dispute_outcome_record
from wallet.models import DepositStatus, Dispute, WithdrawalState
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.selectors import withdrawal_flags, withdrawal_holds
from wallet.services import (
    register_risk_flag_check,
    unregister_risk_flag_check,
    withdrawal_approve,
    withdrawal_policy_save,
    withdrawal_request,
)
from wallet.webhooks import webhook_receive
from wallet.withdrawal_flags import RiskFlag

S = WithdrawalState
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000002"
OTHER_CARDS = ("4000008260000000", "4000002760000016")
RETURN = "https://crm.example.com/portal/wallet/deposit/return/"


class World:
    def __init__(self, psp, hooks):
        self.psp, self.hooks = psp, hooks
        self.provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator",
                                              base_url=psp.base_url, api_key=API_KEY, api_secret=API_SECRET,
                                              webhook_secret=WEBHOOK_SECRET)
        self.brand = make_brand()
        usd = [CurrencyRule("USD", Decimal("10"), Decimal("5000"))]
        for order, method in enumerate(("card", "ewallet")):
            payment_method_save(brand=self.brand, method=method, direction="deposit", provider=self.provider,
                                currencies=usd, order=order)
        self.card = payment_method_save(brand=self.brand, method="card", direction="withdrawal",
                                        provider=self.provider, currencies=usd, order=10)
        self.ewallet = payment_method_save(brand=self.brand, method="ewallet", direction="withdrawal",
                                           provider=self.provider, currencies=usd, order=20)
        self.client = make_client(brand=self.brand, first_name="Nadia", last_name="Hassan", country="GB",
                                  stage="registered")
        kyc_approve(self.client)
        self.finance = make_user(role_code=RoleCode.FINANCE, brand=self.brand, full_name="Finance One")
        withdrawal_policy_save(brand=self.brand, actor=None, auto_approve_below={"USD": "5000"})

    def pay(self, amount: str = "500.00", *, card: str = CARD_OK, holder: str = "", method: str = "card",
            email: str = "nadia@example.com"):
        """A deposit paid on the simulator's hosted page, its webhook delivered to the inbox."""
        deposit = deposit_create(client=self.client, amount=Money(amount, "USD"), method=method, return_url=RETURN)
        form = {"card_number": card, "card_holder": holder} if method == "card" else {"email": email}
        checkout(deposit.redirect_url, form)
        [hook] = self.hooks.wait_of(deposit.merchant_ref, 1)
        webhook_receive(provider_code="psp-sim", headers=hook.headers, body=hook.body)
        deposit.refresh_from_db()
        return deposit

    def withdraw(self, amount: str = "100", *, method=None, destination=None):
        return withdrawal_request(client=self.client, amount=Money(amount, "USD"), method=method or self.card,
                                  destination=destination or {"card": CARD_OK})


@pytest.fixture(autouse=True)
def _kyc_storage(settings, tmp_path):
    settings.KYC_STORAGE_DIR = tmp_path / "kyc-private"


@pytest.fixture
def world(db, psp, hooks, settings):
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    return World(psp, hooks)


def kinds(flags) -> list[str]:
    return [f.kind for f in flags]


def test_a_clean_client_is_approved_automatically(world):
    world.pay()
    w = world.withdraw()
    assert w.state == S.APPROVED and w.auto_approved and withdrawal_flags(withdrawal=w) == []


def test_failed_attempts_in_a_row_flag_without_holding_and_finance_approves(world, settings):
    world.pay()
    for _ in range(3):
        assert world.pay("50.00", card=CARD_DECLINED).status == DepositStatus.FAILED
    w = world.withdraw()
    assert w.state == S.REQUESTED and not w.auto_approved  # a flag: a person looks first
    [flag] = withdrawal_flags(withdrawal=w)
    assert (flag.kind, flag.holds, flag.reason) == ("failed_attempts", False, "3 failed deposit attempts in a row.")
    assert withdrawal_approve(withdrawal=w, actor=world.finance).state == S.APPROVED
    # One success ends the run; the threshold is a setting.
    settings.WALLET_FLAG_FAILED_DEPOSITS_IN_A_ROW = 4
    assert withdrawal_flags(withdrawal=w) == []


def test_several_cards_in_a_few_days_is_card_velocity(world, settings):
    world.pay("300.00")
    for card in OTHER_CARDS:
        world.pay("300.00", card=card)
    w = world.withdraw()
    assert w.state == S.REQUESTED
    [flag] = withdrawal_flags(withdrawal=w)
    assert flag.kind == "card_velocity" and flag.reason == "3 different cards in the last 7 days."
    settings.WALLET_FLAG_CARDS = 4
    assert withdrawal_flags(withdrawal=w) == []


def test_third_party_funding_is_shown_to_finance_and_holds_when_the_settings_say_so(world, settings, login_verified):
    paid = world.pay(holder="Someone Else")
    assert paid.payer_is_client is False
    w = world.withdraw()
    assert w.state == S.REQUESTED and kinds(withdrawal_flags(withdrawal=w)) == ["third_party_funding"]
    staff = HttpClient()
    login_verified(staff, world.finance)
    queue = staff.get(reverse("wallet_withdrawal_queue")).content.decode()
    assert 'data-flag="third_party_funding"' in queue and "paid by Someone Else" in queue
    assert reverse("wallet_deposit_detail", args=[paid.code]) in queue  # finance may open the deposit

    settings.WALLET_FLAGS_THAT_HOLD = ["third_party_funding"]
    assert kinds(withdrawal_holds(withdrawal=w)) == ["third_party_funding"]
    with pytest.raises(Conflict) as refused:
        withdrawal_approve(withdrawal=w, actor=world.finance)
    assert refused.value.code == "withdrawal_held" and "Third-party funding" in refused.value.message


def test_an_open_chargeback_holds_the_clients_withdrawals(world, settings):
    first = world.pay("200.00")
    world.pay("500.00")
    world.psp.control("/_sim/chargeback", {"payment_id": first.provider_ref, "reason": "fraud"})
    [_, hook] = world.hooks.wait_of(first.merchant_ref, 2)
    webhook_receive(provider_code="psp-sim", headers=hook.headers, body=hook.body)
    # Finance loses the dispute the chargeback opened (while it is open, it holds too: tests/wallet/test_disputes.py).
    dispute_outcome_record(dispute=Dispute.objects.get(deposit=first), outcome="lost", note="", actor=None)
    first.refresh_from_db()
    assert first.status == DepositStatus.CHARGED_BACK
    w = world.withdraw()
    assert w.state == S.REQUESTED
    [hold] = withdrawal_holds(withdrawal=w)
    assert hold.kind == "chargeback" and "charged back" in hold.reason
    with pytest.raises(Conflict):
        withdrawal_approve(withdrawal=w, actor=world.finance)
    settings.WALLET_CHARGEBACK_HOLD_DAYS = 0  # the window is a setting: past it, nothing holds
    assert withdrawal_approve(withdrawal=w, actor=world.finance).state == S.APPROVED


def test_a_payout_destination_first_used_right_after_a_deposit_is_flagged(world):
    world.pay(method="ewallet", email="nadia@example.com")
    w = world.withdraw(method=world.ewallet, destination={"ewallet": "mule@example.com"})
    assert w.state == S.REQUESTED
    [flag] = withdrawal_flags(withdrawal=w)
    assert flag.kind == "new_destination" and not flag.holds


def test_a_registered_check_holds_and_is_gone_when_unregistered(world):
    world.pay()

    def review(*, client, at):
        return [RiskFlag(kind="review", label="Review", reason="Secret reason", permission="compliance.view_case")]

    register_risk_flag_check(review)
    try:
        w = world.withdraw()
        assert w.state == S.REQUESTED
        with pytest.raises(Conflict):
            withdrawal_approve(withdrawal=w, actor=world.finance)
    finally:
        unregister_risk_flag_check(review)
    assert withdrawal_approve(withdrawal=w, actor=world.finance).state == S.APPROVED
