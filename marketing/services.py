"""Every write of marketing's segments: saving a definition (a new version each time it changes) and
taking a snapshot of who matches now."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext
from psycopg import sql

from crm.audit import audit_record
from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import Brand, User
from crm.permissions import visible_brands
from marketing.consent import ConsentToRecord as ConsentToRecord
from marketing.consent import consent_record as consent_record  # other apps record consent through services
from marketing.consent import consent_record_many as consent_record_many
from marketing.engine import definition_clean, definition_compile
from marketing.models import Segment, SegmentSnapshot, SegmentVersion
from marketing.permissions import may_change_segments, may_view_segments

_SNAPSHOT_INSERT = sql.SQL(
    "INSERT INTO marketing_segmentsnapshotmember (snapshot_id, client_id) SELECT %s, s.id FROM ({members}) s"
)


def _require(actor: User | None, brand: Brand, *, change: bool) -> None:
    if actor is None:
        return
    allowed = may_change_segments(actor) if change else may_view_segments(actor)
    if not allowed or not visible_brands(actor).filter(pk=brand.pk).exists():
        raise NotAllowed(gettext("You may not work this brand's segments."))


@transaction.atomic
def segment_save(
    *,
    actor: User | None,
    brand: Brand,
    name: str,
    definition: Mapping[str, Any],
    segment: Segment | None = None,
) -> Segment:
    """Create or change a segment of `brand`. The definition is validated as `actor` may write it
    (ValidationFailed names the bad part); a changed definition is a new version, kept."""
    _require(actor, brand, change=True)
    if segment is not None:
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
        if segment.brand_id != brand.pk:
            raise ValidationFailed(fields={"brand": [gettext("A segment stays in its brand.")]})
    name = " ".join((name or "").split())
    errors: dict[str, list[str]] = {}
    if not name or len(name) > 120:
        errors["name"] = [gettext("Give a name of up to 120 characters.")]
    try:
        clean = definition_clean(definition, brand=brand, user=actor)
    except ValidationFailed as exc:
        errors.update(exc.fields)
        clean = {}
    if errors:
        raise ValidationFailed(fields=errors)
    before = (
        None
        if segment is None
        else {"name": segment.name, "definition": segment.definition, "version": segment.version}
    )
    if segment is None:
        segment = Segment(brand=brand, created_by=actor, version=0)
    changed = segment.version == 0 or segment.definition != clean
    if changed:
        segment.version += 1
    segment.name, segment.definition = name, clean
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:
        raise ValidationFailed(
            fields={"name": [gettext("This brand already has a segment with this name.")]}
        ) from None
    if changed:
        SegmentVersion.objects.create(
            segment=segment, number=segment.version, definition=clean, saved_by=actor
        )
    audit_record(
        action="marketing.segment_saved",
        obj=segment,
        before=before,
        after={"name": name, "definition": clean, "version": segment.version},
        actor=actor,
    )
    return segment


@transaction.atomic
def segment_snapshot_take(
    *, actor: User | None, segment: Segment, reason: str = "", at: dt.datetime | None = None
) -> SegmentSnapshot:
    """Record who matches `segment`'s current version now (or at `at`: windows are counted back
    from it), in one INSERT ... SELECT of the segment's query. The snapshot keeps its members
    whatever later happens to the clients' facts or the definition."""
    _require(actor, segment.brand, change=False)
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    version = SegmentVersion.objects.get(segment=segment, number=segment.version)
    taken_at = at or timezone.now()
    snapshot = SegmentSnapshot.objects.create(
        segment=segment,
        version=version,
        taken_at=taken_at,
        taken_by=actor,
        reason=" ".join((reason or "").split())[:200],
    )
    compiled = definition_compile(
        version.definition, brand_id=segment.brand_id, now=taken_at, tz=timezone.get_current_timezone()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _SNAPSHOT_INSERT.format(members=compiled.members).as_string(connection.connection),
            [snapshot.pk, *compiled.params],
        )
        snapshot.member_count = cursor.rowcount
    snapshot.save(update_fields=["member_count"])
    audit_record(
        action="marketing.segment_snapshot",
        obj=segment,
        after={
            "snapshot": str(snapshot.code),
            "version": version.number,
            "members": snapshot.member_count,
            "reason": snapshot.reason,
        },
        actor=actor,
    )
    return snapshot
