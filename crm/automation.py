"""Automation: rules administrators configure on the domain-event stream, and the engine.

A rule says: when event `trigger` happens to a client of the rule's brand (or `delay_hours`
after it, unless one of `cancel_on` happened to that client in between), and every condition
holds, run the actions in order (crm.automation_actions). Every verdict is an AutomationRun row
saying what happened and why: fired (with each action's result), skipped (which condition
failed, or which guard stopped it), failed (which action, with the error; the run's other
actions are rolled back), scheduled, or cancelled (by which event).

Conditions: a list, all of which must hold, of {"field", "operator", "value"}. `field` is
"client.<name>" (CLIENT_FIELDS) or "data.<key>[.<key>...]" (the event's data). Operators:
eq, ne, in, not_in, gt, gte, lt, lte, contains, is_empty (value true or false).

Once: the engine is one wildcard subscriber of the outbox (crm.automation_handlers), which gives
it each event once; a unique (rule, event) constraint makes a rule judge an event once even if
it were asked again. Scheduled runs are fired by a beat task that locks them FOR UPDATE SKIP
LOCKED and runs each one's actions in the same transaction as its status change, so
overlapping ticks fire a run once.

Loops: actions run with the acting context's request id set to the run's `chain` (the same for
every event caused, directly or not, by one original event), so the events they emit carry it.
A rule never runs twice for the same client within one chain, and a chain stops after
MAX_CHAIN_DEPTH generations.

Attribution: actions run as the system; audit rows name "automation:<rule name>".
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from celery import shared_task
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from redis.exceptions import RedisError

from crm import automation_actions as registry
from crm.audit import audit_record
from crm.exceptions import DomainError, FieldErrors, NotAllowed, ValidationFailed
from crm.lib import context as actor_context
from crm.lib.validation import InvalidValue, text_clean
from crm.models import AutomationRule, AutomationRun, Brand, Client, Event, RunStatus, Stage, User
from crm.permissions import user_can
from crm.selectors import mask_email, mask_phone

logger = logging.getLogger(__name__)

CHAIN_PREFIX = "auto-"
MAX_CHAIN_DEPTH = 5
MAX_CONDITIONS = 20
MAX_ACTIONS = 10
MAX_DELAY_HOURS = 24 * 90
MAX_CANCEL_EVENTS = 10
FIRE_BATCH = 100
EVENT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
DATA_PATH_RE = re.compile(r"^data(\.[A-Za-z0-9_]+)+$")

OPERATORS: dict[str, Any] = {
    "eq": _("equals"), "ne": _("does not equal"), "in": _("is one of"), "not_in": _("is none of"),
    "gt": _("is greater than"), "gte": _("is at least"), "lt": _("is less than"), "lte": _("is at most"),
    "contains": _("contains"), "is_empty": _("is empty"),
}
NUMERIC_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
LIST_OPERATORS = frozenset({"in", "not_in"})


def _ref_code(obj: Any) -> str:
    return str(obj.code) if obj is not None else ""


def _age_hours(client: Client) -> float:
    return round((timezone.now() - client.created_at).total_seconds() / 3600, 2)


# What a condition may read from the client. Personal data only as set/empty (see _shown).
CLIENT_FIELDS: dict[str, Any] = {
    "stage": lambda c: c.stage, "country": lambda c: c.country, "language": lambda c: c.language,
    "timezone": lambda c: c.timezone, "source": lambda c: c.source, "campaign": lambda c: c.campaign,
    "utm_source": lambda c: c.utm_source, "utm_medium": lambda c: c.utm_medium,
    "utm_campaign": lambda c: c.utm_campaign, "utm_term": lambda c: c.utm_term,
    "utm_content": lambda c: c.utm_content, "referrer_code": lambda c: c.referrer_code,
    "tags": lambda c: list(c.tags), "email": lambda c: c.email, "phone": lambda c: c.phone,
    "owner": lambda c: _ref_code(c.owner), "desk": lambda c: _ref_code(c.desk),
    "has_owner": lambda c: c.owner_id is not None, "age_hours": _age_hours,
}
PERSONAL_FIELDS = frozenset({"client.email", "client.phone"})


# --- conditions ----------------------------------------------------------------------------------

def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | Decimal)


def _label(index: int, field: str) -> str:
    return gettext("Condition %(n)d (%(field)s)") % {"n": index + 1, "field": field or "?"}


def conditions_clean(conditions: Any) -> list[dict[str, Any]]:
    """Validated conditions in their stored form, or ValidationFailed whose fields are
    "conditions.<index>.<part>" and whose messages name the condition's number and field."""
    if conditions in (None, ""):
        return []
    if not isinstance(conditions, list):
        raise ValidationFailed(fields={"conditions": [gettext("Give the conditions as a list.")]})
    if len(conditions) > MAX_CONDITIONS:
        raise ValidationFailed(fields={"conditions": [
            gettext("Use at most %(max)d conditions.") % {"max": MAX_CONDITIONS}]})
    errors = FieldErrors()
    cleaned: list[dict[str, Any]] = []
    for i, item in enumerate(conditions):
        if not isinstance(item, Mapping):
            errors.add(f"conditions.{i}", gettext("%(label)s: give field, operator and value.") % {
                "label": _label(i, "")})
            continue
        field = str(item.get("field") or "").strip()
        operator = str(item.get("operator") or "").strip()
        value = item.get("value")
        label = _label(i, field)
        if not field:
            errors.add(f"conditions.{i}.field", gettext("%(label)s: choose a field.") % {"label": label})
        elif field.startswith("client."):
            if field.removeprefix("client.") not in CLIENT_FIELDS:
                errors.add(f"conditions.{i}.field", gettext("%(label)s: the client has no such field.") % {
                    "label": label})
        elif not DATA_PATH_RE.match(field):
            errors.add(f"conditions.{i}.field", gettext(
                "%(label)s: use client.<field> or data.<key> (letters, digits and underscores).") % {"label": label})
        if operator not in OPERATORS:
            errors.add(f"conditions.{i}.operator", gettext("%(label)s: choose an operator.") % {"label": label})
            continue
        if operator == "is_empty":
            if isinstance(value, str):
                value = value.strip().lower() not in {"false", "0", "no"}
            value = True if value is None else bool(value)
        elif operator in LIST_OPERATORS:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
                errors.add(f"conditions.{i}.value", gettext("%(label)s: give one or more values.") % {"label": label})
                continue
        elif operator in NUMERIC_OPERATORS:
            number = _number(value)
            if number is None:
                errors.add(f"conditions.{i}.value", gettext("%(label)s: enter a number.") % {"label": label})
                continue
            # Kept as decimal text, not a float: a double cannot hold an 8-decimal amount above
            # a few million exactly, and the comparison reads it back as a Decimal anyway.
            value = int(number) if number == number.to_integral_value() else str(number)
        else:
            if isinstance(value, str):
                value = value.strip()
            if not _scalar(value) or value in ("", None):
                errors.add(f"conditions.{i}.value", gettext("%(label)s: enter a value.") % {"label": label})
                continue
        if field == "client.stage" and operator in {"eq", "ne", "in", "not_in"}:
            wanted = value if isinstance(value, list) else [value]
            unknown = [str(v) for v in wanted if v not in Stage.values]
            if unknown:
                errors.add(f"conditions.{i}.value", gettext("%(label)s: unknown stage %(stages)s.") % {
                    "label": label, "stages": ", ".join(unknown)})
                continue
        cleaned.append({"field": field, "operator": operator, "value": value})
    errors.raise_if_any()
    return cleaned


