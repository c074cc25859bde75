"""English dates for an international staff: day before month, 24-hour clock, weeks from Monday.

Django's own "en" formats are American (m/d/Y, "p.m."), which staff in London, Dubai or
Johannesburg misread: 04/05 is the 4th of May here. These use the Django date syntax
(https://docs.djangoproject.com/en/stable/ref/templates/builtins/#date).
"""

DATE_FORMAT = "j M Y"  # 25 Oct 2006
TIME_FORMAT = "H:i"  # 14:30
DATETIME_FORMAT = "j M Y, H:i"  # 25 Oct 2006, 14:30
YEAR_MONTH_FORMAT = "F Y"  # October 2006
MONTH_DAY_FORMAT = "j F"  # 25 October
SHORT_DATE_FORMAT = "d/m/Y"  # 25/10/2006
SHORT_DATETIME_FORMAT = "d/m/Y H:i"  # 25/10/2006 14:30
FIRST_DAY_OF_WEEK = 1  # Monday

# Python strptime syntax. ISO 8601 first (what date and datetime-local inputs send), then the
# day-first forms shown above; Django also accepts ISO whatever is listed here.
DATE_INPUT_FORMATS = [
    "%Y-%m-%d",  # 2006-10-25
    "%d/%m/%Y",  # 25/10/2006
    "%d/%m/%y",  # 25/10/06
    "%d %b %Y",  # 25 Oct 2006
    "%d %B %Y",  # 25 October 2006
]
DATETIME_INPUT_FORMATS = [
    "%Y-%m-%d %H:%M:%S",  # 2006-10-25 14:30:59
    "%Y-%m-%d %H:%M:%S.%f",  # 2006-10-25 14:30:59.000200
    "%Y-%m-%d %H:%M",  # 2006-10-25 14:30
    "%d/%m/%Y %H:%M:%S",  # 25/10/2006 14:30:59
    "%d/%m/%Y %H:%M",  # 25/10/2006 14:30
    "%d/%m/%y %H:%M",  # 25/10/06 14:30
]
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
