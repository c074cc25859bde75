"""Arabic dates in the same day-month-year order as the English pages.

Django's own Arabic short formats put right-to-left marks between the parts ("d‏/m‏/Y"), which
split the date into separate runs that the browser lays out right to left: 23/11/2026 showed as
2026/11/23, and a reader switching languages met the month before the day. Here the numeric forms
are one left-to-right run (digits joined by "/" or ":" stay in order in right-to-left text) and the
long forms name the month, so no date can be misread.
"""

from crm.formats.en.formats import DATE_INPUT_FORMATS, DATETIME_INPUT_FORMATS

DATE_FORMAT = "j F Y"  # 25 أكتوبر 2006
TIME_FORMAT = "H:i"  # 14:30
DATETIME_FORMAT = "j F Y، H:i"  # 25 أكتوبر 2006، 14:30
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = "d/m/Y"  # 25/10/2006
SHORT_DATETIME_FORMAT = "d/m/Y H:i"  # 25/10/2006 14:30
FIRST_DAY_OF_WEEK = 1  # Monday, as in the English pages (Django's Arabic default is Saturday)
# Amounts (crm.lib.money.money_format) in thousands with the marks of Django's Arabic locale
# ("1.234.567,50 USD"): Django leaves Arabic ungrouped, and a balance of seven digits was misread.
NUMBER_GROUPING = 3

__all__ = [
    "DATETIME_FORMAT", "DATETIME_INPUT_FORMATS", "DATE_FORMAT", "DATE_INPUT_FORMATS", "FIRST_DAY_OF_WEEK",
    "MONTH_DAY_FORMAT", "NUMBER_GROUPING", "SHORT_DATETIME_FORMAT", "SHORT_DATE_FORMAT", "TIME_FORMAT", "YEAR_MONTH_FORMAT",
]
