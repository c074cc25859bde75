"""The proof-of-address slot's checks: a utility bill or a bank statement, as a PDF with a text layer
(read as it is) or a scan/photo (OCR). Its issue date must be within the brand's limit, and the
client's name and address must be on it."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from django.utils.translation import gettext_noop as _

from kyc.checks.images import pages
from kyc.checks.inputs import Applicant, CheckPolicy, DocumentFile
from kyc.checks.kinds import other_kind_named, reads_well
from kyc.checks.legibility import legibility_check
from kyc.checks.ocr import Row, read_page
from kyc.checks.report import CheckResult, OnFail, Outcome, Report, hinted
from matching.addresses import address_compare
from matching.documents import names_in_text

UTILITY_WORDS = ("ELECTRICITY", "GAS", "WATER", "ENERGY", "POWER", "TELEPHONE", "BROADBAND", "INTERNET",
                 "COUNCIL TAX", "UTILITY", "BILL", "INVOICE", "METER",
                 # the same in the languages of the brand's countries (written without diacritics)
                 "RECHNUNG", "STROM", "STROMRECHNUNG", "ENERGIE", "FACTURE", "ELECTRICITE", "FACTURA",
                 "ELECTRICIDAD", "ENERGIA", "BOLLETTA", "LUCE", "FACTUUR", "ENERGIEREKENING",
                 "FATURA", "ELETRICIDADE", "ENERGIE ELECTRICA", "FAKTURA", "ENERGIA ELEKTRYCZNA", "GAZ",
                 # a bill's title and its services (water, gas, electricity, heating, telephone) by language
                 "FATTURA", "ELETTRICITA", "ACQUA", "SERVIZIO IDRICO", "IDRICO", "TELEFONO", "WASSER",
                 "WASSERRECHNUNG", "GASRECHNUNG", "ABRECHNUNG", "NEBENKOSTEN", "HEIZUNG", "EAU", "FACTURE D'EAU",
                 "CHAUFFAGE", "AGUA", "SUMINISTRO", "ELEKTRICITEIT", "WATERBEDRIJF", "GAS EN LICHT",
                 "AGUAS", "WODA", "WODOCIAGI", "OGRZEWANIE", "RACHUNEK", "GAZE", "APA",
                 "AMOUNT DUE", "TOTAL DUE", "TOTALE DA PAGARE", "MONTANT A PAYER", "TOTAL A PAGAR",
                 "TE BETALEN", "DO ZAPLATY", "RECHNUNGSBETRAG",
                 # Nordic, Finnish and Czech
                 "ELRAKNING", "ELRAKNINGEN", "ELREGNING", "STROMREGNING", "REGNING", "VATTEN", "VAND", "VANN",
                 "FJARRVARME", "FJERNVARME", "ATT BETALA", "AT BETALE", "A BETALE", "LASKU", "SAHKO", "SAHKOLASKU",
                 "VESI", "MAKSETTAVA", "FAKTURA ZA ELEKTRINU", "ELEKTRINA", "VODA", "K UHRADE")
BANK_WORDS = ("BANK", "STATEMENT", "IBAN", "BALANCE", "SORT CODE", "ACCOUNT STATEMENT", "STATEMENT OF ACCOUNT",
              "KONTOAUSZUG", "SPARKASSE", "BANQUE", "RELEVE DE COMPTE", "BANCO", "EXTRACTO", "BANCA",
              "ESTRATTO CONTO", "REKENINGAFSCHRIFT", "EXTRATO", "EXTRAS DE CONT", "WYCIAG", "RACHUNKU", "SALDO",
              # a statement's title and its words by language
              "RELEVE", "RELEVE BANCAIRE", "COMPTE", "KONTOSTAND", "KONTONUMMER", "ESTRATTO", "CONTO CORRENTE",
              "EXTRACTO DE CUENTA", "CUENTA", "MOVIMIENTOS", "BANKAFSCHRIFT", "AFSCHRIFT", "REKENING", "EXTRATO DE CONTA",
              "MOVIMENTOS", "NUMER RACHUNKU", "WYCIAG BANKOWY", "SWIFT",
              "OPENING BALANCE", "CLOSING BALANCE", "ANFANGSSALDO", "ENDSALDO", "SOLDE", "SALDO INICIAL", "SALDO FINAL",
              # the Nordic, Finnish, Czech and Greek (Latin letters) titles and words
              "KONTOUTDRAG", "KONTOUDTOG", "KONTOUTSKRIFT", "TILIOTE", "KONTO", "KONTONUMMER", "TILINUMERO",
              "VYPIS Z UCTU", "VYPIS", "ZUSTATEK", "KIVOTIO", "LOGARIASMOS", "YPOLOIPO")
# The issue date's label, most specific first; matched as whole words on the folded text.
ISSUE_LABELS = ("BILL DATE", "STATEMENT DATE", "DATE OF ISSUE", "ISSUE DATE", "INVOICE DATE", "ISSUED",
                "RECHNUNGSDATUM", "AUSSTELLUNGSDATUM", "DATE DE FACTURE", "DATE DU RELEVE", "DATE D'EMISSION",
                "FECHA DE EMISION", "FECHA DE FACTURA", "FECHA DEL EXTRACTO", "DATA EMISSIONE",
                "DATA DI EMISSIONE", "DATA ESTRATTO", "FACTUURDATUM", "DATUM AFSCHRIFT", "DATA DE EMISSAO",
                "DATA DO EXTRATO", "DATA FACTURII", "DATA EMITERII", "DATA EXTRASULUI", "DATA WYSTAWIENIA",
                "DATA WYCIAGU", "ERSTELLT AM", "UTSKRIFTSDATUM", "FAKTURADATUM", "FAKTURADATO", "UDSTEDELSESDATO",
                "UTSTEDT", "LASKUN PAIVAYS", "PAIVAYS", "DATUM VYSTAVENI", "DATUM", "FECHA", "DATA", "DATE")
HINT_TYPE = _("Upload a utility bill or a bank statement showing your name and address.")
HINT_OLD = _("This document is older than %(days)s days. Upload a utility bill or bank statement issued in the "
             "last %(days)s days.")

# Month names in the languages of the brand's countries, written without diacritics (as folded text
# is): English, German, French, Spanish, Italian, Dutch, Portuguese, Romanian, Polish (the genitive a
# date uses, and the nominative).
_MONTH_NAMES = (
    "JANUARY JANUAR JANVIER ENERO GENNAIO JANUARI JANEIRO IANUARIE STYCZNIA STYCZEN",
    "FEBRUARY FEBRUAR FEVRIER FEBRERO FEBBRAIO FEBRUARI FEVEREIRO FEBRUARIE LUTEGO LUTY",
    "MARCH MARZ MAERZ MARS MARZO MAART MARCO MARTIE MARCA MARZEC",
    "APRIL AVRIL ABRIL APRILE APRILIE KWIETNIA KWIECIEN",
    "MAY MAI MAYO MAGGIO MEI MAIO MAJA MAJ",
    "JUNE JUNI JUIN JUNIO GIUGNO JUNHO IUNIE CZERWCA CZERWIEC",
    "JULY JULI JUILLET JULIO LUGLIO JULHO IULIE LIPCA LIPIEC",
    "AUGUST AOUT AGOSTO AUGUSTUS SIERPNIA SIERPIEN",
    "SEPTEMBER SEPTEMBRE SEPTIEMBRE SETTEMBRE SETEMBRO SEPTEMBRIE WRZESNIA WRZESIEN",
    "OCTOBER OKTOBER OCTOBRE OCTUBRE OTTOBRE OUTUBRO OCTOMBRIE PAZDZIERNIKA PAZDZIERNIK",
    "NOVEMBER NOVEMBRE NOVIEMBRE NOVEMBRO NOIEMBRIE LISTOPADA LISTOPAD",
    "DECEMBER DEZEMBER DECEMBRE DICIEMBRE DICEMBRE DEZEMBRO DECEMBRIE GRUDNIA GRUDZIEN",
)


def _month_stems() -> dict[str, int]:
    """Every month name, and every start of one (3 letters or more) that no other month's name shares:
    abbreviations (MRZ, SEPT., JANV.) and names OCR cut short are read as their month."""
    names = {name: i + 1 for i, line in enumerate(_MONTH_NAMES) for name in line.split()}
    stems: dict[str, set[int]] = {}
    for name, month in names.items():
        for end in range(3, len(name) + 1):
            stems.setdefault(name[:end], set()).add(month)
    out = {stem: months.pop() for stem, months in stems.items() if len(months) == 1}
    out.update(names)
    out["MRZ"] = 3
    return out


MONTHS = _month_stems()
_LONGEST_MONTH = max(len(m) for m in MONTHS)

_DATE_PATTERNS = (
    re.compile(r"\b(\d{1,2})\s*[./\-]\s*(\d{1,2})\s*[./\-]\s*(\d{4})\b"),  # 14/03/2025, 14.03.2025, 14-03-2025
    re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"),  # 2025-03-14
    # 14 March 2025, 14. Marz 2025, 14 de marzo de 2025, 14-MAR-2025 (OCR may drop the spaces)
    re.compile(r"\b(\d{1,2})\s*[.\-]?\s*(?:DE\s+)?([A-Z]{3,})\.?\s*(?:DE\s+)?[,\-]?\s*(\d{4})\b"),
    re.compile(r"\b([A-Z]{3,})\.?\s*(\d{1,2}),?\s*(\d{4})\b"),  # March 14, 2025
)


def fold(text: str) -> str:
    """The text in capitals without diacritics (März -> MARZ, Émission -> EMISSION, ß -> SS), one
    character for each (ß aside), as month names and labels are compared."""
    import unicodedata

    text = text.upper().replace("ß", "SS").replace("ẞ", "SS").replace("Ł", "L")
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def month_number(word: str) -> int | None:
    """The month a word names in one of the languages (a full name, a start of one only it has, or an
    abbreviation), or None. A word run into what follows it (MARZODE, OCR dropping a space) is read
    by its longest start that names a month; a leading DE (14 DEMARZO) is skipped."""
    word = fold(word)
    for candidate in (word, word[2:] if word.startswith("DE") else ""):
        for end in range(min(len(candidate), _LONGEST_MONTH), 2, -1):
            if candidate[:end] in MONTHS:
                return MONTHS[candidate[:end]]
    return None


def dates_in(text: str) -> list[tuple[int, date]]:
    """Every date in the (folded) text with its position: day-month-year in figures, ISO, and with the
    month's name in any of the languages, day first or (English) month first."""
    found: list[tuple[int, date]] = []
    seen: set[int] = set()
    for index, pattern in enumerate(_DATE_PATTERNS):
        for m in pattern.finditer(text):
            a, b, c = m.groups()
            month: int | None
            try:
                if index == 0:
                    d = date(int(c), int(b), int(a))
                elif index == 1:
                    d = date(int(a), int(b), int(c))
                elif index == 2:
                    if (month := month_number(b)) is None:
                        continue
                    d = date(int(c), month, int(a))
                else:
                    if (month := month_number(a)) is None:
                        continue
                    d = date(int(c), month, int(b))
            except ValueError:
                continue
            if m.start() not in seen:
                seen.add(m.start())
                found.append((m.start(), d))
    return sorted(found)


