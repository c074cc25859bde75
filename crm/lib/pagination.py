"""Keyset ("cursor") pagination over a stable ordering.

A page is read with `WHERE (k1, k2) < (v1, v2) ORDER BY k1 DESC, k2 DESC LIMIT n + 1` instead of
OFFSET, so that a page costs the same however deep it is and rows inserted while a caller walks
the list neither repeat nor vanish. The ordering must end in a unique column (the primary key).

The cursor handed to callers is opaque: URL-safe base64 of a small JSON document holding the
key values of the last row of the page. Callers must not build or parse it; a cursor that does
not decode into the expected shape raises `InvalidCursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Model, Q, QuerySet

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_CURSOR_VERSION = 1
# A cursor is a handful of key values; anything much longer is not one of ours.
_MAX_CURSOR_LENGTH = 512


class InvalidCursor(ValueError):
    """The cursor was not produced by this paginator for this ordering."""


@dataclass(frozen=True)
class Key:
    """One column of the ordering: its field name, direction and value type ("datetime" or "int")."""

    field: str
    descending: bool = True
    kind: str = "int"


CREATED_DESC: tuple[Key, ...] = (Key("created_at", True, "datetime"), Key("id", True, "int"))
ID_ASC: tuple[Key, ...] = (Key("id", False, "int"),)


@dataclass(frozen=True)
class Page[T: Model]:
    items: list[T]
    next_cursor: str | None


def _encode_value(value: Any, kind: str) -> Any:
    if kind == "datetime":
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise TypeError("cursor datetimes must be aware")
        return value.isoformat(timespec="microseconds")
    return int(value)


def _decode_value(value: Any, kind: str) -> Any:
    if kind == "datetime":
        if not isinstance(value, str):
            raise InvalidCursor("bad datetime in cursor")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidCursor("bad datetime in cursor") from None
        if parsed.tzinfo is None:
            raise InvalidCursor("naive datetime in cursor")
        return parsed
    # bool is an int subclass in Python; it is not a key value we ever write.
    if not isinstance(value, int) or isinstance(value, bool) or not (-(2**63) <= value < 2**63):
        raise InvalidCursor("bad integer in cursor")
    return value


def encode_cursor(values: Sequence[Any], keys: Sequence[Key]) -> str:
    payload = {"v": _CURSOR_VERSION, "k": [_encode_value(v, k.kind) for v, k in zip(values, keys, strict=True)]}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[Key]) -> list[Any]:
    """The key values inside `cursor`; raises InvalidCursor for anything this module did not write."""
    if not cursor or len(cursor) > _MAX_CURSOR_LENGTH:
        raise InvalidCursor("cursor has the wrong length")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("cursor is not valid") from None
    if not isinstance(payload, dict) or payload.get("v") != _CURSOR_VERSION:
        raise InvalidCursor("cursor is not valid")
    values = payload.get("k")
    if not isinstance(values, list) or len(values) != len(keys):
        raise InvalidCursor("cursor does not match this list")
    return [_decode_value(v, k.kind) for v, k in zip(values, keys, strict=True)]


def _after(keys: Sequence[Key], values: Sequence[Any]) -> Q:
    """Rows strictly after `values` in the ordering: (k1 > v1) or (k1 = v1 and k2 > v2) ..."""
    condition = Q()
    equal_so_far = Q()
    for key, value in zip(keys, values, strict=True):
        lookup = "lt" if key.descending else "gt"
        condition |= equal_so_far & Q(**{f"{key.field}__{lookup}": value})
        equal_so_far &= Q(**{key.field: value})
    return condition


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, min(MAX_LIMIT, int(limit)))


def paginate[T: Model](
    queryset: QuerySet[T],
    *,
    cursor: str | None,
    limit: int | None = DEFAULT_LIMIT,
    keys: Sequence[Key] = CREATED_DESC,
) -> Page[T]:
    """One page of `queryset` in the order of `keys`, starting after `cursor` (None: the first page).

    Any ordering already on the queryset is replaced. `next_cursor` is None on the last page.
    """
    size = clamp_limit(limit)
    qs = queryset.order_by(*[f"-{k.field}" if k.descending else k.field for k in keys])
    if cursor:
        qs = qs.filter(_after(keys, decode_cursor(cursor, keys)))
    rows = list(qs[: size + 1])
    if len(rows) <= size:
        return Page(items=rows, next_cursor=None)
    rows = rows[:size]
    last = rows[-1]
    return Page(items=rows, next_cursor=encode_cursor([getattr(last, k.field) for k in keys], keys))
