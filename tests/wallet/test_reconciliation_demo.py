"""The platform reconciliation on a fresh demo (issue 58, item 9): the demo's trading loader funds
each live account the way production does, through the client's wallet and a transfer that the
ledger mirrors, so the check of each live account's balance deals against its ledger mirror finds
nothing the demo did not plant. Run at a small size: a few funded clients of one brand, among them
the retention stories (a margin call, an equity drop, a trader dormant since 45 days ago, an account in yen), whose
deposits the simulator stamps in the past."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from crm.models import RoleCode
from tests.factories import make_brand, make_client, make_desk, make_user
from tests.trading.conftest import sim  # noqa: F401 - fixture
from trading.models import PlatformServer, TradingAccount
from trading.sync import deals_reconcile, deals_sync
from wallet.ledger import balance, mirror_account_for, wallet_account_for
from wallet.models import ReconciliationBreak, Transfer, TransferState
from wallet.reconciliation import platform_reconcile

pytestmark = pytest.mark.django_db


def test_a_fresh_demo_funds_its_live_accounts_through_the_ledger_and_reconciles_without_a_break(sim, capsys):  # noqa: F811
    brand = make_brand(code="atlas", name="Atlas Markets")
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    for i, stage in enumerate(["funded", "active", "funded", "active"]):
        make_client(actor=agent, brand=brand, stage=stage, email=f"t{i}@example.com", country="GB")
    call_command("trading_demo_setup", port=sim.port, state_dir=str(sim.state_dir), wait=10)
    server = PlatformServer.objects.get(brand=brand)
    assert deals_sync(server.pk, force=True).status == "ok"  # as beat polls them
    deals_reconcile(server.pk, days=120)  # the whole window: the dormant traders' deposits of 45 and 75 days ago

    live = list(TradingAccount.objects.filter(server=server, is_demo=False).select_related("client"))
    assert len(live) == 4, capsys.readouterr()
    for account in live:
        transfer = Transfer.objects.get(target_account=account)
        assert transfer.state == TransferState.COMPLETED, (transfer.state, transfer.reason)
        assert balance(mirror_account_for(trading_account=account)) == transfer.money
    for account in live:  # what came into the wallet went on to the account
        assert balance(wallet_account_for(client=account.client, currency=account.currency)).amount == 0

    result = platform_reconcile()
    assert (result.accounts_differing, result.opened) == (0, 0), list(
        ReconciliationBreak.objects.values_list("provider_amount", "ledger_amount", "currency"))
