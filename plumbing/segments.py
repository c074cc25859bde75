"""The segment engine: definitions of clients by their facts, validated as data and compiled to one
parameterised SQL query. The sales desk's segments (leads.segments) and marketing's (marketing.engine)
are two users of it; each app registers the facts it knows (`FACTS`): the client's own and its
pipeline status in leads, money, trading, KYC, partners and risk in marketing.

A definition is a group: ``{"match": "all" | "any", "conditions": [...]}``, each condition either a
fact's test ``{"fact": "net_deposits", "op": "gte", "value": "500", "currency": "USD"}`` or a group
of its own (nested at most ``MAX_DEPTH`` deep). Kinds of fact, what their test takes, and their SQL:

- ``choice``: ``value`` a list of values (or text separated by commas or spaces), compared with an
  expression of the client (`column`: a column of ``c``, the client in the core's published view);
- ``tags``: ``value`` a list; the client's tags, any of or none of it;
- ``registered``: a moment column of the client; ``days`` for the window operators, ``value`` a date
  (YYYY-MM-DD) for on_or_after / before;
- ``moment``: as ``registered`` (and nothing for exists) over a relation of (client_id, at) rows
  (`relation`) whose first or last row (`edge`) is compared; a client without a row has no such moment;
- ``amount``: ``value`` a decimal and ``currency``; a relation of (client_id, value) rows, one per
  client, taking the currency as its one parameter; a client without a row counts as zero when
  `zero_default` (net deposits, balance);
- ``window``: ``value`` a decimal and ``days``; as ``amount``, over the last N days (the relation's
  parameters, one or more, are all the window's start);
- ``member``: ``value`` a list; a relation of (client_id, value) rows compared with it (the partner's
  code, the risk band); a client without a row has none.

`definition_clean` validates and normalises (DefinitionInvalid names the bad part as
``conditions.<i>[.conditions.<j>...].<part>``, with the fact's name in the message);
`definition_compile` turns a clean definition into SQL (the registered facts' constants only) and its
parameters, evaluated at `now`: windows are counted back from it, dates are days in `tz`. The query
selects the ids of a brand's clients (merged ones left out) that match; what a person types reaches
the database only as a query parameter. No Django: messages are English, marked for the catalogue and
translated by the `translate` the caller gives (Django's gettext).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from psycopg import sql

from plumbing.hooks import Registry

MAX_DEPTH = 3
MAX_CONDITIONS = 40
MAX_VALUES = 200
MAX_DAYS = 3660
CURRENCY_LEN = 10


def gettext_noop(message: str) -> str:
    """Marks `message` for the catalogue; the caller's `translate` translates it when shown."""
    return message


Translate = Callable[[str], str]


def _same(message: str) -> str:
    return message


class BadValue(ValueError):
    """What a fact's `normalise` raises for a value it does not know; `message` is shown."""

    def __init__(self, message: str) -> None:
        self.message = str(message)
        super().__init__(self.message)


