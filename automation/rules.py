"""Rules: validation and the services administrators use (save, switch on/off, reorder, delete)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext

from automation import actions as registry
from automation import permissions
from automation.conditions import conditions_clean
from automation.models import AutomationRule
from automation.runner import _rules_changed
from crm.audit import audit_record
from crm.exceptions import FieldErrors, NotAllowed, ValidationFailed
from crm.lib.validation import InvalidValue, text_clean
from crm.models import Brand, User
from crm.permissions import user_can

MAX_ACTIONS = 10
MAX_DELAY_HOURS = 24 * 90
MAX_CANCEL_EVENTS = 10


EVENT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


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
    delay = _clean_delay(delay_hours, errors)
    cancel = _clean_cancel_on(cancel_on, trigger=trigger_name, delay=delay, errors=errors)
    try:
        cleaned_conditions = conditions_clean(conditions)
    except ValidationFailed as exc:
        _errors_add(errors, exc)
        cleaned_conditions = []
    try:
        cleaned_actions = actions_clean(actions, brand=brand if isinstance(brand, Brand) else None)
    except ValidationFailed as exc:
        _errors_add(errors, exc)
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


def _clean_delay(delay_hours: Any, errors: FieldErrors) -> int:
    """Whole hours from 0 to MAX_DELAY_HOURS (0 when it is not)."""
    try:
        delay = int(delay_hours or 0)
        if delay < 0 or delay > MAX_DELAY_HOURS:
            raise ValueError
    except (TypeError, ValueError):
        errors.add("delay_hours", gettext("Enter a whole number of hours from 0 to %(max)d.") % {
            "max": MAX_DELAY_HOURS})
        delay = 0
    return delay


def _clean_cancel_on(cancel_on: Any, *, trigger: str, delay: int, errors: FieldErrors) -> list[str]:
    """The events that cancel a delayed rule's waiting runs (a list, or names separated by commas),
    without repeats; never the trigger."""
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
    if trigger and trigger in cancel:
        errors.add("cancel_on", gettext("The trigger cannot also cancel the rule."))
    return cancel


def _errors_add(errors: FieldErrors, exc: ValidationFailed) -> None:
    """Every problem `exc` names, added to `errors`."""
    for key, messages in exc.fields.items():
        for message in messages:
            errors.add(key, message)


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
    _require(actor, permissions.RULE_CHANGE if rule else permissions.RULE_ADD)
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
    _require(actor, permissions.RULE_CHANGE)
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
    _require(actor, permissions.RULE_CHANGE)
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
    _require(actor, permissions.RULE_DELETE)
    audit_record(action="automation_rule.delete", obj=rule, before=_rule_snapshot(rule), actor=actor)
    rule.delete()
    _rules_changed()
