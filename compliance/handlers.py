"""Screening reacts to the lower apps' events: a registration, a KYC submission, a change of the
client's name, date of birth or country. Each queues the client's screening (a Celery task) once the
delivery commits; the screening itself is compliance.services.client_screen. And an account opened
while the client may not trade is made read-only too."""

from __future__ import annotations

from compliance.models import ScreeningTrigger
from compliance.screening import SCREENED_FIELDS
from compliance.services import client_screen_enqueue
from crm.events import subscribe
from crm.models import Event


@subscribe("portal.registered")
def screen_at_registration(event: Event) -> None:
    if event.client_id is not None:
        client_screen_enqueue(client_id=event.client_id, trigger=ScreeningTrigger.REGISTRATION)


@subscribe("kyc.submitted")
def screen_at_kyc_submission(event: Event) -> None:
    if event.client_id is not None:
        client_screen_enqueue(client_id=event.client_id, trigger=ScreeningTrigger.KYC_SUBMISSION)


@subscribe("client.updated")
def screen_on_details_change(event: Event) -> None:
    """Only a change of what screening compares screens again (a new phone number does not)."""
    fields = set((event.data or {}).get("fields") or ())
    if event.client_id is not None and fields & SCREENED_FIELDS:
        client_screen_enqueue(client_id=event.client_id, trigger=ScreeningTrigger.DETAILS_CHANGED)
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


# --- AML monitoring: a client's posted movement runs the rules over that client's last days -------------
# (The rules read ledger postings: a deposit is posted when it succeeds, a withdrawal when it is paid.
# A trade only ever lowers what the rapid in-and-out rule finds, so trading's events start nothing.)

@subscribe("wallet.deposit_succeeded", "wallet.withdrawal_paid")
def aml_on_movement(event: Event) -> None:
    from compliance.services import aml_client_enqueue

    if event.client_id is not None:
        aml_client_enqueue(client_id=event.client_id)
