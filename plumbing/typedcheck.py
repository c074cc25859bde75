"""Data as JSON carries it (text, numbers, true/false, null, lists, objects) checked against a type: a
TypedDict, compiled once into a checker of plain isinstance tests, so that checking a payload costs a
few microseconds (the domain events' payloads, crm.events.catalogue, on the bulk paths).

A checker returns None when the value fits, else (the path below the value, ".owner.code", and what is
wrong). Types: str, int, float, bool, None, Any, Literal, list[T], dict[str, T], unions, nested
TypedDicts (NotRequired and Required as written, with postponed annotations too) and
Annotated[str, Format(...)] for text of a given shape (a decimal number, a UUID, an ISO 8601 time);
any other annotation is ignored by the checker. Standard library only."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, NotRequired, Required, get_args, get_origin


@dataclass(frozen=True)
class Format:
    """A text field's format, checked after its type: Annotated[str, Format("decimal", ...)]."""

    name: str
    valid: Callable[[str], bool]


def is_decimal(text: str) -> bool:
    """Whether `text` is a finite decimal number ("250.00")."""
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def is_uuid(text: str) -> bool:
    """Whether `text` is a UUID (with or without its dashes)."""
    return _UUID_RE.match(text) is not None


def is_datetime(text: str) -> bool:
    """Whether `text` is an ISO 8601 date and time (or date)."""
    from datetime import datetime

    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


# A checker returns None when the value fits, else (path below the value, what is wrong): the path
# is built only on the way out of a failure, so a payload that fits costs no string formatting.
Problem = tuple[str, str]
Checker = Callable[[Any], "Problem | None"]

_SCALARS: dict[Any, tuple[str, tuple[type, ...]]] = {
    str: ("text", (str,)),
    int: ("integer", (int,)),
    float: ("number", (int, float)),
    bool: ("true/false", (bool,)),
}