_MISSING = object()


def _resolve(field: str, event: Event, client: Client | None) -> Any:
    if field.startswith("client."):
        if client is None:
            return _MISSING
        return CLIENT_FIELDS[field.removeprefix("client.")](client)
    current: Any = event.data
    for part in field.split(".")[1:]:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or str(a).lower() == str(b).lower()
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    return str(a) == str(b) if a is not None and b is not None else a is b


def _empty(value: Any) -> bool:
    return value is _MISSING or value is None or value == "" or value == [] or value == {}


def _holds(operator: str, actual: Any, expected: Any) -> bool:
    if operator == "is_empty":
        return _empty(actual) is bool(expected)
    if actual is _MISSING:
        return operator in {"ne", "not_in"}
    items = actual if isinstance(actual, list) else None
    if operator == "eq":
        return _same(actual, expected)
    if operator == "ne":
        return not _same(actual, expected)
    if operator in LIST_OPERATORS:
        values = items if items is not None else [actual]
        hit = any(_same(v, e) for v in values for e in expected)
        return hit if operator == "in" else not hit
    if operator in NUMERIC_OPERATORS:
        a, e = _number(actual), _number(expected)
        if a is None or e is None:
            return False
        return {"gt": a > e, "gte": a >= e, "lt": a < e, "lte": a <= e}[operator]
    if operator == "contains":
        if items is not None:
            return any(_same(v, expected) for v in items)
        if isinstance(actual, Mapping):
            return str(expected) in actual
        return str(expected).lower() in str(actual).lower()
    return False


def _shown(field: str, actual: Any) -> Any:
    """The actual value as the run log keeps it: personal data masked, long values cut."""
    if actual is _MISSING:
        return None
    if field == "client.email":
        return mask_email(actual)
    if field == "client.phone":
        return mask_phone(actual)
    if isinstance(actual, str) and len(actual) > 200:
        return actual[:199] + "…"
    if isinstance(actual, Mapping | list):
        text = str(actual)
        return text if len(text) <= 200 else text[:199] + "…"
    return actual


def conditions_evaluate(conditions: Sequence[Mapping[str, Any]], *, event: Event,
                        client: Client | None) -> tuple[bool, list[dict[str, Any]]]:
    """Whether all conditions hold, and each one's verdict with the value it saw."""
    checks = []
    ok = True
    for i, cond in enumerate(conditions):
        actual = _resolve(cond["field"], event, client)
        holds = _holds(cond["operator"], actual, cond.get("value"))
        checks.append({"index": i, "field": cond["field"], "operator": cond["operator"], "value": cond.get("value"),
                       "actual": _shown(cond["field"], actual), "missing": actual is _MISSING, "ok": holds})
        ok = ok and holds
    return ok, checks


# --- rules: validation and services --------------------------------------------------------------

def _clean_event_name(value: Any, field: str, errors: FieldErrors) -> str:
    name = str(value or "").strip().lower()
    if not name:
        errors.add(field, gettext("This field is required."))
    elif len(name) > 80 or not EVENT_NAME_RE.match(name):
        errors.add(field, gettext("“%(name)s” is not an event name (like client.created).") % {"name": name})
    return name