# Letters OCR takes for figures and the other way round (an accented Ó read as 6, I as 1, S as 5).
_OCR_ALIKE = {"O": "O06Q", "I": "I1L", "L": "L1I", "S": "S5", "B": "B8", "Z": "Z2", "G": "G6", "E": "E3"}


@functools.cache
def _label_pattern(label: str) -> re.Pattern[str]:
    """A label as OCR may give it: its spaces dropped, a letter read as a look-alike figure."""
    parts = [r"\s*" if c == " " else f"[{_OCR_ALIKE[c]}]" if c in _OCR_ALIKE else re.escape(c) for c in label]
    return re.compile(r"(?<![A-Z])" + "".join(parts) + r"\s*[:.]?\s*")


# Labels of the dates that come after the issue date (due, charge, payment): never taken as the
# issue date when no issue label is read.
LATER_LABELS = ("DUE", "PAYMENT DUE", "PAY BY", "FALLIG", "ZAHLBAR BIS", "ABBUCHUNG", "ECHEANCE", "PRELEVEMENT",
                "VENCIMIENTO", "FECHA DE CARGO", "CARGO", "SCADENZA", "ADDEBITO", "VERVALDATUM", "INCASSO",
                "VENCIMENTO", "DEBITO", "SCADENTA", "TERMIN PLATNOSCI", "TERMIN")


