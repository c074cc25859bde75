"""What a brand's trading policy allows a client: whether a live account may be opened for them, and
the highest leverage their accounts may have. Reads only; the services enforce these and the pages
show them.

Leverage: the brand's ceiling (BrandTradingPolicy, live or demo) and, for live accounts, the cap
rules (LeverageCap) matching the client's country and classification: the most specific matching
rule wins (country and classification over either alone); between equally specific rules the
lowest; where the brand has no rule for a retail client's country, the regulator's default for
that country (REGULATOR_RETAIL_CAPS: ESMA's 1:30 in the EU/EEA, the FCA's in the UK, ASIC's in
Australia, ...) so that a brand without caps never opens a retail account above it; the ceiling
applies on top; and a limit of the client's own (ClientLeverageLimit: the
appropriateness questionnaire's result) on top of both. Every limit comes with the rule it comes
from, in words, so that a refusal can name it ("Retail clients in GB: at most 1:30", "Appropriateness
questionnaire: not appropriate, at most 1:5").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias, TypedDict

from django.db.models import Case, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, Least
from django.utils.translation import gettext, pgettext

from crm.models import Brand, Classification, Client, Stage
from crm.selectors import client_verified
from trading.models import (
    DEFAULT_LIVE_MIN_STAGE,
    BrandTradingPolicy,
    ClientLeverageLimit,
    LeverageCap,
    TradingAccount,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

LEVERAGE_CAP_MAX = 3000  # 1:3000 is the highest leverage any retail platform offers

# How far along the funnel each stage is, for "at least": a dormant client was funded before.
_STAGE_RANK: dict[str, int] = {Stage.LEAD: 0, Stage.REGISTERED: 1, Stage.VERIFIED: 2, Stage.FUNDED: 3, Stage.ACTIVE: 4,
               Stage.DORMANT: 3}


def brand_policy(brand_id: int) -> BrandTradingPolicy:
    """The brand's policy; a brand without one gets the defaults of a new row (not saved)."""
    return BrandTradingPolicy.objects.filter(brand_id=brand_id).first() or BrandTradingPolicy(brand_id=brand_id)


def stage_label(stage: str) -> str:
    try:
        return str(Stage(stage).label)
    except ValueError:
        return stage


# --- opening live accounts ----------------------------------------------------------------------------

def live_account_refusal(*, client: Client, brand: Brand, policy: BrandTradingPolicy | None = None) -> str | None:
    """Why the brand's policy does not allow a live account for `client` now, or None. Demo accounts
    are always allowed."""
    policy = policy or brand_policy(brand.pk)
    names = {"brand": brand.name, "current": stage_label(client.stage)}
    if client.stage == Stage.CLOSED:
        return gettext("Live accounts at %(brand)s cannot be opened for a closed client.") % names
    minimum = policy.live_min_stage or DEFAULT_LIVE_MIN_STAGE
    if _STAGE_RANK.get(client.stage, 0) < _STAGE_RANK.get(minimum, 0):
        return gettext("Live accounts at %(brand)s need the client to be at least %(stage)s; this client is "
                       "%(current)s.") % {**names, "stage": stage_label(minimum)}
    if policy.live_requires_verification and not client_verified(client=client):
        return gettext("Live accounts at %(brand)s need a verified client (an approved verification that has "
                       "not expired); this client is not verified.") % names
    return None


# --- leverage -----------------------------------------------------------------------------------------

# The regulators' caps on retail clients' major currency pairs, by country: applied to a retail
# client's live accounts where the brand has no cap rule of its own for them (a brand's rule, lower
# or higher, is the brand's decision and wins). (regulator, cap).
_EEA = ("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
        "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO")
REGULATOR_RETAIL_CAPS: dict[str, tuple[str, int]] = {
    **dict.fromkeys(_EEA, ("ESMA", 30)),
    "GB": ("FCA", 30), "AU": ("ASIC", 30), "JP": ("JFSA", 25), "US": ("CFTC", 50), "SG": ("MAS", 20),
    "HK": ("SFC", 20), "TR": ("CMB", 10),
}


def regulator_default(*, country: str, classification: str) -> tuple[str, int] | None:
    """The regulator's default cap (regulator, cap) for a client in `country` of `classification`:
    retail clients (a client not classified is treated as retail) of the countries listed only."""
    if classification not in ("", Classification.RETAIL):
        return None
    return REGULATOR_RETAIL_CAPS.get((country or "").upper())


