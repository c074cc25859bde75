"""Marketing's part of the retention schedule (compliance.retention): a client's consent decisions are
proof of consent while the relationship lasts and two years after it ends (by default), then they go.
The suppression list stays: it holds only keyed hashes of addresses, and it is what keeps a former client
from being mailed again. Registered from MarketingConfig.ready: compliance sits below marketing."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction

from crm.audit import audit_record
from marketing.models import ConsentDecision

if TYPE_CHECKING:
    from crm.models import User


@transaction.atomic
def consent_decisions_remove(*, ids: list[int], actor: User | None) -> int:
    """Delete the consent decisions `ids` (the schedule's: of relationships ended long enough ago); audited
    with the count only. Returns how many went."""
    removed, _ = ConsentDecision.objects.filter(pk__in=ids).delete()
    audit_record(action="marketing.consent_decisions_remove", object_type="marketing.consentdecision",
                 object_id=str(removed), actor=actor, after={"removed": removed})
    return removed


def _due(brand_id: int, cutoff: dt.datetime) -> list[int]:
    from compliance.selectors import relationships_ended_before

    ended = relationships_ended_before(brand_id=brand_id, before=cutoff)
    return list(ConsentDecision.objects.filter(client_id__in=ended).order_by("pk").values_list("pk", flat=True))


def _remove(ids: list[int]) -> int:
    return consent_decisions_remove(ids=ids, actor=None)


def register() -> None:
    from compliance.services import RetentionSource, retention_source_register

    retention_source_register(RetentionSource("marketing_consents", _due, _remove))
