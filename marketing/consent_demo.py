"""Marketing consent in the demo (marketing_seed_demo): of each demo brand's first clients, some
accepted marketing email in the trader's room (some SMS too), some later unsubscribed through an
email's link, most decided nothing, and one address hard-bounced and is suppressed."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from crm.models import Brand, Client
from marketing.consent import consent_record, suppress
from marketing.models import Channel, SuppressionReason

SHOWN = 60  # the brand's first clients that get decisions


def consent_seed_demo(*, brand: Brand) -> dict[str, int]:
    """Decisions and one suppression for `brand`'s first clients; how many of each."""
    now = timezone.now()
    counts = {"email": 0, "sms": 0, "unsubscribed": 0, "suppressed": 0}
    clients = [c for c in Client.objects.filter(brand=brand).order_by("pk")[:SHOWN] if c.email]
    for n, client in enumerate(clients):
        if n % 3 == 2:
            continue  # decided nothing: no marketing
        given_at = now - dt.timedelta(days=30 - n % 20)
        consent_record(client=client, channel=Channel.EMAIL, given=True, source="portal", at=given_at)
        counts["email"] += 1
        if n % 4 == 0 and client.phone:
            consent_record(client=client, channel=Channel.SMS, given=True, source="portal", at=given_at)
            counts["sms"] += 1
        if n % 7 == 1:
            consent_record(client=client, channel=Channel.EMAIL, given=False, source="unsubscribe",
                           at=given_at + dt.timedelta(days=5), campaign_code="demo-spring-offer")
            counts["unsubscribed"] += 1
    bounced = next((c for n, c in enumerate(clients) if n % 3 == 0 and n % 7 != 1), None)
    if bounced is not None:
        suppress(brand=brand, address=bounced.email, channel=Channel.EMAIL, reason=SuppressionReason.HARD_BOUNCE,
                 source="demo: the provider's hard bounce", at=now - dt.timedelta(days=2))
        counts["suppressed"] = 1
    return counts
