"""What the wallet promises other apps' SQL (wallet.selectors.PUBLISHED_VIEWS: the client movements that
AML monitoring reads). A change of the wallet that breaks the promise fails here."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import connection

from crm.lib.money import Money
from tests.published_views import assert_as_declared, view_rows
from tests.wallet.withdrawal_support import build_world
from wallet import selectors
from wallet.ledger import Leg, clearing_account_for, ledger_post, wallet_account_for
from wallet.models import LedgerTransaction

pytestmark = pytest.mark.django_db


def test_each_view_has_exactly_its_declared_columns_and_types():
    assert [v.name for v in selectors.PUBLISHED_VIEWS] == ["wallet_public_client_movements",
                                                           "wallet_public_payment_instruments",
                                                           "wallet_public_payout_destinations",
                                                           "wallet_public_client_money"]
    for view in selectors.PUBLISHED_VIEWS:
        assert_as_declared(view)


def test_a_deposit_and_a_withdrawal_show_as_the_wallets_legs_only():
    world = build_world(fund="500.00")
    deposit = LedgerTransaction.objects.get(kind="deposit", legs__account__client=world.client)
    code = str(uuid.uuid4())
    clearing = clearing_account_for(provider=world.provider.code, currency="USD", brand=world.brand.pk)
    paid = ledger_post(key=f"withdrawal:{code}:paid", kind="withdrawal", ref_kind="withdrawal", ref_code=code,
                       legs=[Leg(wallet_account_for(client=world.client, currency="USD"), -Money("200.00", "USD")),
                             Leg(clearing, Money("200.00", "USD"))],
                       meta={"method": "card", "provider": world.provider.code})
    rows = view_rows(selectors.CLIENT_MOVEMENTS_VIEW, "client_id = %s", [world.client.pk])
    # One row per wallet leg: the clearing account's legs are not the client's movements.
    assert [(r["transaction_id"], r["kind"], r["amount"], r["currency"], r["method"], r["provider"], r["ref_kind"])
            for r in rows] == [
        (deposit.pk, "deposit", Decimal("500.00"), "USD", "card", world.provider.code, "deposit"),
        (paid.pk, "withdrawal", Decimal("-200.00"), "USD", "card", world.provider.code, "withdrawal")]
    assert rows[0]["occurred_at"] == deposit.occurred_at and rows[0]["recorded_at"] == deposit.recorded_at
    assert rows[1]["ref_code"] == code
    kinds = set(selectors.CLIENT_MOVEMENTS_VIEW.column("kind").values)
    assert {"deposit", "withdrawal"} <= kinds


def test_a_deposits_payer_and_a_payouts_destination_show_hashed_never_as_numbers():
    from crm.models import RoleCode
    from tests.compliance.aml_support import paid, payout, wire_world
    from tests.factories import make_user

    w = wire_world(first_name="José", last_name="García", country="ES")
    finance = make_user(role_code=RoleCode.FINANCE, brand=w.brand)
    by_self = paid(w, w.client, "500.00", name="JOSE GARCIA", country="ES", number="ES9121000418450200051332",
                   kind="iban")
    by_other = paid(w, w.client, "300.00", name="Maria Garcia", country="PT", number="4000002500000003")
    wd = payout(w, w.client, "200.00", iban="DE89 3704 0044 0532 0130 00", finance=finance)
    rows = view_rows(selectors.PAYMENT_INSTRUMENTS_VIEW, "client_id = %s", [w.client.pk])
    got = {r["transaction_id"]: r for r in rows}
    assert set(got) == {by_self.pk, by_other.pk, wd.capture_id}
    mine, theirs, out = got[by_self.pk], got[by_other.pk], got[wd.capture_id]
    assert (mine["direction"], mine["amount"], mine["payer_name"], mine["payer_is_client"], mine["instrument_country"],
            mine["instrument_last4"]) == ("deposit", Decimal("500.00"), "JOSE GARCIA", True, "ES", "1332")
    assert (theirs["payer_is_client"], theirs["instrument_country"], theirs["instrument_last4"]) == (False, "PT", "0003")
    assert (out["direction"], out["amount"], out["instrument_last4"]) == ("withdrawal", Decimal("200.00"), "3000")
    assert out["destination_added_at"] is not None and mine["destination_added_at"] is None
    fingerprints = {r["instrument_fingerprint"] for r in rows}
    assert len(fingerprints) == 3 and all(len(f) == 64 for f in fingerprints)
    # The numbers themselves are nowhere in the view.
    text = repr(rows)
    assert "4000002500000003" not in text and "DE89370400440532013000" not in text and "ES9121000418450200051332" not in text


def test_withdrawals_to_one_instrument_show_with_one_destination_key():
    """wallet_public_payout_destinations: what monitoring's multi-accounting detector joins clients on."""
    from tests.wallet.withdrawal_support import deposit, kyc_approve
    from wallet.services import withdrawal_request

    assert_as_declared(selectors.PAYOUT_DESTINATIONS_VIEW)
    world = build_world(fund=None)
    deposit(world.client, "500.00", method="ewallet", provider=world.provider.code)
    from tests.factories import make_client

    second = make_client(brand=world.brand, email="second@example.com", country="GB", stage="registered")
    kyc_approve(second)
    deposit(second, "500.00", method="ewallet", provider=world.provider.code)
    first = withdrawal_request(client=world.client, amount=Money("100", "USD"), method=world.ewallet,
                               destination={"ewallet": "ann.lee@wallet.example"})
    again = withdrawal_request(client=second, amount=Money("100", "USD"), method=world.ewallet,
                               destination={"ewallet": "ann.lee@wallet.example"})
    rows = view_rows(selectors.PAYOUT_DESTINATIONS_VIEW, "withdrawal_id = ANY(%s)", [[first.pk, again.pk]])
    assert [(r["withdrawal_code"], r["client_id"]) for r in rows] == [(first.code, world.client.pk),
                                                                      (again.code, second.pk)]
    assert rows[0]["destination_key"] == rows[1]["destination_key"] and len(rows[0]["destination_key"]) == 64
    assert "ann.lee@wallet.example" not in rows[0]["destination_masked"]


