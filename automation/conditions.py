"""A rule's conditions: validated when the rule is saved, evaluated against an event and its client.

Conditions: a list, all of which must hold, of {"field", "operator", "value"}. `field` is
"client.<name>" (CLIENT_FIELDS) or "data.<key>[.<key>...]" (the event's data). Operators:
eq, ne, in, not_in, gt, gte, lt, lte, contains, is_empty (value true or false)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.exceptions import FieldErrors, ValidationFailed
from crm.models import Client, Event, Stage
from crm.selectors import mask_email, mask_phone

MAX_CONDITIONS = 20


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
        label = _label(i, field)
        field_problem = _field_problem(field, label)
        if field_problem:
            errors.add(f"conditions.{i}.field", field_problem)
        if operator not in OPERATORS:
            errors.add(f"conditions.{i}.operator", gettext("%(label)s: choose an operator.") % {"label": label})
            continue
        value, value_problem = _value_clean(operator, item.get("value"), label)
        if not value_problem and field == "client.stage" and operator in {"eq", "ne", "in", "not_in"}:
            wanted = value if isinstance(value, list) else [value]
            unknown = [str(v) for v in wanted if v not in Stage.values]
            if unknown:
                value_problem = gettext("%(label)s: unknown stage %(stages)s.") % {
                    "label": label, "stages": ", ".join(unknown)}
        if value_problem:
            errors.add(f"conditions.{i}.value", value_problem)
            continue
        cleaned.append({"field": field, "operator": operator, "value": value})
    errors.raise_if_any()
    return cleaned


def _field_problem(field: str, label: str) -> str:
    """What is wrong with a condition's field ("" when nothing is)."""
    if not field:
        return gettext("%(label)s: choose a field.") % {"label": label}
    if field.startswith("client."):
        if field.removeprefix("client.") not in CLIENT_FIELDS:
            return gettext("%(label)s: the client has no such field.") % {"label": label}
        return ""
    if not DATA_PATH_RE.match(field):
        return gettext(
            "%(label)s: use client.<field> or data.<key> (letters, digits and underscores).") % {"label": label}
    return ""


def _value_clean(operator: str, value: Any, label: str) -> tuple[Any, str]:
    """(the value in its stored form for `operator`, "") or (None, what is wrong with it)."""
    if operator == "is_empty":
        if isinstance(value, str):
            value = value.strip().lower() not in {"false", "0", "no"}
        return (True if value is None else bool(value)), ""
    if operator in LIST_OPERATORS:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
            return None, gettext("%(label)s: give one or more values.") % {"label": label}
        return value, ""
    if operator in NUMERIC_OPERATORS:
        number = _number(value)
        if number is None:
            return None, gettext("%(label)s: enter a number.") % {"label": label}
        # Kept as decimal text, not a float: a double cannot hold an 8-decimal amount above
        # a few million exactly, and the comparison reads it back as a Decimal anyway.
        return (int(number) if number == number.to_integral_value() else str(number)), ""
    if isinstance(value, str):
        value = value.strip()
    if not _scalar(value) or value in ("", None):
        return None, gettext("%(label)s: enter a value.") % {"label": label}
    return value, ""


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
