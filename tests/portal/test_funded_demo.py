"""The funded demo client of the trader's room: verified, with two wires in the wallet, seeded once."""

from __future__ import annotations

import io
from decimal import Decimal

from django.core.management import call_command
from django.test import Client as HttpClient

from crm.lib.fieldcrypt import keyed_hash
from crm.models import RoleCode
from portal.management.commands.portal_seed_demo_funded import FUNDED_EMAIL, FUNDED_PASSWORD
from portal.models import ClientLogin
from tests.factories import make_brand, make_user
from wallet.ledger import ledger_verify, wallet_balances_for_client
from wallet.models import Deposit, DepositStatus, Withdrawal


def _seed() -> str:
    out = io.StringIO()
    call_command("portal_seed_demo_funded", stdout=out)
    return out.getvalue()


def test_the_funded_demo_client_signs_in_to_a_verified_wallet_with_its_wires(db):
    from kyc.models import KycStatus
    from kyc.selectors import kyc_status

    brand = make_brand(code="atlas", name="Atlas Markets", served_countries=["GB"])
    finance = make_user(role_code=RoleCode.FINANCE, brand=brand)
    for command in ("portal_seed_demo", "kyc_seed_demo", "wallet_seed_demo"):
        call_command(command, stdout=io.StringIO())

    first, again = _seed(), _seed()

    assert f"LOGIN client_funded {FUNDED_EMAIL} {FUNDED_PASSWORD}" in first
    assert f"LOGIN client_funded {FUNDED_EMAIL} {FUNDED_PASSWORD}" in again
    login = ClientLogin.objects.get(email_hash=keyed_hash(FUNDED_EMAIL, kind="email"))
    client = login.client
    assert kyc_status(client=client) == KycStatus.APPROVED
    deposits = Deposit.objects.filter(client=client)
    assert deposits.count() == 2 and {d.status for d in deposits} == {DepositStatus.SUCCEEDED}
    [usd] = wallet_balances_for_client(client)
    assert usd.balance.amount == Decimal("3500.00") and usd.balance.currency == "USD"
    # A wire withdrawal approved by finance waits to be sent from the bank: its amount is held.
    [withdrawal] = Withdrawal.objects.filter(client=client)
    assert withdrawal.awaits_manual_payout and withdrawal.first_approved_by == finance
    assert usd.available.amount == Decimal("3100.00")
    assert ledger_verify() == {}

    http = HttpClient()
    response = http.post("/portal/atlas/login/", {"email": FUNDED_EMAIL, "password": FUNDED_PASSWORD})
    assert response.status_code == 302
    page = http.get("/portal/wallet/").content.decode()
    assert "3,100.00\xa0USD" in page and "(400.00\xa0USD set aside)" in page  # grouped, the code kept with it
    assert 'href="/portal/wallet/withdraw/"' in page and "Bank wire" in page
