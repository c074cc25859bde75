"""Closing an account (the client offboarded): disabled on the platform (the simulator shows the login may no
longer connect), marked closed with its reason, audited and evented once; it takes no more deposits, while
what is on it may still be withdrawn; only staff who may change accounts close one, and never without a
reason."""
# ruff: noqa: F811 - pytest fixtures imported from crm_fixtures are redefined as test arguments

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import AuditLog, Event
from tests.trading.crm_fixtures import _fresh_adapters, open_account, world  # noqa: F401 - fixtures
from trading.exceptions import AccountClosed
from trading.selectors import accounts_to_close_for_client
from trading.services import balance_operation_request, balance_operation_send, trading_account_close

RIGHT_ENABLED = 0x1


def _rights(world, login: int) -> int:
    return int(next(a for a in world.sim.truth()["accounts"] if int(a["Login"]) == login)["Rights"])


def test_a_closed_account_is_disabled_on_the_platform_and_takes_no_deposit(world):
    account = open_account(world, deposit="300")
    assert _rights(world, account.login) & RIGHT_ENABLED
    closed = trading_account_close(actor=world.dealer, account=account, reason="Client offboarded")
    closed.refresh_from_db()
    assert closed.closed_at is not None and closed.closed_reason == "Client offboarded"
    assert closed.access == "disabled" and not _rights(world, account.login) & RIGHT_ENABLED
    assert list(accounts_to_close_for_client(client=world.client)) == []
    with pytest.raises(AccountClosed):
        balance_operation_request(actor=world.finance, account=closed, kind="balance", amount=Decimal("10"))
    out = balance_operation_request(actor=world.finance, account=closed, kind="balance", amount=Decimal("-300"),
                                    send=False)
    assert balance_operation_send(operation_id=out.pk).state == "applied"  # the money on it can still leave
    again = trading_account_close(actor=world.dealer, account=closed, reason="Twice")
    assert again.closed_reason == "Client offboarded"
    assert Event.objects.filter(name="trading.account_closed", client=world.client).count() == 1
    audit = AuditLog.objects.get(action="trading.account_close", object_id=str(account.code))
    assert audit.reason == "Client offboarded" and audit.actor == world.dealer and audit.after["access"] == "disabled"


def test_closing_needs_a_reason_and_the_permission(world):
    account = open_account(world, deposit=None)
    with pytest.raises(ValidationFailed) as missing:
        trading_account_close(actor=world.dealer, account=account, reason="  ")
    assert "reason" in missing.value.fields
    with pytest.raises(NotAllowed):
        trading_account_close(actor=world.owner, account=account, reason="Sales may not")
    account.refresh_from_db()
    assert account.closed_at is None and _rights(world, account.login) & RIGHT_ENABLED
