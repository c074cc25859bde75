"""The normal forms keyed hashes are made of (crm.lib.fieldcrypt), so that what two people would call
the same email, phone, document number, address line or payment instrument hashes the same: email
trimmed and lower-cased, phone in E.164, a document number in upper-case letters and digits, an address
line lower-cased without spaces, commas, dots or hyphens, a payment instrument as "<kind>:<number>" with
the number compacted and any IBAN in its electronic form, a word of a name case-folded. "" for a blank
value."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from plumbing.iban import iban_normalise


def email_key(value: str | None) -> str:
    return (value or "").strip().lower()


def phone_key(value: str | None) -> str:
    """The E.164 form of an already valid number ("" for blank): what a phone hash is made of."""
    return re.sub(r"[^0-9+]", "", value or "")


def document_number_key(value: str | None) -> str:
    return re.sub(r"[^0-9A-Z]", "", str(value or "").upper())


def address_line_key(value: str | None) -> str:
    """An address line as two clients at one address compare it: lower case, spaces, commas, dots and
    hyphens dropped ("1, High St." == "1 high st")."""
    return re.sub(r"[ ,.\-]", "", (value or "").lower())


def instrument_key(value: Any) -> str:
    """A payment instrument as two payments to or from one instrument compare it: "<kind>:<number>" with
    the number's spaces and hyphens dropped and in upper case, and "iban:<electronic form>" for any
    valid IBAN whatever the kind it came under (a wire's sender and a payout's account compare). `value`
    is that text ("card:4242 4242 ..."), or a payout destination ({kind: number}, as a mapping or its
    JSON text: what an encrypted destination column holds); "" for no number."""
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    if isinstance(value, Mapping):
        kind, number = next(iter(value.items()), ("", ""))
    else:
        kind, _, number = str(value or "").partition(":")
    cleaned = re.sub(r"[\s-]", "", str(number or "")).upper()
    if not cleaned:
        return ""
    iban = iban_normalise(cleaned)
    return f"iban:{iban}" if iban else f"{str(kind).strip().lower()}:{cleaned}"


def name_word_key(value: str | None) -> str:
    """One word of a person's name as an erased client's fingerprints compare it (compliance.erasure_mask):
    compatibility-normalised and case-folded ("ZOË" == "zoë")."""
    return unicodedata.normalize("NFKC", value or "").casefold().strip()


NORMALISERS: dict[str, Callable[[Any], str]] = {
    "email": email_key, "phone": phone_key, "document": document_number_key, "address": address_line_key,
    "instrument": instrument_key, "name_word": name_word_key,
}
