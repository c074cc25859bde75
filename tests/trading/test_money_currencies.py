"""Balance operations in currencies with other minor units than the dollar's round-trip exactly:
stored, sent, applied on the simulator and synced back, for crypto (8 decimals), JPY (none), KWD
(three) and USDT (six, a four-letter code)."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.urls import reverse

from crm.exceptions import ValidationFailed
from tests.trading.crm_fixtures import ACCOUNT_TYPES, _fresh_adapters, make_server, world  # noqa: F401
from tests.trading.fake_mt5_module import FakeMetaTrader5
from trading import accounts, services, sync
from trading.adapters.mt5_terminal import MT5TerminalAdapter, MT5TerminalConfig
from trading.adapters.mt5_web import MT5WebAdapter, MT5WebConfig
from trading.models import BalanceOperation, BalanceState, Deal, TradingAccount

CURRENCY_TYPES = {
    "btc": {"label": "Bitcoin", "group": "real\\btc", "leverages": [100], "currency": "BTC"},
    "jpy": {"label": "Yen", "group": "real\\jpy", "leverages": [100], "currency": "JPY"},
    "kwd": {"label": "Dinar", "group": "real\\kwd", "leverages": [100], "currency": "KWD"},
    "usdt": {"label": "Tether", "group": "real\\usdt", "leverages": [100], "currency": "USDT"},
}


def _open(world, account_type: str) -> TradingAccount:
    """An account of `account_type` on a server of the world's brand that maps that type."""
    server = make_server(world.sim, world.brand, name=f"MT5 {account_type}",
                         account_types={**ACCOUNT_TYPES, account_type: CURRENCY_TYPES[account_type]})
    return services.trading_account_open(actor=None, client=world.client, server=server,
                                         account_type=account_type, send_credentials=False)


def _move(world, account: TradingAccount, amount: str) -> BalanceOperation:
    op = services.balance_operation_request(actor=world.finance, account=account, kind="balance",
                                            amount=Decimal(amount), send=False)
    return services.balance_operation_send(operation_id=op.pk)


def _truth(world, login: int) -> tuple[dict, list[dict]]:
    truth = world.sim.truth()
    account = next(a for a in truth["accounts"] if int(a["Login"]) == login)
    return account, [d for d in truth["deals"] if int(d["Login"]) == login]


@pytest.mark.parametrize(("account_type", "currency", "amounts", "balance"), [
    ("btc", "BTC", ["0.005", "0.004", "0.00000001"], "0.00900001"),
    ("jpy", "JPY", ["1000", "-1"], "999"),
    ("kwd", "KWD", ["12.345", "0.001"], "12.346"),
    ("usdt", "USDT", ["250.123456", "-0.000001"], "250.123455"),
])
def test_a_balance_operation_round_trips_exactly_through_the_platform(world, account_type, currency,
                                                                       amounts, balance):
    account = _open(world, account_type)
    server = account.server
    assert account.currency == currency
    ops = [_move(world, account, amount) for amount in amounts]
    for op, amount in zip(ops, amounts, strict=True):
        # stored: the amount asked for, not rounded to cents
        assert op.state == BalanceState.APPLIED, op.error
        assert (op.amount, op.currency) == (Decimal(amount), currency)
        op.refresh_from_db()
        assert op.amount == Decimal(amount)
    # applied on the platform: one deal per operation, with exactly that amount
    platform, deals = _truth(world, account.login)
    assert [Decimal(d["Profit"]) for d in deals] == [Decimal(a) for a in amounts]
    assert Decimal(platform["Balance"]) == Decimal(balance)
    # synced back: the deals and the balance the CRM stores are the platform's, to the last unit
    assert sync.deals_sync(server.pk, force=True).status == "ok"
    assert sync.account_states_sync(server.pk, force=True).status == "ok"
    stored = Deal.objects.filter(account=account).order_by("deal_id")
    assert [d.profit for d in stored] == [Decimal(a) for a in amounts]
    assert [d.deal_id for d in stored] == [op.platform_ticket for op in ops]
    account.refresh_from_db()
    assert account.balance == Decimal(balance)


def test_an_amount_finer_than_the_currency_is_refused_with_the_currencys_rule(world):
    yen = _open(world, "jpy")
    with pytest.raises(ValidationFailed) as caught:
        services.balance_operation_request(actor=world.finance, account=yen, kind="balance",
                                           amount=Decimal("1000.5"), send=False)
    assert caught.value.fields == {"amount": ["JPY has no decimals: enter a whole amount."]}
    dinar = _open(world, "kwd")
    with pytest.raises(ValidationFailed) as caught:
        services.balance_operation_request(actor=world.finance, account=dinar, kind="balance",
                                           amount=Decimal("1.2345"), send=False)
    assert caught.value.fields == {"amount": ["KWD has at most 3 decimals."]}
    bitcoin = _open(world, "btc")
    with pytest.raises(ValidationFailed):
        services.balance_operation_request(actor=world.finance, account=bitcoin, kind="balance",
                                           amount=Decimal("0.000000001"), send=False)
    with pytest.raises(ValidationFailed):
        services.balance_operation_request(actor=world.finance, account=bitcoin, kind="balance",
                                           amount=0.005, send=False)  # type: ignore[arg-type]
    assert not BalanceOperation.objects.filter(account__in=[yen, dinar, bitcoin]).exists()


