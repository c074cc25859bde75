"""Country names in the reader's language, from the locale data phonenumbers ships: the one source
of the country choices of every form (codes as values, names as labels).

The table is `phonenumbers/geodata/locale.py`, loaded on first use as a file of its own: importing it
as `phonenumbers.geodata.locale` would run the `geodata` package first, which loads the geocoding
table of every number prefix (about 100 MB in every web and Celery process, for nothing that uses it).
"""

from __future__ import annotations

from functools import cache

from crm.lib.validation import COUNTRY_CODES
from matching.locale_names import locale_data


def country_name(code: str, language: str = "en") -> str:
    names = locale_data().get(code) or {}
    base = (language or "en").split("-")[0]
    for lang in (base, "en"):
        name = names.get(lang, "")
        if name.startswith("*"):  # "*xx": the name is the one of language xx
            name = names.get(name[1:], "")
        if name:
            return str(name)
    return code


@cache
def _sorted(language: str) -> list[tuple[str, str]]:
    return sorted(((code, country_name(code, language)) for code in COUNTRY_CODES), key=lambda row: row[1])


def country_choices(language: str) -> list[tuple[str, str]]:
    """(code, name) of every country, by name in `language`."""
    return list(_sorted((language or "en").split("-")[0]))
