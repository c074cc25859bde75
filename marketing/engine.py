"""Segment definitions: validated data compiled to one parameterised SQL query.

A definition is a group: ``{"match": "all" | "any", "conditions": [...]}``, each condition either a
fact's test ``{"fact": "net_deposits", "op": "gte", "value": "500", "currency": "USD"}`` or a group
of its own (nested at most ``MAX_DEPTH`` deep). What each fact's test takes:

- choice (stage, country, language, desk, owner, source, campaign), tags, member (partner, risk band):
  ``value``: a list of values (or text separated by commas or spaces);
- registered, moment (first deposit, last trade, last sign-in, KYC approved): ``days`` for the
  window operators, ``value`` a date (YYYY-MM-DD) for on_or_after / before, nothing for exists;
- amount (first deposit amount, net deposits, balance, equity): ``value`` a decimal and ``currency``;
- window (lots, trades): ``value`` a decimal and ``days``.

`definition_clean` validates and normalises (ValidationFailed names the bad part as
``conditions.<i>[.conditions.<j>...].<part>``, with the fact's name in the message);
`definition_compile` turns a clean definition into SQL (constants of marketing.facts only) and its
parameters, evaluated at `now`: windows are counted back from it, dates are days in `tz`. The query
selects the ids of a brand's clients (merged ones left out) that match.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext
from psycopg import sql

from crm.exceptions import ValidationFailed
from crm.lib.validation import InvalidValue, country_normalise, language_normalise
from crm.models import Brand, Desk, Stage, User
from marketing.facts import COMPARISONS, FACTS, OPERATORS, Fact, facts_for

MAX_DEPTH = 3
MAX_CONDITIONS = 40
MAX_VALUES = 200
MAX_DAYS = 3660
CURRENCY_LEN = 10

_BASE = sql.SQL(
    "SELECT c.id FROM crm_public_clients c WHERE c.brand_id = %s "
    "AND NOT (c.tags @> ARRAY['merged']::varchar[]) AND ({predicate})"
)
_COUNT = sql.SQL("SELECT count(*) FROM ({members}) s")
_ORDERED = sql.SQL("{members} ORDER BY c.id")
_EXISTS = sql.SQL("EXISTS (SELECT 1 FROM ({relation}) e WHERE e.client_id = c.id{condition})")
_NOT = sql.SQL("NOT ({})")
_AT_FROM = sql.SQL(" AND e.at >= %s")
_AT_BEFORE = sql.SQL(" AND e.at < %s")
_VALUE_IN = sql.SQL(" AND e.value = ANY(%s)")
_NOTHING = sql.SQL("")


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.fields.setdefault(path, []).append(message)


# --- validation ------------------------------------------------------------------------------------


def definition_clean(data: Any, *, brand: Brand, user: User | None = None) -> dict[str, Any]:
    """A validated, normalised definition of `brand`'s segment, as `user` may write it (None: the
    system, every fact); ValidationFailed names each bad part."""
    errors = _Errors()
    allowed = {f.key for f in facts_for(user)}
    counter = [0]
    clean = _group_clean(data, path="", depth=1, brand=brand, allowed=allowed, errors=errors, counter=counter)
    if counter[0] > MAX_CONDITIONS:
        errors.add("conditions", gettext("At most %(n)d conditions.") % {"n": MAX_CONDITIONS})
    if errors.fields:
        raise ValidationFailed(fields=errors.fields)
    return clean


def _group_clean(
    data: Any, *, path: str, depth: int, brand: Brand, allowed: set[str], errors: _Errors, counter: list[int]
) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        errors.add(path or "definition", gettext("Give a group: match and conditions."))
        return {"match": "all", "conditions": []}
    match = data.get("match", "all")
    if match not in ("all", "any"):
        errors.add(f"{path}match", gettext("Match “all” or “any” of the conditions."))
    unknown = set(data) - {"match", "conditions"}
    for key in sorted(unknown):
        errors.add(f"{path}{key}", gettext("Unknown part of a group."))
    raw = data.get("conditions", [])
    if not isinstance(raw, list):
        errors.add(f"{path}conditions", gettext("Give a list of conditions."))
        raw = []
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        where = f"{path}conditions.{i}."
        if isinstance(item, Mapping) and "conditions" in item:
            if depth >= MAX_DEPTH:
                errors.add(
                    f"{where}conditions", gettext("Groups nest at most %(n)d deep.") % {"n": MAX_DEPTH}
                )
                continue
            out.append(
                _group_clean(
                    item,
                    path=where,
                    depth=depth + 1,
                    brand=brand,
                    allowed=allowed,
                    errors=errors,
                    counter=counter,
                )
            )
        else:
            counter[0] += 1
            cond = _condition_clean(item, path=where, brand=brand, allowed=allowed, errors=errors)
            if cond is not None:
                out.append(cond)
    return {"match": match if match in ("all", "any") else "all", "conditions": out}


def _condition_clean(
    item: Any, *, path: str, brand: Brand, allowed: set[str], errors: _Errors
) -> dict[str, Any] | None:
    if not isinstance(item, Mapping):
        errors.add(f"{path}fact", gettext("Give a condition: fact, operator and value."))
        return None
    key = str(item.get("fact") or "")
    fact = FACTS.get(key)
    if fact is None or key not in allowed:
        # A fact the user may not use reads as one that does not exist.
        errors.add(f"{path}fact", gettext("Unknown fact “%(fact)s”.") % {"fact": key[:40]})
        return None
    op = str(item.get("op") or "")
    if op not in OPERATORS[fact.kind]:
        choices = ", ".join(OPERATORS[fact.kind])
        errors.add(
            f"{path}op",
            gettext("%(fact)s: the operator is one of %(ops)s.") % {"fact": fact.label, "ops": choices},
        )
        return None
    out: dict[str, Any] = {"fact": key, "op": op}
    before = len(errors.fields)
    if fact.kind in ("choice", "tags", "member") and op not in ("exists", "not_exists"):
        out["value"] = _values_clean(
            item.get("value"), fact=fact, path=f"{path}value", brand=brand, errors=errors
        )
    elif fact.kind in ("registered", "moment"):
        if op.endswith("_days"):
            out["days"] = _int_clean(item.get("days"), fact=fact, path=f"{path}days", errors=errors)
        elif op in ("on_or_after", "before"):
            out["value"] = _date_clean(item.get("value"), fact=fact, path=f"{path}value", errors=errors)
    elif fact.kind in ("amount", "window"):
        out["value"] = _decimal_clean(item.get("value"), fact=fact, path=f"{path}value", errors=errors)
        if fact.kind == "amount":
            currency = str(item.get("currency") or "").strip().upper()
            if not currency.isalnum() or len(currency) > CURRENCY_LEN:
                errors.add(
                    f"{path}currency",
                    gettext("%(fact)s: give the currency, such as USD.") % {"fact": fact.label},
                )
            out["currency"] = currency
        else:
            out["days"] = _int_clean(item.get("days"), fact=fact, path=f"{path}days", errors=errors)
    return out if len(errors.fields) == before else None


def _values_clean(raw: Any, *, fact: Fact, path: str, brand: Brand, errors: _Errors) -> list[str]:
    if isinstance(raw, str):
        raw = [v for v in raw.replace(",", " ").split() if v]
    if not isinstance(raw, list | tuple) or not raw or len(raw) > MAX_VALUES:
        errors.add(
            path,
            gettext("%(fact)s: give between 1 and %(n)d values.") % {"fact": fact.label, "n": MAX_VALUES},
        )
        return []
    values: list[str] = []
    for item in raw:
        try:
            text = _value_clean(fact, str(item).strip(), path)
        except InvalidValue as exc:
            errors.add(path, f"{fact.label}: {exc.message}")
            continue
        if text and text not in values:
            values.append(text)
    if fact.key == "desk" and values:
        known = {
            str(pk)
            for pk in Desk.objects.filter(brand=brand, pk__in=[int(v) for v in values]).values_list(
                "pk", flat=True
            )
        }
        _unknown(values, known, fact=fact, path=path, errors=errors)
    if fact.key == "owner" and values:
        known = {
            str(pk)
            for pk in User.objects.filter(pk__in=[int(v) for v in values]).values_list("pk", flat=True)
        }
        _unknown(values, known, fact=fact, path=path, errors=errors)
    return values


def _unknown(values: list[str], known: set[str], *, fact: Fact, path: str, errors: _Errors) -> None:
    missing = [v for v in values if v not in known]
    if missing:
        errors.add(path, gettext("%(fact)s: unknown %(v)s.") % {"fact": fact.label, "v": ", ".join(missing)})


def _value_clean(fact: Fact, text: str, path: str) -> str:
    if fact.key == "country":
        return country_normalise(text, field=path)
    if fact.key == "language":
        return language_normalise(text, field=path)
    if fact.key == "stage" and text not in Stage.values:
        raise InvalidValue(path, gettext("unknown stage “%(v)s”.") % {"v": text[:40]})
    if fact.key in ("desk", "owner") and not text.isdigit():
        raise InvalidValue(path, gettext("give the number, not “%(v)s”.") % {"v": text[:40]})
    if fact.choices and text not in dict(fact.choices):
        raise InvalidValue(path, gettext("unknown value “%(v)s”.") % {"v": text[:40]})
    if fact.key == "tags":
        return " ".join(text.split()).lower()[:50]
    return text[:100]


def _int_clean(raw: Any, *, fact: Fact, path: str, errors: _Errors) -> int:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= MAX_DAYS:
        errors.add(
            path,
            gettext("%(fact)s: give a number of days from 1 to %(n)d.") % {"fact": fact.label, "n": MAX_DAYS},
        )
    return value


def _date_clean(raw: Any, *, fact: Fact, path: str, errors: _Errors) -> str:
    parsed = raw if isinstance(raw, dt.date) else parse_date(str(raw or "").strip()) if raw else None
    if parsed is None:
        errors.add(path, gettext("%(fact)s: give a date as YYYY-MM-DD.") % {"fact": fact.label})
        return ""
    return parsed.isoformat()


def _decimal_clean(raw: Any, *, fact: Fact, path: str, errors: _Errors) -> str:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        value = Decimal("NaN")
    if not value.is_finite() or abs(value) >= Decimal(10) ** 15:
        errors.add(path, gettext("%(fact)s: give a number, such as 500.") % {"fact": fact.label})
        return ""
    return str(value)


# --- compilation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    members: sql.Composed  # SELECT c.id ... of the brand's matching clients
    params: list[Any]

    def text(self) -> str:
        return self.members.as_string(connection.connection)

    def count_text(self) -> str:
        return _COUNT.format(members=self.members).as_string(connection.connection)


def definition_compile(
    definition: Mapping[str, Any], *, brand_id: int, now: dt.datetime | None = None, tz: Any = None
) -> Compiled:
    """The query of `brand_id`'s clients matching the clean `definition` at `now`."""
    now = now or timezone.now()
    zone = tz or timezone.get_current_timezone()
    if isinstance(zone, str):
        zone = ZoneInfo(zone)
    params: list[Any] = [brand_id]
    predicate = _group_sql(definition, now=now, tz=zone, params=params)
    return Compiled(_BASE.format(predicate=predicate), params)


