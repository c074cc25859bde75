"""The identity slot's checks: a passport (TD3 MRZ), an identity card (TD1 MRZ on the back) or a
driving licence (its numbered fields: 1 surname, 2 given names, 3 birth date, 4a issue, 4b expiry,
5 number)."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils.translation import gettext_noop as _

from kyc.checks.countries import alpha2
from kyc.checks.inputs import Applicant, CheckPolicy, DocumentFile
from kyc.checks.kinds import other_kind_named, reads_well
from kyc.checks.legibility import legibility_check, page_reading
from kyc.checks.mrz import Mrz, find_mrz
from kyc.checks.ocr import Reading
from kyc.checks.report import CheckResult, OnFail, Outcome, Report, hinted
from matching.documents import match_document_name

IDENTITY_WORDS = ("PASSPORT", "PASSEPORT", "REISEPASS", "PASAPORTE", "PASSAPORTO", "IDENTITY", "IDENTITE",
                  "IDENTIDAD", "PERSONALAUSWEIS", "DRIVING", "DRIVER", "LICENCE", "LICENSE", "PERMIS", "CONDUIRE",
                  "FUHRERSCHEIN", "NATIONAL ID")
# The EU model licence's title in the member states' languages (written without diacritics, as the
# folded text is compared), and the English ones.
LICENCE_WORDS = ("DRIVING LICENCE", "DRIVING LICENSE", "DRIVER LICENSE", "DRIVER'S LICENSE", "PERMIS DE CONDUIRE",
                 "FUHRERSCHEIN", "PATENTE DI GUIDA", "PERMISO DE CONDUCCION", "PRAWO JAZDY", "RIJBEWIJS",
                 "CARTA DE CONDUCAO", "KORKORT", "KOREKORT", "AJOKORTTI", "CEADUNAS TIOMANA", "PERMIS DE CONDUCERE",
                 "RIDICSKY PRUKAZ", "VODICSKY PREUKAZ", "VEZETOI ENGEDELY", "VOZNISKO DOVOLJENJE", "VOZACKA DOZVOLA",
                 "JUHILUBA", "VADITAJA APLIECIBA", "VAIRUOTOJO PAZYMEJIMAS", "LICENZJA TAS-SEWQAN")
HINT_TYPE = _("Upload your passport, national identity card or driving licence.")
HINT_EXPIRED = _("This document has expired. Upload a valid passport, identity card or driving licence.")
HINT_COUNTRY = _("Documents issued by this country are not accepted. Upload a document issued by one of: %(list)s.")


@dataclass(frozen=True)
class Licence:
    surname: str
    given_names: str
    birth_date: date | None
    issue_date: date | None
    expiry_date: date | None
    number: str
    country: str


def _dmy(text: str) -> date | None:
    m = re.search(r"(\d{2})[./\-](\d{2})[./\-](\d{4})", text)
    if not m:
        return None
    try:
        return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        return None


def _fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    # A field's number starts the line or follows a space or a slash (4a. 15.04.2021/4b. 14.04.2031).
    pattern = re.compile(r"(?:^|[\s/])(1|2|3|4a|4b|4c|5)\s*[.,:]\s*(.*?)(?=[\s/](?:1|2|3|4a|4b|4c|5|9)\s*[.,:]|$)",
                         re.IGNORECASE)
    for line in text.splitlines():
        for m in pattern.finditer(line):
            out.setdefault(m.group(1).lower(), m.group(2).strip())
    return out


def _fold(text: str) -> str:
    """Capitals without diacritics (FÜHRERSCHEIN -> FUHRERSCHEIN, CONDUÇÃO -> CONDUCAO)."""
    text = text.upper().replace("ß", "SS").replace("Ł", "L")
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


# A small letter the recogniser puts inside a name printed in capitals is a capital it did not know:
# Ł (with its stroke) read as t (MAtGORZATA, PAWEt).
_SMALL_IN_CAPITALS = re.compile(r"(?<=[A-Z])t|t(?=[A-Z]{2})")


# A figure the recogniser puts inside a name printed in capitals is the letter it looks like: no name
# holds a figure (I0ANNOU for IOANNOU, N1COLAOU for NICOLAOU).
_FIGURE_IN_CAPITALS = {"0": re.compile(r"(?<=[A-Z])0|0(?=[A-Z])"), "1": re.compile(r"(?<=[A-Z])1|1(?=[A-Z])")}
_FIGURE_LETTER = {"0": "O", "1": "I"}


def _capitals(field: str) -> str:
    """A licence's name field with the recogniser's slips in capitals undone (see _SMALL_IN_CAPITALS
    and _FIGURE_IN_CAPITALS)."""
    if sum(ch.isupper() for ch in field) < 3 * sum(ch.islower() for ch in field):
        return field  # printed in mixed case: its small letters are letters
    field = _SMALL_IN_CAPITALS.sub("L", field)
    for figure, pattern in _FIGURE_IN_CAPITALS.items():
        field = pattern.sub(_FIGURE_LETTER[figure], field)
    return field


def _marked(word: str) -> list[int]:
    """Positions of the letters of `word` that carry a diacritic (Ç, Î, É, Ł, Ø, ß)."""
    return [i for i, ch in enumerate(word)
            if ch in "ßŁłØø" or any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", ch))]


def dropped_marks(document_words: str, registered: Sequence[str]) -> tuple[str, list[str]]:
    """A licence's name field with each word that is a registered word less some of its letters with a
    diacritic (FRANOIS for FRANÇOIS, LEMATRE for LEMAÎTRE: the recogniser drops a capital it does not
    know instead of reading it plain) given as that registered word; and the words so given. Only
    letters with a diacritic may be missing, never another letter, and at least one letter stays."""
    out, repaired = [], []
    for word in document_words.split():
        folded = _fold(word)
        given = word
        for reg in registered:
            marks = _marked(reg)[:4]
            if not marks:
                continue
            for k in range(1, 1 << len(marks)):
                drop = {m for j, m in enumerate(marks) if k >> j & 1}
                kept = "".join(ch for i, ch in enumerate(reg) if i not in drop)
                if kept and _fold(kept) == folded:
                    given = _fold(reg)
                    break
            if given != word:
                repaired.append(f"{word} for {given}")
                break
        out.append(given)
    return " ".join(out), repaired


def read_licence(reading: Reading) -> Licence | None:
    text = reading.text
    letters = re.sub(r"[^A-Z]", "", _fold(text))
    if not any(re.sub(r"[^A-Z]", "", w) in letters for w in LICENCE_WORDS):
        return None
    f = _fields(text)
    country = ""
    for row in reading.rows:
        if re.fullmatch(r"[A-Z]{3}|D|F|I|[A-Z]{2}", row.text.strip()):
            country = row.text.strip()
    return Licence(surname=_capitals(f.get("1", "")), given_names=_capitals(f.get("2", "")),
                   birth_date=_dmy(f.get("3", "")),
                   issue_date=_dmy(f.get("4a", "")), expiry_date=_dmy(f.get("4b", "")),
                   number=f.get("5", "").replace(" ", ""), country=country)


def _mrz_wanted(rows: Sequence[Any], applicant: Applicant | None = None) -> bool:
    """What a page of an identity document must give: an MRZ whose check digits hold, or a driving
    licence's fields (surname, birth and expiry dates, number) all read. With the applicant, an MRZ
    must also carry their name: the check digits do not cover the name line, whose letters the
    recogniser may drop (OLOMBO for COLOMBO) and which is then read again (kyc.checks.ocr: cleaned
    long lines). A document of another person is read to the end and its name still compared."""
    found = find_mrz([r.text for r in rows])
    if found and found.digits_valid:
        if applicant is None:
            return True
        return match_document_name(first_name=applicant.first_name, middle_name=applicant.middle_name,
                                   last_name=applicant.last_name, document_surname=found.surname,
                                   document_given_names=found.given_names,
                                   field_full=found.name_field_full).matched
    licence = read_licence(Reading(tuple(rows), 0, 1.0, len(rows), True))
    return bool(licence and licence.surname and licence.birth_date and licence.expiry_date and licence.number)


@dataclass(frozen=True)
class _DocumentFields:
    """What the identity document says about its holder, read from its MRZ or its licence fields."""

    surname: str = ""
    given_names: str = ""
    number: str = ""
    country: str = ""
    birth_date: date | None = None
    expiry_date: date | None = None
    name_field_full: bool = False  # the MRZ's name field is full: the name may be cut short
    licence: bool = False  # read from a driving licence's printed fields (no MRZ)


def check_identity(*, files: Sequence[DocumentFile], applicant: Applicant, policy: CheckPolicy,
                   as_of: date) -> Report:
    checks: list[CheckResult] = []
    readings, legible = _read_pages(files, checks, applicant)
    mrz, mrz_file, licence = _best_reads(readings)
    declared = files[0].kind if files else ""
    document = mrz_file or (files[0].upload.filename if files else "")
    facts: dict[str, Any] = {"document_type": "unknown", "declared_type": declared}

    type_check = _document_type_check(mrz, licence, readings, legible=legible, declared=declared,
                                      document=document, facts=facts)
    checks.append(type_check)
    if type_check.outcome == Outcome.FAIL:
        return Report(tuple(checks), facts=facts)

    fields = _document_fields(mrz, licence, files=files, document=document, as_of=as_of, checks=checks,
                              facts=facts)
    if mrz is None and licence is None:
        for name in ("document_expiry", "name_match", "birth_date_match", "issuing_country_allowed"):
            checks.append(CheckResult(name, Outcome.UNREADABLE, {"reason": "nothing was read to compare"}, document))
        return Report(tuple(checks), facts=facts)

    checks.append(_expiry_check(fields.expiry_date, as_of=as_of, policy=policy, document=document, facts=facts))
    checks.append(_name_check(fields, applicant=applicant, document=document))
    checks.append(_birth_date_check(fields.birth_date, applicant=applicant, document=document))
    checks.append(_country_check(fields.country, policy=policy, document=document))
    return Report(tuple(checks), facts=facts)


def _read_pages(files: Sequence[DocumentFile], checks: list[CheckResult],
                applicant: Applicant | None = None) -> tuple[list[tuple[DocumentFile, Reading]], bool]:
    """Every page of every file read, each page's legibility check added to `checks`; and whether
    every page was legible."""
    readings: list[tuple[DocumentFile, Reading]] = []
    legible = True
    enough = functools.partial(_mrz_wanted, applicant=applicant)
    for file in files:
        for page, reading in page_reading(file.upload, enough=enough):
            readings.append((file, reading))
            result = legibility_check(file.upload.filename, page, reading)
            legible = legible and result.passed
            checks.append(result)
    return readings, legible


def _best_reads(readings: Sequence[tuple[DocumentFile, Reading]]) -> tuple[Mrz | None, str, Licence | None]:
    """The best MRZ found (one whose check digits hold over one whose do not) with its file's
    name, and the first licence read."""
    mrz: Mrz | None = None
    mrz_file = ""
    licence: Licence | None = None
    for file, reading in readings:
        found = find_mrz([r.text for r in reading.rows])
        if found and (mrz is None or (found.digits_valid and not mrz.digits_valid)):
            mrz, mrz_file = found, file.upload.filename
        if licence is None:
            licence = read_licence(reading)
    return mrz, mrz_file, licence


def _document_type_check(mrz: Mrz | None, licence: Licence | None, readings: Sequence[tuple[DocumentFile, Reading]],
                         *, legible: bool, declared: str, document: str, facts: dict[str, Any]) -> CheckResult:
    """An identity document (pass); nothing could be read (unreadable); or the text names another
    kind of document (fail: the client is asked for an identity document)."""
    all_text = " ".join(r.text for _, r in readings).upper()
    other = other_kind_named(all_text, slot="identity")
    detected = mrz.document_type if mrz else ("driving_licence" if licence else "unknown")
    facts["document_type"] = detected
    evidence: dict[str, Any] = {"declared": declared, "detected": detected, "allowed": ["passport", "id_card",
                                                                                       "driving_licence"]}
    if detected in ("passport", "id_card", "driving_licence"):
        return CheckResult("document_type", Outcome.PASS, evidence, document)
    if any(w in all_text for w in IDENTITY_WORDS) or not legible or not other or \
            not reads_well(row for _, r in readings for row in r.rows):
        evidence["reason"] = "no machine-readable zone or licence fields could be read"
        return CheckResult("document_type", Outcome.UNREADABLE, evidence, document)
    evidence["reason"] = "not an identity document: no machine-readable zone, and the text names another kind"
    evidence["named"] = other
    return CheckResult("document_type", Outcome.FAIL, evidence, document, OnFail.REJECT, HINT_TYPE)


def _document_fields(mrz: Mrz | None, licence: Licence | None, *, files: Sequence[DocumentFile], document: str,
                     as_of: date, checks: list[CheckResult], facts: dict[str, Any]) -> _DocumentFields:
    """The holder's details from the MRZ (its checks added to `checks`) or, without one, from the
    licence's fields; recorded in `facts`."""
    fields = _DocumentFields()
    if mrz is not None or licence is None:
        if mrz is None:
            checks.append(CheckResult("mrz_found", Outcome.UNREADABLE,
                                      {"reason": "no machine-readable zone could be read", "files": len(files)},
                                      document))
        else:
            checks.append(CheckResult("mrz_found", Outcome.PASS, {"format": mrz.format, "lines": list(mrz.lines)},
                                      document))
            bad = [d for d in mrz.digits.values() if not d["valid"]]
            checks.append(CheckResult("mrz_check_digits", Outcome.FAIL if bad else Outcome.PASS,
                                      {"digits": list(mrz.digits.values()), "invalid": [d["field"] for d in bad]},
                                      document))
            fields = _DocumentFields(surname=mrz.surname, given_names=mrz.given_names, number=mrz.document_number,
                                     country=mrz.issuing_country, birth_date=mrz.birth_date(as_of),
                                     expiry_date=mrz.expiry_date(as_of), name_field_full=mrz.name_field_full)
            facts.update({"nationality": mrz.nationality, "sex": mrz.sex})
    else:
        got = {"surname": bool(licence.surname), "birth_date": bool(licence.birth_date),
               "expiry_date": bool(licence.expiry_date), "number": bool(licence.number)}
        checks.append(CheckResult("licence_fields_read", Outcome.PASS if all(got.values()) else Outcome.UNREADABLE,
                                  {"read": got}, document))
        fields = _DocumentFields(surname=licence.surname, given_names=licence.given_names, number=licence.number,
                                 country=licence.country, birth_date=licence.birth_date,
                                 expiry_date=licence.expiry_date, licence=True)
        if licence.issue_date:
            facts["issue_date"] = licence.issue_date.isoformat()
    birth, expiry = fields.birth_date, fields.expiry_date
    facts.update({"document_number": fields.number, "issuing_country": fields.country, "surname": fields.surname,
                  "given_names": fields.given_names, "birth_date": birth.isoformat() if birth else None,
                  "expiry_date": expiry.isoformat() if expiry else None})
    return fields


