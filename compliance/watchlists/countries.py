"""Country names as the lists write them ("Korea, North", "Iran", "Russia") to ISO 3166 alpha-2.

The English names come from the locale data phonenumbers ships (the same source as the CRM's country
choices); the lists' own short forms, which no locale data spells, are added below."""

from __future__ import annotations

import re
from functools import cache

from anyascii import anyascii

from matching.locale_names import locale_data

# The lists' names that the locale data spells otherwise.
LIST_NAMES = {
    "korea north": "KP", "north korea": "KP", "democratic peoples republic of korea": "KP", "dprk": "KP",
    "korea south": "KR", "south korea": "KR", "republic of korea": "KR", "burma": "MM", "russia": "RU",
    "russian federation": "RU", "iran": "IR", "iran islamic republic of": "IR", "syria": "SY",
    "syrian arab republic": "SY", "congo democratic republic of the": "CD", "democratic republic of the congo": "CD",
    "congo republic of the": "CG", "cote divoire": "CI", "ivory coast": "CI", "laos": "LA", "vietnam": "VN",
    "viet nam": "VN", "venezuela": "VE", "bolivia": "BO", "tanzania": "TZ", "moldova": "MD", "macau": "MO",
    "west bank": "PS", "gaza": "PS", "palestinian territories": "PS", "united kingdom": "GB", "uk": "GB",
    "united states": "US", "usa": "US", "turkey": "TR", "turkiye": "TR", "czech republic": "CZ",
    "the gambia": "GM", "gambia the": "GM", "bahamas the": "BS", "micronesia federated states of": "FM",
    "kosovo": "XK", "crimea": "UA", "region crimea": "UA", "libya": "LY", "brunei": "BN", "cabo verde": "CV",
    "eswatini": "SZ", "north macedonia": "MK", "sudan": "SD", "south sudan": "SS", "taiwan": "TW",
}


def _key(name: str) -> str:
    return re.sub(r"[^a-z ]+", "", anyascii(name).lower().replace("-", " ")).strip()


@cache
def _names() -> dict[str, str]:
    table: dict[str, str] = {}
    for code, names in locale_data().items():
        english = names.get("en", "")
        if english.startswith("*"):  # "*xx": the name is the one of language xx
            english = names.get(english[1:], "")
        if len(code) == 2 and code.isalpha() and english:
            table[_key(english)] = code.upper()
    for name, code in LIST_NAMES.items():
        table[_key(name)] = code
    return table


def country_code(name: str) -> str:
    """The ISO code of a country as a list names it; '' when it names none we know."""
    text = name.strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    key = _key(text)
    return _names().get(key, "") or _names().get(" ".join(key.split()), "")
