"""Erasure of a person's acquisition data (compliance.erasure decides what goes and authorises)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from crm.audit import audit_record
from leads.models import ContactKey, LeadTouch

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

