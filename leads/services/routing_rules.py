"""Lead routing rules (administrators); the routing itself is leads.routing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import FieldErrors, ValidationFailed
from crm.lib.validation import InvalidValue, country_normalise, language_normalise
from crm.models import Brand, Desk, User
from crm.permissions import AGENT_ROLES
from leads.config import config_changed
from leads.models import RoutingPointer, RoutingRule, RoutingStrategy, RoutingTarget
from leads.services.common import _require_admin, _snapshot, text_field


def _clean_list(value: Any, name: str, errors: FieldErrors, normalise: Any = None, limit: int = 100) -> list[str]:
    if value in (None, ""):
        return []
    items = value.replace("\n", ",").split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            errors.add(name, gettext("Enter text."))
            return []
        item = item.strip()
        if not item:
            continue
        if normalise is not None:
            try:
                item = normalise(item)
            except InvalidValue as exc:
                errors.add(name, f"{item}: {exc.message}")
                continue
        if len(item) > limit:
            errors.add(name, gettext("Use at most %(max)d characters per item.") % {"max": limit})
            continue
        if item not in out:
            out.append(item)
    return out


ROUTING_FIELDS = ("name", "order", "is_active", "is_fallback", "countries", "languages", "campaigns", "sources",
                  "referrer_codes", "score_min", "score_max", "target_kind", "target_agent", "target_desk",
                  "strategy", "weights", "fall_through")


def _score_bound(value: Any, name: str, errors: FieldErrors) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors.add(name, gettext("Give a score from 0 to 100."))
        return None
    if not 0 <= number <= 100:
        errors.add(name, gettext("Give a score from 0 to 100."))
        return None
    return number


def _is_agent_of(user: Any, brand: Brand) -> bool:
    return (isinstance(user, User) and user.is_active and user.role_code in AGENT_ROLES
            and (user.all_brands or user.brands.filter(pk=brand.pk).exists()))


@transaction.atomic
def routing_rule_save(
    *, actor: User | None, brand: Brand, name: str, target_kind: str, target_agent: User | None = None,
    target_desk: Desk | None = None, strategy: str = RoutingStrategy.ROUND_ROBIN, countries: Any = (),
    languages: Any = (), campaigns: Any = (), sources: Any = (), referrer_codes: Any = (), score_min: Any = None,
    score_max: Any = None, weights: Mapping[str, Any] | None = None, is_fallback: bool = False,
    fall_through: bool = False, is_active: bool = True, rule: RoutingRule | None = None,
) -> RoutingRule:
    """Create or change a routing rule. New rules go to the end of the list (before the fallback)."""
    _require_admin(actor)
    errors = FieldErrors()
    name = text_field(name, "name", 120, required=True, errors=errors)
    values: dict[str, Any] = {
        "countries": _clean_list(countries, "countries", errors, country_normalise, 2),
        "languages": _clean_list(languages, "languages", errors, language_normalise, 8),
        "campaigns": [c.lower() for c in _clean_list(campaigns, "campaigns", errors)],
        "sources": _clean_list(sources, "sources", errors),
        "referrer_codes": _clean_list(referrer_codes, "referrer_codes", errors, None, 64),
        "score_min": _score_bound(score_min, "score_min", errors),
        "score_max": _score_bound(score_max, "score_max", errors),
    }
    if values["score_min"] is not None and values["score_max"] is not None and values["score_min"] > values["score_max"]:
        errors.add("score_max", gettext("The maximum must not be below the minimum."))
    if target_kind == RoutingTarget.AGENT:
        if not _is_agent_of(target_agent, brand):
            errors.add("target_agent", gettext("Choose an active agent of this brand."))
        target_desk = target_desk if isinstance(target_desk, Desk) else None
    elif target_kind == RoutingTarget.DESK:
        target_agent = None
    else:
        errors.add("target_kind", gettext("Choose an agent or a desk."))
    if target_desk is not None and (not isinstance(target_desk, Desk) or target_desk.brand_id != brand.pk):
        errors.add("target_desk", gettext("Choose a desk of this brand."))
    elif target_kind == RoutingTarget.DESK and target_desk is None:
        errors.add("target_desk", gettext("Choose a desk of this brand."))
    if strategy not in RoutingStrategy.values:
        errors.add("strategy", gettext("Choose a valid strategy."))
    clean_weights = _clean_weights(weights, errors)
    if is_fallback:
        clash = RoutingRule.objects.filter(brand_id=brand.pk, is_fallback=True)
        if rule is not None:
            clash = clash.exclude(pk=rule.pk)
        if clash.exists():
            errors.add("is_fallback", gettext("This brand already has a fallback rule."))
    errors.raise_if_any()

    before = _snapshot(rule, ROUTING_FIELDS) if rule is not None else None
    if rule is None:
        last = RoutingRule.objects.filter(brand_id=brand.pk).order_by("-order").values_list("order", flat=True).first()
        rule = RoutingRule(brand=brand, order=(last or 0) + 10)
    rule.name, rule.target_kind, rule.target_agent, rule.target_desk = name, target_kind, target_agent, target_desk
    rule.strategy, rule.weights, rule.is_fallback = strategy, clean_weights, bool(is_fallback)
    rule.fall_through, rule.is_active = bool(fall_through), bool(is_active)
    for key, value in values.items():
        setattr(rule, key, value)
    rule.save()
    RoutingPointer.objects.get_or_create(rule=rule)
    audit_record(action="routing_rule.save", obj=rule, before=before, after=_snapshot(rule, ROUTING_FIELDS), actor=actor)
    config_changed(brand.pk)
    return rule


def _clean_weights(weights: Mapping[str, Any] | None, errors: FieldErrors) -> dict[str, int]:
    """Each agent's weight (by code), a whole number from 0 to 100."""
    clean: dict[str, int] = {}
    for code, weight in (weights or {}).items():
        try:
            number = int(weight)
        except (TypeError, ValueError):
            number = -1
        if not 0 <= number <= 100:
            errors.add("weights", gettext("Weights are whole numbers from 0 to 100."))
            break
        clean[str(code)] = number
    return clean


