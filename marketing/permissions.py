"""Who works segments, and fetch-and-authorise in one call.

Segments are read and counted by whoever holds "marketing.view_segment" (marketing, compliance,
administrators), built and saved by "marketing.change_segment", for the brands they work with
(crm.permissions.visible_brands). A segment of another brand is "not found" (SegmentUnknown).
The risk band is offered only to "marketing.segment_on_risk_band" (compliance officers and
administrators): to anyone else it is a fact that does not exist, and a segment that filters on it
is theirs to count but not to change.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from crm.models import Brand
from crm.permissions import user_can, visible_brands
from marketing.exceptions import SegmentUnknown
from marketing.models import Segment

VIEW_SEGMENT = "marketing.view_segment"
CHANGE_SEGMENT = "marketing.change_segment"
VIEW_CONSENT = "marketing.view_consentdecision"


def _active(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def may_view_segments(user: Any) -> bool:
    return _active(user) and user_can(user, VIEW_SEGMENT)


def may_change_segments(user: Any) -> bool:
    return _active(user) and user_can(user, CHANGE_SEGMENT)


def may_view_consent(user: Any) -> bool:
    return _active(user) and user_can(user, VIEW_CONSENT)


def segment_brands_for_user(user: Any) -> QuerySet[Brand]:
    if not may_view_segments(user):
        return Brand.objects.none()
    return visible_brands(user)


def segment_queryset_for_user(user: Any) -> QuerySet[Segment]:
    return Segment.objects.filter(brand__in=segment_brands_for_user(user)).select_related("brand")


def segment_get_for_user(user: Any, code: Any) -> Segment:
    segment = segment_queryset_for_user(user).filter(code=code).first()
    if segment is None:
        raise SegmentUnknown
    return segment
