"""How the demo puts money on a live trading account.

In production a client's money reaches a live account through the wallet: a deposit into the
client's wallet, then a transfer to the account, which the ledger mirrors (wallet.transfers). The
platform reconciliation compares each live account's balance deals with that mirror, so a demo
that put money on accounts straight through a balance operation showed every funded account as a
break. The wallet sits above trading, so it plugs its way of funding in here (`register_demo_funder`,
from its AppConfig.ready); trading's demo loader calls `demo_account_deposit`, which uses it and
falls back to a bare balance operation only when no wallet is installed."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from plumbing.hooks import HookPoint
from trading.accounts import balance_operation_request, balance_operation_send
from trading.models import BalanceOperation, BalanceState

# Called with account=, amount= (Decimal, the account's currency), reason=; returns the applied
# BalanceOperation that put the money on the platform (the demo trades with it at once).
DemoFunder = Callable[..., Any]
demo_funders: HookPoint[DemoFunder] = HookPoint("trading.demo_funding")
register_demo_funder = demo_funders.register
unregister_demo_funder = demo_funders.unregister


def demo_account_deposit(*, account: Any, amount: Decimal, reason: str = "Demo deposit") -> Any:
    """Put `amount` on the demo's live `account` now, as the first registered funder does it (the
    wallet: through the client's wallet and a transfer); a demo account, or with none registered, a
    balance operation sent at once."""
    # A demo account's money is play money, put on the platform as the trader's room does it.
    for fund in [] if account.is_demo else demo_funders:
        return fund(account=account, amount=amount, reason=reason)
    operation = balance_operation_request(actor=None, account=account, kind="balance", amount=amount, reason=reason,
                                          send=False)
    return balance_operation_send_now(operation_id=operation.pk)


def balance_operation_send_now(*, operation_id: int, wait_seconds: float = 30) -> BalanceOperation:
    """Send a committed operation here and now (`balance_operation_send`) rather than leave it to the
    worker its request queued it for; if a worker claimed it first, wait up to `wait_seconds` for its
    answer. Returns the operation as it then stands (still pending only past the wait)."""
    operation = balance_operation_send(operation_id=operation_id)
    deadline = time.monotonic() + wait_seconds
    pause = 0.01  # a worker's send takes tens of milliseconds: look soon, then less often
    while operation.state == BalanceState.PENDING and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
        operation = BalanceOperation.objects.get(pk=operation_id)
    return operation
