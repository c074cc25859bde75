"""A campaign email's delivery, as the emails app reports it: "email.sent" (the mail server took it)
and "email.failed" (refused, or retried to the end). Emails that are not a campaign's match no row.
A campaign SMS's likewise: "sms.delivered" / "sms.failed" (marketing SMS only), and a STOP that
answers a campaign ("sms.opted_out" with the campaign's code as its reference)."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event
from marketing.campaigns import recipient_delivery, recipient_sms_opt_out, recipient_sms_outcome


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


@subscribe("sms.delivered", "sms.failed", client_fields=())
def campaign_sms_outcome(event: Event) -> None:
    data = event.data if isinstance(event.data, dict) else {}
    if data.get("purpose") == "marketing" and data.get("reference") and data.get("sms"):
        recipient_sms_outcome(
            sms_code=data["sms"], status=str(data.get("status") or ""), at=event.occurred_at
        )


@subscribe("sms.opted_out", client_fields=())
def campaign_sms_stop(event: Event) -> None:
    data = event.data if isinstance(event.data, dict) else {}
    if event.client_id is not None and data.get("reference"):
        recipient_sms_opt_out(
            client_id=event.client_id, reference=str(data["reference"]), at=event.occurred_at
        )
