"""The campaigns' demo for `make run` (called by manage.py marketing_seed_demo after the segments and
consent): for each demo brand, an A/B campaign to its largest segment, sent, with some of its
recipients' opens and clicks recorded as their signed links record them. Loaded once per brand."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.test.utils import override_settings

from crm.jobs import job_execute
from crm.models import Brand, User
from marketing.campaign_models import Campaign, RecipientStatus
from marketing.campaigns import (
    VariantText,
    campaign_click_record,
    campaign_open_record,
    campaign_save,
    campaign_send,
    click_token,
    open_token,
    recipient_bucket,
)
from marketing.demo import DEMO_BRANDS
from marketing.models import Segment
from marketing.selectors import segment_count

NAME = "Gold week (A/B)"
VARIANTS = (
    VariantText(
        "A",
        "{{ client.first_name }}, gold spreads from 0.15 this week",
        "Hello {{ client.first_name }},\n\nThis week gold trades at spreads from 0.15 at {{ brand.name }}.\n"
        "See the details: https://demo-broker.example/gold-week\n\n"
        "Your account manager, {{ owner.name }}\n\nNo more of these: {{ unsubscribe_url }}",
        50,
    ),
    VariantText(
        "B",
        "Gold week at {{ brand.name }}",
        "Hi {{ client.first_name }},\n\nTighter gold spreads all week.\n"
        "https://demo-broker.example/gold-week\n\nNo more of these: {{ unsubscribe_url }}",
        50,
    ),
)


def _largest_segment(brand: Brand) -> Segment | None:
    segments = list(Segment.objects.filter(brand=brand))
    return max(segments, key=lambda s: segment_count(segment=s), default=None)


def campaigns_seed_demo(*, marketer: User) -> list[Campaign]:
    """The demo campaigns (see the module docstring); the ones created now."""
    created: list[Campaign] = []
    for brand in Brand.objects.filter(code__in=DEMO_BRANDS).order_by("code"):
        if Campaign.objects.filter(brand=brand, name=NAME).exists():
            continue
        segment = _largest_segment(brand)
        if segment is None:
            continue
        with transaction.atomic():
            campaign = campaign_save(
                actor=marketer,
                brand=brand,
                name=NAME,
                segment=segment,
                variants=VARIANTS,
                holdout_percent=20,
                attribution_days=14,
                winner_metric="click",
            )
            campaign = campaign_send(actor=marketer, campaign=campaign)
        # The demo is loaded at any hour: its members are mailed now, whatever their local time.
        if campaign.job_id is not None:
            with override_settings(MARKETING_CAMPAIGN_WINDOW=(0, 24)):
                job_execute(campaign.job_id)
        _engagement(campaign)
        campaign.refresh_from_db()
        created.append(campaign)
    return created


def _engagement(campaign: Campaign) -> None:
    """Opens and clicks of some recipients, through the same signed links an email carries:
    variant A is opened and clicked somewhat more often than B."""
    rows: Any = campaign.recipients.filter(status=RecipientStatus.SENT).select_related("variant")
    for row in rows:
        bucket = recipient_bucket(campaign_code="demo-engagement", client_id=row.client_id) % 100
        a = row.variant is not None and row.variant.label == "A"
        if bucket < (45 if a else 35):
            campaign_open_record(token=open_token(recipient_code=row.code))
        if bucket < (18 if a else 9):
            campaign_click_record(
                token=click_token(recipient_code=row.code, url="https://demo-broker.example/gold-week")
            )