def actions_clean(actions: Any, *, brand: Brand | None) -> list[dict[str, Any]]:
    """Validated actions in their stored form ({"type", ...params}); ValidationFailed fields are
    "actions.<index>.<param>" with messages naming the action's number and type."""
    if not isinstance(actions, list) or not actions:
        raise ValidationFailed(fields={"actions": [gettext("Add at least one action.")]})
    if len(actions) > MAX_ACTIONS:
        raise ValidationFailed(fields={"actions": [gettext("Use at most %(max)d actions.") % {"max": MAX_ACTIONS}]})
    errors = FieldErrors()
    cleaned: list[dict[str, Any]] = []
    for i, item in enumerate(actions):
        kind = str(item.get("type") or "") if isinstance(item, Mapping) else ""
        action = registry.action_type(kind)
        label = gettext("Action %(n)d (%(type)s)") % {"n": i + 1, "type": kind or "?"}
        if action is None:
            errors.add(f"actions.{i}.type", gettext("%(label)s: choose an action.") % {"label": label})
            continue
        if not action.available:
            errors.add(f"actions.{i}.type", gettext("%(label)s: this action is not available here.") % {"label": label})
            continue
        assert isinstance(item, Mapping)
        spec: dict[str, Any] = {"type": kind}
        for param in action.params:
            value = item.get(param.name, "")
            if isinstance(value, str):
                value = value.strip()
            if param.kind == "hours" and value not in ("", None):
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    pass  # the action's validator names it
            if value in ("", None) and param.required and not action.validate:
                errors.add(f"actions.{i}.{param.name}", gettext("%(label)s: %(param)s is required.") % {
                    "label": label, "param": param.label})
            spec[param.name] = value
        if action.validate is not None and brand is not None:
            for param_name, message in action.validate(spec, brand).items():
                errors.add(f"actions.{i}.{param_name}", f"{label}: {message}")
        cleaned.append(spec)
    errors.raise_if_any()
    return cleaned


@dataclass(frozen=True)
class RuleValues:
    brand: Brand
    name: str
    description: str
    trigger: str
    delay_hours: int
    cancel_on: list[str]
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    stop_processing: bool
    is_active: bool


def rule_validate(*, brand: Any, name: Any, trigger: Any, conditions: Any, actions: Any, delay_hours: Any = 0,
                  cancel_on: Any = (), stop_processing: Any = False, is_active: Any = True, description: Any = "",
                  instance: AutomationRule | None = None) -> RuleValues:
    """Every field checked at once; ValidationFailed names each problem (conditions and actions
    by their number)."""
    errors = FieldErrors()
    if not isinstance(brand, Brand):
        errors.add("brand", gettext("Choose a brand."))
    values: dict[str, Any] = {}
    for field, value, limit, required in (("name", name, 120, True), ("description", description, 2000, False)):
        try:
            values[field] = text_clean(value if isinstance(value, str) else None, field=field, max_length=limit,
                                       required=required)
        except InvalidValue as exc:
            errors.add(exc.field, exc.message)
    trigger_name = _clean_event_name(trigger, "trigger", errors)
    try:
        delay = int(delay_hours or 0)
        if delay < 0 or delay > MAX_DELAY_HOURS:
            raise ValueError
    except (TypeError, ValueError):
        errors.add("delay_hours", gettext("Enter a whole number of hours from 0 to %(max)d.") % {
            "max": MAX_DELAY_HOURS})
        delay = 0
    raw_cancel = cancel_on.split(",") if isinstance(cancel_on, str) else list(cancel_on or ())
    cancel: list[str] = []
    for item in raw_cancel:
        if str(item).strip():
            event_name = _clean_event_name(item, "cancel_on", errors)
            if event_name and event_name not in cancel:
                cancel.append(event_name)
    if len(cancel) > MAX_CANCEL_EVENTS:
        errors.add("cancel_on", gettext("Use at most %(max)d events.") % {"max": MAX_CANCEL_EVENTS})
    if cancel and not delay:
        errors.add("cancel_on", gettext("Cancelling events only apply to a delayed rule; set a delay."))
    if trigger_name and trigger_name in cancel:
        errors.add("cancel_on", gettext("The trigger cannot also cancel the rule."))
    try:
        cleaned_conditions = conditions_clean(conditions)
    except ValidationFailed as exc:
        for key, messages in exc.fields.items():
            for message in messages:
                errors.add(key, message)
        cleaned_conditions = []
    try:
        cleaned_actions = actions_clean(actions, brand=brand if isinstance(brand, Brand) else None)
    except ValidationFailed as exc:
        for key, messages in exc.fields.items():
            for message in messages:
                errors.add(key, message)
        cleaned_actions = []
    if isinstance(brand, Brand) and "name" in values:
        clash = AutomationRule.objects.filter(brand=brand, name__iexact=values["name"])
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors.add("name", gettext("This brand already has a rule with this name."))
    errors.raise_if_any()
    return RuleValues(brand=brand, name=values["name"], description=values["description"], trigger=trigger_name,
                      delay_hours=delay, cancel_on=cancel, conditions=cleaned_conditions, actions=cleaned_actions,
                      stop_processing=bool(stop_processing), is_active=bool(is_active))


RULE_AUDIT_FIELDS = ("name", "description", "is_active", "trigger", "delay_hours", "cancel_on", "conditions",
                     "actions", "stop_processing", "order")


