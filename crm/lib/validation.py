"""Normalisers for personal data fields: email, country, language, time zone.

Each takes raw input and returns the canonical stored form ("" for blank input), or raises
`InvalidValue` naming the field. They know nothing about models, so forms, API schemas, imports
and services can all use them; services turn `InvalidValue` into `ValidationFailed`.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.translation import gettext


class InvalidValue(ValueError):
    """`message` explains what is wrong with the input named `field`."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = str(message)
        super().__init__(f"{field}: {self.message}")


# ISO 3166-1 alpha-2, plus XK (Kosovo): user-assigned, but used by banks, PSPs and phone plans.
COUNTRY_CODES: frozenset[str] = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV
BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES
ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE
IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU
NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM
SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE
VG VI VN VU WF WS YE YT ZA ZM ZW XK
""".split())

# ISO 639-1 two-letter language codes.
LANGUAGE_CODES: frozenset[str] = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv
dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig
ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh
mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru
rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug
uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())

# language[-script|-region], e.g. "en", "pt-BR", "zh-Hans", "es-419"; stored lower-case like Django's.
_LANGUAGE_RE = re.compile(r"^([a-zA-Z]{2})(?:[-_]([a-zA-Z]{4}|[a-zA-Z]{2}|[0-9]{3}))?$")
_email_validator = EmailValidator()
EMAIL_MAX_LENGTH = 254


def email_normalise(value: str | None, *, field: str = "email") -> str:
    """Trimmed, lower-cased and syntactically valid, or "" for blank input."""
    value = (value or "").strip()
    if not value:
        return ""
    value = value.lower()
    if len(value) > EMAIL_MAX_LENGTH:
        raise InvalidValue(field, gettext("An email address has at most %(max)d characters.")
                           % {"max": EMAIL_MAX_LENGTH})
    try:
        _email_validator(value)
    except ValidationError:
        raise InvalidValue(field, gettext("Enter a valid email address.")) from None
    return value


def country_normalise(value: str | None, *, field: str = "country") -> str:
    """An upper-case ISO 3166-1 alpha-2 code, or "" for blank input."""
    value = (value or "").strip().upper()
    if not value:
        return ""
    if value not in COUNTRY_CODES:
        raise InvalidValue(field, gettext("Enter a two-letter ISO country code, such as GB or DE."))
    return value


def language_normalise(value: str | None, *, field: str = "language") -> str:
    """An ISO 639-1 code with an optional script or region, lower-case ("pt-br"), or ""."""
    value = (value or "").strip()
    if not value:
        return ""
    match = _LANGUAGE_RE.match(value)
    if not match or match.group(1).lower() not in LANGUAGE_CODES:
        raise InvalidValue(field, gettext("Enter a language code, such as en, ar or pt-BR."))
    base, sub = match.group(1).lower(), match.group(2)
    return f"{base}-{sub.lower()}" if sub else base


@cache
def _timezones() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def timezone_normalise(value: str | None, *, field: str = "timezone") -> str:
    """A canonical IANA time zone name ("Europe/London"), matched case-insensitively, or ""."""
    value = (value or "").strip()
    if not value:
        return ""
    name = _timezones().get(value.lower())
    if name is None:
        raise InvalidValue(field, gettext("Enter an IANA time zone, such as Europe/London."))
    return name


# Refused in any text from outside:
# - what no PostgreSQL text or jsonb value can hold: NUL, and UTF-16 surrogates, which only exist in
#   Python strings decoded from JSON escapes ("\ud800") and have no UTF-8 form;
# - what PostgreSQL can hold but nobody types: the C0 controls but tab, line feed and carriage
#   return, and DEL. Stored, they corrupt whatever shows the text later (an escape sequence
#   recolours the terminal reading a log, a form feed breaks a PDF line).
_CONTROL_RE = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_REFUSED_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def unstorable_problem(value: str) -> str | None:
    """Why the CRM will not store `value` (a human sentence), or None when it will: the one check
    for text from outside, used by the request middleware, the API's schemas and text_clean."""
    found = _REFUSED_RE.search(value)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return gettext("Remove the invisible NUL character from this text.")
    if _CONTROL_RE.match(char):
        return gettext("Remove the invisible control character (U+%(code)04X) from this text.") % {"code": ord(char)}
    return gettext("This text contains a broken character (a lone UTF-16 surrogate); send it as valid UTF-8.")


def json_problem(value: object) -> tuple[str, str] | None:
    """The first text inside parsed JSON `value` (a key or a string, at any depth) the CRM will not
    store, as (where, why), or None. `where` is a dotted path: "extension", "groups.2", or "body"
    for a bare string. Walked with a stack, not recursion: JSON that parsed may still nest deeper than
    a recursive walk could follow."""
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        at, item = stack.pop()
        if isinstance(item, str):
            problem = unstorable_problem(item)
            if problem:
                return at or "body", problem
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                name = f"{at}.{key}" if at else str(key)
                problem = unstorable_problem(str(key))
                if problem:
                    return storable(name, replacement="\u2400"), problem
                stack.append((name, child))
        elif isinstance(item, list):
            stack.extend((f"{at}.{i}" if at else str(i), child) for i, child in reversed(list(enumerate(item))))
    return None


def storable(value: str, *, replacement: str = "\ufffd") -> str:
    """`value` with what the CRM will not store replaced: for text kept as evidence (headers, raw
    payloads, report rows), never for what a user asked to save."""
    return _REFUSED_RE.sub(replacement, value)


# Invisible characters that reorder the text around them (U+202E makes "evil" display as "live"):
# marks, embeddings, overrides and isolates. No name needs them, so a name that holds one is refused
# (the person sees which character, and the name shown in a queue is the name typed); longer text
# (notes, descriptions) keeps them and the pages isolate it (dir="auto", <bdi>).
_BIDI_CONTROLS_RE = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
# Fields that are a person's or a thing's name, wherever they are cleaned.
NAME_FIELDS = frozenset({"first_name", "last_name", "full_name", "name", "display_name", "contact_name", "company"})


def name_problem(value: str) -> str | None:
    """Why `value` cannot be a name (a human sentence), or None: a bidirectional control, or what
    no text may hold (`unstorable_problem`)."""
    found = _BIDI_CONTROLS_RE.search(value)
    if found is not None:
        return gettext("Remove the invisible direction control (U+%(code)04X) from this name: it changes how "
                       "the name reads.") % {"code": ord(found.group())}
    return unstorable_problem(value)


def text_clean(value: str | None, *, field: str, max_length: int, required: bool = False) -> str:
    """Trimmed text within `max_length`; "" allowed unless `required`. NUL and lone surrogates, which no text
    column can hold, and control characters are refused by name instead of failing the write. A name
    (NAME_FIELDS) holding a bidirectional control that could disguise it is refused too."""
    value = (value or "").strip()
    problem = name_problem(value) if field in NAME_FIELDS else unstorable_problem(value)
    if problem:
        raise InvalidValue(field, problem)
    if required and not value:
        raise InvalidValue(field, gettext("This field is required."))
    if len(value) > max_length:
        raise InvalidValue(field, gettext("Use at most %(max)d characters.") % {"max": max_length})
    return value