def test_an_account_type_in_an_unknown_currency_is_refused_by_name(world):
    with pytest.raises(ValidationFailed) as caught:
        make_server(world.sim, world.brand, name="MT5 odd", account_types={
            "odd": {"label": "Odd", "group": "real\\standard", "leverages": [100], "currency": "DOGECOINX"}})
    assert "DOGECOINX" in caught.value.fields["account_types"][0]


def test_a_reference_collision_draws_another_reference(world, monkeypatch):
    account = _open(world, "btc")
    first = _move(world, account, "0.001")
    draws = iter([first.reference, "ZZZZZZZZZZ"])
    monkeypatch.setattr(accounts, "new_reference", lambda: next(draws))
    second = _move(world, account, "0.002")
    assert second.reference == "ZZZZZZZZZZ"
    assert second.state == BalanceState.APPLIED


def test_an_error_other_than_a_reference_collision_surfaces_as_itself(world):
    account = _open(world, "btc")
    # Validation keeps zero out of the service; below it, the database's own check still refuses it,
    # and that refusal must be what the caller sees, not "could not draw a unique reference".
    with pytest.raises(IntegrityError, match="balanceop_amount_nonzero"):
        accounts._balance_operation_create(actor=None, account=account, kind="balance", amount=Decimal(0),
                                           reason="")
    assert not BalanceOperation.objects.filter(account=account).exists()


def test_a_json_number_in_an_answer_keeps_every_decimal():
    adapter = MT5WebAdapter(MT5WebConfig(host="127.0.0.1", port=1, login=1, password="x"))
    doc = adapter._parse(200, b'{"retcode": "0 Done", "answer": {"Balance": 1234567890.12345678}}', "/api/x")
    assert doc["answer"]["Balance"] == Decimal("1234567890.12345678")


def test_the_terminal_adapter_reads_money_at_the_account_currencys_digits():
    fake = FakeMetaTrader5(login=7, password="Pw123456", server="Broker-Crypto")
    fake.account = fake.account._replace(currency="BTC", currency_digits=8, balance=0.005, credit=0.0,
                                         equity=0.00512345, margin=0.0)
    adapter = MT5TerminalAdapter(MT5TerminalConfig(login=7, password="Pw123456", server="Broker-Crypto"),
                                 module=fake)
    (state,) = adapter.account_states([7])
    assert (state.balance, state.equity) == (Decimal("0.00500000"), Decimal("0.00512345"))


def test_pages_show_crypto_and_yen_amounts_at_their_own_decimals(world, client):
    bitcoin, yen = _open(world, "btc"), _open(world, "jpy")
    _move(world, bitcoin, "0.005")
    _move(world, yen, "1000")
    for account in (bitcoin, yen):
        assert sync.deals_sync(account.server_id, force=True).status == "ok"
        assert sync.account_states_sync(account.server_id, force=True).status == "ok"
    client.force_login(world.owner)
    tab = client.get(reverse("client_detail", args=[world.client.code]) + "?tab=trading").content.decode()
    assert "0.00500000\u00a0BTC" in tab  # balance, deal and operation; not "0.01"
    assert "1,000\u00a0JPY" in tab  # not "1,000.00"
    client.force_login(world.dealer)
    deals = client.get(reverse("trading_deal_list")).content.decode()
    assert "0.00500000\u00a0BTC" in deals and "1,000\u00a0JPY" in deals


def test_the_balance_form_takes_each_currencys_own_decimals_and_refuses_more(world, client, login_verified):
    """The staff form once forced two decimals on every account: a satoshi could not be moved on a
    BTC account, while the service was ready for it. It now holds each account to its currency."""
    bitcoin = _open(world, "btc")
    dollars = services.trading_account_open(actor=None, client=world.client, server=world.server,
                                            account_type="standard", send_credentials=False)
    login_verified(client, world.finance)

    def post(account: TradingAccount, amount: str):
        return client.post(reverse("trading_account_action", args=[account.code, "balance"]),
                           {"kind": "balance", "direction": "in", "amount": amount, "reason": "bonus"})

    refused = post(dollars, "0.001")
    assert refused.status_code == 400
    assert refused.context["form"].errors == {"amount": ["USD has at most 2 decimals."]}
    assert not BalanceOperation.objects.filter(account=dollars).exists()
    assert post(bitcoin, "0.000000001").context["form"].errors == {"amount": ["BTC has at most 8 decimals."]}

    assert post(bitcoin, "0.00012345").status_code == 302
    assert post(dollars, "1,250.50").status_code == 400  # one grammar: no grouping, nothing guessed
    assert post(dollars, "1250.50").status_code == 302
    assert sorted((op.currency, op.amount) for op in BalanceOperation.objects.filter(account__in=[bitcoin, dollars])) == [
        ("BTC", Decimal("0.00012345")), ("USD", Decimal("1250.50"))]
