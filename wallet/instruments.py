"""Payment instruments: who paid (the card holder, the wire's sender), where the instrument was issued
(the card's BIN country, the bank's country) and which instrument it was, as a stable fingerprint.

The fingerprint is the keyed hash of every searchable personal value (crm.lib.fieldcrypt, kind
"instrument": HMAC-SHA256 under the key ring's search key, from the environment or the key file) of the
instrument's kind and number as we get it: an IBAN for a wire (its electronic form), the provider's own card fingerprint for a
card (a PSP never sends the PAN; the simulator's fingerprint is a hash of it), a wallet's or address's
identifier otherwise. The number itself is never stored: only the hash and the last four characters for
display. The same card paid through the same provider, or the same IBAN, gives the same fingerprint for
every client, which is what AML monitoring looks for (compliance.aml: shared and many instruments).

Whether the payer is the client is decided once, when the payer is recorded, with the name matcher KYC and
screening use (matching): a transliteration, a dropped diacritic or particle is the same person; a
different given name is not. AML rules read the stored answer set-based.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from crm.lib.fieldcrypt import keyed_hash, keyed_hashes
from matching.documents import names_in_text
from plumbing.iban import iban_normalise

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LAST4 = re.compile(r"^[A-Za-z0-9]{1,4}$")
_LEGACY_SALT = b"wallet.instrument.v1"  # the fingerprint of before the key ring (earlier_fingerprints)


@dataclass(frozen=True)
class PayerDetails:
    """What a provider (or finance, for a wire) says of the payer and the instrument. Every field may be
    empty: not every provider gives every one."""

    name: str = ""
    country: str = ""  # ISO 3166-1 alpha-2 of the card's issuer (BIN) or the bank
    fingerprint: str = ""  # instrument_fingerprint(...) of the number: never the number
    earlier: tuple[str, ...] = ()  # earlier_fingerprints(...) of it: what older deposits may hold
    last4: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.name or self.country or self.fingerprint or self.last4)


def instrument_fingerprint(kind: str, number: str) -> str:
    """The keyed hash of an instrument's number ("iban", "card", "ewallet", ...): 64 hex characters, the
    same for the same number (spaces, hyphens and case aside; any valid IBAN as "iban") under the key
    ring's current search key, and the same as a payout destination's (Withdrawal.destination_fingerprint);
    '' for no number."""
    return keyed_hash(f"{kind}:{number or ''}", kind="instrument")


def earlier_fingerprints(kind: str, number: str) -> list[str]:
    """What the same instrument's fingerprint was before: its hashes under the search keys that are no
    longer current, and the fingerprint of before the key ring (an HMAC under a key derived from
    SECRET_KEY, of the number without spaces and hyphens, in upper case; an IBAN under the kind it came
    with). A deposit keeps only the fingerprint, never the number, so a key change cannot hash it again:
    its rows are brought to the current fingerprint when the instrument is next seen
    (`refingerprint_deposits`), as a lookup by a keyed hash matches every key of the ring."""
    current, *older = keyed_hashes(f"{kind}:{number or ''}", kind="instrument") or [""]
    cleaned = re.sub(r"[\s-]", "", number or "").upper()
    if not cleaned:
        return []
    key = hashlib.sha256(_LEGACY_SALT + settings.SECRET_KEY.encode()).digest()
    legacy_kind = "iban" if iban_normalise(cleaned) else kind
    legacy = hmac.new(key, f"{legacy_kind}:{cleaned}".encode(), hashlib.sha256).hexdigest()
    return [h for h in (*older, legacy) if h != current]


def payer_details(*, kind: str, name: Any = "", country: Any = "", number: Any = "", last4: Any = "") -> PayerDetails:
    """PayerDetails from what a provider sent: text trimmed and cut to the columns, a country that is not
    two letters dropped (not guessed), the number hashed at once (its last four kept)."""
    name_text = " ".join(str(name or "").split())[:140]
    country_text = str(country or "").strip().upper()
    number_text = str(number or "").strip()
    last = str(last4 or "").strip() or re.sub(r"[\s-]", "", number_text)[-4:]
    return PayerDetails(name=name_text, country=country_text if _COUNTRY.match(country_text) else "",
                        fingerprint=instrument_fingerprint(kind, number_text),
                        earlier=tuple(earlier_fingerprints(kind, number_text)),
                        last4=last if _LAST4.match(last or "-") else "")


def payer_from_provider(data: Mapping[str, Any] | None, *, method: str) -> PayerDetails | None:
    """The `payer` object of a provider's payment ({"name", "country", "fingerprint" or "iban", "last4"}),
    or None when it sent none or something else than an object."""
    if not isinstance(data, Mapping):
        return None
    number = data.get("iban") or data.get("fingerprint") or data.get("account") or ""
    kind = "iban" if data.get("iban") else method or "card"
    details = payer_details(kind=kind, name=data.get("name", ""), country=data.get("country", ""),
                            number=str(number), last4=data.get("last4", ""))
    return None if details.is_empty else details


def payer_is_client(*, payer_name: str, first_name: str, last_name: str) -> bool | None:
    """Whether `payer_name` names the client (True), someone else (False), or cannot tell (None: no payer
    name, or the client has no surname to compare)."""
    if not payer_name.strip() or not last_name.strip():
        return None
    return _names_match(payer_name, first_name, last_name)


@functools.lru_cache(maxsize=4096)
def _names_match(payer_name: str, first_name: str, last_name: str) -> bool:
    # The matcher depends on the three names only: a client who pays again with the same card (the
    # same holder's name) is not matched anew, in a batch of notifications above all.
    return names_in_text(payer_name, first_name=first_name, last_name=last_name).matched