def _got(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")


@dataclass
class Compiled:
    check: Checker
    text: str  # the type as shown to administrators
    nullable: bool = False


def _any(v: Any) -> Problem | None:
    return None


def compile_type(tp: Any, owner: str) -> Compiled:
    """A checker for type `tp` (str, int, float, bool, None, Any, Literal, list[T], dict[str, T],
    unions, a nested TypedDict, Annotated[T, Format])."""
    if tp is Any:
        return Compiled(_any, "any", nullable=True)
    if tp is None or tp is type(None):
        return Compiled(lambda v: None if v is None else ("", f"expected null, got {_got(v)}"), "null", nullable=True)
    if tp in _SCALARS:
        return _compile_scalar(tp)
    if is_typeddict(tp):
        return compile_record(tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _compile_annotated(args, owner)
    if origin is Literal:
        return _compile_literal(args)
    if origin in (typing.Union, types.UnionType):
        return _compile_union(args, owner)
    if origin in (list, tuple) or tp in (list, tuple):
        return _compile_sequence(args, owner)
    if origin in (dict, Mapping) or tp is dict:
        return _compile_mapping(args, owner)
    raise TypeError(f"{owner}: the payload type {tp!r} cannot be checked; use JSON types")


def _compile_scalar(tp: Any) -> Compiled:
    label, kinds = _SCALARS[tp]
    # bool is an int to Python, never to a reader of the payload.
    exclude_bool = tp is not bool

    def scalar(v: Any) -> Problem | None:
        if isinstance(v, kinds) and not (exclude_bool and isinstance(v, bool)):
            return None
        return "", f"expected {label}, got {_got(v)}"

    return Compiled(scalar, label)


def _compile_annotated(args: tuple[Any, ...], owner: str) -> Compiled:
    inner = compile_type(args[0], owner)
    formats = [m for m in args[1:] if isinstance(m, Format)]
    if not formats:
        return inner
    fmt, inner_check = formats[0], inner.check

    def formatted(v: Any) -> Problem | None:
        problem = inner_check(v)
        if problem is None and not fmt.valid(v):
            return "", f"expected {fmt.name} text, got {str(v)[:40]!r}"
        return problem

    return Compiled(formatted, fmt.name)


def _compile_literal(args: tuple[Any, ...]) -> Compiled:
    allowed = [(type(a), a) for a in args]

    def literal(v: Any) -> Problem | None:
        if any(isinstance(v, t) and isinstance(v, bool) == (t is bool) and v == a for t, a in allowed):
            return None
        return "", f"expected one of {', '.join(repr(a) for a in args)}, got {v!r}"[:200]

    return Compiled(literal, " | ".join(repr(a) for a in args))


def _compile_union(args: tuple[Any, ...], owner: str) -> Compiled:
    options = [compile_type(a, owner) for a in args]
    nullable = any(o.nullable for o in options)
    real = [o for o in options if o.text != "null"]
    checks = [o.check for o in real]
    text = " | ".join(o.text for o in options)

    def union(v: Any) -> Problem | None:
        if v is None and nullable:
            return None
        problem: Problem | None = None
        for check in checks:
            problem = check(v)
            if problem is None:
                return None
        # A single non-null option says exactly what is wrong inside it.
        if len(checks) == 1 and problem is not None:
            return problem
        return "", f"expected {text}, got {_got(v)}"

    return Compiled(union, text, nullable=nullable)


def _compile_sequence(args: tuple[Any, ...], owner: str) -> Compiled:
    item = compile_type(args[0] if args else Any, owner)
    item_check = item.check

    def sequence(v: Any) -> Problem | None:
        if not isinstance(v, list | tuple):
            return "", f"expected a list, got {_got(v)}"
        if item_check is not _any:
            for i, x in enumerate(v):
                problem = item_check(x)
                if problem is not None:
                    return f".{i}{problem[0]}", problem[1]
        return None

    return Compiled(sequence, f"list of {item.text}")


def _compile_mapping(args: tuple[Any, ...], owner: str) -> Compiled:
    value = compile_type(args[1] if len(args) == 2 else Any, owner)
    value_check = value.check

    def mapping(v: Any) -> Problem | None:
        if not isinstance(v, dict):
            return "", f"expected an object, got {_got(v)}"
        for k, x in v.items():
            if not isinstance(k, str):
                return "", f"keys must be text, got {_got(k)}"
            problem = value_check(x)
            if problem is not None:
                return f".{k}{problem[0]}", problem[1]
        return None

    return Compiled(mapping, f"object of {value.text}")


def fields_of(tp: type) -> list[tuple[str, Any, bool]]:
    """(name, type, required) of a TypedDict, from its resolved annotations. Required-ness is
    read from the hints themselves: with postponed annotations Python cannot see NotRequired."""
    hints = typing.get_type_hints(tp, include_extras=True)
    total = getattr(tp, "__total__", True)
    out = []
    for name, hint in hints.items():
        required = total
        while get_origin(hint) in (NotRequired, Required):
            required = get_origin(hint) is Required
            hint = get_args(hint)[0]
        out.append((name, hint, required))
    return out


def compile_record(tp: type) -> Compiled:
    owner = f"{tp.__module__}.{tp.__qualname__}"
    fields = [(name, hint, compile_type(hint, owner), required) for name, hint, required in fields_of(tp)]
    required = frozenset(name for name, _, _, req in fields if req)
    allowed = frozenset(name for name, *_ in fields)
    # The bulk paths check thousands of payloads: plain text, integer and true/false fields are
    # tested inline (a call per field would double the cost); fields of any type not at all.
    plain = {str: str, int: int, bool: bool}
    inline = [(name, plain[hint]) for name, hint, _, _ in fields if hint in plain]
    nested = [(name, compiled.check) for name, hint, compiled, _ in fields
              if hint not in plain and compiled.check is not _any]

    def record(v: Any) -> Problem | None:
        if not isinstance(v, dict):
            return "", f"expected an object, got {_got(v)}"
        keys = v.keys()
        if not required <= keys:
            return f".{sorted(required - keys)[0]}", "required field missing"
        if not keys <= allowed:
            return f".{sorted(str(k) for k in keys - allowed)[0]}", "not a field of this event"
        for k, kind in inline:
            x = v.get(k, kind)  # an optional field left out stands in as its type, which passes
            if x is not kind and (not isinstance(x, kind) or (kind is int and isinstance(x, bool))):
                return f".{k}", f"expected {_SCALARS[kind][0]}, got {_got(x)}"
        for k, check in nested:
            if k in v:
                problem = check(v[k])
                if problem is not None:
                    return f".{k}{problem[0]}", problem[1]
        return None

    return Compiled(record, tp.__name__)
