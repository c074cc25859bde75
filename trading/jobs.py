"""Background jobs of trading (crm.jobs, on django-rq): work a person starts and watches. Thin: ids
in, call the service with the job's handle."""

from __future__ import annotations

from crm.jobs import JobHandle


def leverage_lower(handle: JobHandle, *, account_ids: list[int], cap: int) -> dict[str, int]:
    """Lower accounts above their cap (services.leverage_lower_start)."""
    from trading.services import leverage_lower_run

    return leverage_lower_run(handle=handle, account_ids=account_ids, cap=cap)
