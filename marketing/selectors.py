"""Reads of marketing's segments that views and later campaigns use."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet

from crm.lib.fieldcrypt import keyed_hashes
from crm.permissions import visible_brands
from marketing.consent import consent_state
from marketing.engine import definition_count, definition_member_ids
from marketing.models import Channel, Segment, SegmentSnapshot, Suppression


def marketing_email_consent(*, client: Any) -> bool:
    """Whether the client's latest decision about marketing email gives consent (marketing.consent)."""
    return consent_state(client=client)["email"]


def segment_count(*, segment: Segment, now: dt.datetime | None = None, tz: Any = None) -> int:
    """How many of the brand's clients match the segment's current definition now."""
    return definition_count(segment.definition, brand_id=segment.brand_id, now=now, tz=tz)


def segment_member_ids(*, segment: Segment, now: dt.datetime | None = None, tz: Any = None) -> list[int]:
    return definition_member_ids(segment.definition, brand_id=segment.brand_id, now=now, tz=tz)


def snapshot_member_ids(*, snapshot: SegmentSnapshot) -> list[int]:
    """Who matched when the snapshot was taken, ascending ids."""
    return list(snapshot.members.order_by("client_id").values_list("client_id", flat=True))


def snapshots_of(*, segment: Segment) -> QuerySet[SegmentSnapshot]:
    return segment.snapshots.select_related("version", "taken_by")


def suppressions_for_user(user: Any, *, address: str = "", channel: str = "") -> QuerySet[Suppression]:
    """The suppressions of the brands `user` works with, newest first; of one channel, or of one
    address (matched by its keyed hash, as the sends' check does: an email in any case, a phone in
    any notation)."""
    rows = Suppression.objects.filter(brand__in=visible_brands(user)).select_related("brand")
    if channel in Channel.values:
        rows = rows.filter(channel=channel)
    if address:
        email, phone = keyed_hashes(address, kind="email"), keyed_hashes(address, kind="phone")
        rows = rows.filter(email_hash__in=email or ["-"]) | rows.filter(phone_hash__in=phone or ["-"])
    return rows.order_by("-at", "-id")


def suppression_get_for_user(user: Any, pk: int) -> Suppression | None:
    return suppressions_for_user(user).filter(pk=pk).first()
