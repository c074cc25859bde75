"""International bank account numbers: an IBAN as typed checked and put in its electronic form (the
wallet checks a payout's account with it; the keyed hash of a payment instrument compares IBANs in it)."""

from __future__ import annotations

import re

# Length of an IBAN per country (the registry's figures, for the countries a broker commonly pays to);
# another country's IBAN is checked by its shape and its check digits only.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BH": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "QA": 29, "RO": 24, "SA": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}


def iban_normalise(text: str) -> str | None:
    """An IBAN as typed ("gb82 west 1234 5698 7654 32") in its electronic form (GB82WEST12345698765432),
    or None when it is not one: a country code, two check digits and up to 30 letters or digits, the
    length the country uses, and the ISO 7064 mod-97 check equal to 1 (a mistyped or swapped
    character fails it)."""
    compact = re.sub(r"[\s\-.]", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", compact):
        return None
    if IBAN_LENGTHS.get(compact[:2], len(compact)) != len(compact):
        return None
    digits = "".join(str(int(ch, 36)) for ch in compact[4:] + compact[:4])
    return compact if int(digits) % 97 == 1 else None
