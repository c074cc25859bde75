"""Balance operations never apply twice: each maps to exactly one platform ticket, a lost answer is
resolved by looking the reference up (after the deal visibility lag), withdrawals wait meanwhile."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from crm.exceptions import NotAllowed
from crm.models import AuditLog
from tests.trading.crm_fixtures import _fresh_adapters, events, open_account, world  # noqa: F401 - fixtures
from trading.exceptions import BalanceOperationOpen
from trading.models import BalanceOperation, BalanceState
from trading.services import (
    balance_comment,
    balance_operation_request,
    balance_operation_resolve,
    balance_operation_send,
    balance_operations_resolve_due,
)

BALANCE = "/api/trade/balance"


def _deals_with(world, reference: str) -> list[dict]:
    return [w for w in world.sim.truth()["deals"] if reference in w["Comment"]]


def _request(world, account, amount: str, **kwargs) -> BalanceOperation:
    op = balance_operation_request(actor=world.finance, account=account, kind="balance", amount=Decimal(amount),
                                   send=False, **kwargs)
    return balance_operation_send(operation_id=op.pk)


def test_a_deposit_maps_to_exactly_one_ticket(world):
    account = open_account(world, deposit=None)
    op = _request(world, account, "250.00", reason="Wire 2291")
    assert op.state == BalanceState.APPLIED
    assert op.comment == balance_comment(op.reference, "Wire 2291")
    assert len(op.comment) <= 31 and op.comment.startswith(f"CRM {op.reference}")
    [deal] = _deals_with(world, op.reference)
    assert int(deal["Deal"]) == op.platform_ticket
    assert Decimal(deal["Profit"]) == Decimal("250.00")
    assert [e.data["reference"] for e in events("trading.balance_applied", client=world.client)][-1] == op.reference
    assert AuditLog.objects.filter(action="trading.balance_applied", object_id=str(op.code)).exists()
    # Sending again is a no-op: the row was claimed before the first call.
    assert balance_operation_send(operation_id=op.pk).platform_ticket == op.platform_ticket
    assert len(_deals_with(world, op.reference)) == 1


def test_a_timeout_after_apply_resolves_to_the_applied_ticket(world):
    account = open_account(world, deposit=None)
    world.sim.faults({"type": "timeout_after_apply", "path": BALANCE, "mode": "drop", "count": 1})
    op = _request(world, account, "100")
    assert op.state == BalanceState.UNKNOWN
    assert len(_deals_with(world, op.reference)) == 1  # applied, though nobody heard
    op = balance_operation_resolve(operation_id=op.pk)
    assert op.state == BalanceState.APPLIED
    assert op.platform_ticket == int(_deals_with(world, op.reference)[0]["Deal"])
    assert len(events("trading.balance_applied", client=world.client)) == 1


def test_a_late_deal_is_waited_for_before_the_operation_is_judged_failed(world):
    account = open_account(world, deposit=None)
    world.sim.faults({"type": "timeout_after_apply", "path": BALANCE, "mode": "drop", "count": 1},
                     {"type": "late_deals", "delay_seconds": 600, "count": 1})
    op = _request(world, account, "75")
    assert op.state == BalanceState.UNKNOWN
    op = balance_operation_resolve(operation_id=op.pk)
    assert op.state == BalanceState.UNKNOWN  # not visible yet, and the visibility lag has not passed
    assert op.next_check_at is not None
    world.sim.advance(seconds=660)
    op = balance_operation_resolve(operation_id=op.pk)
    assert op.state == BalanceState.APPLIED
    assert op.platform_ticket == int(_deals_with(world, op.reference)[0]["Deal"])


def test_a_lost_request_fails_only_after_the_visibility_lag_and_applies_nothing(world):
    account = open_account(world, deposit=None)
    world.sim.faults({"type": "http_error", "path": BALANCE, "status": 502, "count": 1})
    op = _request(world, account, "40")
    assert op.state == BalanceState.UNKNOWN  # a gateway's 502 does not say whether the server applied it
    assert balance_operation_resolve(operation_id=op.pk).state == BalanceState.UNKNOWN
    world.sim.advance(seconds=world.server.deal_visibility_lag_seconds + world.server.timeout_seconds + 60)
    op = balance_operation_resolve(operation_id=op.pk)
    assert op.state == BalanceState.FAILED
    assert op.platform_ticket is None
    assert _deals_with(world, op.reference) == []
    assert len(events("trading.balance_failed", client=world.client)) == 1


@pytest.mark.parametrize("status", [503, 429])
def test_a_write_the_platform_turned_away_fails_at_once_and_a_new_one_goes_through(world, status):
    account = open_account(world, deposit=None)
    world.sim.faults({"type": "http_error", "path": BALANCE, "status": status, "count": 1})
    op = _request(world, account, "40")
    assert op.state == BalanceState.FAILED  # refused before any write: no half-hour wait as unknown
    assert op.resolved_at is not None and str(status) in op.error
    assert _deals_with(world, op.reference) == []
    assert len(events("trading.balance_failed", client=world.client)) == 1
    again = _request(world, account, "40")  # nothing is held back by the refused one
    assert again.state == BalanceState.APPLIED
    assert len(_deals_with(world, again.reference)) == 1


def test_withdrawals_wait_while_an_operation_is_unknown(world):
    account = open_account(world, deposit="500")
    world.sim.faults({"type": "timeout_after_apply", "path": BALANCE, "mode": "drop", "count": 1})
    unknown = _request(world, account, "100")
    assert unknown.state == BalanceState.UNKNOWN
    with pytest.raises(BalanceOperationOpen):
        balance_operation_request(actor=world.finance, account=account, kind="balance", amount=Decimal("-50"),
                                  send=False)
    deposit = _request(world, account, "10")  # money in is never held back
    assert deposit.state == BalanceState.APPLIED
    assert balance_operations_resolve_due()["resolved"] == 0  # not due yet: the first check waits a minute
    assert balance_operations_resolve_due(now=timezone.now() + dt.timedelta(minutes=2))["resolved"] == 1
    withdrawal = _request(world, account, "-50")
    assert withdrawal.state == BalanceState.APPLIED
    assert Decimal(_deals_with(world, withdrawal.reference)[0]["Profit"]) == Decimal("-50.00")


def test_a_refused_withdrawal_fails_and_applies_nothing(world):
    account = open_account(world, deposit="100")
    op = _request(world, account, "-5000")
    assert op.state == BalanceState.FAILED
    assert "10019" in op.error
    assert _deals_with(world, op.reference) == []


def test_only_finance_and_administrators_move_money(world):
    account = open_account(world, deposit=None)
    with pytest.raises(NotAllowed):
        balance_operation_request(actor=world.owner, account=account, kind="balance", amount=Decimal("10"))
    with pytest.raises(NotAllowed):
        balance_operation_request(actor=world.dealer, account=account, kind="balance", amount=Decimal("10"))
    assert not BalanceOperation.objects.filter(account=account).exists()


def test_amounts_are_validated_before_anything_is_written(world):
    from crm.exceptions import ValidationFailed

    account = open_account(world, deposit=None)
    for amount in ("0", "0.001", "NaN"):
        with pytest.raises(ValidationFailed):
            balance_operation_request(actor=world.finance, account=account, kind="balance", amount=Decimal(amount))
    with pytest.raises(ValidationFailed):
        balance_operation_request(actor=world.finance, account=account, kind="gift", amount=Decimal("1"))
    assert not BalanceOperation.objects.filter(account=account).exists()


@pytest.mark.django_db(transaction=True)
def test_the_operation_is_committed_before_the_platform_is_called(quiet_sim):
    from tests.factories import make_brand, make_client
    from tests.trading.crm_fixtures import make_server
    from trading import registry
    from trading.adapters.base import PlatformAdapter

    brand = make_brand()
    from types import SimpleNamespace

    world = SimpleNamespace(sim=quiet_sim, client=make_client(brand=brand, stage="registered"), server=make_server(quiet_sim, brand))
    account = open_account(world, deposit=None)
    seen: list[tuple[bool, str, bool]] = []
    original = registry._factories["mt5_web"]

    def spying(server) -> PlatformAdapter:
        adapter = original(server)
        apply = adapter.apply_balance_operation

        def checked(login, kind, amount, comment):
            row = BalanceOperation.objects.get(account=account)
            seen.append((connection.in_atomic_block, row.state, row.sent_at is not None))
            return apply(login, kind, amount, comment)

        adapter.apply_balance_operation = checked  # type: ignore[method-assign]
        return adapter

    registry.register_factory("mt5_web", spying)
    try:
        op = balance_operation_request(actor=None, account=account, kind="balance", amount=Decimal("30"))
    finally:
        registry.register_factory("mt5_web", original)
    # No transaction was open during the call, and the row it read was committed as PENDING and sent.
    assert seen == [(False, BalanceState.PENDING, True)]
    assert op.state == BalanceState.APPLIED
