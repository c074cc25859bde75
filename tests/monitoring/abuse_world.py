"""The trading- and partner-abuse tests' world, built through the services: people registering in the
trader's room from an IP with a browser (the audit's origins), KYC addresses, withdrawals to an
instrument, deposits and withdrawals posted to the ledger, trading accounts, deals stored through the
sync's own upsert, partners and attributions by the brand's rules."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from crm.lib.money import Money
from demo.abuse_scenarios import bonus_deal, position_deals
from plumbing.context import ActorContext, acting
from tests.factories import make_brand

ACCOUNT_TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "USD"}}
PASSWORD = "Abuse-world-1!"  # noqa: S105 - test password
_ids = itertools.count(9_100_000)
_logins = itertools.count(910_000)
_n = itertools.count(1)


def world(*, with_payouts: bool = False) -> SimpleNamespace:
    from trading.services import platform_server_save

    w = SimpleNamespace(brand=make_brand(name=f"Abuse {next(_n)}"))
    w.server = platform_server_save(actor=None, manager_password="x-secret-1", brand=w.brand, name="MT5 Abuse",
                                    kind="mt5_web", is_active=True, host="127.0.0.1", port=1, manager_login=1000,
                                    account_types=ACCOUNT_TYPES)
    w.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    w.day = w.now.date()
    if with_payouts:
        from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

        provider = payment_provider_save(code=f"psp-{uuid.uuid4().hex[:6]}", name="PSP", kind="simulator",
                                         base_url="http://127.0.0.1:9", api_key="k" * 16, api_secret="s" * 32,
                                         webhook_secret="w" * 32, timeout_seconds=3)
        w.provider = provider
        w.ewallet = payment_method_save(brand=w.brand, method="ewallet", direction="withdrawal", provider=provider,
                                        order=10, currencies=[CurrencyRule("USD", Decimal("10"))])
    return w


def person(w: SimpleNamespace, *, ip: str, ua: str, referrer: str = "", email: str = "") -> Any:
    """Someone registering in the trader's room from `ip` with browser `ua` (referred by a partner's
    code when given; with `email`, under that address): the client."""
    from portal.services import portal_register

    n = next(_n)
    with acting(ActorContext(ip=ip, user_agent=ua, source="web")):
        reg = portal_register(brand=w.brand, language="en", first_name=f"Trader{n}", last_name="Abuse",
                              email=email or f"trader{n}-{uuid.uuid4().hex[:6]}@example.com", phone=f"+49151{n:08d}", country="DE",
                              date_of_birth=dt.date(1990, 1, 1), password=PASSWORD, accept_terms=True,
                              accept_privacy=True, attribution={"referrer_code": referrer} if referrer else None,
                              ip=ip, user_agent=ua)
    assert reg.login is not None
    return reg.login.client


def lives_at(client: Any, line: str, postcode: str = "10115", country: str = "DE") -> None:
    from kyc.services import kyc_profile_save

    kyc_profile_save(client=client, actor=None, address_line1=line, city="Berlin", postcode=postcode, country=country)


def verified(client: Any, line: str) -> None:
    from kyc.services import submission_checks_record, submission_create
    from tests.kyc.conftest import documents, report

    lives_at(client, line)
    submission_checks_record(submission=submission_create(client=client, documents=documents(str(client.pk))),
                             report=report())


def deposit(client: Any, amount: str, *, at: dt.datetime | None = None) -> None:
    """An e-wallet deposit as the deposit code posts it."""
    from wallet.ledger import Leg, clearing_account_for, ledger_post, wallet_account_for

    ledger_post(key=f"abuse-deposit:{uuid.uuid4()}", kind="deposit",
                legs=[Leg(clearing_account_for(provider="psp-sim", currency="USD", brand=client.brand_id),
                          -Money(amount, "USD")),
                      Leg(wallet_account_for(client=client, currency="USD"), Money(amount, "USD"))],
                meta={"method": "ewallet", "provider": "psp-sim"}, ref_kind="deposit", ref_code=str(uuid.uuid4()),
                occurred_at=at)


def withdrawal_paid(client: Any, amount: str, *, at: dt.datetime | None = None) -> None:
    """A withdrawal paid out, as the withdrawal code posts it."""
    from wallet.ledger import Leg, clearing_account_for, ledger_post, wallet_account_for

    code = str(uuid.uuid4())
    ledger_post(key=f"withdrawal:{code}:paid", kind="withdrawal", ref_kind="withdrawal", ref_code=code,
                legs=[Leg(wallet_account_for(client=client, currency="USD"), -Money(amount, "USD")),
                      Leg(clearing_account_for(provider="psp-sim", currency="USD", brand=client.brand_id),
                          Money(amount, "USD"))],
                meta={"method": "card", "provider": "psp-sim"}, occurred_at=at)


def payout_to(w: SimpleNamespace, client: Any, wallet_id: str, *, line: str) -> Any:
    """A verified client asking to be paid to the e-wallet `wallet_id`."""
    from wallet.services import withdrawal_request

    verified(client, line)
    deposit(client, "500")
    return withdrawal_request(client=client, amount=Money("100", "USD"), method=w.ewallet, destination={"ewallet": wallet_id})


def account(w: SimpleNamespace, client: Any) -> Any:
    from trading.services import trading_account_register

    return trading_account_register(actor=None, client=client, server=w.server, login=next(_logins),
                                    account_type="standard")


def position(acc: Any, *, opened: dt.datetime, hold: float, side: str = "buy", volume: str = "1",
             profit: str = "0", symbol: str = "EURUSD") -> list[Any]:
    """The two deals of one position: opened at `opened`, closed `hold` seconds later with `profit`."""
    return position_deals(acc.login, _ids, opened=opened, hold=hold, side=side, volume=volume, profit=profit,
                          symbol=symbol)


def bonus(acc: Any, *, at: dt.datetime, amount: str) -> Any:
    return bonus_deal(acc.login, next(_ids), at=at, amount=amount)


def store(w: SimpleNamespace, deals: list[Any]) -> None:
    from trading.sync import deals_store

    deals_store(w.server, deals)


def partner(w: SimpleNamespace, name: str = "Partner") -> tuple[Any, str]:
    """An active partner and its referral code."""
    from ib.services import partner_create, tracking_link_create

    p = partner_create(actor=None, brand=w.brand, display_name=f"{name} {next(_n)}",
                       email=f"partner{next(_n)}@example.com")
    link = tracking_link_create(partner=p, kind="code")
    return p, link.code
