"""Platform reconciliation against the MT5 simulator: a trading account's balance deals (synced from
the platform) against its ledger mirror; a balance operation made on the platform alone is found,
written off to suspense by finance, and the next run clears the break."""
# ruff: noqa: F811 - pytest fixtures imported from other test modules are redefined as test arguments

from __future__ import annotations

from decimal import Decimal

from tests.trading.conftest import quiet_sim, shared_sim  # noqa: F401 - fixtures
from tests.trading.crm_fixtures import _fresh_adapters, open_account, world  # noqa: F401 - fixtures
from trading import sync
from wallet.ledger import balance, mirror_account_for
from wallet.models import ReconciliationBreak
from wallet.reconciliation import break_resolve, platform_reconcile


def test_a_balance_deal_the_ledger_does_not_mirror_is_a_platform_break_until_resolved(world):
    account = open_account(world, deposit="2500")  # straight on the platform, not through the wallet
    assert sync.deals_sync(world.server.pk, force=True).status == "ok"
    result = platform_reconcile(actor=world.finance)
    assert (result.accounts_differing, result.opened) == (1, 1)
    brk = ReconciliationBreak.objects.get(kind="platform_mismatch", status="open")
    assert (brk.trading_account_id, brk.provider_amount, brk.ledger_amount, brk.difference) == (
        account.pk, Decimal("2500"), Decimal("0"), Decimal("2500"))
    assert platform_reconcile(actor=world.finance).opened == 0  # still one open break, not two

    break_resolve(actor=world.finance, brk=brk, resolution="write_off", note="deposit made on the platform")
    assert balance(mirror_account_for(trading_account=account)).amount == Decimal("2500")
    again = platform_reconcile(actor=world.finance)
    assert again.accounts_differing == 0
    assert not ReconciliationBreak.objects.filter(kind="platform_mismatch", status="open").exists()