class DefinitionInvalid(ValueError):
    """A definition that does not validate: each bad part's path -> its messages."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields
        super().__init__(fields)


@dataclass(frozen=True)
class Fact:
    key: str
    label: Any  # a lazy translation
    kind: str  # choice, tags, registered, moment, amount, window, member
    group: Any
    order: int  # the builder offers facts in this order
    column: str = ""  # choice, registered: an expression of the client ``c``
    relation: str = ""  # moment, amount, window, member
    edge: str = "last"  # moment: which row counts ("first" deposit, "last" trade)
    zero_default: bool = False  # amount, window: a client without a row counts as 0
    choices: tuple[tuple[str, Any], ...] = ()  # member, choice: the values offered (empty: free or per brand)
    permission: str = ""  # only those holding it may filter on the fact
    help: Any = ""
    ids: bool = False  # choice: the values are ids (digits), compared as integers
    # choice: one value normalised (raises BadValue or anything with a `message`), given the value and its path
    normalise: Callable[[str, str], str] | None = None
    # choice, member: which of the values exist for the scope (a brand) the definition is cleaned for
    known: Callable[[Any, list[str]], Iterable[object]] | None = None


FACTS: Registry[Fact] = Registry("segment facts", key=lambda f: f.key, order=lambda f: (f.order, f.key))


def fact_register(*facts: Fact) -> None:
    FACTS.register(*facts)


# What each kind of fact may be compared with: operator -> its label (marked for the catalogue).
OPERATORS: dict[str, dict[str, str]] = {
    "choice": {"in": gettext_noop("is one of"), "not_in": gettext_noop("is none of")},
    "tags": {"any": gettext_noop("has any of"), "none": gettext_noop("has none of")},
    "registered": {"within_days": gettext_noop("in the last N days"),
                   "older_than_days": gettext_noop("more than N days ago"),
                   "on_or_after": gettext_noop("on or after"), "before": gettext_noop("before")},
    "moment": {"exists": gettext_noop("ever"), "not_exists": gettext_noop("never"),
               "within_days": gettext_noop("in the last N days"),
               "not_within_days": gettext_noop("not in the last N days (or never)"),
               "older_than_days": gettext_noop("more than N days ago"),
               "on_or_after": gettext_noop("on or after"), "before": gettext_noop("before")},
    "amount": {"gte": gettext_noop("at least"), "lte": gettext_noop("at most"), "gt": gettext_noop("more than"),
               "lt": gettext_noop("less than")},
    "member": {"in": gettext_noop("is one of"), "not_in": gettext_noop("is none of"),
               "exists": gettext_noop("has one"), "not_exists": gettext_noop("has none")},
}
OPERATORS["window"] = OPERATORS["amount"]

# The comparison of an amount or window operator, in SQL and in Python (the zero rule).
COMPARISONS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "gte": (">=", operator.ge), "lte": ("<=", operator.le), "gt": (">", operator.gt), "lt": ("<", operator.lt),
}

# The client as the core publishes it (crm.selectors): the only table the engine itself names.
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


@dataclass
class _Errors:
    translate: Translate
    fields: dict[str, list[str]]

    def add(self, path: str, message: str, **params: Any) -> None:
        text = self.translate(message)
        self.fields.setdefault(path, []).append(text % params if params else text)


@dataclass
class _Cleaning:
    scope: Any
    allowed: Collection[str] | None
    errors: _Errors
    conditions: int = 0


# --- validation ------------------------------------------------------------------------------------


def definition_clean(
    data: Any, *, scope: Any, allowed: Collection[str] | None = None, translate: Translate = _same
) -> dict[str, Any]:
    """A validated, normalised definition for `scope` (a brand: what facts' `known` checks against),
    on the facts `allowed` (None: every fact); DefinitionInvalid names each bad part."""
    state = _Cleaning(scope=scope, allowed=allowed, errors=_Errors(translate, {}))
    clean = _group_clean(data, path="", depth=1, state=state)
    if state.conditions > MAX_CONDITIONS:
        state.errors.add("conditions", gettext_noop("At most %(n)d conditions."), n=MAX_CONDITIONS)
    if state.errors.fields:
        raise DefinitionInvalid(state.errors.fields)
    return clean


def _group_clean(data: Any, *, path: str, depth: int, state: _Cleaning) -> dict[str, Any]:
    errors = state.errors
    if not isinstance(data, Mapping):
        errors.add(path or "definition", gettext_noop("Give a group: match and conditions."))
        return {"match": "all", "conditions": []}
    match = data.get("match", "all")
    if match not in ("all", "any"):
        errors.add(f"{path}match", gettext_noop("Match “all” or “any” of the conditions."))
    for key in sorted(set(data) - {"match", "conditions"}):
        errors.add(f"{path}{key}", gettext_noop("Unknown part of a group."))
    raw = data.get("conditions", [])
    if not isinstance(raw, list):
        errors.add(f"{path}conditions", gettext_noop("Give a list of conditions."))
        raw = []
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        where = f"{path}conditions.{i}."
        if isinstance(item, Mapping) and "conditions" in item:
            if depth >= MAX_DEPTH:
                errors.add(f"{where}conditions", gettext_noop("Groups nest at most %(n)d deep."), n=MAX_DEPTH)
                continue
            out.append(_group_clean(item, path=where, depth=depth + 1, state=state))
        else:
            state.conditions += 1
            cond = _condition_clean(item, path=where, state=state)
            if cond is not None:
                out.append(cond)
    return {"match": match if match in ("all", "any") else "all", "conditions": out}


def _condition_clean(item: Any, *, path: str, state: _Cleaning) -> dict[str, Any] | None:
    errors = state.errors
    if not isinstance(item, Mapping):
        errors.add(f"{path}fact", gettext_noop("Give a condition: fact, operator and value."))
        return None
    key = str(item.get("fact") or "")
    fact = FACTS.get(key)
    if fact is None or (state.allowed is not None and key not in state.allowed):
        # A fact the user may not use reads as one that does not exist.
        errors.add(f"{path}fact", gettext_noop("Unknown fact “%(fact)s”."), fact=key[:40])
        return None
    op = str(item.get("op") or "")
    if op not in OPERATORS[fact.kind]:
        ops = ", ".join(OPERATORS[fact.kind])
        errors.add(f"{path}op", gettext_noop("%(fact)s: the operator is one of %(ops)s."), fact=fact.label, ops=ops)
        return None
    out: dict[str, Any] = {"fact": key, "op": op}
    before = len(errors.fields)
    if fact.kind in ("choice", "tags", "member") and op not in ("exists", "not_exists"):
        out["value"] = _values_clean(item.get("value"), fact=fact, path=f"{path}value", state=state)
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
                errors.add(f"{path}currency", gettext_noop("%(fact)s: give the currency, such as USD."),
                           fact=fact.label)
            out["currency"] = currency
        else:
            out["days"] = _int_clean(item.get("days"), fact=fact, path=f"{path}days", errors=errors)
    return out if len(errors.fields) == before else None


def _values_clean(raw: Any, *, fact: Fact, path: str, state: _Cleaning) -> list[str]:
    errors = state.errors
    if isinstance(raw, str):
        raw = [v for v in raw.replace(",", " ").split() if v]
    if not isinstance(raw, list | tuple) or not raw or len(raw) > MAX_VALUES:
        errors.add(path, gettext_noop("%(fact)s: give between 1 and %(n)d values."), fact=fact.label, n=MAX_VALUES)
        return []
    values: list[str] = []
    for item in raw:
        try:
            text = _value_clean(fact, str(item).strip(), path, errors.translate)
        except ValueError as exc:  # BadValue, or the normaliser's own error with its message
            errors.fields.setdefault(path, []).append(f"{fact.label}: {getattr(exc, 'message', exc)}")
            continue
        if text and text not in values:
            values.append(text)
    if fact.known is not None and values and not errors.fields.get(path):
        known = {str(v) for v in fact.known(state.scope, values)}
        missing = [v for v in values if v not in known]
        if missing:
            errors.add(path, gettext_noop("%(fact)s: unknown %(v)s."), fact=fact.label, v=", ".join(missing))
    return values


def _value_clean(fact: Fact, text: str, path: str, translate: Translate) -> str:
    if fact.ids and not text.isdigit():
        raise BadValue(translate(gettext_noop("give the number, not “%(v)s”.")) % {"v": text[:40]})
    if fact.normalise is not None:
        text = fact.normalise(text, path)
    if fact.choices and text not in dict(fact.choices):
        raise BadValue(translate(gettext_noop("unknown value “%(v)s”.")) % {"v": text[:40]})
    if fact.kind == "tags":
        return " ".join(text.split()).lower()[:50]
    return text[:100]


def _int_clean(raw: Any, *, fact: Fact, path: str, errors: _Errors) -> int:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= MAX_DAYS:
        errors.add(path, gettext_noop("%(fact)s: give a number of days from 1 to %(n)d."), fact=fact.label, n=MAX_DAYS)
    return value


def _date_clean(raw: Any, *, fact: Fact, path: str, errors: _Errors) -> str:
    parsed: dt.date | None = None
    if isinstance(raw, dt.date):
        parsed = raw
    elif raw:
        try:
            parsed = dt.date.fromisoformat(str(raw).strip())
        except ValueError:
            parsed = None
    if parsed is None:
        errors.add(path, gettext_noop("%(fact)s: give a date as YYYY-MM-DD."), fact=fact.label)
        return ""
    return parsed.isoformat()


def _decimal_clean(raw: Any, *, fact: Fact, path: str, errors: _Errors) -> str:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        value = Decimal("NaN")
    if not value.is_finite() or abs(value) >= Decimal(10) ** 15:
        errors.add(path, gettext_noop("%(fact)s: give a number, such as 500."), fact=fact.label)
        return ""
    return str(value)


# --- compilation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    members: sql.Composed  # SELECT c.id ... of the brand's matching clients
    params: list[Any]

    def text(self, context: Any = None) -> str:
        return self.members.as_string(context)

    def count_text(self, context: Any = None) -> str:
        return _COUNT.format(members=self.members).as_string(context)

    def ordered_text(self, context: Any = None) -> str:
        return _ORDERED.format(members=self.members).as_string(context)


def definition_compile(definition: Mapping[str, Any], *, brand_id: int, now: dt.datetime, tz: dt.tzinfo) -> Compiled:
    """The query of `brand_id`'s clients matching the clean `definition` at `now`."""
    params: list[Any] = [brand_id]
    predicate = _group_sql(definition, now=now, tz=tz, params=params)
    return Compiled(_BASE.format(predicate=predicate), params)


def _group_sql(group: Mapping[str, Any], *, now: dt.datetime, tz: dt.tzinfo, params: list[Any]) -> sql.Composable:
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


def _exists(relation: str, condition: sql.Composable = _NOTHING) -> sql.Composed:
    return _EXISTS.format(relation=sql.SQL(relation), condition=condition)


def _condition_sql(cond: Mapping[str, Any], *, now: dt.datetime, tz: dt.tzinfo, params: list[Any]) -> sql.Composable:
    fact = FACTS.get(cond["fact"])
    if fact is None:
        raise KeyError(f"no segment fact {cond['fact']!r} is registered")
    op = cond["op"]
    if fact.kind == "choice":
        column = sql.SQL(fact.column)
        params.append([int(v) for v in cond["value"]] if fact.ids else cond["value"])
        test = sql.SQL("{} = ANY(%s)").format(column)
        return test if op == "in" else sql.SQL("NOT coalesce({} = ANY(%s), false)").format(column)
    if fact.kind == "tags":
        params.append(cond["value"])
        overlap = sql.SQL("c.tags && %s::varchar[]")
        return overlap if op == "any" else _NOT.format(overlap)
    if fact.kind == "registered":
        column = sql.SQL(fact.column)
        params.append(_since(cond, now=now, tz=tz))
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
    # Every parameter of the relation is the same one: it may need the window's start more than once.
    relation_param = cond["currency"] if fact.kind == "amount" else now - dt.timedelta(days=cond["days"])
    params.extend([relation_param] * fact.relation.count("%s"))
    params.append(value)
    if fact.zero_default and compare(Decimal(0), value):
        # Zero matches: every client but those with a value that does not.
        return _NOT.format(_exists(fact.relation, sql.SQL(" AND NOT (e.value {} %s)").format(sql.SQL(symbol))))
    return _exists(fact.relation, sql.SQL(" AND e.value {} %s").format(sql.SQL(symbol)))


def _since(cond: Mapping[str, Any], *, now: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    if "days" in cond:
        return now - dt.timedelta(days=int(cond["days"]))
    return dt.datetime.combine(dt.date.fromisoformat(cond["value"]), dt.time.min, tzinfo=tz)


def _moment_sql(
    fact: Fact, cond: Mapping[str, Any], *, now: dt.datetime, tz: dt.tzinfo, params: list[Any]
) -> sql.Composable:
    """A client's first or last moment of `fact` against the operator: "before" and "more than N days
    ago" take a moment that exists."""
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
    params.append(since)
    if op in ("within_days", "on_or_after"):  # the last is on or after: one is
        return on_or_after
    if op == "not_within_days":  # none on or after (or none at all)
        return _NOT.format(on_or_after)
    return sql.SQL("{} AND NOT {}").format(_exists(rel), on_or_after)  # older_than_days, before: one exists, none on or after


# --- in words --------------------------------------------------------------------------------------


def definition_words(definition: Any, *, translate: Translate = _same) -> str:
    """A stored definition in words, as a versions list shows it: "all of: Language is one of en;
    Net deposits at least 5000 USD; any of: (...)". A fact or operator not (or no longer) known is
    shown by its key."""
    if not isinstance(definition, dict):
        return str(definition)
    parts: list[str] = []
    for item in definition.get("conditions") or []:
        if isinstance(item, dict) and "conditions" in item:
            parts.append(f"({definition_words(item, translate=translate)})")
            continue
        if not isinstance(item, dict):
            continue
        fact = FACTS.get(str(item.get("fact")))
        op = str(item.get("op", ""))
        label = OPERATORS.get(fact.kind, {}).get(op) if fact else None
        words = [str(fact.label) if fact else str(item.get("fact")), translate(label) if label else op]
        value = item.get("value")
        if isinstance(value, list | tuple):
            words.append(", ".join(str(v) for v in value))
        elif value not in (None, ""):
            words.append(str(value))
        if item.get("currency"):
            words.append(str(item["currency"]))
        if item.get("days") not in (None, ""):
            words.append(translate(gettext_noop("(%(days)s days)")) % {"days": item["days"]})
        parts.append(" ".join(words))
    head = translate(gettext_noop("any of") if definition.get("match") == "any" else gettext_noop("all of"))
    return f"{head}: " + "; ".join(parts)
