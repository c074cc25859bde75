"""Names and addresses written another way, through the checks a submission goes through
(`check_documents`, and `manage.py kyc_check` for the issue's own misses): each kind with a document
a person would approve at a glance and one that names someone or somewhere else."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from functools import cache

import pytest

from kyc.checks import Applicant, DocumentFile, check_documents
from kyc.uploads import upload_validate
from tests.kyc import docgen
from tests.kyc.test_checks_command import kyc_check

pytestmark = pytest.mark.usefixtures("shared_ocr")  # each model's answer to the same pixels read once

VAN_DIJK = docgen.Holder("van Dijk", "Sem Daan", date(1990, 2, 3), "M", "NLD")
MUSTAFA = docgen.Holder("Mustafa", "Omar", date(1985, 7, 19), "M", "EGY")
MULLER = docgen.Holder("Müller-Lüdenscheidt", "Jürgen", date(1979, 4, 30), "M", "D")
POPESCU = docgen.Holder("Popescu", "Stefan", date(1992, 12, 1), "M", "ROU")
HOLDERS = {"van_dijk": (VAN_DIJK, "NLD"), "mustafa": (MUSTAFA, "EGY"), "muller": (MULLER, "D"),
           "popescu": (POPESCU, "ROU"), "eriksson": (docgen.ANNA, "UTO")}


@cache
def passport(holder: str) -> bytes:
    h, country = HOLDERS[holder]
    doc = docgen.IdDoc("passport", h, number="X1234567", country=country)
    return docgen.encode(docgen.identity_image(doc), "png")


def identity(holder: str, applicant: Applicant):
    files = [DocumentFile(upload_validate(passport(holder), filename=f"{holder}.png"), "passport")]
    report = check_documents(slot="identity", files=files, applicant=applicant, policy=docgen.CheckPolicy(),
                             as_of=docgen.AS_OF)
    return report, next(c for c in report.checks if c.name == "name_match")


def person(holder: str, first: str, last: str, middle: str = "") -> Applicant:
    return Applicant(first_name=first, middle_name=middle, last_name=last, date_of_birth=HOLDERS[holder][0].birth)


# (holder, registered first, middle, last): each approves; the same passport with the second
# registration goes to review on name_match.
NAME_KINDS = {
    "particle": ("van_dijk", ("Sem", "van", "Dijk"), ("Sem", "van", "Dalen")),
    "middle_name_only_on_the_document": ("van_dijk", ("Sem", "", "van Dijk"), ("Sem", "Joost", "van Dijk")),
    "romanisation": ("mustafa", ("Umar", "", "Mostafa"), ("Amr", "", "Mostafa")),
    "hyphen_and_diacritics_written_out": ("muller", ("Jürgen", "", "Müller-Lüdenscheidt"),
                                          ("Jürgen", "", "Möller-Lüdenscheidt")),
    "diacritics_typed_not_printed": ("popescu", ("Ștefan", "", "Popescu"), ("Ștefan", "", "Popa")),
    "initial": ("eriksson", ("Anna", "M.", "Eriksson"), ("Anna", "K.", "Eriksson")),
}


@pytest.mark.parametrize("kind", sorted(NAME_KINDS))
def test_a_name_written_another_way_approves_and_another_name_does_not(kind):
    holder, same, other = NAME_KINDS[kind]
    first, middle, last = same
    report, name = identity(holder, person(holder, first, last, middle))
    assert str(report.decision) == "approve", report.as_dict()
    assert name.evidence["pairs"] and all(p["how"] for p in name.evidence["pairs"])
    first, middle, last = other
    report, name = identity(holder, person(holder, first, last, middle))
    assert str(report.decision) == "review" and [c.name for c in report.problems] == ["name_match"], report.as_dict()
    assert name.evidence["reason"]


@pytest.mark.django_db  # the command's system checks read the database (the server's version)
def test_the_issues_particle_and_middle_name_through_the_command(tmp_path):
    path = tmp_path / "passport.png"
    path.write_bytes(passport("van_dijk"))
    done = kyc_check(path, "--slot", "identity", "--name", "Sem van Dijk", "--dob", "1990-02-03",
                     "--as-of", docgen.AS_OF)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["decision"] == "approve", report
    name = next(c for c in report["checks"] if c["name"] == "name_match")
    pairs = {p["registered"]: p for p in name["evidence"]["pairs"]}
    assert pairs["van"]["part"] == "surname" and name["evidence"]["extra"] == ["DAAN"]


# --- proof of address -----------------------------------------------------------------------------

def bill_report(address_on_bill: str, applicant: Applicant, *, name: str = "", fmt: str = "pdf-text"):
    bill = docgen.Bill("utility_bill", name or f"{applicant.first_name} {applicant.last_name}", address_on_bill,
                       docgen.AS_OF - timedelta(days=20))
    case = docgen._bill_case("bill", bill, applicant, "approve", fmt=fmt)
    data, filename, kind, _side = case.files[0]
    files = [DocumentFile(upload_validate(data, filename=filename), kind)]
    report = check_documents(slot="address", files=files, applicant=applicant, policy=docgen.CheckPolicy(),
                             as_of=docgen.AS_OF)
    return report, next(c for c in report.checks if c.name == "address_match")


def resident(address: str, country: str) -> Applicant:
    return Applicant(first_name="Anna", last_name="Eriksson", address=address, country=country)


# (registration's address, its country, a bill's address for the same place, one for another)
ADDRESS_KINDS = {
    "diacritics_written_out": ("Hauptstraße 5\n50667 Köln", "DE", "HAUPTSTR. 5\n50667 KOELN",
                               "HAUPTSTR. 5\n50667 KIEL"),
    "street_named_after_its_type": ("Bulevardul Unirii 106\n030833 București", "RO",
                                    "BD. UNIRII NR. 106\n030833 BUCURESTI", "BD. UNIRII NR. 108\n030833 BUCURESTI"),
    "country_code_registered_name_on_the_bill": ("Hauptstraße 5, Köln, 50667, DE", "", "HAUPTSTRASSE 5\n50667 KOELN\nGERMANY",
                                                 "HAUPTSTRASSE 5\n50667 KOELN\nAUSTRIA"),
    "postcode_format": ("12 Baker Street\nLondon NW1 6XE", "GB", "12 BAKER STREET\nLONDON NW16XE",
                        "12 BAKER STREET\nLONDON NW1 6XF"),
    "street_type_abbreviated": ("12 Baker Street\nLondon NW1 6XE", "GB", "12 BAKER ST.\nLONDON NW1 6XE",
                                "12 BAKER ROAD\nLONDON NW1 6XE"),
    "calle": ("Calle Mayor 5\n28013 Madrid", "ES", "C/ MAYOR 5\n28013 MADRID\nESPAÑA",
              "PLAZA MAYOR 5\n28013 MADRID\nESPAÑA"),
}


@pytest.mark.parametrize("kind", sorted(ADDRESS_KINDS))
def test_an_address_written_another_way_approves_and_another_address_does_not(kind):
    registered, country, same, other = ADDRESS_KINDS[kind]
    report, address = bill_report(same, resident(registered, country))
    assert str(report.decision) == "approve", report.as_dict()
    assert address.evidence["matched"] and all(address.evidence["found"].values())
    report, address = bill_report(other, resident(registered, country))
    assert str(report.decision) == "review" and [c.name for c in report.problems] == ["address_match"], report.as_dict()
    assert address.evidence["reason"]


def test_a_scanned_bill_of_a_street_named_after_its_type():
    registered = "Bulevardul Unirii 106\n030833 București"
    report, address = bill_report("BULEVARDUL UNIRII NR. 106\n030833 BUCURESTI\nROMANIA", resident(registered, "RO"),
                                  fmt="png")
    assert str(report.decision) == "approve", report.as_dict()
    assert address.evidence["found"]["106"] == "same"


def test_a_bill_names_the_client_with_the_particle_and_not_someone_else():
    sem = replace(resident("12 Baker Street\nLondon NW1 6XE", "GB"), first_name="Sem", middle_name="van",
                  last_name="Dijk")
    report, _ = bill_report("12 BAKER STREET\nLONDON NW1 6XE", sem, name="Sem Daan van Dijk")
    assert str(report.decision) == "approve", report.as_dict()
    report, _ = bill_report("12 BAKER STREET\nLONDON NW1 6XE", sem, name="Sem van Dalen")
    assert [c.name for c in report.problems] == ["name_match"]


@pytest.mark.django_db  # the command's system checks read the database (the server's version)
def test_the_issues_cologne_bill_through_the_command(tmp_path):
    applicant = resident("Hauptstraße 5\n50667 Köln", "DE")
    bill = docgen.Bill("utility_bill", "Anna Eriksson", "HAUPTSTR. 5\n50667 KOELN\nDEUTSCHLAND",
                       docgen.AS_OF - timedelta(days=20))
    path = tmp_path / "bill.pdf"
    path.write_bytes(docgen.text_pdf(bill.lines()))
    done = kyc_check(path, "--slot", "address", "--name", "Anna Eriksson", "--address", applicant.address,
                     "--country", "DE", "--as-of", docgen.AS_OF)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["decision"] == "approve", report
    address = next(c for c in report["checks"] if c["name"] == "address_match")
    assert address["evidence"]["found"]["KÖLN"] == "same, diacritics written another way"
    assert address["evidence"]["found"]["country DE"] == "named on the document"
