"""Lead scoring: each active rule of the brand adds (or takes away) its points when its condition
holds; the total is clamped to 0-100 and every contributing rule is kept with the reason.

Rule parameters by kind (validated by `params_clean` when an administrator saves a rule):

    country_tier         {"countries": ["GB", "DE"]}
    declared_experience  {"levels": ["experienced", "professional"]}
    deposit_intent       {"min": "1000", "max": "50000"}            (max optional)
    source_quality       {"sources": ["google"], "campaigns": ["spring-promo"]}   (either or both)
    completeness         {"fields": ["phone", "country", "experience"]}  points pro rata of fields given
    hnw_indicator        {"min_annual_income": "250000", "min_net_worth": "1000000",
                          "occupations": ["business owner"]}          (any one indicator is enough)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext

from crm.exceptions import ValidationFailed
from crm.lib.validation import COUNTRY_CODES
from leads.intake import Experience, LeadInput
from leads.models import ScoringKind, ScoringRule

if TYPE_CHECKING:
    from crm.models import Client
    from leads.models import LeadTouch

MIN_SCORE = 0
MAX_SCORE = 100
COMPLETENESS_FIELDS: tuple[str, ...] = (
    "first_name", "last_name", "email", "phone", "country", "language", "experience", "deposit_intent",
    "annual_income", "net_worth", "occupation",
)


@dataclass(frozen=True)
class LeadFacts:
    """What scoring and routing look at, from a lead being taken in or from a stored client."""

    country: str = ""
    language: str = ""
    source: str = ""
    campaign: str = ""
    referrer_code: str = ""
    declared: Mapping[str, str] = field(default_factory=dict)
    present: frozenset[str] = frozenset()
    score: int | None = None

    @classmethod
    def of_input(cls, lead: LeadInput) -> LeadFacts:
        present = {name for name in ("first_name", "last_name", "email", "phone", "country", "language")
                   if getattr(lead, name)}
        present |= {name for name, value in lead.declared.items() if value}
        return cls(country=lead.country, language=lead.language, source=lead.source, campaign=lead.campaign,
                   referrer_code=lead.referrer_code, declared=dict(lead.declared), present=frozenset(present))

    @classmethod
    def of_client(cls, client: Client, touch: LeadTouch | None = None) -> LeadFacts:
        declared = dict(touch.declared) if touch is not None else {}
        present = {name for name in ("first_name", "last_name", "email", "phone", "country", "language")
                   if getattr(client, name)}
        present |= {name for name, value in declared.items() if value}
        return cls(
            country=client.country, language=client.language,
            source=(touch.source if touch is not None else "") or client.source,
            campaign=(touch.campaign_code if touch is not None else "") or client.campaign,
            referrer_code=(touch.referrer_code if touch is not None else "") or client.referrer_code,
            declared=declared, present=frozenset(present),
        )

    def with_score(self, score: int) -> LeadFacts:
        return LeadFacts(self.country, self.language, self.source, self.campaign, self.referrer_code,
                         self.declared, self.present, score)


Breakdown = list[dict[str, Any]]


# --- parameters -------------------------------------------------------------------------------


def _list(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name) or []
    if isinstance(value, str):
        value = [part for part in value.replace("\n", ",").split(",")]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(gettext("%(name)s must be a list of text.") % {"name": name})
    out: list[str] = []
    for item in (" ".join(v.split()) for v in value):
        if item and item not in out:
            out.append(item)
    return out


def _decimal(params: Mapping[str, Any], name: str) -> Decimal | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(gettext("%(name)s must be an amount.") % {"name": name})
    try:
        amount = Decimal(str(value).replace(",", ""))
    except InvalidOperation:
        raise ValueError(gettext("%(name)s must be an amount.") % {"name": name}) from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(gettext("%(name)s must be an amount of zero or more.") % {"name": name})
    return amount


def _country_tier(params: Mapping[str, Any]) -> dict[str, Any]:
    countries = [c.upper() for c in _list(params, "countries")]
    if not countries:
        raise ValueError(gettext("Name at least one country."))
    bad = [c for c in countries if c not in COUNTRY_CODES]
    if bad:
        raise ValueError(gettext("Unknown country codes: %(codes)s.") % {"codes": ", ".join(bad)})
    return {"countries": countries}


def _experience(params: Mapping[str, Any]) -> dict[str, Any]:
    levels = [v.lower() for v in _list(params, "levels")]
    if not levels:
        raise ValueError(gettext("Name at least one experience level."))
    bad = [v for v in levels if v not in Experience.VALUES]
    if bad:
        raise ValueError(gettext("Experience levels are: %(levels)s.") % {"levels": ", ".join(Experience.VALUES)})
    return {"levels": levels}


def _deposit_intent(params: Mapping[str, Any]) -> dict[str, Any]:
    low, high = _decimal(params, "min"), _decimal(params, "max")
    if low is None:
        raise ValueError(gettext("Give the minimum intended deposit."))
    if high is not None and high < low:
        raise ValueError(gettext("The maximum must not be below the minimum."))
    return {"min": str(low), "max": None if high is None else str(high)}


def _source_quality(params: Mapping[str, Any]) -> dict[str, Any]:
    sources = [v.lower() for v in _list(params, "sources")]
    campaigns = [v.lower() for v in _list(params, "campaigns")]
    if not sources and not campaigns:
        raise ValueError(gettext("Name at least one source or campaign."))
    return {"sources": sources, "campaigns": campaigns}


def _completeness(params: Mapping[str, Any]) -> dict[str, Any]:
    fields = _list(params, "fields")
    if not fields:
        raise ValueError(gettext("Name at least one field."))
    bad = [f for f in fields if f not in COMPLETENESS_FIELDS]
    if bad:
        raise ValueError(gettext("Fields can be: %(fields)s.") % {"fields": ", ".join(COMPLETENESS_FIELDS)})
    return {"fields": fields}


def _hnw(params: Mapping[str, Any]) -> dict[str, Any]:
    income, worth = _decimal(params, "min_annual_income"), _decimal(params, "min_net_worth")
    occupations = [v.lower() for v in _list(params, "occupations")]
    if income is None and worth is None and not occupations:
        raise ValueError(gettext("Give a minimum income, a minimum net worth or occupations."))
    return {"min_annual_income": None if income is None else str(income),
            "min_net_worth": None if worth is None else str(worth), "occupations": occupations}


PARAM_VALIDATORS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    ScoringKind.COUNTRY_TIER: _country_tier,
    ScoringKind.DECLARED_EXPERIENCE: _experience,
    ScoringKind.DEPOSIT_INTENT: _deposit_intent,
    ScoringKind.SOURCE_QUALITY: _source_quality,
    ScoringKind.COMPLETENESS: _completeness,
    ScoringKind.HNW_INDICATOR: _hnw,
}


def params_clean(kind: str, params: Any) -> dict[str, Any]:
    """The parameters of a rule of `kind`, normalised; ValidationFailed naming "params" otherwise."""
    validator = PARAM_VALIDATORS.get(kind)
    if validator is None:
        raise ValidationFailed(fields={"kind": [gettext("Choose a valid kind of rule.")]})
    if not isinstance(params, Mapping):
        raise ValidationFailed(fields={"params": [gettext("Parameters must be an object.")]})
    try:
        return validator(params)
    except ValueError as exc:
        raise ValidationFailed(fields={"params": [str(exc)]}) from None


# --- evaluation -------------------------------------------------------------------------------


def _amount(facts: LeadFacts, name: str) -> Decimal | None:
    value = facts.declared.get(name)
    if not value:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def evaluate(rule: ScoringRule, facts: LeadFacts) -> tuple[int, str] | None:
    """(points, why) if the rule applies to the lead, else None."""
    judge = _JUDGES.get(rule.kind)
    return judge(rule, rule.params or {}, facts) if judge is not None else None


Judged = tuple[int, str] | None


def _judge_country_tier(rule: ScoringRule, p: dict[str, Any], facts: LeadFacts) -> Judged:
    if facts.country and facts.country in p.get("countries", ()):
        return rule.points, gettext("Country %(country)s is in this tier") % {"country": facts.country}
    return None


def _judge_declared_experience(rule: ScoringRule, p: dict[str, Any], facts: LeadFacts) -> Judged:
    level = facts.declared.get("experience", "")
    if level and level in p.get("levels", ()):
        return rule.points, gettext("Declared experience: %(level)s") % {"level": level}
    return None


def _judge_deposit_intent(rule: ScoringRule, p: dict[str, Any], facts: LeadFacts) -> Judged:
    amount = _amount(facts, "deposit_intent")
    low = Decimal(p["min"]) if p.get("min") else Decimal(0)
    high = Decimal(p["max"]) if p.get("max") else None
    if amount is not None and amount >= low and (high is None or amount <= high):
        return rule.points, gettext("Intends to deposit %(amount)s") % {"amount": amount}
    return None


def _judge_source_quality(rule: ScoringRule, p: dict[str, Any], facts: LeadFacts) -> Judged:
    if facts.source and facts.source.lower() in p.get("sources", ()):
        return rule.points, gettext("Source %(source)s") % {"source": facts.source}
    if facts.campaign and facts.campaign.lower() in p.get("campaigns", ()):
        return rule.points, gettext("Campaign %(campaign)s") % {"campaign": facts.campaign}
    return None


def _judge_completeness(rule: ScoringRule, p: dict[str, Any], facts: LeadFacts) -> Judged:
    wanted = list(p.get("fields", ()))
    if wanted:
        have = [f for f in wanted if f in facts.present]
        points = round(rule.points * len(have) / len(wanted))
        if points:
            return points, gettext("%(have)d of %(total)d fields given") % {"have": len(have), "total": len(wanted)}
    return None


def _judge_hnw_indicator(rule: ScoringRule, p: dict[str, Any], facts: LeadFacts) -> Judged:
    income, worth = _amount(facts, "annual_income"), _amount(facts, "net_worth")
    if p.get("min_annual_income") and income is not None and income >= Decimal(p["min_annual_income"]):
        return rule.points, gettext("Annual income %(amount)s") % {"amount": income}
    if p.get("min_net_worth") and worth is not None and worth >= Decimal(p["min_net_worth"]):
        return rule.points, gettext("Net worth %(amount)s") % {"amount": worth}
    occupation = facts.declared.get("occupation", "").lower()
    if occupation and occupation in p.get("occupations", ()):
        return rule.points, gettext("Occupation: %(occupation)s") % {"occupation": occupation}
    return None


# Each kind of scoring rule, judged by its own function.
_JUDGES: dict[str, Callable[[ScoringRule, dict[str, Any], LeadFacts], Judged]] = {
    ScoringKind.COUNTRY_TIER: _judge_country_tier,
    ScoringKind.DECLARED_EXPERIENCE: _judge_declared_experience,
    ScoringKind.DEPOSIT_INTENT: _judge_deposit_intent,
    ScoringKind.SOURCE_QUALITY: _judge_source_quality,
    ScoringKind.COMPLETENESS: _judge_completeness,
    ScoringKind.HNW_INDICATOR: _judge_hnw_indicator,
}


def score_facts(facts: LeadFacts, rules: Iterable[ScoringRule]) -> tuple[int, Breakdown]:
    """The 0-100 score of `facts` under `rules` (active ones, in order) and the contributing rules."""
    total = 0
    breakdown: Breakdown = []
    for rule in rules:
        if not rule.is_active:
            continue
        outcome = evaluate(rule, facts)
        if outcome is None:
            continue
        points, why = outcome
        total += points
        breakdown.append({"rule": str(rule.code), "name": rule.name, "kind": rule.kind, "points": points,
                          "why": why})
    return max(MIN_SCORE, min(MAX_SCORE, total)), breakdown


def active_rules(brand_id: int) -> list[ScoringRule]:
    return list(ScoringRule.objects.filter(brand_id=brand_id, is_active=True).order_by("order", "id"))


def score_lead(client: Client, touch: LeadTouch | None = None, *, rules: Iterable[ScoringRule] | None = None
               ) -> tuple[int, Breakdown]:
    """Score a stored client (with the touch that brought it, if any): (0-100, [(rule, points, why)])."""
    if rules is None:
        rules = active_rules(client.brand_id)
    return score_facts(LeadFacts.of_client(client, touch), rules)
