"""`document_type` refuses a document only when its text reads well and names another kind of
document; a page the OCR could not make sense of goes to a person (unreadable), never "wrong type"."""

from __future__ import annotations

from PIL import Image, ImageDraw

from kyc.checks import DocumentFile, Outcome, check_documents
from kyc.checks.kinds import other_kind_named, reads_well
from kyc.checks.ocr import Line, Row
from kyc.uploads import upload_validate
from tests.kyc import docgen

NONSENSE = ["VORTEL KASMIR QUANDO", "Plenti arbo sukor melvi", "TRASKO 4417 VEMBRA", "Olvina durset kramp",
            "Hestro palvy monure", "Quibble frantic moss", "ZENTRO LUVIA 22", "Morsel tandy crewe"]


def _page(lines: list[str]) -> bytes:
    img = Image.new("RGB", (1240, 1754), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        d.text((100, 100 + i * 70), line, font=docgen.font(36), fill=(20, 20, 20))
    return docgen.encode(img, "png")


def _row(text: str, score: float) -> Row:
    return Row((Line(text, score, ((0, 0), (100, 0), (100, 20), (0, 20))),))


def test_other_kind_named_only_when_no_accepted_kind_is_named():
    assert other_kind_named("CITY PUBLIC LIBRARY\nLibrary card - members only", slot="identity") == \
        ["LIBRARY", "LIBRARY CARD", "MEMBERS ONLY"]
    assert other_kind_named("PASSPORT PASSEPORT\nLIBRARY", slot="identity") == []
    assert other_kind_named("Quibble frantic moss", slot="identity") == []
    assert other_kind_named("PASSPORT  P UTO L898902C3", slot="address") == ["PASSPORT"]
    assert other_kind_named("Electricity and gas bill\nPASSPORT", slot="address") == []
    # Names written with their diacritics are known as well.
    assert other_kind_named("Relevé de compte\nSolde 1 204,33 EUR", slot="identity") == ["RELEVE DE COMPTE"]
    assert other_kind_named("Wyciąg z rachunku", slot="identity") == ["WYCIAG"]


def test_reads_well_wants_enough_confident_lines():
    assert reads_well([_row(t, 0.95) for t in NONSENSE])
    assert not reads_well([_row(t, 0.95) for t in NONSENSE[:3]])
    assert not reads_well([_row(t, 0.6) for t in NONSENSE])
    assert not reads_well([_row("1234", 0.99)] * 8)


def test_a_legible_page_naming_no_document_kind_goes_to_review_in_both_slots():
    applicant = docgen.applicant_for(docgen.ANNA)
    data = _page(NONSENSE)
    for slot, kind in (("identity", "passport"), ("address", "utility_bill")):
        report = check_documents(slot=slot, files=[DocumentFile(upload_validate(data, filename="p.png"), kind)],
                                 applicant=applicant, policy=docgen.CheckPolicy(), as_of=docgen.AS_OF)
        checks = {c.name: c for c in report.checks}
        assert checks["legibility"].outcome is Outcome.PASS, report.as_dict()
        assert checks["document_type"].outcome is Outcome.UNREADABLE, report.as_dict()
        assert str(report.decision) == "review"


def test_a_driving_licence_is_known_by_its_title_in_the_issuers_language():
    from kyc.checks.identity import read_licence
    from kyc.checks.ocr import Reading

    def reading(*texts: str) -> Reading:
        return Reading(tuple(_row(t, 0.97) for t in texts), 0, 1.0, len(texts), True)

    polish = read_licence(reading("PRAWO JAZDY", "PL", "1.WÓJCIK", "2.WOJCIECH", "3.02.12.1966 WARSZAWA",
                                  "4a.03.07.2025", "4b.04.07.2035", "5.722384123"))
    assert polish is not None and (polish.surname, polish.given_names) == ("WÓJCIK", "WOJCIECH")
    assert str(polish.birth_date) == "1966-12-02" and str(polish.expiry_date) == "2035-07-04"
    assert read_licence(reading("FÜHRERSCHEIN", "1. MÜLLER", "3. 04.04.1952")) is not None
    assert read_licence(reading("CARTA DE CONDUÇÃO", "1. ARAÚJO")) is not None
    assert read_licence(reading("CITY PUBLIC LIBRARY", "1. MEMBER")) is None


def test_a_small_letter_read_inside_a_licence_name_in_capitals_is_the_capital_l_it_stands_for():
    from kyc.checks.identity import read_licence
    from kyc.checks.ocr import Reading

    def reading(*texts: str) -> Reading:
        return Reading(tuple(_row(t, 0.97) for t in texts), 0, 1.0, len(texts), True)

    licence = read_licence(reading("PRAWO JAZDY", "1. DABROWSKI", "2. PAWEt MAtGORZATA", "3. 18.11.1962"))
    assert licence is not None and licence.given_names == "PAWEL MALGORZATA"
    mixed = read_licence(reading("DRIVING LICENCE", "1. Whitfield", "2. Peter", "3. 18.11.1962"))
    assert mixed is not None and (mixed.surname, mixed.given_names) == ("Whitfield", "Peter")


def _licence_name_check(applicant_name: str, *rows: str):
    from datetime import date

    from kyc.checks import Applicant
    from kyc.checks.identity import _document_fields, _name_check, read_licence
    from kyc.checks.ocr import Reading

    licence = read_licence(Reading(tuple(_row(t, 0.97) for t in rows), 0, 1.0, len(rows), True))
    assert licence is not None
    fields = _document_fields(None, licence, files=[], document="licence.png", as_of=date(2026, 11, 15), checks=[],
                              facts={})
    first, last = applicant_name.split(" ", 1)
    return _name_check(fields, applicant=Applicant(first_name=first, last_name=last), document="licence.png")


def test_a_figure_read_inside_a_licence_name_in_capitals_is_the_letter_it_looks_like():
    # tune3 split: a Cypriot licence's IOANNOU read I0ANNOU went to review on name_match
    rows = ("DRIVING LICENCE", "1. I0ANNOU", "2. EL1ZA", "3. 11.03.1984", "4b. 10.04.2035", "5. 195987191")
    assert _licence_name_check("Eliza Ioannou", *rows).passed
    # another surname with the same slip is still another surname
    assert not _licence_name_check("Eliza Ioannidis", *rows).passed


def test_a_licence_name_read_without_its_letters_with_a_diacritic_is_the_registered_one_and_no_other():
    # tune3 split: FRANÇOIS LEMAÎTRE read FRANOIS LEMATRE (the recogniser dropped Ç and Î)
    rows = ("PERMIS DE CONDUIRE", "1. LEMATRE", "2. FRANOIS", "3. 02.09.1979", "4b. 06.06.2027", "5. PL6363599")
    check = _licence_name_check("François Lemaître", *rows)
    assert check.passed, check.evidence
    assert check.evidence["letters_with_diacritics_dropped"] == ["LEMATRE for LEMAITRE", "FRANOIS for FRANCOIS"]
    # only a letter with a diacritic may be missing: another given name is still another person
    assert not _licence_name_check("Francis Lemaître", *rows).passed
    assert not _licence_name_check("Françoise Lemaître", *rows).passed
    assert not _licence_name_check("François Lemaire", *rows).passed
