"""Who works segments, and fetch-and-authorise in one call.

Segments are read and counted by whoever holds "marketing.view_segment" (marketing, compliance,
administrators), built and saved by "marketing.change_segment", for the brands they work with
(crm.permissions.visible_brands). A segment of another brand is "not found" (SegmentUnknown).
The risk band is offered only to "marketing.segment_on_risk_band" (compliance officers and
administrators): to anyone else it is a fact that does not exist, and a segment that filters on it
is theirs to count but not to change.

Campaigns (marketing.campaigns) are read with "marketing.view_campaign" (marketing, compliance,
administrators), written with "marketing.change_campaign" and sent or cancelled with
"marketing.send_campaign" (marketing and administrators), for the brands the user works with; a
campaign of another brand is "not found" (CampaignUnknown). Opens, clicks and unsubscribes come from
the recipients' signed links, with no login.

Sequences (marketing.sequences) are read with "marketing.view_sequence" (marketing, compliance,
administrators), written, paused and resumed with "marketing.change_sequence" (marketing and
administrators), for the brands the user works with; another brand's is "not found" (SequenceUnknown).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from crm.models import Brand
from crm.permissions import user_can, visible_brands
from marketing.campaign_models import Campaign
from marketing.exceptions import CampaignUnknown, SegmentUnknown, SequenceUnknown
from marketing.models import Segment
from marketing.sequence_models import Sequence

VIEW_SEGMENT = "marketing.view_segment"
CHANGE_SEGMENT = "marketing.change_segment"
VIEW_CONSENT = "marketing.view_consentdecision"
VIEW_CAMPAIGN = "marketing.view_campaign"
CHANGE_CAMPAIGN = "marketing.change_campaign"
SEND_CAMPAIGN = "marketing.send_campaign"
VIEW_SEQUENCE = "marketing.view_sequence"
CHANGE_SEQUENCE = "marketing.change_sequence"


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


def may_view_campaigns(user: Any) -> bool:
    return _active(user) and user_can(user, VIEW_CAMPAIGN)


def may_change_campaigns(user: Any) -> bool:
    return _active(user) and user_can(user, CHANGE_CAMPAIGN)


def may_send_campaigns(user: Any) -> bool:
    return _active(user) and user_can(user, SEND_CAMPAIGN)


def campaign_brands_for_user(user: Any) -> QuerySet[Brand]:
    if not may_view_campaigns(user):
        return Brand.objects.none()
    return visible_brands(user)


def campaign_queryset_for_user(user: Any) -> QuerySet[Campaign]:
    return Campaign.objects.filter(brand__in=campaign_brands_for_user(user)).select_related(
        "brand", "segment", "job", "created_by"
    )


def campaign_get_for_user(user: Any, code: Any) -> Campaign:
    campaign = campaign_queryset_for_user(user).filter(code=code).first()
    if campaign is None:
        raise CampaignUnknown
    return campaign


def may_view_sequences(user: Any) -> bool:
    return _active(user) and user_can(user, VIEW_SEQUENCE)


def may_change_sequences(user: Any) -> bool:
    return _active(user) and user_can(user, CHANGE_SEQUENCE)


def sequence_queryset_for_user(user: Any) -> QuerySet[Sequence]:
    brands = visible_brands(user) if may_view_sequences(user) else Brand.objects.none()
    return Sequence.objects.filter(brand__in=brands).select_related("brand")


def sequence_get_for_user(user: Any, code: Any) -> Sequence:
    sequence = sequence_queryset_for_user(user).filter(code=code).first()
    if sequence is None:
        raise SequenceUnknown
    return sequence