def _group_sql(group: Mapping[str, Any], *, now: dt.datetime, tz: Any, params: list[Any]) -> sql.Composable:
    parts: list[sql.Composable] = []
    for cond in group.get("conditions", []):
        if "conditions" in cond:
            parts.append(sql.SQL("({})").format(_group_sql(cond, now=now, tz=tz, params=params)))
        else:
            parts.append(_condition_sql(cond, now=now, tz=tz, params=params))
    if not parts:
        return sql.SQL("TRUE")
    joiner = sql.SQL(" AND ") if group.get("match", "all") == "all" else sql.SQL(" OR ")
    return joiner.join(sql.SQL("({})").format(p) for p in parts)


def _day_start(value: str, tz: Any) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(value), dt.time.min, tzinfo=tz)


def _exists(relation: str, condition: sql.Composable = _NOTHING) -> sql.Composed:
    return _EXISTS.format(relation=sql.SQL(relation), condition=condition)


def _condition_sql(
    cond: Mapping[str, Any], *, now: dt.datetime, tz: Any, params: list[Any]
) -> sql.Composable:
    fact = FACTS[cond["fact"]]
    op = cond["op"]
    if fact.kind == "choice":
        column = sql.SQL(fact.column)
        params.append(_typed(fact, cond["value"]))
        test = sql.SQL("{} = ANY(%s)").format(column)
        return test if op == "in" else sql.SQL("NOT coalesce({} = ANY(%s), false)").format(column)
    if fact.kind == "tags":
        params.append(cond["value"])
        overlap = sql.SQL("c.tags && %s::varchar[]")
        return overlap if op == "any" else _NOT.format(overlap)
    if fact.kind == "registered":
        column = sql.SQL(fact.column)
        since = _since(cond, now=now, tz=tz)
        params.append(since)
        after = op in ("within_days", "on_or_after")
        return sql.SQL("{} >= %s" if after else "{} < %s").format(column)
    if fact.kind == "moment":
        return _moment_sql(fact, cond, now=now, tz=tz, params=params)
    if fact.kind == "member":
        if op in ("exists", "not_exists"):
            test = _exists(fact.relation)
            return test if op == "exists" else _NOT.format(test)
        params.append(cond["value"])
        test = _exists(fact.relation, _VALUE_IN)
        return test if op == "in" else _NOT.format(test)
    # amount, window: the clients whose value compares; one without a row has none (or zero).
    symbol, compare = COMPARISONS[op]
    value = Decimal(cond["value"])
    params.append(cond["currency"] if fact.kind == "amount" else now - dt.timedelta(days=cond["days"]))
    if fact.zero_default and compare(Decimal(0), value):
        # Zero matches: every client but those with a value that does not.
        params.append(value)
        return _NOT.format(
            _exists(fact.relation, sql.SQL(" AND NOT (e.value {} %s)").format(sql.SQL(symbol)))
        )
    params.append(value)
    return _exists(fact.relation, sql.SQL(" AND e.value {} %s").format(sql.SQL(symbol)))


