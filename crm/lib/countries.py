"""Country names in the reader's language, from the locale data phonenumbers ships: the one source
of the country choices of every form (codes as values, names as labels).

The table is `phonenumbers/geodata/locale.py`, loaded on first use as a file of its own: importing it
as `phonenumbers.geodata.locale` would run the `geodata` package first, which loads the geocoding
table of every number prefix (about 100 MB in every web and Celery process, for nothing that uses it).
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

from crm.lib.validation import COUNTRY_CODES


@cache
def _locale_data() -> dict[str, dict[str, str]]:
    """{alpha-2: {language: name or "*xx"}}, about 3 MB."""
    package = importlib.util.find_spec("phonenumbers")
    assert package is not None and package.origin is not None  # noqa: S101 - a dependency of the CRM
    path = Path(package.origin).parent / "geodata" / "locale.py"
    spec = importlib.util.spec_from_file_location("phonenumbers.geodata.locale", path)
    assert spec is not None and spec.loader is not None  # noqa: S101
    module: Any = importlib.util.module_from_spec(spec)
    # Its one import, `from ..util import u`, is resolved against this package without importing it.
    module.__package__ = "phonenumbers.geodata"
    spec.loader.exec_module(module)
    return dict(module.LOCALE_DATA)


def country_name(code: str, language: str = "en") -> str:
    names = _locale_data().get(code) or {}
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