def _rule_snapshot(rule: AutomationRule) -> dict[str, Any]:
    out = {name: getattr(rule, name) for name in RULE_AUDIT_FIELDS}
    out["brand"] = rule.brand.code
    return out


def _require(actor: User | None, perm: str) -> None:
    if actor is not None and not user_can(actor, perm):
        raise NotAllowed()


@transaction.atomic
def automation_rule_save(
    *,
    actor: User | None,
    rule: AutomationRule | None = None,
    brand: Brand,
    name: str,
    trigger: str,
    conditions: Any,
    actions: Any,
    delay_hours: int = 0,
    cancel_on: Iterable[str] | str = (),
    stop_processing: bool = False,
    is_active: bool = True,
    description: str = "",
) -> AutomationRule:
    """Create (`rule` None: placed last in its brand's order) or change a rule, after checking
    every field (see rule_validate). Audited with before/after."""
    _require(actor, "crm.change_automationrule" if rule else "crm.add_automationrule")
    if rule is not None:
        rule.refresh_from_db(from_queryset=AutomationRule.objects.select_for_update(of=("self",)))
        if rule.brand_id != getattr(brand, "pk", None):
            raise ValidationFailed(fields={"brand": [gettext("A rule cannot move to another brand.")]})
    values = rule_validate(brand=brand, name=name, trigger=trigger, conditions=conditions, actions=actions,
                           delay_hours=delay_hours, cancel_on=cancel_on, stop_processing=stop_processing,
                           is_active=is_active, description=description, instance=rule)
    before = None
    if rule is None:
        last = AutomationRule.objects.filter(brand=brand).aggregate(m=Max("order"))["m"]
        rule = AutomationRule(brand=brand, order=0 if last is None else last + 10)
    else:
        before = _rule_snapshot(rule)
    for field in ("name", "description", "trigger", "delay_hours", "cancel_on", "conditions", "actions",
                  "stop_processing", "is_active"):
        setattr(rule, field, getattr(values, field))
    rule.save()
    _rules_changed()
    after = _rule_snapshot(rule)
    if before != after:
        audit_record(action="automation_rule.create" if before is None else "automation_rule.update", obj=rule,
                     before=before, after=after, actor=actor)
    return rule


@transaction.atomic
def automation_rule_set_active(*, actor: User | None, rule: AutomationRule, active: bool) -> AutomationRule:
    """Switch a rule on or off. Runs it already scheduled are cancelled when they come due."""
    _require(actor, "crm.change_automationrule")
    rule.refresh_from_db(from_queryset=AutomationRule.objects.select_for_update(of=("self",)))
    if rule.is_active == bool(active):
        return rule
    rule.is_active = bool(active)
    rule.save(update_fields=["is_active", "updated_at"])
    _rules_changed()
    audit_record(action="automation_rule.update", obj=rule, before={"is_active": not rule.is_active},
                 after={"is_active": rule.is_active}, actor=actor)
    return rule


@transaction.atomic
def automation_rule_reorder(*, actor: User | None, brand: Brand, codes: Sequence[str]) -> None:
    """Put the brand's rules in the order of `codes` (rules not named keep their place after them)."""
    _require(actor, "crm.change_automationrule")
    rules = list(AutomationRule.objects.select_for_update().filter(brand=brand).order_by("order", "id"))
    by_code = {str(r.code): r for r in rules}
    named = [by_code[c] for c in dict.fromkeys(str(c) for c in codes) if c in by_code]
    ordered = named + [r for r in rules if r not in named]
    before = [str(r.code) for r in rules]
    changed = []
    for position, rule in enumerate(ordered):
        if rule.order != position * 10:
            rule.order = position * 10
            changed.append(rule)
    if changed:
        AutomationRule.objects.bulk_update(changed, ["order"])
        audit_record(action="automation_rule.reorder", object_type="crm.brand", object_id=brand.code,
                     before={"order": before}, after={"order": [str(r.code) for r in ordered]}, actor=actor)


def automation_rule_move(*, actor: User | None, rule: AutomationRule, direction: str) -> None:
    """Move a rule one place up or down in its brand's order."""
    codes = [str(c) for c in AutomationRule.objects.filter(brand_id=rule.brand_id).order_by("order", "id")
             .values_list("code", flat=True)]
    i = codes.index(str(rule.code))
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(codes):
        codes[i], codes[j] = codes[j], codes[i]
        automation_rule_reorder(actor=actor, brand=rule.brand, codes=codes)


@transaction.atomic
def automation_rule_delete(*, actor: User | None, rule: AutomationRule) -> None:
    """Delete a rule with its run log (the audit trail keeps what it was)."""
    _require(actor, "crm.delete_automationrule")
    audit_record(action="automation_rule.delete", obj=rule, before=_rule_snapshot(rule), actor=actor)
    rule.delete()
    _rules_changed()


# --- the engine ----------------------------------------------------------------------------------

def _why(reason: str, *, conditions: list[dict[str, Any]] | None = None,
         actions: list[dict[str, Any]] | None = None, **params: Any) -> dict[str, Any]:
    why: dict[str, Any] = {"reason": reason}
    if conditions is not None:
        why["conditions"] = conditions
    if actions is not None:
        why["actions"] = actions
    if params:
        why["params"] = params
    return why