def regulator_text(*, country: str, regulator: str, cap: int) -> str:
    return gettext("Retail clients in %(country)s: at most 1:%(cap)s (the %(regulator)s default)") % {
        "country": country, "cap": cap, "regulator": regulator}


_WHO: dict[str, tuple[Callable[[], str], Callable[[], str]]] = {
    Classification.RETAIL: (lambda: gettext("Retail clients"), lambda: gettext("Retail clients in %(country)s")),
    Classification.PROFESSIONAL: (lambda: gettext("Professional clients"),
                                  lambda: gettext("Professional clients in %(country)s")),
    Classification.ELIGIBLE_COUNTERPARTY: (lambda: gettext("Eligible counterparties"),
                                           lambda: gettext("Eligible counterparties in %(country)s")),
}


def rule_scope_text(*, country: str, classification: str) -> str:
    """Whom a rule is for, in words: "Retail clients in GB", "Clients in DE", "Professional clients"."""
    if classification in _WHO:
        anywhere, somewhere = _WHO[Classification(classification)]
        return somewhere() % {"country": country} if country else anywhere()
    return gettext("Clients in %(country)s") % {"country": country} if country else gettext("All clients")


def rule_text(*, country: str, classification: str, cap: int) -> str:
    return gettext("%(who)s: at most 1:%(cap)s") % {
        "who": rule_scope_text(country=country, classification=classification), "cap": cap}


def ceiling_text(*, brand: Brand, demo: bool, cap: int) -> str:
    if demo:
        return gettext("Demo accounts at %(brand)s: at most 1:%(cap)s") % {"brand": brand.name, "cap": cap}
    return gettext("Live accounts at %(brand)s: at most 1:%(cap)s") % {"brand": brand.name, "cap": cap}


@dataclass(frozen=True)
class LeverageLimit:
    """The highest leverage allowed (None: no cap; the servers' leverages apply) and why."""

    cap: int | None
    rule: str = ""
    source: LeverageCap | None = None  # the cap rule that sets it; None: the brand's ceiling (or nothing)

    def allows(self, leverage: int) -> bool:
        return self.cap is None or leverage <= self.cap


def matching_rule(*, brand_id: int, country: str, classification: str) -> LeverageCap | None:
    """The cap rule of the brand that applies to a client in `country` of `classification`."""
    rules = list(LeverageCap.objects.filter(brand_id=brand_id, country__in={country, ""},
                                            classification__in={classification, ""}))
    if not rules:
        return None
    return min(rules, key=lambda r: (-r.specificity, r.max_leverage))


# The appropriateness levels kyc sends in "kyc.assessed" (trading does not import kyc), in words.
_APPROPRIATENESS: dict[str, Callable[[], str]] = {
    "appropriate": lambda: pgettext("appropriateness", "appropriate"),
    "appropriate_with_warning": lambda: pgettext("appropriateness", "appropriate with a warning"),
    "not_appropriate": lambda: pgettext("appropriateness", "not appropriate"),
}


def client_limit_text(limit: ClientLeverageLimit) -> str:
    """A client's own limit in words: "Appropriateness questionnaire: not appropriate, at most 1:5"."""
    result = _APPROPRIATENESS[limit.reason]() if limit.reason in _APPROPRIATENESS else limit.reason
    return gettext("Appropriateness questionnaire: %(result)s, at most 1:%(cap)s") % {
        "result": result, "cap": limit.max_leverage}


def client_limit(*, client: Client) -> ClientLeverageLimit | None:
    """The lowest of the client's own leverage limits (ClientLeverageLimit), or None."""
    return (ClientLeverageLimit.objects.filter(client_id=client.pk, max_leverage__isnull=False)
            .order_by("max_leverage", "source").first())


