"""Erasure of a person's acquisition data (compliance.erasure decides what goes and authorises)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from crm.audit import audit_record
from leads.models import Call, ContactKey, LeadTouch

if TYPE_CHECKING:
    from crm.models import Client, User


@transaction.atomic
def lead_touches_anonymise(*, client: Client, actor: User | None) -> int:
    """The client's lead touches lose what identifies the person (the form's or vendor's payload, what they
    declared, IP, browser, click id, landing page) and their contact keys go (the dedupe would otherwise
    still match a new lead to the erased client). Campaign, channel, times and the consent flag and text
    version stay: they are the brand's attribution and proof of consent, not personal data. Returns the
    touches anonymised; audited without personal data."""
    touches = LeadTouch.objects.filter(client=client)
    count = 0
    for touch in touches:
        touch.payload, touch.declared, touch.ip, touch.user_agent = {}, {}, None, ""
        touch.click_id, touch.landing_page = "", ""
        touch.save(update_fields=["payload", "declared", "ip", "user_agent", "click_id", "landing_page"])
        count += 1
    keys, _ = ContactKey.objects.filter(client=client).delete()
    audit_record(action="lead.touches_anonymise", obj=client, after={"touches": count, "contact_keys": keys},
                 actor=actor)
    return count



@transaction.atomic
def calls_anonymise(*, client: Client, actor: User | None, placeholder: str) -> int:
    """The client's calls keep their agent, outcome and times (the desk's figures), but their notes become
    `placeholder` and the recording's address goes. Returns the calls changed; audited with the count."""
    count = Call.objects.filter(client=client).exclude(notes="", recording_url="").update(
        notes=placeholder, recording_url="")
    audit_record(action="lead.calls_anonymise", obj=client, after={"calls": count}, actor=actor)
    return count
