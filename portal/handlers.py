"""The trader's room reacts to the verification: an approved client gets a live trading account."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event


@subscribe("kyc.approved")
def first_live_account(event: Event) -> None:
    """Open the client's first live account (none if they have one). A platform failure raises: the
    delivery is recorded as failed and retried with backoff (crm.events.retry_due); the approval,
    committed before, stands."""
    from portal.services import portal_first_live_account_open

    if event.client is not None:
        portal_first_live_account_open(client=event.client)
