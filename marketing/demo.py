"""The marketing demo for `make run` (manage.py marketing_seed_demo): a marketer, and for each demo
brand a few segments on money, trading and the client's facts, the first with its members recorded
once, and its clients' marketing consent (marketing.consent_demo). Loaded once: a brand that has
segments already is left as it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from crm.models import Brand, RoleCode, User
from crm.services import user_create
from marketing.consent_demo import consent_seed_demo
from marketing.models import Segment
from marketing.services import segment_save, segment_snapshot_take

DEMO_BRANDS = ("atlas", "nova")
MARKETER_EMAIL = "lina.moreau@demo-broker.example"
MARKETER_PASSWORD = "beacon-segment-7261"  # noqa: S105 - a published demo login
MARKETER_NAME = "Lina Moreau"

SEGMENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "Funded, no trade in 14 days, English or Spanish",
        {
            "match": "all",
            "conditions": [
                {"fact": "first_deposit", "op": "exists"},
                {"fact": "last_trade", "op": "not_within_days", "days": 14},
                {"fact": "language", "op": "in", "value": ["en", "es"]},
            ],
        },
    ),
    (
        "Registered this week, not funded",
        {
            "match": "all",
            "conditions": [
                {"fact": "registered", "op": "within_days", "days": 7},
                {"fact": "first_deposit", "op": "not_exists"},
            ],
        },
    ),
    (
        "Net deposits of 5,000 USD or more",
        {
            "match": "all",
            "conditions": [
                {"fact": "net_deposits", "op": "gte", "value": "5000", "currency": "USD"},
            ],
        },
    ),
    (
        "Active traders or recent first deposits",
        {
            "match": "any",
            "conditions": [
                {"fact": "lots", "op": "gte", "value": "1", "days": 30},
                {"fact": "first_deposit", "op": "within_days", "days": 30},
            ],
        },
    ),
)


@dataclass
class MarketingDemo:
    created: bool = False
    segments: list[Segment] = field(default_factory=list)
    marketer: User | None = None


def _marketer(admin: User, brands: list[Brand]) -> User:
    existing = User.objects.filter(email=MARKETER_EMAIL).first()
    if existing is not None:
        return existing
    return user_create(
        actor=admin,
        email=MARKETER_EMAIL,
        full_name=MARKETER_NAME,
        role_code=RoleCode.MARKETING,
        password=MARKETER_PASSWORD,
        brands=brands,
        timezone="Europe/Madrid",
    )


def marketing_seed_demo(*, admin: User) -> MarketingDemo:
    """Load the marketing demo for the demo brands (see the module docstring)."""
    result = MarketingDemo()
    brands = list(Brand.objects.filter(code__in=DEMO_BRANDS).order_by("code"))
    if not brands:
        return result
    with transaction.atomic():
        result.marketer = _marketer(admin, brands)
        for brand in brands:
            if Segment.objects.filter(brand=brand).exists():
                continue
            result.created = True
            for name, definition in SEGMENTS:
                result.segments.append(
                    segment_save(actor=result.marketer, brand=brand, name=name, definition=definition)
                )
            segment_snapshot_take(
                actor=result.marketer,
                segment=result.segments[-len(SEGMENTS)],
                reason="demo: the win-back list as first drawn",
            )
            consent_seed_demo(brand=brand)  # who may receive marketing, by channel (marketing.consent_demo)
    return result
