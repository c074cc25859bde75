"""Celery tasks of the wallet: thin, ids in, a call into a service (deposits stuck open looked up and
expired; withdrawals paid out and their unknown outcomes resolved; the nightly reconciliation runs)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="wallet.tasks.deposits_refresh_due", ignore_result=True)
def deposits_refresh_due() -> int:
    from wallet.deposits import deposits_refresh_due as refresh

    return refresh()


@shared_task(name="wallet.tasks.withdrawal_payout", ignore_result=True)
def withdrawal_payout(withdrawal_id: int) -> str:
    """Send an approved withdrawal's payout through its provider."""
    from wallet.withdrawals import withdrawal_payout_send

    return withdrawal_payout_send(withdrawal_id=withdrawal_id).state


@shared_task(name="wallet.tasks.withdrawals_resolve_due", ignore_result=True)
def withdrawals_resolve_due() -> int:
    """Beat: look up payouts whose outcome is unknown (never sent again blindly)."""
    from wallet.withdrawals import withdrawals_resolve_due as resolve

    return resolve()


@shared_task(name="wallet.tasks.platform_reconcile", ignore_result=True)
def platform_reconcile() -> int:
    """Beat, daily (finance also has a button): trading accounts' balance deals against their ledger
    mirrors; a second run the same day opens nothing new."""
    from wallet.reconciliation import platform_reconcile as reconcile

    return reconcile().accounts_differing


@shared_task(name="wallet.tasks.settlement_rematch_open", ignore_result=True)
def settlement_rematch_open() -> int:
    """Beat, nightly: settlement lines still missing in the ledger matched again (late webhooks)."""
    from wallet.reconciliation import settlement_rematch_open as rematch

    return rematch()["matched"]


@shared_task(name="wallet.tasks.webhook_batches_apply", ignore_result=True)
def webhook_batches_apply() -> int:
    """Queued once a payment notification is stored: apply the stored ones in batches."""
    from wallet.webhook_batches import webhook_batches_run

    return webhook_batches_run()


@shared_task(name="wallet.tasks.webhook_batches_sweep", ignore_result=True)
def webhook_batches_sweep() -> int:
    """Beat: apply whatever notification is still stored (a queued run lost, one that failed before)."""
    from wallet.webhook_batches import webhook_batches_sweep as sweep

    return sweep()