def _chain_of(event: Event) -> tuple[str, int]:
    """The chain `event` belongs to and its depth in it (0: not caused by automation)."""
    request_id = event.request_id or ""
    if request_id.startswith(CHAIN_PREFIX):
        deepest = AutomationRun.objects.filter(chain=request_id).aggregate(d=Max("depth"))["d"]
        return request_id, (deepest if deepest is not None else 0) + 1
    return f"{CHAIN_PREFIX}{event.uuid.hex}", 0


def _client_for_actions(client_id: int | None) -> Client | None:
    if client_id is None:
        return None
    return Client.objects.select_related("brand", "owner", "desk", "desk__manager").filter(pk=client_id).first()


# Most events concern no rule. Each process keeps the (brand, event name) pairs that some rule
# triggers on or is cancelled by, so that those events cost no query. Saving a rule clears this
# process's copy at once and, on commit, bumps a version in the cache that every other process
# checks at most once per RULES_VERSION_CHECK_SECONDS.
RULES_VERSION_KEY = "automation:rules_version"
RULES_VERSION_CHECK_SECONDS = 1.0
_relevant: dict[str, Any] = {"pairs": None, "version": None, "checked": 0.0}


def _relevant_pairs() -> frozenset[tuple[int, str]]:
    now = time.monotonic()
    pairs = _relevant["pairs"]
    if pairs is not None and now - _relevant["checked"] < RULES_VERSION_CHECK_SECONDS:
        return pairs  # type: ignore[no-any-return]
    try:
        version = cache.get(RULES_VERSION_KEY)
    except RedisError:
        version = None  # without the cache, reload from the database each interval
    _relevant["checked"] = now
    if pairs is None or version is None or version != _relevant["version"]:
        found: set[tuple[int, str]] = set()
        for brand_id, trigger, cancel_on, active in AutomationRule.objects.values_list(
                "brand_id", "trigger", "cancel_on", "is_active"):
            if active:
                found.add((brand_id, trigger))
            found.update((brand_id, name) for name in cancel_on)
        pairs = frozenset(found)
        _relevant["pairs"], _relevant["version"] = pairs, version
    return pairs  # type: ignore[no-any-return]


def _rules_changed() -> None:
    """Call after any change to rules: this process sees it at once, the others within a second."""
    _relevant["pairs"] = None

    def bump() -> None:
        try:
            cache.set(RULES_VERSION_KEY, uuid.uuid4().hex, None)
        except RedisError:
            logger.warning("could not publish the automation rules version", exc_info=True)

    transaction.on_commit(bump, robust=True)


def automation_handle_event(*, event: Event) -> list[AutomationRun]:
    """Judge `event` by every active rule of its brand triggered by it (in order); returns the runs.

    Called by the outbox, inside its transaction. Runs actions now or schedules the run; also
    cancels the client's waiting runs whose rule names this event in `cancel_on`.
    """
    if event.brand_id is None or (event.brand_id, event.name) not in _relevant_pairs():
        return []
    # One query for both jobs: the rules this event triggers, and whether any rule it cancels.
    candidates = list(
        AutomationRule.objects.filter(brand_id=event.brand_id)
        .filter(Q(trigger=event.name, is_active=True) | Q(cancel_on__contains=[event.name]))
        .order_by("order", "id")
    )
    if event.client_id is not None and any(event.name in r.cancel_on for r in candidates):
        _cancel_waiting(event)
    rules = [r for r in candidates if r.trigger == event.name and r.is_active]
    if not rules:
        return []
    judged = set(AutomationRun.objects.filter(event=event, rule__in=rules).values_list("rule_id", flat=True))
    rules = [r for r in rules if r.pk not in judged]
    if not rules:
        return []
    chain, depth = _chain_of(event)
    looped: set[int] = set()
    if depth:
        looped = set(AutomationRun.objects.filter(
            chain=chain, client_id=event.client_id,
            status__in=[RunStatus.FIRED, RunStatus.SCHEDULED, RunStatus.FAILED],
        ).values_list("rule_id", flat=True))
    client = _client_for_actions(event.client_id)
    runs: list[AutomationRun] = []
    stopped_by: AutomationRule | None = None
    for rule in rules:
        run = AutomationRun(rule=rule, brand_id=event.brand_id, event=event, client=client, chain=chain, depth=depth)
        if stopped_by is not None:
            run.status, run.why = RunStatus.SKIPPED, _why("stopped_by", rule=stopped_by.name)
        elif client is None:
            run.status, run.why = RunStatus.SKIPPED, _why("no_client")
        elif rule.pk in looped:
            run.status, run.why = RunStatus.SKIPPED, _why("loop_guard")
        elif depth > MAX_CHAIN_DEPTH:
            run.status, run.why = RunStatus.SKIPPED, _why("max_depth", depth=depth)
        else:
            ok, checks = conditions_evaluate(rule.conditions, event=event, client=client)
            if not ok:
                run.status, run.why = RunStatus.SKIPPED, _why("conditions_failed", conditions=checks)
            elif rule.delay_hours:
                run.status = RunStatus.SCHEDULED
                run.scheduled_for = event.occurred_at + timedelta(hours=rule.delay_hours)
                run.why = _why("scheduled", conditions=checks, delay_hours=rule.delay_hours)
            else:
                run.status, run.why = RunStatus.FIRED, _why("fired", conditions=checks)
            if ok and rule.stop_processing:
                stopped_by = rule
        run.save()
        if run.status == RunStatus.FIRED:
            _run_actions(run, rule=rule, event=event, client=client)  # type: ignore[arg-type]
        runs.append(run)
    return runs