def issue_date(text: str, as_of: date) -> tuple[date | None, str]:
    """The document's issue date: the one after an issue label (Bill date, Rechnungsdatum, Date de
    facture...), however OCR spaced or misread it; else the latest date not in the future (a due date
    is later than the issue date) that no due, charge or payment label names."""
    upper = fold(text)
    all_dates = dates_in(upper)
    for label in ISSUE_LABELS:
        for m in _label_pattern(label).finditer(upper):
            after = [d for pos, d in all_dates if m.end() <= pos <= m.end() + 3]
            if after:
                return after[0], label.lower()
    later = {pos for label in LATER_LABELS for m in _label_pattern(label).finditer(upper)
             for pos, _ in all_dates if m.end() <= pos <= m.end() + 3}
    past = [d for pos, d in all_dates if d <= as_of and pos not in later]
    return (max(past), "latest date") if past else (None, "")


# OCR of a street line that lost its spaces runs the house number into the street's name and reads its
# leading 1 as a small l or a capital I (AvenidadelaConstitucionl40 for "... Constitución 140"): the
# number is cut off the name and its 1 put back. Only an OCR'd text is read so.
_RUN_IN_NUMBER = re.compile(r"\b([^\W\d_]{3,}?)([lI]\d{1,3}|\d{1,4})\b")
_ONE_READ_AS_L = re.compile(r"\b[lI](?=\d{1,3}\b)")


