"""How the demo's clients move through the funnel, and where they came from (attribution)."""

from __future__ import annotations

from dataclasses import dataclass

STAGE_PATH = ("lead", "registered", "verified", "funded", "active", "dormant")
STAGE_WEIGHTS = (("lead", 36), ("registered", 20), ("verified", 12), ("funded", 10), ("active", 13),
                 ("dormant", 6), ("closed", 3))
# Each move along the path takes between these many hours.
STEP_HOURS: dict[str, tuple[float, float]] = {
    "registered": (0.2, 120), "verified": (1, 168), "funded": (1, 240), "active": (0.2, 48),
    "dormant": (720, 1800), "closed": (24, 720),
}
# A client at this final stage was created at least this many days before now.
MIN_AGE_DAYS = {"lead": 0, "registered": 0.05, "verified": 0.5, "funded": 1, "active": 2, "dormant": 40,
                "closed": 3}
CLOSE_REASONS = ("Not interested in trading", "Duplicate registration", "Asked to close the account",
                 "Could not be reached after many attempts", "Failed age verification")


@dataclass(frozen=True)
class Attribution:
    source: str = ""
    campaign: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    referrer_code: str = ""


SOURCES = (("google", 30), ("facebook", 16), ("instagram", 6), ("affiliate", 14), ("ib", 8),
           ("organic", 14), ("referral", 5), ("webinar", 4), ("tiktok", 3))
CAMPAIGNS: dict[str, tuple[str, ...]] = {
    "atlas-en": ("uk-gold-spring", "au-indices-launch", "za-forex-academy", "ng-mobile-app", "global-cfd-brand"),
    "atlas-ar": ("gcc-islamic-account", "mena-gold-webinar", "ksa-mobile-app", "egypt-forex-academy"),
    "nova": ("eu-cfd-education", "de-indices-brand", "latam-forex-launch", "asia-mobile-app", "it-es-retarget"),
}
SEARCH_TERMS = ("forex trading", "trade gold online", "cfd broker", "best trading app", "oil trading",
                "indices trading", "forex broker regulated", "islamic trading account", "copy trading")
AFFILIATES = ("fxreviewhub", "tradersclub", "pipsdaily", "brokerwatch", "chartschool")
CREATIVES = ("video-15s", "carousel-gold", "static-app", "story-webinar", "lead-form-a", "lead-form-b")
TAGS = (("high-value", 6), ("vip", 3), ("webinar-attendee", 8), ("mobile-app", 12), ("crypto-interest", 7),
        ("gold-trader", 9), ("callback-requested", 6), ("do-not-call", 2), ("newsletter", 10))
