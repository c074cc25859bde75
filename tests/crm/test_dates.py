"""Dates written by crm.lib.dates.date_formatter: the same text as Django's dateformat, in every
language of the CRM, for every format the pages use and every specifier it takes over."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import dateformat, translation
from django.utils.formats import get_format
from hypothesis import given
from hypothesis import strategies as st

from crm.lib.dates import date_formatter

PAGE_FORMATS = ("DATE_FORMAT", "TIME_FORMAT", "DATETIME_FORMAT", "YEAR_MONTH_FORMAT", "MONTH_DAY_FORMAT",
                "SHORT_DATE_FORMAT", "SHORT_DATETIME_FORMAT")
# Every specifier it writes itself, the ones it hands back to Django, and escapes and plain text.
STRESS = (r"d j m n Y y H G i s h g | b E F M N | D l | a A P e O T Z S t L w W z U I o | \Y\m\d \\ at: "
          r"jS \o\f F, l")
ZONES = ("UTC", "Asia/Dubai", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu")

moments = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 12, 31),
                       timezones=st.sampled_from([zoneinfo.ZoneInfo(z) for z in ZONES]))


@given(value=moments, language=st.sampled_from(["en", "ar"]))
def test_every_format_of_the_pages_reads_as_djangos_own(value: dt.datetime, language: str) -> None:
    with translation.override(language):
        for name in PAGE_FORMATS:
            fmt = get_format(name)
            assert date_formatter(fmt)(value) == dateformat.format(value, fmt), (name, fmt)
        assert date_formatter(STRESS)(value) == dateformat.format(value, STRESS)


def test_names_follow_the_language_active_when_the_formatter_is_made() -> None:
    value = dt.datetime(2026, 10, 25, 14, 30, tzinfo=dt.UTC)
    with translation.override("en"):
        english = date_formatter("l j F Y")
    with translation.override("ar"):
        arabic = date_formatter("l j F Y")
    assert english(value) == "Sunday 25 October 2026"
    assert arabic(value) != english(value) and "2026" in arabic(value)
    with translation.override("ar"):
        assert arabic(value) == dateformat.format(value, "l j F Y")