def _expiry_check(expiry: date | None, *, as_of: date, policy: CheckPolicy, document: str,
                  facts: dict[str, Any]) -> CheckResult:
    """The document is still valid on `as_of` (a warning in `facts` when it expires soon)."""
    if expiry is None:
        return CheckResult("document_expiry", Outcome.UNREADABLE, {"reason": "expiry date not read"}, document)
    if expiry < as_of:
        return CheckResult("document_expiry", Outcome.FAIL,
                           {"expiry_date": expiry.isoformat(), "as_of": as_of.isoformat(),
                            "days_left": (expiry - as_of).days}, document, OnFail.REJECT, HINT_EXPIRED)
    days = (expiry - as_of).days
    ev: dict[str, Any] = {"expiry_date": expiry.isoformat(), "as_of": as_of.isoformat(), "days_left": days,
                          "expires_soon": days <= policy.expiry_warning_days}
    if ev["expires_soon"]:
        ev["warning"] = f"expires within {policy.expiry_warning_days} days"
        facts.setdefault("warnings", []).append("document_expires_soon")
    return CheckResult("document_expiry", Outcome.PASS, ev, document)


def _name_check(fields: _DocumentFields, *, applicant: Applicant, document: str) -> CheckResult:
    """The name on the document is the registered one."""
    surname, given_names, repaired = fields.surname, fields.given_names, []
    match = match_document_name(first_name=applicant.first_name, middle_name=applicant.middle_name,
                                last_name=applicant.last_name, document_surname=surname,
                                document_given_names=given_names, field_full=fields.name_field_full)
    if not match.matched and fields.licence:
        # A licence's capitals read without the letters with a diacritic that the recogniser dropped:
        # compared again with each such word given as the registered word it is short of.
        registered = " ".join((applicant.first_name, applicant.middle_name, applicant.last_name)).split()
        surname, lost_s = dropped_marks(fields.surname, registered)
        given_names, lost_g = dropped_marks(fields.given_names, registered)
        repaired = lost_s + lost_g
        if repaired:
            match = match_document_name(first_name=applicant.first_name, middle_name=applicant.middle_name,
                                        last_name=applicant.last_name, document_surname=surname,
                                        document_given_names=given_names, field_full=False)
    evidence = {"registered": " ".join(p for p in (applicant.first_name, applicant.middle_name,
                                                    applicant.last_name) if p),
                "document_surname": fields.surname, "document_given_names": fields.given_names,
                "field_truncated": fields.name_field_full, **match.as_evidence()}
    if repaired:
        evidence["letters_with_diacritics_dropped"] = repaired
    return CheckResult("name_match", Outcome.PASS if match.matched else Outcome.FAIL, evidence, document)


