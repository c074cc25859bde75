"""Dates and date ranges from outside (query strings, forms, files), read safely.

A date is YYYY-MM-DD between ``EARLIEST`` and ``LATEST``: far enough from Python's own limits
(year 1 and 9999) that a period's next day, a time zone's offset or a week around it never
overflows (``?to=9999-12-31`` once answered 500 with an OverflowError). Each refusal is an
``InvalidValue`` naming the field, with a message a person can act on.
"""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext

from crm.lib.validation import InvalidValue

EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2999, 12, 31)
MAX_TEXT_LENGTH = 32


def date_parse(text: str, *, field: str) -> dt.date:
    """The date `text` names (YYYY-MM-DD), within EARLIEST..LATEST; InvalidValue naming `field`."""
    value = text.strip() if isinstance(text, str) else ""
    try:
        if len(value) > MAX_TEXT_LENGTH:
            raise ValueError
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidValue(field, gettext("Give the date as YYYY-MM-DD.")) from None
    if not EARLIEST <= day <= LATEST:
        raise InvalidValue(field, gettext("Give a date between %(earliest)s and %(latest)s.") % {
            "earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()})
    return day


def date_range_parse(start_text: str, end_text: str, *, default_start: dt.date, default_end: dt.date,
                     max_days: int | None = None, start_field: str = "from",
                     end_field: str = "to") -> tuple[dt.date, dt.date]:
    """(start, end) from two texts, each blank for its default; refused (InvalidValue naming the field)
    when a date is not one, is out of range, the end comes first, or the period is longer than
    `max_days`."""
    start = date_parse(start_text, field=start_field) if (start_text or "").strip() else default_start
    end = date_parse(end_text, field=end_field) if (end_text or "").strip() else default_end
    if end < start:
        raise InvalidValue(end_field, gettext("The end of the period comes before its start."))
    if max_days is not None and (end - start).days >= max_days:
        raise InvalidValue(end_field, gettext("The period covers at most %(days)d days.") % {"days": max_days})
    return start, end
