"""A deposit's refund above the brand's refund threshold (its withdrawal policy, per currency) waits for
a second person through crm.lib.approvals (wallet.deposits.REFUND_APPROVAL): never its proposer, sent to
the PSP simulator only once approved, nothing sent when sent back; below the threshold it goes at once.
Through the services, finance's deposit page and the API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.exceptions import ValidationFailed
from crm.lib.money import Money
from crm.models import AuditLog, RoleCode, Stage
from tests.crm.api_support import KeyClient, assert_error, new_key, post_json, session_client
from tests.factories import make_brand, make_client, make_user
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET
from tests.wallet.support import checkout
from wallet.deposits import (
    REFUND_APPROVAL,
    deposit_create,
    deposit_refund,
    deposit_refund_approve,
    deposit_refund_send_back,
    deposit_refundable,
)
from wallet.exceptions import RefundFourEyesRefused
from wallet.ledger import available, balance, wallet_account_for
from wallet.models import DepositStatus
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save
from wallet.webhooks import webhook_receive
from wallet.withdrawals import withdrawal_policy_save

CARD_OK = "4242424242424242"


class World:
    def __init__(self, psp, hooks):
        self.psp, self.hooks = psp, hooks
        self.provider = payment_provider_save(code="psp-sim", name="PSP simulator", kind="simulator",
                                              base_url=psp.base_url, api_key=API_KEY, api_secret=API_SECRET,
                                              webhook_secret=WEBHOOK_SECRET)
        self.brand = make_brand()
        payment_method_save(brand=self.brand, method="card", direction="deposit", provider=self.provider,
                            currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"))])
        self.client = make_client(brand=self.brand, country="DE", stage=Stage.VERIFIED)
        self.admin = make_user(role_code=RoleCode.ADMIN, brand=self.brand)
        self.first = make_user(role_code=RoleCode.FINANCE, brand=self.brand)
        self.second = make_user(role_code=RoleCode.FINANCE, brand=self.brand)
        # The threshold is data: the brand's policy, as an administrator saves it on the policy page.
        withdrawal_policy_save(brand=self.brand, actor=self.admin, refund_four_eyes_above={"USD": "500"})

    def paid(self, amount: str):
        deposit = deposit_create(client=self.client, amount=Money(amount, "USD"), method="card", return_url="")
        checkout(deposit.redirect_url, {"card_number": CARD_OK})
        for call in self.hooks.wait_of(deposit.merchant_ref, 1):
            webhook_receive(provider_code="psp-sim", headers=call.headers, body=call.body)
        deposit.refresh_from_db()
        assert deposit.status == DepositStatus.SUCCEEDED
        return deposit

    def wallet(self):
        return wallet_account_for(client=self.client, currency="USD")


@pytest.fixture
def world(db, psp, hooks, settings):
    settings.CRM_PUBLIC_URL = hooks.url.removesuffix("/hooks")
    return World(psp, hooks)


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def test_a_refund_at_or_below_the_threshold_goes_to_the_provider_at_once(world):
    deposit = world.paid("1000")
    refund = deposit_refund(deposit=deposit, amount=usd("500"), actor=world.first, reason="Client asked")
    assert refund.status == "succeeded" and refund.provider_ref
    assert refund.proposed_by is None and not REFUND_APPROVAL.needed(refund, {})
    assert balance(world.wallet()) == usd("500")


def test_above_the_threshold_the_refund_waits_and_the_proposer_cannot_approve_it(world):
    deposit = world.paid("1000")
    refund = deposit_refund(deposit=deposit, amount=usd("600"), actor=world.first, reason="Client asked")
    assert refund.status == "pending_approval" and refund.proposed_by == world.first and not refund.provider_ref
    # Nothing asked of the provider, nothing taken from the wallet; what is waiting is not refundable again.
    assert balance(world.wallet()) == usd("1000") and deposit_refundable(deposit) == usd("400")
    with pytest.raises(ValidationFailed):
        deposit_refund(deposit=deposit, amount=usd("401"), actor=world.second, reason="More")
    for attempt in (lambda: deposit_refund_approve(refund=refund, actor=world.first),
                    lambda: deposit_refund_send_back(refund=refund, actor=world.first, reason="Changed my mind")):
        with pytest.raises(RefundFourEyesRefused) as refused:
            attempt()
        assert refused.value.code == "refund_four_eyes"
    refund.refresh_from_db()
    assert refund.status == "pending_approval" and refund.approved_by is None
    assert AuditLog.objects.filter(action="wallet.deposit_refund_proposed", object_id=str(refund.code)).count() == 1
    assert not AuditLog.objects.filter(action__in=["wallet.deposit_refund_approved",
                                                   "wallet.deposit_refund_sent_back"]).exists()


def test_a_second_person_approves_and_the_refund_is_sent_to_the_provider(world):
    deposit = world.paid("1000")
    refund = deposit_refund(deposit=deposit, amount=usd("1000"), actor=world.first, reason="Duplicate payment")
    done = deposit_refund_approve(refund=refund, actor=world.second)
    deposit.refresh_from_db()
    assert done.status == "succeeded" and done.provider_ref and done.approved_by == world.second
    assert deposit.status == DepositStatus.REFUNDED and balance(world.wallet()) == usd("0")
    approved = AuditLog.objects.get(action="wallet.deposit_refund_approved")
    assert approved.actor_id == world.second.pk and approved.after["proposed_by"] == str(world.first.code)
    assert AuditLog.objects.filter(action="wallet.deposit_refunded").count() == 1
    with pytest.raises(RefundFourEyesRefused) as again:
        deposit_refund_approve(refund=done, actor=world.admin)
    assert again.value.code == "refund_not_pending"


def test_sending_back_clears_the_proposal_and_refunds_nothing(world):
    deposit = world.paid("1000")
    refund = deposit_refund(deposit=deposit, amount=usd("800"), actor=world.first, reason="Client asked")
    with pytest.raises(ValidationFailed):
        deposit_refund_send_back(refund=refund, actor=world.second, reason="  ")
    back = deposit_refund_send_back(refund=refund, actor=world.second, reason="The client traded it since")
    assert back.status == "sent_back" and back.proposed_by is None and back.proposed_at is None
    assert not back.provider_ref and balance(world.wallet()) == usd("1000")
    assert deposit_refundable(deposit) == usd("1000")
    row = AuditLog.objects.get(action="wallet.deposit_refund_sent_back")
    assert row.actor_id == world.second.pk and row.reason == "The client traded it since"
    assert row.after["proposed_by"] == str(world.first.code)
    with pytest.raises(RefundFourEyesRefused):
        deposit_refund_approve(refund=back, actor=world.second)


def test_approval_checks_the_wallet_again_and_approves_nothing_once_the_money_is_spent(world):
    from wallet.ledger import Leg, ledger_post, system_account_for

    deposit = world.paid("1000")
    refund = deposit_refund(deposit=deposit, amount=usd("900"), actor=world.first, reason="Client asked")
    fees = system_account_for(brand=world.brand, kind="fees", currency="USD")
    ledger_post(key="spent", kind="withdrawal", legs=[Leg(world.wallet(), usd("-300")), Leg(fees, usd("300"))])
    with pytest.raises(ValidationFailed) as spent:
        deposit_refund_approve(refund=refund, actor=world.second)
    assert "amount" in spent.value.fields
    refund.refresh_from_db()
    assert refund.status == "pending_approval" and refund.approved_by is None


def test_the_threshold_is_the_brands_data_per_currency(world):
    deposit = world.paid("1000")
    withdrawal_policy_save(brand=world.brand, actor=world.admin, refund_four_eyes_above={"USD": "2000"})
    assert deposit_refund(deposit=deposit, amount=usd("600"), actor=world.first, reason="a").status == "succeeded"
    withdrawal_policy_save(brand=world.brand, actor=world.admin, refund_four_eyes_above={"USD": "100"})
    assert deposit_refund(deposit=deposit, amount=usd("150"), actor=world.first, reason="b").status == "pending_approval"
    withdrawal_policy_save(brand=world.brand, actor=world.admin, refund_four_eyes_above={})
    assert deposit_refund(deposit=deposit, amount=usd("150"), actor=world.first, reason="c").status == "succeeded"
    saved = AuditLog.objects.filter(action="wallet.withdrawal_policy_saved").order_by("-id").first()
    assert saved.before["refund_four_eyes"] == {"USD": "100.00"} and saved.after["refund_four_eyes"] == {}


def test_finance_proposes_and_a_colleague_approves_or_sends_back_on_the_deposits_page(world, login_verified):
    deposit = world.paid("1000")
    first, second = HttpClient(), HttpClient()
    login_verified(first, world.first)
    login_verified(second, world.second)
    page_url = reverse("wallet_deposit_detail", args=[deposit.code])
    asked = first.post(reverse("wallet_deposit_refund", args=[deposit.code]), {"amount": "700", "reason": "Asked"},
                       follow=True)
    assert "waits for a second person" in asked.content.decode()
    refund = deposit.refunds.get()
    approve_url = reverse("wallet_deposit_refund_approve", args=[deposit.code, refund.code])
    back_url = reverse("wallet_deposit_refund_send_back", args=[deposit.code, refund.code])
    own = first.get(page_url).content.decode()
    assert "Waiting for a second person" in own and approve_url not in own and "You asked for this refund" in own
    refused = first.post(approve_url, follow=True).content.decode()
    assert "A second person must approve this refund." in refused
    refund.refresh_from_db()
    assert refund.status == "pending_approval"

    theirs = second.get(page_url).content.decode()
    assert approve_url in theirs and back_url in theirs
    done = second.post(approve_url, follow=True).content.decode()
    assert "Refunded 700.00\u00a0USD to the client" in done
    refund.refresh_from_db()
    assert refund.status == "succeeded" and refund.approved_by == world.second
    assert available(world.wallet()) == usd("300")

    other = world.paid("1000")
    first.post(reverse("wallet_deposit_refund", args=[other.code]), {"amount": "1000", "reason": "All of it"})
    waiting = other.refunds.get()
    back = second.post(reverse("wallet_deposit_refund_send_back", args=[other.code, waiting.code]),
                       {"reason": "No: bonus abuse under review"}, follow=True).content.decode()
    assert "was sent back; nothing was refunded" in back and "Sent back: not refunded" in back
    waiting.refresh_from_db()
    assert waiting.status == "sent_back"
    # Without the refund permission the buttons are not there and the posts find nothing.
    agent = HttpClient()
    login_verified(agent, make_user(role_code=RoleCode.SALES_AGENT, brand=world.brand))
    assert agent.post(approve_url).status_code == 404


def test_the_api_returns_the_pending_state_and_only_people_approve(world, login_verified):
    deposit = world.paid("1000")
    first = session_client(world.first, login_verified)
    second = session_client(world.second, login_verified)
    key = KeyClient(new_key(world.brand, scopes=["wallet:write", "wallet:read"], actor=world.admin))
    # Four eyes count people: a key may not ask for a refund above the threshold.
    assert_error(key.post(f"/deposits/{deposit.code}/refunds", {"amount": "600", "reason": "key"}), 403,
                 "four_eyes_needs_staff")
    created = post_json(first, f"/deposits/{deposit.code}/refunds", {"amount": "750", "reason": "Client asked"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "pending_approval" and body["proposed_by"] == str(world.first.code)
    path = f"/deposits/{deposit.code}/refunds/{body['code']}"
    assert_error(post_json(first, f"{path}/approval", {}), 409, "refund_four_eyes")
    assert_error(key.post(f"{path}/approval", {}), 403, "four_eyes_needs_staff")
    approved = post_json(second, f"{path}/approval", {})
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "succeeded" and approved.json()["approved_by"] == str(world.second.code)
    assert_error(post_json(second, f"{path}/sending-back", {"reason": "late"}), 409, "refund_not_pending")
    # Below the threshold a key refunds at once, as before.
    small = key.post(f"/deposits/{deposit.code}/refunds", {"amount": "100", "reason": "key"})
    assert small.status_code == 201 and small.json()["status"] == "succeeded"