def _birth_date_check(birth: date | None, *, applicant: Applicant, document: str) -> CheckResult:
    """The birth date on the document is the registered one."""
    if birth is None:
        return CheckResult("birth_date_match", Outcome.UNREADABLE, {"reason": "birth date not read"}, document)
    if applicant.date_of_birth is None:
        return CheckResult("birth_date_match", Outcome.UNREADABLE,
                           {"reason": "no birth date registered", "document": birth.isoformat()}, document)
    same = birth == applicant.date_of_birth
    return CheckResult("birth_date_match", Outcome.PASS if same else Outcome.FAIL,
                       {"registered": applicant.date_of_birth.isoformat(), "document": birth.isoformat()}, document)


def _country_check(country: str, *, policy: CheckPolicy, document: str) -> CheckResult:
    """The document was issued by a country the brand accepts (any, when it names none)."""
    code = alpha2(country)
    allowed = sorted(policy.allowed_issuing_countries)
    ev: dict[str, Any] = {"issuing_country": country, "alpha2": code, "allowed": allowed or "any"}
    if not allowed:
        return CheckResult("issuing_country_allowed", Outcome.PASS, ev, document)
    if not country:
        return CheckResult("issuing_country_allowed", Outcome.UNREADABLE, ev, document)
    if code in policy.allowed_issuing_countries:
        return CheckResult("issuing_country_allowed", Outcome.PASS, ev, document)
    ev, hint = hinted(ev, HINT_COUNTRY, list=", ".join(allowed))
    return CheckResult("issuing_country_allowed", Outcome.FAIL, ev, document, OnFail.REJECT, hint)
