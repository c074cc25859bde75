"""Marketing's side of the segment engine (plumbing.segments: the definitions' shape, validation and
compilation to one parameterised query, shared with the sales desk's segments): definitions validated
as a user may write them (marketing.facts.facts_for: the risk band is compliance's), compiled at a
moment in a time zone, counted and listed on this database.

`definition_clean` raises ValidationFailed naming the bad part as
``conditions.<i>[.conditions.<j>...].<part>``; `definition_compile` gives the SQL of a brand's
clients (merged ones left out) matching a clean definition at `now` (windows counted back from it,
dates as days in `tz`) and its parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm.exceptions import ValidationFailed
from crm.models import Brand, User
from marketing.facts import facts_for
from plumbing import segments
from plumbing.segments import Compiled

COUNT_WORK_MEM = "16MB"  # definition_count's transaction: see there

__all__ = ["Compiled", "definition_clean", "definition_compile", "definition_count", "definition_member_ids"]


def definition_clean(data: Any, *, brand: Brand, user: User | None = None) -> dict[str, Any]:
    """A validated, normalised definition of `brand`'s segment, as `user` may write it (None: the
    system, every fact); ValidationFailed names each bad part."""
    allowed = {f.key for f in facts_for(user)}
    try:
        return segments.definition_clean(data, scope=brand, allowed=allowed, translate=gettext)
    except segments.DefinitionInvalid as exc:
        raise ValidationFailed(fields=exc.fields) from None


def definition_compile(
    definition: Mapping[str, Any], *, brand_id: int, now: dt.datetime | None = None, tz: Any = None
) -> Compiled:
    """The query of `brand_id`'s clients matching the clean `definition` at `now`."""
    zone = tz or timezone.get_current_timezone()
    if isinstance(zone, str):
        zone = ZoneInfo(zone)
    return segments.definition_compile(definition, brand_id=brand_id, now=now or timezone.now(), tz=zone)


def definition_count(
    definition: Mapping[str, Any], *, brand_id: int, now: dt.datetime | None = None, tz: Any = None
) -> int:
    """How many of the brand's clients match the clean `definition` at `now` (one query).

    The count's own transaction gets COUNT_WORK_MEM: at a million clients a fact's rows of one currency
    (balances, net deposits: some 300,000) then fit one hash, which PostgreSQL builds once, where the
    default 4 MB makes it probe an index once per client of the brand. Bounded: per hash of this one
    statement (hash_mem_multiplier times it), reset when the transaction ends (an outer one's, when the
    count runs inside one); past it PostgreSQL plans the probes again, never a different answer."""
    compiled = definition_compile(definition, brand_id=brand_id, now=now, tz=tz)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [COUNT_WORK_MEM])
        cursor.execute(compiled.count_text(connection.connection), compiled.params)
        return int(cursor.fetchone()[0])


def definition_member_ids(
    definition: Mapping[str, Any], *, brand_id: int, now: dt.datetime | None = None, tz: Any = None
) -> list[int]:
    """The ids of the brand's clients matching the clean `definition` at `now`, ascending."""
    compiled = definition_compile(definition, brand_id=brand_id, now=now, tz=tz)
    with connection.cursor() as cursor:
        cursor.execute(compiled.ordered_text(connection.connection), compiled.params)
        return [row[0] for row in cursor.fetchall()]
