"""Platform reconciliation against the MT5 simulator: a trading account's balance deals (synced from
the platform) against its ledger mirror; a balance operation made on the platform alone is found,
written off to suspense by finance, and the next run clears the break; the daily beat run, twice
without a second break; finance of another brand neither reconciling nor seeing it."""
# ruff: noqa: F811 - pytest fixtures imported from other test modules are redefined as test arguments

from __future__ import annotations

from decimal import Decimal

import pytest

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


def test_the_daily_beat_reconciles_the_platforms_and_a_second_run_opens_nothing(world, settings):
    from celery.schedules import crontab

    from crm.models import AuditLog
    from wallet import tasks

    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "wallet.tasks.platform_reconcile")
    assert isinstance(entry["schedule"], crontab) and entry["schedule"].hour == {3}  # once a day, at night
    account = open_account(world, deposit="700")
    assert sync.deals_sync(world.server.pk, force=True).status == "ok"

    assert tasks.platform_reconcile() == 1
    assert tasks.platform_reconcile() == 1  # the same difference, still one break
    brk = ReconciliationBreak.objects.get(kind="platform_mismatch")
    assert (brk.status, brk.trading_account_id, brk.difference, brk.brand_id) == (
        "open", account.pk, Decimal("700"), world.brand.pk)
    assert AuditLog.objects.filter(action="wallet.platform_reconciled").count() == 1


def test_finance_of_another_brand_neither_reconciles_nor_sees_a_platform_break(world):
    from crm.exceptions import NotFound
    from tests.factories import make_brand, make_user
    from wallet.reconciliation import breaks_for_queue

    open_account(world, deposit="300")
    assert sync.deals_sync(world.server.pk, force=True).status == "ok"
    other = make_user(role_code="finance", brand=make_brand())
    result = platform_reconcile(actor=other)
    assert (result.accounts_differing, result.opened) == (0, 0)  # none of their brand's accounts differ
    assert not ReconciliationBreak.objects.exists()

    platform_reconcile(actor=world.finance)
    brk = ReconciliationBreak.objects.get(kind="platform_mismatch")
    assert list(breaks_for_queue(user=other)) == []
    with pytest.raises(NotFound):
        break_resolve(actor=other, brk=brk, resolution="write_off", note="not mine")
    brk.refresh_from_db()
    assert brk.status == "open"
