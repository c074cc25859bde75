"""Phone numbers in E.164, parsed with `phonenumbers`.

Staff and lead forms give numbers in every shape ("020 7183 8750", "+44 (0)20 7183 8750",
"0044 20 7183 8750"); the client's country is the hint for numbers written without a country
code.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from django.utils.translation import gettext

from crm.lib.validation import InvalidValue

# E.164 allows at most 15 digits; anything much longer is not a phone number worth parsing.
_MAX_INPUT = 40


def phone_normalise(value: str | None, *, region: str | None = None, field: str = "phone") -> str:
    """The number in E.164 ("+442071838750"), or "" for blank input.

    `region` (ISO 3166-1 alpha-2, usually the client's country) is used for numbers written
    without a country code. Raises `InvalidValue` naming `field` for anything that is not a
    valid number.
    """
    raw = (value or "").strip()
    if not raw:
        return ""
    if len(raw) > _MAX_INPUT:
        raise InvalidValue(field, gettext("This is too long to be a phone number."))
    if raw.startswith("00"):
        raw = "+" + raw[2:]  # the international call prefix used across Europe and beyond
    hint = (region or "").upper() or None
    if hint is not None and hint not in phonenumbers.SUPPORTED_REGIONS:
        hint = None
    try:
        parsed = phonenumbers.parse(raw, hint)
    except phonenumbers.NumberParseException:
        if hint is None and not raw.startswith("+"):
            raise InvalidValue(field, gettext(
                "Start the number with + and the country code, or set the client's country first."
            )) from None
        raise InvalidValue(field, gettext("Enter a valid phone number.")) from None
    # A number of the hint's own country is checked against that region's plan first (most are:
    # the country and the number come from the same person); is_valid_number would try every
    # region sharing the calling code (GB, GG, IM, JE for +44) to find the one to check against.
    if not (hint is not None and parsed.country_code == phonenumbers.country_code_for_region(hint)
            and _valid_in_region(parsed, hint)) and not phonenumbers.is_valid_number(parsed):
        raise InvalidValue(field, gettext("Enter a valid phone number."))
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@functools.cache
def _landline_and_mobile(region: str) -> tuple[tuple[frozenset[int], re.Pattern[str]], ...]:
    """(possible lengths, national number pattern) of the region's whole plan, its landlines and
    its mobiles, from phonenumbers' own metadata."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return ()
    plans = []
    for desc in (metadata.general_desc, metadata.fixed_line, metadata.mobile):
        if desc is None or desc.national_number_pattern is None:
            return ()
        plans.append((frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern)))
    return tuple(plans)


def _valid_in_region(parsed: phonenumbers.PhoneNumber, region: str) -> bool:
    """is_valid_number_for_region, landlines and mobiles first. A number is valid when it fits the
    region's plan and one of its kinds of number; is_valid_number_for_region tries eight rarer
    kinds (premium, toll-free, pager...) before the two almost every lead has, so a landline or a
    mobile is recognised here at a tenth of the cost, and anything else is left to it."""
    plans = _landline_and_mobile(region)
    if plans:
        number = phonenumbers.national_significant_number(parsed)
        (general_lengths, general), *kinds = plans

        def fits(lengths: frozenset[int], pattern: re.Pattern[str]) -> bool:
            return (not lengths or len(number) in lengths) and pattern.fullmatch(number) is not None

        if fits(general_lengths, general) and any(fits(lengths, pattern) for lengths, pattern in kinds):
            return True
    return phonenumbers.is_valid_number_for_region(parsed, region)

