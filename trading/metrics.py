"""Trading's figures for /metrics (crm/metrics.py): how far each active platform server's sync is
behind, by what it syncs (deals, account states)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from trading.models import PlatformServer


def platform_sync_lag() -> Iterable[tuple[dict[str, str], float]]:
    """Seconds since each active server's last successful deal sync and account-state sync (a server
    never synced reports the time since it was added)."""
    now = timezone.now()
    rows = PlatformServer.objects.filter(is_active=True).values_list(
        "name", "kind", "last_deal_sync_ok_at", "last_state_sync_ok_at", "created_at")
    for name, kind, deals_ok, states_ok, created in rows:
        for what, ok in (("deals", deals_ok), ("states", states_ok)):
            since = ok or created
            yield {"server": name, "platform": kind, "sync": what}, max(0.0, (now - since).total_seconds())


def register() -> None:
    from crm.metrics import register_gauge

    register_gauge("crm_platform_sync_lag_seconds",
                   "Seconds since an active platform server's last successful sync, by what it syncs.",
                   platform_sync_lag)
