"""Marketing's say as its emails are delivered: consent is asked again at the last moment.

A campaign's (or sequence's) email is queued after its member's consent was checked, and delivered by
a worker a moment or, when the budget or the workers are behind, hours later. Whoever withdraws their
consent in between, or whose address is suppressed in between (a hard bounce, a complaint), is not
sent to: the emails app asks `refused_marketing` (its delivery_checks, registered in
marketing.apps) for each batch it is about to send, and fails those it names with the reason, unsent;
their "email.failed" records the member's delivery as failed (marketing.campaign_handlers). One query
per brand in the batch (marketing.consent.allowed_recipients), whatever the batch's size.

Only marketing's emails are asked about (the X-CRM-Marketing header of a campaign or a sequence):
transactional mail is never held back by consent, nor a test send to staff.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext

MARKETING_KINDS = frozenset({"campaign", "sequence"})


def refused_marketing(emails: Sequence[Any]) -> Mapping[int, str]:
    """The ids among `emails` (the emails app's queued OutboundEmails) that are marketing to a client
    who may not receive marketing email now, each with the reason."""
    from marketing.consent import allowed_recipients

    by_brand: dict[int, list[Any]] = defaultdict(list)
    for email in emails:
        if email.client_id is not None and (email.headers or {}).get("X-CRM-Marketing") in MARKETING_KINDS:
            by_brand[email.brand_id].append(email)
    refused: dict[int, str] = {}
    for brand_id, mine in by_brand.items():
        allowed = allowed_recipients(brand=brand_id, client_ids=[e.client_id for e in mine], channel="email")
        reason = gettext(
            "Not sent: the client may no longer receive marketing by email (consent withdrawn or "
            "address suppressed since it was queued)."
        )
        refused.update((e.pk, reason) for e in mine if e.client_id not in allowed)
    return refused