def ocr_numbers(text: str) -> str:
    """An OCR'd text with house numbers cut off the words they were run into and their 1 read as l or
    I put back (see _RUN_IN_NUMBER)."""
    return _ONE_READ_AS_L.sub("1", _RUN_IN_NUMBER.sub(r"\1 \2", text))


_ESZETT_READ_AS_B = re.compile(r"(?<=[a-zäöü])B(?![A-Z])")


def _short_of_marks(word: str) -> set[str]:
    """`word` folded less one or more of its letters with a diacritic (MALM for Malmö), at least three
    letters kept: how the recogniser reads a word whose marked capital or small letter it does not know
    (it drops the letter rather than read it plain)."""
    marks = [i for i, ch in enumerate(word)
             if ch in "ßŁłØø" or any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", ch))][:4]
    out = set()
    for k in range(1, 1 << len(marks)):
        drop = {m for j, m in enumerate(marks) if k >> j & 1}
        kept = fold("".join(ch for i, ch in enumerate(word) if i not in drop))
        if len(kept) >= 3:
            out.add(kept)
    return out


def ocr_address(text: str, registered: str) -> str:
    """An OCR'd text as the address is compared in it: house numbers put back (ocr_numbers), for a
    registered address with a ß, the B that OCR reads for it (HauptstraBe) made a ß again, and a word
    read without the letters with a diacritic that the recogniser dropped (Malm for Malmö) given as the
    registered word (only such letters may be missing)."""
    text = ocr_numbers(text)
    if "ß" in registered:
        text = _ESZETT_READ_AS_B.sub("ß", text)
    return marks_restored(text, registered)


def marks_restored(text: str, registered: str) -> str:
    """An OCR'd text with each word that is a word of `registered` less some of its letters with a
    diacritic (see _short_of_marks) given as that word."""
    short = {v: word for word in re.findall(r"[^\W\d_]+", registered) for v in _short_of_marks(word)}
    if not short:
        return text
    return re.sub(r"[^\W\d_]+", lambda m: short.get(fold(m.group(0)), m.group(0)), text)


def address_match(registered: str, text: str, *, country: str = "") -> dict[str, Any]:
    """The registered address on the document (matching.addresses): the evidence, with "matched"."""
    return address_compare(registered, text, country=country).as_evidence(registered)


def detect_kind(text: str) -> str:
    upper = fold(text)
    letters = re.sub(r"[^A-Z]", "", upper)  # "ELECTRICITYANDGASBILL": OCR dropped the spaces
    bank = sum(1 for w in BANK_WORDS if w in upper or w.replace(" ", "") in letters)
    utility = sum(1 for w in UTILITY_WORDS if re.search(r"\b" + w + r"\b", upper)
                  or (len(w) >= 4 and w.replace(" ", "") in letters))
    if bank >= 2 and bank >= utility:
        return "bank_statement"
    if utility >= 2:
        return "utility_bill"
    return "unknown"


def check_address(*, files: Sequence[DocumentFile], applicant: Applicant, policy: CheckPolicy,
                  as_of: date) -> Report:
    checks: list[CheckResult] = []
    texts: list[str] = []
    legible = True
    source = "ocr"
    rows: list[Row] = []
    for file in files:
        for page in pages(file.upload):
            if len(page.text_layer) >= 40:
                texts.append(page.text_layer)
                source = "text_layer"
                continue
            reading = read_page(page.image)
            result = legibility_check(file.upload.filename, page, reading)
            legible = legible and result.passed
            checks.append(result)
            texts.append(reading.text)
            rows.extend(reading.rows)
    text = "\n".join(texts)
    document = files[0].upload.filename if files else ""
    declared = files[0].kind if files else ""
    kind = detect_kind(text)
    facts: dict[str, Any] = {"document_type": kind, "declared_type": declared, "text_source": source}
    ev: dict[str, Any] = {"declared": declared, "detected": kind, "allowed": ["utility_bill", "bank_statement"]}
    if kind != "unknown":
        checks.append(CheckResult("document_type", Outcome.PASS, ev, document))
    elif not legible or len(text.split()) < 8 or not (other := other_kind_named(text, slot="address")) or \
            (source == "ocr" and not reads_well(rows)):
        checks.append(CheckResult("document_type", Outcome.UNREADABLE, ev, document))
    else:
        ev["named"] = other
        checks.append(CheckResult("document_type", Outcome.FAIL, ev, document, OnFail.REJECT, HINT_TYPE))
        return Report(tuple(checks), facts=facts)

    issued, how = issue_date(text, as_of)
    limit = as_of - timedelta(days=policy.poa_max_age_days)
    if issued is None:
        checks.append(CheckResult("document_date", Outcome.UNREADABLE, {"reason": "no date read"}, document))
    else:
        facts["issue_date"] = issued.isoformat()
        ev = {"issue_date": issued.isoformat(), "read_from": how, "age_days": (as_of - issued).days,
              "max_age_days": policy.poa_max_age_days, "as_of": as_of.isoformat()}
        if issued < limit:
            ev, hint = hinted(ev, HINT_OLD, days=policy.poa_max_age_days)
            checks.append(CheckResult("document_date", Outcome.FAIL, ev, document, OnFail.REJECT, hint))
        elif issued > as_of:
            checks.append(CheckResult("document_date", Outcome.FAIL, {**ev, "reason": "dated in the future"},
                                      document))
        else:
            checks.append(CheckResult("document_date", Outcome.PASS, ev, document))

    registered_name = " ".join((applicant.first_name, applicant.middle_name, applicant.last_name))
    named = names_in_text(marks_restored(text, registered_name) if source == "ocr" else text,
                          first_name=applicant.first_name, middle_name=applicant.middle_name,
                          last_name=applicant.last_name)
    checks.append(CheckResult("name_match", Outcome.PASS if named.matched else Outcome.FAIL,
                              {"registered": " ".join(p for p in (applicant.first_name, applicant.middle_name,
                                                                   applicant.last_name) if p),
                               "found": named.how, **named.as_evidence()}, document))
    if not applicant.address.strip():
        checks.append(CheckResult("address_match", Outcome.UNREADABLE, {"reason": "no address registered"}, document))
    else:
        am = address_match(applicant.address, ocr_address(text, applicant.address) if source == "ocr" else text,
                           country=applicant.country)
        checks.append(CheckResult("address_match", Outcome.PASS if am["matched"] else Outcome.FAIL, am, document))
    return Report(tuple(checks), facts=facts)