def _typed(fact: Fact, values: list[str]) -> list[Any]:
    return [int(v) for v in values] if fact.key in ("desk", "owner") else values


def _since(cond: Mapping[str, Any], *, now: dt.datetime, tz: Any) -> dt.datetime:
    if "days" in cond:
        return now - dt.timedelta(days=int(cond["days"]))
    return _day_start(cond["value"], tz)


def _moment_sql(
    fact: Fact, cond: Mapping[str, Any], *, now: dt.datetime, tz: Any, params: list[Any]
) -> sql.Composable:
    """A client's first or last moment of `fact` against the operator (the module docstring of
    marketing.facts): "before" and "more than N days ago" take a moment that exists."""
    op, rel = cond["op"], fact.relation
    if op == "exists":
        return _exists(rel)
    if op == "not_exists":
        return _NOT.format(_exists(rel))
    since = _since(cond, now=now, tz=tz)
    on_or_after = _exists(rel, _AT_FROM)
    before = _exists(rel, _AT_BEFORE)
    if fact.edge == "first":
        if op in ("within_days", "on_or_after"):  # the first is on or after: one is, none before
            params.extend([since, since])
            return sql.SQL("{} AND NOT {}").format(on_or_after, before)
        params.append(since)  # older_than_days, before: one is before
        return before
    if op in ("within_days", "on_or_after"):  # the last is on or after: one is
        params.append(since)
        return on_or_after
    if op == "not_within_days":  # none on or after (or none at all)
        params.append(since)
        return _NOT.format(on_or_after)
    params.append(since)  # older_than_days, before: one exists, none on or after
    return sql.SQL("{} AND NOT {}").format(_exists(rel), on_or_after)


# --- running ---------------------------------------------------------------------------------------


def definition_count(
    definition: Mapping[str, Any], *, brand_id: int, now: dt.datetime | None = None, tz: Any = None
) -> int:
    """How many of the brand's clients match the clean `definition` at `now` (one query)."""
    compiled = definition_compile(definition, brand_id=brand_id, now=now, tz=tz)
    with connection.cursor() as cursor:
        cursor.execute(compiled.count_text(), compiled.params)
        return int(cursor.fetchone()[0])


def definition_member_ids(
    definition: Mapping[str, Any], *, brand_id: int, now: dt.datetime | None = None, tz: Any = None
) -> list[int]:
    """The ids of the brand's clients matching the clean `definition` at `now`, ascending."""
    compiled = definition_compile(definition, brand_id=brand_id, now=now, tz=tz)
    with connection.cursor() as cursor:
        cursor.execute(
            _ORDERED.format(members=compiled.members).as_string(connection.connection), compiled.params
        )
        return [row[0] for row in cursor.fetchall()]
