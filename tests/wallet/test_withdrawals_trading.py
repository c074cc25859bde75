"""A client whose trading balance operation's outcome is unknown may not withdraw until it is
resolved (the MT5 simulator as a separate process)."""
# ruff: noqa: F811 - pytest fixtures imported from other test modules are redefined as test arguments

from __future__ import annotations

from decimal import Decimal

from crm.lib.money import Money
from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401 - fixtures
from tests.trading.crm_fixtures import _fresh_adapters, open_account, world  # noqa: F401 - fixtures
from trading.models import BalanceState
from trading.services import balance_operation_request, balance_operation_resolve, balance_operation_send
from wallet.withdrawals import withdrawal_blockers


def test_it_blocks_a_withdrawal_while_a_balance_operation_is_unknown(world):
    account = open_account(world, deposit=None)
    world.sim.faults({"type": "timeout_after_apply", "path": "/api/trade/balance", "mode": "drop", "count": 1})
    op = balance_operation_request(actor=world.finance, account=account, kind="balance", amount=Decimal("100"),
                                   send=False)
    op = balance_operation_send(operation_id=op.pk)
    assert op.state == BalanceState.UNKNOWN

    blockers = withdrawal_blockers(client=world.client, amount=Money("10", "USD"), method=None)
    assert "balance_operation_unknown" in [b.code for b in blockers]

    assert balance_operation_resolve(operation_id=op.pk).state == BalanceState.APPLIED
    blockers = withdrawal_blockers(client=world.client, amount=Money("10", "USD"), method=None)
    assert "balance_operation_unknown" not in [b.code for b in blockers]
