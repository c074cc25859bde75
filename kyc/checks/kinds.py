"""When may `document_type` reject? Only when the text was read well (enough confidently recognised
lines) and clearly names another kind of document. A page OCR could not make sense of is
`unreadable` (a person looks at it), never "the wrong kind": a valid passport read upside down or a
faint bill must not be refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from kyc.checks.ocr import Row

IDENTITY_NAMES = ("PASSPORT", "PASSEPORT", "REISEPASS", "PASAPORTE", "PASSAPORTO", "IDENTITY CARD", "IDENTITY",
                  "IDENTITE", "IDENTIDAD", "PERSONALAUSWEIS", "NATIONAL ID", "DRIVING LICENCE", "DRIVING LICENSE",
                  "DRIVER LICENSE", "DRIVER'S LICENSE", "PERMIS DE CONDUIRE", "FUHRERSCHEIN", "RESIDENCE PERMIT")
ADDRESS_NAMES = ("UTILITY BILL", "ELECTRICITY", "GAS BILL", "WATER BILL", "COUNCIL TAX", "BANK STATEMENT",
                 "ACCOUNT STATEMENT", "IBAN", "SORT CODE", "INVOICE", "METER READING", "RECHNUNG", "KONTOAUSZUG",
                 "FACTURE", "FACTURA", "BOLLETTA", "FACTUUR", "FATURA", "FAKTURA", "EXTRACTO", "ESTRATTO CONTO",
                 "REKENINGAFSCHRIFT", "EXTRATO", "EXTRAS DE CONT", "FATTURA", "RELEVE DE COMPTE", "WYCIAG",
                 "EXTRACTO DE CUENTA", "BANKAFSCHRIFT", "EXTRATO DE CONTA")
OTHER_NAMES = ("LIBRARY", "LIBRARY CARD", "MEMBERSHIP CARD", "MEMBER CARD", "MEMBERS ONLY", "LOYALTY CARD",
               "STUDENT CARD", "GIFT CARD", "BOARDING PASS", "BUSINESS CARD", "TICKET", "PAYSLIP", "RECEIPT")

# A page reads well when this many of its lines were recognised with this confidence...
CONFIDENT_SCORE = 0.85
CONFIDENT_LINES = 5
# ...and they make up this share of the lines recognised.
CONFIDENT_SHARE = 0.6


def reads_well(rows: Iterable[Row]) -> bool:
    """Enough text was recognised with confidence to say what the page is."""
    rows = list(rows)
    confident = [r for r in rows if r.score >= CONFIDENT_SCORE and sum(ch.isalpha() for ch in r.text) >= 3]
    return len(confident) >= CONFIDENT_LINES and len(confident) >= CONFIDENT_SHARE * len(rows)


def _named(text: str, names: Sequence[str]) -> list[str]:
    # OCR often drops the spaces between words ("CITYPUBLICLIBRARY"): compared without them.
    # Diacritics are dropped first (RELEVÉ -> RELEVE, WYCIĄG -> WYCIAG), as the names are written.
    folded = unicodedata.normalize("NFD", text.upper().replace("Ł", "L"))
    compact = re.sub(r"[^A-Z]", "", "".join(ch for ch in folded if not unicodedata.combining(ch)))
    return [n for n in names if re.sub(r"[^A-Z]", "", n) in compact]


def other_kind_named(text: str, *, slot: str) -> list[str]:
    """The names of documents not accepted in the slot that the text carries ([] when none, or when
    it also names a kind the slot accepts)."""
    accepted, refused = (IDENTITY_NAMES, ADDRESS_NAMES + OTHER_NAMES) if slot == "identity" else \
        (ADDRESS_NAMES, IDENTITY_NAMES + OTHER_NAMES)
    if _named(text, accepted):
        return []
    return _named(text, refused)
