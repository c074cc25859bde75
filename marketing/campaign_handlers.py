"""A campaign email's delivery, as the emails app reports it: "email.sent" (the mail server took it)
and "email.failed" (refused, or retried to the end). Emails that are not a campaign's match no row."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event
from marketing.campaigns import recipient_delivery


@subscribe("email.sent", client_fields=())
def campaign_email_sent(event: Event) -> None:
    code = (event.data or {}).get("email")
    if code:
        recipient_delivery(email_code=code, delivered=True, at=event.occurred_at)


@subscribe("email.failed", client_fields=())
def campaign_email_failed(event: Event) -> None:
    code = (event.data or {}).get("email")
    if code:
        recipient_delivery(email_code=code, delivered=False, at=event.occurred_at)