def _cancel_waiting(event: Event) -> int:
    """Cancel the client's scheduled runs that `event` cancels (rows the beat holds are left to it:
    it checks for cancelling events itself before firing)."""
    waiting = list(
        AutomationRun.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(client_id=event.client_id, status=RunStatus.SCHEDULED, rule__cancel_on__contains=[event.name])
        .select_related("event")
    )
    cancelled = 0
    for run in waiting:
        if (run.event.occurred_at, run.event_id) >= (event.occurred_at, event.pk):
            continue  # the cancelling event came before the trigger: it does not count
        run.status = RunStatus.CANCELLED
        run.why = {**run.why, **_why("cancelled_by_event", event=event.name, event_id=event.pk,
                                      at=event.occurred_at.isoformat())}
        run.save(update_fields=["status", "why", "updated_at"])
        cancelled += 1
    return cancelled


def _run_actions(run: AutomationRun, *, rule: AutomationRule, event: Event, client: Client) -> None:
    """Run the rule's actions for `run` in one savepoint; record each result on the run.

    If one fails, the savepoint is rolled back (none of the actions' writes, events or on-commit
    work remain) and the run is FAILED, naming the action and its error.
    """
    now = timezone.now()
    results: list[dict[str, Any]] = []
    failed: dict[str, Any] | None = None
    ctx = registry.ActionContext(rule=rule, event=event, client=client, now=now)
    with actor_context.acting_as(None, source="automation", request_id=run.chain,
                                 label=f"automation:{rule.name}"[:200]):
        try:
            with transaction.atomic():
                for i, spec in enumerate(rule.actions):
                    kind = str(spec.get("type", ""))
                    action = registry.action_type(kind)
                    if action is None or action.run is None:
                        raise registry.ActionFailed(
                            gettext("The action “%(type)s” is not available.") % {"type": kind})
                    result = action.run(ctx, spec)
                    results.append({"index": i, "type": kind, "status": result.status, "detail": result.detail})
                    # Later actions see what earlier ones changed (a new owner, a new tag).
                    client.refresh_from_db()
        # An action's failure is recorded on the run, never lost nor allowed to stop other rules.
        except Exception as exc:  # noqa: BLE001
            logger.warning("automation action failed", exc_info=True,
                           extra={"rule": rule.pk, "run": run.pk, "event_id": event.pk})
            index = len(results)
            failed = {"index": index, "type": str(rule.actions[index].get("type", "")), "status": "failed",
                      "detail": _error_text(exc)[:1000]}
            for done in results:
                done["status"] = "rolled_back"
            results.append(failed)
            results.extend({"index": j, "type": str(spec.get("type", "")), "status": "not_run", "detail": ""}
                           for j, spec in enumerate(rule.actions) if j > index)
    run.fired_at = now
    if failed is not None:
        run.status = RunStatus.FAILED
        run.why = {**run.why, "reason": "action_failed", "actions": results,
                   "params": {"action": failed["index"] + 1, "type": failed["type"]}}
    else:
        run.status = RunStatus.FIRED
        run.why = {**run.why, "reason": "fired", "actions": results}
    run.save(update_fields=["status", "why", "fired_at", "updated_at"])


def _error_text(exc: Exception) -> str:
    """A failure as the run log shows it: a service's message with its per-field messages."""
    if isinstance(exc, DomainError):
        parts = [exc.message, *(f"{name}: {m}" for name, msgs in exc.fields.items() for m in msgs)]
        return " — ".join(parts)
    return f"{type(exc).__name__}: {exc}"


def _cancelling_event(run: AutomationRun, rule: AutomationRule) -> Event | None:
    if not rule.cancel_on or run.client_id is None:
        return None
    trigger = run.event
    return (Event.objects.filter(client_id=run.client_id, name__in=rule.cancel_on)
            .filter(Q(occurred_at__gt=trigger.occurred_at) | Q(occurred_at=trigger.occurred_at, id__gt=trigger.pk))
            .order_by("occurred_at", "id").first())


def _fire_scheduled(run: AutomationRun) -> None:
    rule = run.rule
    if not rule.is_active:
        run.status, run.why = RunStatus.CANCELLED, {**run.why, **_why("rule_inactive")}
    elif (cancel := _cancelling_event(run, rule)) is not None:
        run.status = RunStatus.CANCELLED
        run.why = {**run.why, **_why("cancelled_by_event", event=cancel.name, event_id=cancel.pk,
                                      at=cancel.occurred_at.isoformat())}
    else:
        client = _client_for_actions(run.client_id)
        if client is None:
            run.status, run.why = RunStatus.CANCELLED, {**run.why, **_why("no_client")}
        else:
            # The client may have changed while the run waited: its conditions must still hold.
            ok, checks = conditions_evaluate(rule.conditions, event=run.event, client=client)
            if not ok:
                run.status = RunStatus.SKIPPED
                run.why = {**run.why, **_why("conditions_failed_later", conditions=checks)}
            else:
                run.why = {**run.why, "conditions": checks}
                _run_actions(run, rule=rule, event=run.event, client=client)
                return
    run.fired_at = timezone.now()
    run.save(update_fields=["status", "why", "fired_at", "updated_at"])


