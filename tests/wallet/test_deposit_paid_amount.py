"""A provider that confirms another amount than the one asked (wallet.deposits._succeed): the
wallet is credited what the provider confirmed, the deposit keeps the amount asked and the
difference is open in finance's reconciliation queue; another currency holds the deposit for
finance, crediting nothing. Driven through the PSP simulator's ``paid_amount`` fault and its
signed webhook."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from crm.lib.money import Money
from crm.models import RoleCode
from tests.factories import make_user
from tests.wallet.test_deposits import _pay, world  # noqa: F401 - the fixture, named as an argument below
from wallet.ledger import balance, clearing_account_for
from wallet.models import BreakKind, DepositStatus, LedgerTransaction
from wallet.reconciliation import break_resolve, breaks_for_queue

pytestmark = pytest.mark.django_db


def _finance(world):  # noqa: F811
    return make_user(role_code=RoleCode.FINANCE, brand=world.brand)


def test_a_smaller_confirmed_amount_is_credited_and_the_difference_is_a_break_resolved_once(world):  # noqa: F811
    world.psp.faults({"type": "paid_amount", "amount": "95.00", "count": 1})
    deposit = _pay(world, amount="100.00")
    [receipt] = world.deliver(deposit)

    deposit.refresh_from_db()
    assert receipt.outcome == "accepted" and deposit.status == DepositStatus.SUCCEEDED
    assert balance(world.wallet()) == Money("95.00", "USD") - deposit.fee_money  # the card's 0.50 fee
    assert deposit.money == Money("95.00", "USD")
    assert deposit.requested_money == Money("100.00", "USD")
    assert deposit.fee_money == Money("0.50", "USD")
    clearing = clearing_account_for(provider="psp-sim", currency="USD", brand=world.brand)
    assert balance(clearing) == Money("-95.00", "USD")  # what the provider owes us: what it confirmed
    assert "95.00" in deposit.status_message and "100.00" in deposit.status_message

    finance = _finance(world)
    [brk] = breaks_for_queue(user=finance, kind=BreakKind.AMOUNT_MISMATCH)
    assert brk.difference == Decimal("-5.00") and brk.currency == "USD"
    assert (brk.provider_amount, brk.ledger_amount) == (Decimal("95.00"), Decimal("100.00"))
    assert brk.transaction_id == deposit.credit_transaction_id

    postings = LedgerTransaction.objects.count()
    done = break_resolve(actor=finance, brk=brk, resolution="write_off", note="The card paid 95.")
    assert done.status == "resolved" and done.adjustment is None
    assert LedgerTransaction.objects.count() == postings  # the difference is not posted a second time
    assert balance(clearing) == Money("-95.00", "USD")
    assert balance(world.wallet()) == Money("94.50", "USD")

    world.deliver(deposit, start=0)  # the same webhook again changes nothing
    assert balance(world.wallet()) == Money("94.50", "USD")


def test_a_payment_confirmed_in_another_currency_is_held_for_finance_and_credits_nothing(world, login_verified):  # noqa: F811
    world.psp.faults({"type": "paid_amount", "amount": "100.00", "currency": "EUR", "count": 1})
    deposit = _pay(world, amount="100.00")
    [receipt] = world.deliver(deposit)

    deposit.refresh_from_db()
    assert balance(world.wallet()) == Money("0", "USD")
    assert receipt.outcome == "accepted" and deposit.status == "held"
    assert "100.00 EUR" in deposit.status_message.replace("\xa0", " ")
    assert deposit.credit_transaction_id is None
    assert balance(clearing_account_for(provider="psp-sim", currency="USD", brand=world.brand)) == Money("0", "USD")

    staff = HttpClient()
    login_verified(staff, _finance(world))
    page = staff.get(reverse("wallet_deposit_list"), {"status": "held"})
    assert page.status_code == 200
    listing = page.content.decode()
    assert str(deposit.code) in listing and "Held for finance" in listing
    assert "EUR" in listing  # the reason, with what the provider confirmed


def test_the_simulator_refuses_a_paid_amount_fault_without_an_amount(psp):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as refused:
        psp.faults({"type": "paid_amount", "amount": "lots"})
    assert refused.value.code == 400
