"""The trader's room reacts to the domain events: an approved client gets a live trading account,
and what happens to a client is put in their notifications."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event
from portal.services import NOTIFIED_EVENTS


@subscribe("kyc.approved")
def first_live_account(event: Event) -> None:
    """Open the client's first live account (none if they have one). A platform failure raises: the
    delivery is recorded as failed and retried with backoff (crm.events.retry_due); the approval,
    committed before, stands. A refusal by the brand's policy is final: the client, their owner and
    staff are told (portal.services.live_account_refusal_record)."""
    from portal.services import portal_first_live_account_open

    if event.client is not None:
        portal_first_live_account_open(client=event.client, approval=event)


@subscribe("trading.server_saved")
def waiting_first_live_accounts(event: Event) -> None:
    """A live server was saved: the brand's verified clients waiting for one get their first live
    account now (portal.services.first_live_accounts_retry)."""
    from portal.services import first_live_accounts_retry

    if event.brand_id is not None:
        first_live_accounts_retry(brand_id=event.brand_id)


@subscribe(*NOTIFIED_EVENTS)
def notify_client(event: Event) -> None:
    """Put the event in the client's trader's-room notifications (once per event)."""
    from portal.services import portal_notification_record

    portal_notification_record(event=event)


@subscribe("compliance.restriction_imposed")
def end_sessions_of_restricted(event: Event) -> None:
    """A client barred from the trader's room is signed out of every session at once (a new sign-in
    is refused by portal_login_check)."""
    from portal.models import ClientLogin
    from portal.services import portal_session_end

    if event.client is None or (event.data or {}).get("kind") != "no_login":
        return
    for login in ClientLogin.objects.filter(client=event.client):
        portal_session_end(login=login, code="others", current_key=None)
