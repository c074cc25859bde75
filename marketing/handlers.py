"""Marketing reacts to the domain events of lower layers: a client's SMS opt-out or opt-in (emails.sms:
they texted STOP or START, or the SMS provider refused a message because they had) becomes their
SMS consent decision (marketing.consent)."""

from __future__ import annotations

from crm.events import subscribe
from crm.models import Event


@subscribe("sms.opted_out", "sms.opted_in")
def sms_consent(event: Event) -> None:
    """Record the client's SMS decision as of the event. A provider's refusal (21610) only repeats
    what the client told the provider: it is recorded when their consent still says "given"."""
    from marketing.consent import consent_record, consent_state

    client = event.client
    if client is None:
        return
    data = event.data if isinstance(event.data, dict) else {}
    given = event.name == "sms.opted_in"
    source = str(data.get("source") or "")
    if source == "error_21610" and not consent_state(client=client).get("sms", False):
        return
    consent_record(client=client, channel="sms", given=given,
                   source="sms_start" if given else ("sms_stop" if source != "error_21610" else "sms_provider_21610"),
                   at=event.occurred_at)