def automation_fire_due(*, now: datetime | None = None, batch_size: int = FIRE_BATCH) -> int:
    """Fire scheduled runs that are due; returns how many were settled (fired, failed, cancelled
    or skipped).

    Each batch is one transaction holding its runs' row locks (FOR UPDATE SKIP LOCKED): a tick that
    overlaps another skips the runs it holds, and a run's actions commit together with its new
    status, so a run fires exactly once.
    """
    now = now or timezone.now()
    settled = 0
    while True:
        with transaction.atomic():
            runs = list(
                AutomationRun.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=RunStatus.SCHEDULED, scheduled_for__lte=now)
                .select_related("rule", "event", "event__client")
                .order_by("scheduled_for", "id")[:batch_size]
            )
            for run in runs:
                _fire_scheduled(run)
        settled += len(runs)
        if len(runs) < batch_size:
            return settled


@shared_task(name="crm.automation.automation_tick", ignore_result=True)
def automation_tick() -> int:
    """Beat, every minute: fire due scheduled runs, and queue again emails whose task was lost."""
    from crm.email_templates import email_requeue_stale

    fired = automation_fire_due()
    email_requeue_stale()
    return fired


# --- reads ---------------------------------------------------------------------------------------

def automation_rules(*, brand: Brand | None = None) -> QuerySet[AutomationRule]:
    qs = AutomationRule.objects.select_related("brand")
    if brand is not None:
        qs = qs.filter(brand=brand)
    return qs.order_by("brand__name", "order", "id")


def automation_run_list() -> QuerySet[AutomationRun]:
    """The run log, newest first (its page narrows it with crm.filters.RunFilter)."""
    return AutomationRun.objects.select_related("rule", "event", "client").order_by("-created_at", "-id")


def known_event_names() -> list[str]:
    """Event names a trigger can be chosen from: the event catalogue, the timeline's registry and
    those rules already use."""
    from crm.event_catalogue import declared
    from crm.timeline import registered_names

    names = set(registered_names()) | {event.name for event in declared()}
    names.update(AutomationRule.objects.values_list("trigger", flat=True).distinct())
    names.update(PLAYBOOK_EVENTS)
    return sorted(n for n in names if EVENT_NAME_RE.match(n))


def _op_label(operator: str) -> str:
    return str(OPERATORS.get(operator, operator))


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def condition_text(check: Mapping[str, Any]) -> str:
    """One condition as a sentence: "client.country is one of GB, FR"."""
    if check.get("operator") == "is_empty":
        text = gettext("is empty") if check.get("value", True) else gettext("is not empty")
        return f"{check.get('field')} {text}"
    return f"{check.get('field')} {_op_label(str(check.get('operator')))} {_value_text(check.get('value'))}"


def check_text(check: Mapping[str, Any]) -> str:
    """A failed or passed check with what was seen."""
    seen = gettext("missing") if check.get("missing") else repr(check.get("actual"))
    return gettext("%(condition)s — was %(seen)s") % {"condition": condition_text(check), "seen": seen}


def run_explanation(run: AutomationRun) -> str:
    """Why the run ended as it did, in one sentence in the reader's language."""
    why = run.why or {}
    reason = why.get("reason", "")
    params = why.get("params") or {}
    failed = [c for c in why.get("conditions", []) if not c.get("ok")]
    if reason == "conditions_failed" and failed:
        first = failed[0]
        return gettext("Condition %(n)d failed: %(check)s.") % {"n": first["index"] + 1, "check": check_text(first)}
    if reason == "conditions_failed_later" and failed:
        first = failed[0]
        return gettext("When due, condition %(n)d no longer held: %(check)s.") % {
            "n": first["index"] + 1, "check": check_text(first)}
    actions = why.get("actions") or []
    if reason == "fired":
        done = sum(1 for a in actions if a.get("status") == "done")
        skipped = sum(1 for a in actions if a.get("status") == "skipped")
        if skipped:
            first = next(a for a in actions if a.get("status") == "skipped")
            return gettext("All conditions held; %(done)d action(s) done, %(skipped)d skipped (%(why)s)") % {
                "done": done, "skipped": skipped, "why": first.get("detail") or first.get("type")}
        return gettext("All conditions held; %(done)d action(s) done.") % {"done": done}
    messages = {
        "scheduled": gettext("All conditions held; waiting %(hours)s hour(s).") % {
            "hours": params.get("delay_hours", "?")},
        "action_failed": gettext("Action %(n)s (%(type)s) failed; the other actions were rolled back.") % {
            "n": params.get("action", "?"), "type": params.get("type", "")},
        "cancelled_by_event": gettext("Cancelled: %(event)s happened first.") % {"event": params.get("event", "")},
        "rule_inactive": gettext("Cancelled: the rule was switched off before it was due."),
        "no_client": gettext("Skipped: the event has no client."),
        "loop_guard": gettext("Skipped: this rule already ran for this client in the same automation chain."),
        "max_depth": gettext("Skipped: the automation chain is too deep (%(depth)s).") % {
            "depth": params.get("depth", "?")},
        "stopped_by": gettext("Skipped: rule “%(rule)s” stops processing.") % {"rule": params.get("rule", "")},
    }
    return messages.get(reason, reason)


def action_status_label(status: str) -> str:
    return {
        "done": gettext("done"), "skipped": gettext("skipped"), "failed": gettext("failed"),
        "rolled_back": gettext("rolled back"), "not_run": gettext("not run"),
    }.get(status, status)


# --- the broker playbook ---------------------------------------------------------------------------

