# ruff: noqa: F811 - the deposits' fixture is imported, then named as an argument
"""Finance decides a deposit held because the provider confirmed another currency than asked
(wallet.deposits.deposit_release, deposit_refuse), from the deposit's page: released, the money is
credited once, in the currency the provider took; refused, the provider returns it to the payer
and nothing reaches the client's wallet. A second click changes nothing; staff without the
permission, or outside the brand, get 404. Driven through the PSP simulator's ``paid_amount``
fault and its signed webhook."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.exceptions import NotAllowed
from crm.lib.money import Money
from crm.models import AuditLog, Event, RoleCode
from tests.factories import make_brand, make_user
from tests.wallet.test_deposits import _pay, world  # noqa: F401 - the fixture, named as an argument below
from wallet.deposits import deposit_release
from wallet.ledger import balance, clearing_account_for, ledger_verify, system_account_for, wallet_account_for
from wallet.models import AccountKind, DepositRefund, DepositStatus, LedgerTransaction
from wallet.provider_services import CurrencyRule, payment_method_save

pytestmark = pytest.mark.django_db


def _takes_euros(world):
    """The brand's card method takes EUR as well, so that it keeps client wallets in EUR."""
    payment_method_save(brand=world.brand, method="card", direction="deposit", provider=world.provider, order=10,
                        currencies=[CurrencyRule("USD", Decimal("10"), Decimal("5000"), Decimal("0.50")),
                                    CurrencyRule("EUR", Decimal("10"), Decimal("5000"), Decimal("0.50"))])


def _held(world, *, paid="92.00", currency="EUR"):
    world.psp.faults({"type": "paid_amount", "amount": paid, "currency": currency, "count": 1})
    deposit = _pay(world, amount="100.00")
    [receipt] = world.deliver(deposit)
    deposit.refresh_from_db()
    assert receipt.outcome == "accepted" and deposit.status == DepositStatus.HELD
    return deposit


def _finance(world, login_verified, brand=None):
    staff = HttpClient()
    login_verified(staff, make_user(role_code=RoleCode.FINANCE, brand=brand or world.brand))
    return staff


def test_finance_releases_a_deposit_confirmed_in_another_currency_and_the_wallet_is_credited_once(
        world, login_verified):
    _takes_euros(world)
    deposit = _held(world)
    # Held: what the provider took is the deposit's money now; what was asked is kept.
    assert deposit.money == Money("92.00", "EUR") and deposit.requested_money == Money("100.00", "USD")
    staff = _finance(world, login_verified)
    page_url = reverse("wallet_deposit_detail", args=[deposit.code])
    release_url = reverse("wallet_deposit_release", args=[deposit.code])

    page = staff.get(page_url).content.decode().replace("\xa0", " ")
    assert f'action="{release_url}"' in page and 'action="{}"'.format(
        reverse("wallet_deposit_refuse", args=[deposit.code])) in page
    assert "confirmed 92.00 EUR" in page and "asked to pay 100.00 USD" in page
    assert "not converted" in page  # the page says why the money is credited as it arrived

    assert staff.post(release_url, {"release-reason": ""}).status_code == 400  # a decision says why
    done = staff.post(release_url, {"release-reason": "Card charged in EUR by the issuer; client agreed."})

    assert done.status_code == 302 and done["Location"] == page_url
    deposit.refresh_from_db()
    euros = wallet_account_for(client=world.client, currency="EUR")
    assert deposit.status == DepositStatus.SUCCEEDED and deposit.is_first
    # Finance's reason is on the deposit's history for staff, not in the message the client reads.
    assert "issuer" not in deposit.status_message and deposit.status_changes.filter(note__contains="issuer").exists()
    assert balance(euros) == Money("92.00", "EUR")  # as the provider took it: no fee, no conversion
    assert balance(world.wallet()) == Money("0", "USD")
    clearing = clearing_account_for(provider="psp-sim", currency="EUR", brand=world.brand)
    assert balance(clearing) == Money("-92.00", "EUR")  # what the provider owes us, in its currency
    [ok] = Event.objects.filter(name="wallet.deposit_succeeded")
    assert ok.data["amount"] == "92.00" and ok.data["currency"] == "EUR" and ok.data["asked_currency"] == "USD"
    [released] = Event.objects.filter(name="wallet.deposit_released")
    assert released.actor is not None and released.data["reason"].startswith("Card charged in EUR")
    assert Event.objects.filter(name="wallet.first_deposit").count() == 1
    assert AuditLog.objects.filter(action="wallet.deposit_released").count() == 1

    postings = LedgerTransaction.objects.count()
    again = staff.post(release_url, {"release-reason": "double click"}, follow=True)
    assert again.status_code == 200 and "no longer held" in again.content.decode()
    assert balance(euros) == Money("92.00", "EUR") and LedgerTransaction.objects.count() == postings
    assert Event.objects.filter(name="wallet.deposit_succeeded").count() == 1
    world.deliver(deposit, start=0)  # the provider's webhook again credits nothing either
    assert balance(euros) == Money("92.00", "EUR") and ledger_verify() == {}