def leverage_limit(*, client: Client, brand: Brand, demo: bool,
                   policy: BrandTradingPolicy | None = None) -> LeverageLimit:
    """The leverage cap of `client`'s accounts of `brand` (live or demo) and the rule it comes from:
    the lowest of the brand's ceiling, the matching cap rule (none: the regulator's default for a
    retail client's country) and, for live accounts, the client's own limit (the appropriateness
    questionnaire's result)."""
    policy = policy if policy is not None else BrandTradingPolicy.objects.filter(brand_id=brand.pk).first()
    ceiling = None if policy is None else (policy.max_leverage_demo if demo else policy.max_leverage_live)
    rule = None if demo else matching_rule(brand_id=brand.pk, country=client.country,
                                           classification=client.classification)
    default = None if demo or rule is not None else regulator_default(country=client.country,
                                                                      classification=client.classification)
    if rule is not None and (ceiling is None or rule.max_leverage <= ceiling):
        limit = LeverageLimit(cap=rule.max_leverage, source=rule, rule=rule_text(
            country=rule.country, classification=rule.classification, cap=rule.max_leverage))
    elif default is not None and (ceiling is None or default[1] <= ceiling):
        limit = LeverageLimit(cap=default[1], rule=regulator_text(country=client.country.upper(),
                                                                  regulator=default[0], cap=default[1]))
    elif ceiling is not None:
        limit = LeverageLimit(cap=ceiling, rule=ceiling_text(brand=brand, demo=demo, cap=ceiling))
    else:
        limit = LeverageLimit(cap=None)
    own = None if demo else client_limit(client=client)
    if own is not None and own.max_leverage is not None and (limit.cap is None or own.max_leverage < limit.cap):
        return LeverageLimit(cap=own.max_leverage, rule=client_limit_text(own))
    return limit


def leverage_refusal(*, leverage: int, limit: LeverageLimit) -> str:
    return gettext("Leverage 1:%(leverage)s is refused. %(rule)s.") % {"leverage": leverage, "rule": limit.rule}


class LeverageCapAnnotation(TypedDict):
    leverage_cap: int | None


if TYPE_CHECKING:
    # Accounts annotated with their `leverage_cap` (with_leverage_cap). Not a `type` statement: the
    # plugin of django-stubs reads only this form; and WithAnnotations takes one argument at run time.
    AccountsWithCap: TypeAlias = QuerySet[WithAnnotations[TradingAccount, LeverageCapAnnotation]]  # noqa: UP040


def with_leverage_cap(qs: QuerySet[TradingAccount]) -> AccountsWithCap:
    """`qs` annotated with ``leverage_cap``: each account's cap as leverage_limit computes it (NULL:
    none; the client's own limit included), in SQL, for lists of accounts above their caps."""
    specificity = (Case(When(country="", then=Value(0)), default=Value(1))
                   + Case(When(classification="", then=Value(0)), default=Value(1)))
    rule_cap = Subquery(
        LeverageCap.objects.filter(brand_id=OuterRef("server__brand_id"))
        .filter(Q(country="") | Q(country=OuterRef("client__country")))
        .filter(Q(classification="") | Q(classification=OuterRef("client__classification")))
        # (Not "specificity": LeverageCap has that property, and django-stubs refuses the clash.)
        .annotate(rule_specificity=specificity).order_by("-rule_specificity", "max_leverage")
        .values("max_leverage")[:1],
        output_field=IntegerField())
    # No rule of the brand for the client: the regulator's default for a retail client's country.
    defaults: dict[int, list[str]] = {}
    for country, (_regulator, cap) in REGULATOR_RETAIL_CAPS.items():
        defaults.setdefault(cap, []).append(country)
    regulator_cap = Case(*(When(Q(client__classification__in=["", Classification.RETAIL])
                                & Q(client__country__in=countries), then=Value(cap))
                           for cap, countries in sorted(defaults.items())),
                         default=None, output_field=IntegerField())
    own_cap = Subquery(
        ClientLeverageLimit.objects.filter(client_id=OuterRef("client_id"), max_leverage__isnull=False)
        .order_by("max_leverage").values("max_leverage")[:1],
        output_field=IntegerField())
    # PostgreSQL's LEAST skips NULLs: a missing rule, ceiling or client limit leaves the others.
    return qs.annotate(leverage_cap=Case(
        When(is_demo=True, then=F("server__brand__trading_policy__max_leverage_demo")),
        default=Least(Coalesce(rule_cap, regulator_cap), F("server__brand__trading_policy__max_leverage_live"),
                      own_cap),
        output_field=IntegerField()))


# --- typed caps ---------------------------------------------------------------------------------------

_CAP_TEXT = re.compile(r"^(?:1\s*:\s*)?(\d+)$")


def cap_parse(text: str) -> int | None:
    """A leverage cap as typed: "30", "1:30", with any script's digits ("١:٣٠", "۳۰"); None if it is
    not one (the caller names the field)."""
    ascii_text = "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch
                         for ch in (text or "").strip())
    match = _CAP_TEXT.match(ascii_text.replace("\u2236", ":").replace("\uff1a", ":"))
    return int(match.group(1)) if match else None
