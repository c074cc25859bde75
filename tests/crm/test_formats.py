"""Dates read the same way in every language of the CRM: day, month, year."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation
from django.utils.formats import date_format, get_format

DAY = dt.datetime(2026, 11, 3, 14, 5)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_short_dates_put_the_day_first_in_one_left_to_right_run(language):
    with translation.override(language):
        text = date_format(DAY, "SHORT_DATE_FORMAT")
        assert text == "03/11/2026"
        assert "\u200f" not in date_format(DAY, "SHORT_DATETIME_FORMAT")  # no right-to-left mark splits it
        assert date_format(DAY, "SHORT_DATETIME_FORMAT") == "03/11/2026 14:05"


def test_long_arabic_dates_name_the_month_after_the_day():
    with translation.override("ar"):
        text = date_format(DAY, "DATE_FORMAT")
    assert text.startswith("3 ") and text.endswith(" 2026")
    assert "نوفمبر" in text


@pytest.mark.parametrize("language", ["en", "ar"])
def test_typed_dates_are_read_day_first(language):
    with translation.override(language):
        formats = get_format("DATE_INPUT_FORMATS")
    assert dt.datetime.strptime("03/11/2026", formats[1]).date() == dt.date(2026, 11, 3)
