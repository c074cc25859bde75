"""Demo prop-trading challenges: two products on the demo brand's MT5 server and three challenges
(one in evaluation, one breached on its daily loss, one funded with profit to pay out), built
through the real services against the MT5 simulator: the fee from a wallet, the account opened
and funded on the platform, money moved on the platform by balance corrections, the state sync
reading it back and the evaluator deciding. The trader's room demo client gets the active one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Brand, Client, Stage
from trading.selectors import challenges_for_client
from trading.services import (
    balance_operation_request,
    balance_operation_send,
    challenge_product_save,
    challenges_refresh,
)
from wallet.services import Leg, challenge_buy, clearing_account_for, ledger_post, wallet_account_for

CLASSIC = {"key": "classic-10k", "name": "Classic 10K", "phases": [
    {"name": "Phase 1", "profit_target_pct": "10", "min_trading_days": 4, "time_limit_days": 30},
    {"name": "Phase 2", "profit_target_pct": "5", "min_trading_days": 4, "time_limit_days": 60}]}
EXPRESS = {"key": "express-10k", "name": "Express 10K", "phases": [
    {"name": "Phase 1", "profit_target_pct": "8", "min_trading_days": 0, "time_limit_days": 30}]}
PORTAL_DEMO_EMAIL = "alex.morgan@demo-client.example"


def _product(brand: Brand, server: Any, spec: dict[str, Any], **rules: Any) -> Any:
    from trading.selectors import challenge_products_on_sale

    existing = challenge_products_on_sale(brand_id=brand.pk).filter(key=spec["key"]).first()
    if existing is not None:
        return existing
    return challenge_product_save(
        actor=None, brand=brand, key=spec["key"], name=spec["name"], server=server, account_type="demo",
        currency="USD", account_size="10000", fee="99", phases=spec["phases"], daily_loss_pct="5",
        daily_loss_basis=rules.get("basis", "balance"), max_loss_pct="10", max_loss_mode=rules.get("mode", "static"),
        weekend_holding_allowed=rules.get("weekend", True), breach_action="disabled", profit_split_pct="80")


def _fund(client: Client, amount: str) -> None:
    ledger_post(key=f"demo-prop-deposit:{client.code}:{amount}", kind="deposit", meta={"method": "card",
                                                                                      "provider": "demo"},
                legs=[Leg(clearing_account_for(provider="demo", currency="USD", brand=client.brand_id),
                          -_usd(amount)),
                      Leg(wallet_account_for(client=client, currency="USD"), _usd(amount))])


def _usd(amount: str) -> Any:
    from crm.lib.money import Money

    return Money(amount, "USD")


def _move(challenge: Any, amount: str, server_id: int) -> None:
    """Money on the platform (a balance correction), then the state poll that reads it back and the
    evaluator that decides on it (and acts: a breach disables the account, a pass opens the next)."""
    challenge.refresh_from_db()
    op = balance_operation_request(actor=None, account=challenge.account, kind="correction",
                                   amount=Decimal(amount), reason="demo trading result", send=False)
    balance_operation_send(operation_id=op.pk)
    challenges_refresh(server_id=server_id)


def prop_seed_demo(*, brand: Brand, server: Any) -> dict[str, int]:
    """Idempotent: a client that has a challenge is not given another."""
    classic = _product(brand, server, CLASSIC, basis="equity", mode="trailing", weekend=False)
    express = _product(brand, server, EXPRESS)
    clients = list(Client.objects.filter(brand=brand, stage__in=[Stage.FUNDED, Stage.ACTIVE])
                   .exclude(email_hash__in=keyed_hashes(PORTAL_DEMO_EMAIL, kind="email")).order_by("id")[:2])
    portal_client = Client.objects.filter(brand=brand, email_hash__in=keyed_hashes(PORTAL_DEMO_EMAIL, kind="email")).first()
    made = {"active": 0, "breached": 0, "funded": 0}
    plan: list[tuple[Client | None, str]] = [(portal_client, "active"),
                                             *zip(clients, ("breached", "funded"), strict=False)]
    for client, outcome in plan:
        if client is None or challenges_for_client(client=client).exists():
            continue
        _fund(client, "200.00")
        challenge = challenge_buy(client=client, product=classic if outcome != "funded" else express)
        if challenge.account is None:
            continue
        if outcome == "breached":
            _move(challenge, "-600.00", server.pk)  # 6% down in a day: beyond the 5% daily limit
        elif outcome == "funded":
            _move(challenge, "900.00", server.pk)  # 9% up: the express target is 8%: funded
            challenge.refresh_from_db()
            if challenge.account is not None:
                _move(challenge, "750.00", server.pk)  # profit on the funded account, to pay out
        else:
            _move(challenge, "250.00", server.pk)
        made[outcome] += 1
    return made