def test_a_clients_money_in_short_follows_every_posting_per_currency():
    """Marketing's segments count "ever deposited" and "net deposits" from this summary: it must say
    what the client's wallet legs say, posting by posting, whatever order the business times come in."""
    from tests.compliance.aml_support import ago, deposit, withdrawal
    from tests.factories import make_client

    client = make_client()
    other = make_client(brand=client.brand)
    assert view_rows(selectors.CLIENT_MONEY_VIEW, "client_id = %s", [client.pk]) == []
    deposit(client, "500.00", at=ago(days=3))
    withdrawal(client, "120.50", at=ago(days=2))
    # Recorded later but happened earlier (a provider's late notification): it is the first deposit.
    earliest = ago(days=9)
    deposit(client, "80.00", at=earliest)
    in_euros = ago(days=1)
    deposit(client, "200.00", at=in_euros, currency="EUR")
    deposit(other, "10.00", at=ago(days=5))
    rows = {r["currency"]: r for r in view_rows(selectors.CLIENT_MONEY_VIEW, "client_id = %s", [client.pk])}
    assert set(rows) == {"USD", "EUR"}
    assert rows["USD"]["first_deposit_at"] == earliest
    assert rows["USD"]["net_deposits"] == Decimal("459.50")
    assert rows["EUR"]["net_deposits"] == Decimal("200.00")
    assert rows["EUR"]["first_deposit_at"] == in_euros
    # The same figures as the movements the wallet publishes, for every client.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT client_id, currency, min(occurred_at) FILTER (WHERE kind = 'deposit' AND amount > 0), sum(amount) "
            "FROM wallet_public_client_movements WHERE kind IN ('deposit', 'withdrawal', 'deposit_refund', "
            "'chargeback') AND client_id = ANY(%s) GROUP BY 1, 2 ORDER BY 1, 2", [[client.pk, other.pk]])
        expected = cursor.fetchall()
    got = view_rows(selectors.CLIENT_MONEY_VIEW, "client_id = ANY(%s)", [[client.pk, other.pk]])
    assert sorted((r["client_id"], r["currency"], r["first_deposit_at"], r["net_deposits"]) for r in got) == expected