def test_finance_refuses_a_held_deposit_and_the_provider_returns_the_money_to_the_payer(world, login_verified):
    _takes_euros(world)
    deposit = _held(world)
    staff = _finance(world, login_verified)
    refuse_url = reverse("wallet_deposit_refuse", args=[deposit.code])

    done = staff.post(refuse_url, {"refuse-reason": "Client asked in USD only; returned to the card."})

    assert done.status_code == 302
    deposit.refresh_from_db()
    [refund] = DepositRefund.objects.filter(deposit=deposit)
    assert deposit.status == DepositStatus.REFUNDED and refund.status == "succeeded"
    assert refund.money == Money("92.00", "EUR")
    assert balance(wallet_account_for(client=world.client, currency="EUR")) == Money("0", "EUR")
    assert balance(world.wallet()) == Money("0", "USD")
    # Taken, then given back: the provider owes nothing and nothing waits in suspense.
    assert balance(clearing_account_for(provider="psp-sim", currency="EUR", brand=world.brand)) == Money("0", "EUR")
    assert balance(system_account_for(kind=AccountKind.SUSPENSE, currency="EUR", brand=world.brand)) == Money("0", "EUR")
    assert Event.objects.filter(name="wallet.deposit_refused").count() == 1
    assert not Event.objects.filter(name__in=["wallet.deposit_succeeded", "wallet.deposit_refunded"]).exists()

    again = staff.post(refuse_url, {"refuse-reason": "double click"}, follow=True)
    assert "no longer held" in again.content.decode()
    assert DepositRefund.objects.filter(deposit=deposit).count() == 1 and ledger_verify() == {}


def test_a_currency_the_brand_keeps_no_wallets_in_can_only_be_refused(world, login_verified):
    deposit = _held(world, paid="80.00", currency="GBP")  # the brand's methods take USD alone
    staff = _finance(world, login_verified)

    page = staff.get(reverse("wallet_deposit_detail", args=[deposit.code])).content.decode()
    assert "keeps no client wallets in GBP" in page
    assert reverse("wallet_deposit_release", args=[deposit.code]) not in page
    refused = staff.post(reverse("wallet_deposit_release", args=[deposit.code]), {"release-reason": "try anyway"})

    assert refused.status_code == 400 and "keeps no client wallets in GBP" in refused.content.decode()
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.HELD and not LedgerTransaction.objects.exists()


def test_staff_without_the_permission_or_outside_the_brand_cannot_decide_a_held_deposit(world, login_verified):
    _takes_euros(world)
    deposit = _held(world)
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=world.brand)
    colleague = HttpClient()
    colleague.force_login(agent)
    elsewhere = _finance(world, login_verified, brand=make_brand())

    for who in (colleague, elsewhere):
        assert who.get(reverse("wallet_deposit_detail", args=[deposit.code])).status_code == 404
        for name in ("wallet_deposit_release", "wallet_deposit_refuse"):
            assert who.post(reverse(name, args=[deposit.code]), {"release-reason": "x", "refuse-reason": "x"}
                            ).status_code == 404
    with pytest.raises(NotAllowed):
        deposit_release(deposit=deposit, actor=agent, reason="not mine to decide")

    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.HELD and not LedgerTransaction.objects.exists()
    assert not DepositRefund.objects.exists()