@transaction.atomic
def routing_rule_delete(*, actor: User | None, rule: RoutingRule) -> None:
    _require_admin(actor)
    audit_record(action="routing_rule.delete", obj=rule, before=_snapshot(rule, ROUTING_FIELDS), actor=actor)
    config_changed(rule.brand_id)
    rule.delete()


@transaction.atomic
def routing_rules_reorder(*, actor: User | None, brand: Brand, codes: Sequence[Any]) -> list[RoutingRule]:
    """Put the brand's rules in the order of `codes` (drag and drop); rules not named keep their
    relative order after those named."""
    _require_admin(actor)
    rules = list(RoutingRule.objects.select_for_update().filter(brand_id=brand.pk).order_by("order", "id"))
    wanted = [str(c) for c in codes]
    position = {code: i for i, code in enumerate(wanted)}
    rules.sort(key=lambda r: (position.get(str(r.code), len(wanted)), r.order, r.pk))
    before = {str(r.code): r.order for r in rules}
    for i, rule in enumerate(rules):
        rule.order = (i + 1) * 10
    RoutingRule.objects.bulk_update(rules, ["order"])
    audit_record(action="routing_rule.reorder", object_type="leads.routingrule", object_id=brand.code,
                 before=before, after={str(r.code): r.order for r in rules}, actor=actor)
    config_changed(brand.pk)
    return rules


@transaction.atomic
def routing_rule_move(*, actor: User | None, rule: RoutingRule, direction: str) -> None:
    """Move a rule one place up or down in its brand's list."""
    if direction not in ("up", "down"):
        raise ValidationFailed(fields={"direction": [gettext("Move up or down.")]})
    codes = [str(c) for c in RoutingRule.objects.filter(brand_id=rule.brand_id, is_fallback=False)
             .order_by("order", "id").values_list("code", flat=True)]
    code = str(rule.code)
    if code not in codes:
        return
    i = codes.index(code)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(codes):
        codes[i], codes[j] = codes[j], codes[i]
    routing_rules_reorder(actor=actor, brand=rule.brand, codes=codes)
