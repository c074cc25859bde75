"""Compliance reacts to the domain events: an account opened while the client may not trade is made
read-only too."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event


@subscribe("trading.account_opened")
def read_only_while_restricted(event: Event) -> None:
    from compliance.models import RestrictionKind
    from compliance.restrictions import restriction_in_force, restriction_trading_sync

    if event.client_id is None:
        return
    row = restriction_in_force(client=event.client_id, kind=RestrictionKind.TRADING)
    if row is not None and restriction_trading_sync(restriction_id=row.pk)["failed"]:
        # The delivery is recorded as failed and retried with backoff (crm.events.retry_due).
        raise RuntimeError("the platform did not set the new account read-only")