PLAYBOOK_EVENTS = ("lead.routed", "client.stage_changed", "kyc.submitted", "kyc.approved", "wallet.first_deposit",
                   "trading.account_inactive")

PLAYBOOK_TEMPLATES: dict[tuple[str, str], dict[str, str]] = {
    ("kyc_reminder", "en"): {
        "description": "Registered clients who have not verified after a day",
        "subject": "{{ client.first_name }}, finish your verification with {{ brand.name }}",
        "body": (
            "Dear {{ client.first_name }},\n\n"
            "Thank you for registering with {{ brand.name }}. One step is left before you can fund your account "
            "and start trading: verifying your identity.\n\n"
            "It takes a few minutes: upload a photo of your ID and a recent proof of address in your client area.\n\n"
            "{% if owner.name %}If you need help, reply to this email or contact {{ owner.name }}"
            "{% if owner.email %} at {{ owner.email }}{% endif %}.\n\n{% endif %}"
            "Kind regards,\n{{ brand.name }}"
        ),
    },
    ("kyc_reminder", "ar"): {
        "description": "تذكير بالتحقق من الهوية بعد يوم من التسجيل",
        "subject": "{{ client.first_name }}، أكمل التحقق من حسابك لدى {{ brand.name }}",
        "body": (
            "عزيزي/عزيزتي {{ client.first_name }}،\n\n"
            "شكرًا لتسجيلك لدى {{ brand.name }}. بقيت خطوة واحدة قبل أن تتمكن من تمويل حسابك والبدء في التداول: "
            "التحقق من هويتك.\n\n"
            "لن يستغرق ذلك سوى بضع دقائق: حمّل صورة من هويتك وإثبات عنوان حديث في منطقة العملاء.\n\n"
            "{% if owner.name %}إذا احتجت إلى مساعدة، رُدّ على هذه الرسالة أو تواصل مع {{ owner.name }}"
            "{% if owner.email %} على {{ owner.email }}{% endif %}.\n\n{% endif %}"
            "مع أطيب التحيات،\n{{ brand.name }}"
        ),
    },
}


def _playbook_rules() -> list[dict[str, Any]]:
    return [
        {
            "name": "New lead: first call on the owner's list",
            "description": ("The intake routes each lead and notifies its new owner at once; this puts the "
                            "first call on the owner's task list, due within the hour."),
            "trigger": "lead.routed",
            "conditions": [{"field": "client.has_owner", "operator": "eq", "value": True}],
            "actions": [{"type": "create_task", "title": "First call: {{ client.full_name }}",
                         "assignee": registry.WHO_OWNER, "due_in_hours": 1,
                         "description": "{{ client.country }} · {{ client.language }}"}],
        },
        {
            "name": "Registered, no KYC after 24 hours",
            "description": "A reminder email and a task for the owner, unless the client has sent documents.",
            "trigger": "client.stage_changed",
            "delay_hours": 24,
            "cancel_on": ["kyc.submitted", "kyc.approved"],
            "conditions": [{"field": "data.to", "operator": "eq", "value": Stage.REGISTERED.value},
                           {"field": "client.stage", "operator": "eq", "value": Stage.REGISTERED.value}],
            "actions": [
                {"type": "send_email", "template": "kyc_reminder"},
                {"type": "create_task", "title": "Help {{ client.full_name }} finish verification",
                 "assignee": registry.WHO_OWNER, "due_in_hours": 24, "description": ""},
            ],
        },
        {
            "name": "First deposit: notify the agent",
            "trigger": "wallet.first_deposit",
            "conditions": [],
            "actions": [{"type": "notify", "who": registry.WHO_OWNER,
                         "title": "First deposit: {{ client.full_name }}",
                         "body": "{{ event.data.amount }} {{ event.data.currency }}"}],
        },
        {
            "name": "No trade for 12 days: retention task",
            "trigger": "trading.account_inactive",
            "conditions": [{"field": "data.days", "operator": "gte", "value": 12}],
            "actions": [{"type": "create_task", "title": "Win back {{ client.full_name }}: no trade for 12 days",
                         "assignee": registry.WHO_OWNER, "due_in_hours": 48, "description": ""}],
        },
    ]


@dataclass(frozen=True)
class PlaybookReport:
    templates_created: list[str]
    rules_created: list[str]


@transaction.atomic
def automation_seed_playbook(*, brand: Brand, actor: User | None = None) -> PlaybookReport:
    """Give `brand` the brokers' usual rules and the email templates they use. Idempotent: a
    template (key, language) or a rule (by name) that exists is left as it is, edited or not."""
    from crm.email_templates import email_template_save
    from crm.models import EmailTemplate

    # Serialise concurrent seeds of one brand: the existence checks below must not race.
    Brand.objects.select_for_update().filter(pk=brand.pk).first()
    templates: list[str] = []
    for (key, language), values in PLAYBOOK_TEMPLATES.items():
        if not EmailTemplate.objects.filter(brand=brand, key=key, language=language).exists():
            email_template_save(actor=actor, brand=brand, key=key, language=language, **values)
            templates.append(f"{key}:{language}")
    rules: list[str] = []
    for spec in _playbook_rules():
        if AutomationRule.objects.filter(brand=brand, name__iexact=spec["name"]).exists():
            continue
        automation_rule_save(actor=actor, brand=brand, **spec)
        rules.append(spec["name"])
    return PlaybookReport(templates_created=templates, rules_created=rules)
