"""Bank wire: the client gets the brand's bank details and a reference to quote; finance records
each incoming wire (wallet.services.bank_wire_incoming_record) and ``wire_candidates`` names the
deposits it may belong to.

The reference is short, human-typable and check-digited: eight characters of Crockford's base-32
(no I, L, O or U, so nothing reads as another character) derived from the merchant reference, and
a ninth, its mod-37 check symbol, shown as ``BW-XXXX-XXXX-C``. A payer who mistypes one character
or swaps two neighbours gives a reference whose check fails instead of another client's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from crm.lib.money import Money
from wallet.exceptions import ProviderUnsupported
from wallet.providers.base import (
    BankInstructions,
    DepositRequest,
    DepositStart,
    Outcome,
    PaymentProvider,
    SettlementLine,
)

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_SYMBOLS = ALPHABET + "*~$=U"
PREFIX = "BW"
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_TOKEN = re.compile(r"BW[\s\-_.]*((?:[0-9A-Z][\s\-_.]*){9})", re.IGNORECASE)


def _check_symbol(body: str) -> str:
    value = 0
    for ch in body:
        value = value * 32 + ALPHABET.index(ch)
    return CHECK_SYMBOLS[value % 37]


def wire_reference(merchant_ref: str, *, salt: str = "") -> str:
    """The reference a client quotes for the deposit ``merchant_ref``: ``BW-XXXX-XXXX-C``."""
    digest = hashlib.sha256(f"{salt}:{merchant_ref}".encode()).digest()
    number = int.from_bytes(digest[:5], "big")  # 40 bits: eight base-32 characters
    body = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(8)))
    return f"{PREFIX}-{body[:4]}-{body[4:]}-{_check_symbol(body)}"


def reference_normalise(text: str) -> str | None:
    """A reference as typed ("bw 7k3q-x9cd c", "BW7K3QX9CDC") in its canonical form, or None
    when it is not one (wrong length, characters outside the alphabet, the check fails)."""
    compact = re.sub(r"[\s\-_.]", "", text.upper()).translate(_CONFUSABLE)
    if not compact.startswith(PREFIX) or len(compact) != len(PREFIX) + 9:
        return None
    body, check = compact[2:10], compact[10]
    if any(ch not in ALPHABET for ch in body) or _check_symbol(body) != check:
        return None
    return f"{PREFIX}-{body[:4]}-{body[4:]}-{check}"


def references_in(text: str) -> list[str]:
    """Every valid reference found in free text (a payer's "deposit BW-7K3Q-X9CD-C thanks")."""
    found: list[str] = []
    for match in _TOKEN.finditer(text.upper().translate(_CONFUSABLE)):
        ref = reference_normalise(PREFIX + match.group(1))
        if ref is not None and ref not in found:
            found.append(ref)
    return found


@dataclass(frozen=True)
class ExpectedWire:
    """A deposit waiting for its wire (given by the deposit code)."""

    reference: str
    amount: Money
    merchant_ref: str
    payload: Any = None  # whatever the caller wants back (its deposit)


@dataclass(frozen=True)
class WireCandidate:
    expected: ExpectedWire
    how: str  # "exact": the reference as issued; "normalised": the same after case, spaces, confusables
    amount_matches: bool


def wire_candidates(*, reference_text: str, amount: Money, expected: Iterable[ExpectedWire]) -> list[WireCandidate]:
    """The deposits an incoming wire may be for, best first: the reference typed exactly, then the
    references found in the text once normalised (a valid check symbol is required, so a typo never
    lands on another client's deposit). Amount (and currency) agreement is reported, not required:
    finance decides on a short or long payment."""
    by_ref = {e.reference: e for e in expected}
    typed = reference_text.strip()
    out: list[WireCandidate] = []
    if typed in by_ref:
        e = by_ref[typed]
        out.append(WireCandidate(e, "exact", e.amount == amount))
    for ref in references_in(typed):
        e2 = by_ref.get(ref)
        if e2 is not None and all(c.expected is not e2 for c in out):
            out.append(WireCandidate(e2, "normalised", e2.amount == amount))
    out.sort(key=lambda c: (c.how != "exact", not c.amount_matches))
    return out


class BankWireProvider(PaymentProvider):
    """Deposits by wire transfer. ``settings``: beneficiary, iban, bic, bank_name, bank_address,
    reference_salt."""

    kind = "bank_wire"
    manual_payout = True  # finance sends the wire from the brand's bank and records its reference

    def create_deposit(self, request: DepositRequest) -> DepositStart:
        settings = self.config.settings
        reference = wire_reference(request.merchant_ref, salt=str(settings.get("reference_salt", self.config.code)))
        instructions = BankInstructions(
            reference=reference, amount=request.amount, beneficiary=str(settings.get("beneficiary", "")),
            iban=str(settings.get("iban", "")), bic=str(settings.get("bic", "")),
            bank_name=str(settings.get("bank_name", "")), bank_address=str(settings.get("bank_address", "")))
        return DepositStart(provider_ref=reference, instructions=instructions, outcome=Outcome.PENDING)

    def parse_settlement(self, data: bytes, filename: str) -> Iterator[SettlementLine]:
        raise ProviderUnsupported("A bank statement is read with a saved column mapping (settlement import).")
