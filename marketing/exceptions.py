"""Marketing's domain errors."""

from __future__ import annotations

from crm.exceptions import NotFound


class SegmentUnknown(NotFound):
    """No such segment, or one the caller may not see: the two look the same."""

    default_code = "segment_unknown"


class CampaignUnknown(NotFound):
    """No such campaign, or one the caller may not see: the two look the same."""

    default_code = "campaign_unknown"


class SequenceUnknown(NotFound):
    """No such sequence, or one the caller may not see: the two look the same."""

    default_code = "sequence_unknown"
