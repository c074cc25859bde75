"""Celery tasks of trading: thin, ids in, a call into trading.sync or trading.services.

Beat (settings.CELERY_BEAT_SCHEDULE) fans out every few seconds; each server is polled only when
its own interval is due (PlatformServer.deal_poll_seconds / state_poll_seconds), and a Redis lock
per server keeps two workers off the same server.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="trading.tasks.deals_sync_due", ignore_result=True)
def deals_sync_due() -> int:
    """Beat: queue a deal poll for every server that is due."""
    from trading.sync import servers_due

    due = servers_due("deals")
    for server_id in due:
        deals_sync.delay(server_id)
    return len(due)


@shared_task(name="trading.tasks.deals_sync", ignore_result=True)
def deals_sync(server_id: int) -> dict[str, Any]:
    from trading import sync

    result = sync.deals_sync(server_id)
    return {"status": result.status, "fetched": result.fetched, "inserted": result.inserted, "edited": result.edited}


@shared_task(name="trading.tasks.account_states_sync_due", ignore_result=True)
def account_states_sync_due() -> int:
    """Beat: queue an account-state poll for every server that is due."""
    from trading.sync import servers_due

    due = servers_due("states")
    for server_id in due:
        account_states_sync.delay(server_id)
    return len(due)


@shared_task(name="trading.tasks.account_states_sync", ignore_result=True)
def account_states_sync(server_id: int) -> dict[str, Any]:
    from trading import sync

    result = sync.account_states_sync(server_id)
    return {"status": result.status, "accounts": result.accounts}


@shared_task(name="trading.tasks.deals_reconcile_all", ignore_result=True)
def deals_reconcile_all() -> int:
    """Beat, nightly: reconcile every active server (deletions and balance checks)."""
    from trading.models import PlatformServer

    ids = list(PlatformServer.objects.filter(is_active=True, sync_enabled=True).values_list("pk", flat=True))
    for server_id in ids:
        deals_reconcile.delay(server_id)
    return len(ids)


@shared_task(name="trading.tasks.deals_reconcile", ignore_result=True)
def deals_reconcile(server_id: int) -> dict[str, Any]:
    from trading import sync

    result = sync.deals_reconcile(server_id)
    return {"status": result.status, "deleted": result.deleted}


@shared_task(name="trading.tasks.sync_health_check", ignore_result=True)
def sync_health_check() -> dict[str, int]:
    """Beat: deal-sync lag episodes ("trading.sync_lag")."""
    from trading import sync

    return sync.sync_health_check()


@shared_task(name="trading.tasks.balance_operation_send", ignore_result=True)
def balance_operation_send_task(operation_id: int) -> str:
    from trading.services import balance_operation_send

    return balance_operation_send(operation_id=operation_id).state


@shared_task(name="trading.tasks.balance_operations_resolve_due", ignore_result=True)
def balance_operations_resolve_due() -> dict[str, int]:
    """Beat: settle unknown balance operations by looking their references up."""
    from trading.services import balance_operations_resolve_due as resolve

    return resolve()


@shared_task(name="trading.tasks.challenges_open_due", ignore_result=True)
def challenges_open_due() -> dict[str, int]:
    """Beat: open the prop challenges left "opening" (a platform that failed, an account size whose
    answer was lost and is looked up by its reference)."""
    from trading.prop import challenges_open_due as open_due

    return open_due()


@shared_task(name="trading.tasks.password_links_purge", ignore_result=True)
def password_links_purge() -> int:
    """Beat: wipe the passwords of trading password links that expired unrevealed."""
    from trading.password_links import password_links_purge as purge

    return purge()


@shared_task(name="trading.tasks.client_accounts_lower", ignore_result=True)
def client_accounts_lower(client_id: int) -> dict[str, int]:
    """Lower one client's live accounts to a new limit of the client's own (services.client_leverage_limit_record)."""
    from trading.services import client_accounts_lower as lower

    return lower(client_id=client_id)


@shared_task(name="trading.tasks.account_close_attempt", bind=True, ignore_result=True, acks_late=True,
             max_retries=None)
def account_close_attempt(self: Any, account_id: int) -> str:
    """Try again to close an account the platform has not confirmed closed; retried with backoff until it
    is closed or its attempts are used up (then staff have a task)."""
    from trading.services import close_max_attempts, close_retry_seconds, trading_account_close_attempt

    account = trading_account_close_attempt(account_id=account_id)
    if account.is_closing and account.close_attempts < close_max_attempts():
        raise self.retry(countdown=close_retry_seconds(account.close_attempts))
    return str(account.close_state)


@shared_task(name="trading.tasks.account_closes_resume", ignore_result=True)
def account_closes_resume() -> int:
    """Beat: queue again the closes whose retry was lost (broker down, worker gone)."""
    from trading.services import account_closes_resume as resume

    return resume()


@shared_task(name="trading.tasks.retention_expire", ignore_result=True)
def retention_expire() -> int:
    """Beat: recompute the retention rows whose equity peak left the window (trading.summaries)."""
    from trading import summaries

    return summaries.retention_expire()
