"""Names on identity documents: the ICAO 9303 spelling of an MRZ, and the registered name compared
with what a document carries (matching.documents): middle names, truncation, bills' free text."""

from __future__ import annotations

import pytest

from kyc.checks.names import icao, mrz_name_field
from matching.documents import match_document_name, names_in_text


@pytest.mark.parametrize(("typed", "mrz"), [
    ("Müller", "MUELLER"), ("Ärzte", "AERZTE"), ("Øster", "OESTER"), ("Straße", "STRASSE"),
    ("Åsa", "AASA"), ("Þór", "THOR"), ("Łukasz", "LUKASZ"), ("José", "JOSE"), ("Françoise", "FRANCOISE"),
    ("Юлия", "IULIIA"), ("Яна", "IANA"), ("Андрей", "ANDREI"), ("Жанна", "ZHANNA"), ("Харитонов", "KHARITONOV"),
    ("Цветков", "TSVETKOV"), ("Щукин", "SHCHUKIN"), ("Чехов", "CHEKHOV"), ("Ольга", "OLGA"),
    ("Anne-Marie", "ANNE<MARIE"), ("O'Neil", "O<NEIL"),
])
def test_icao_transliteration(typed, mrz):
    assert icao(typed) == mrz


@pytest.mark.parametrize(("typed", "mrz"), [
    ("Müller", "MUELLER"), ("Müller", "MULLER"), ("Muller", "MUELLER"), ("Юлия", "IULIIA"), ("Yulia", "IULIIA"),
    ("Julia", "IULIIA"), ("Mohammed", "MOHAMED"), ("Muhammad", "MOHAMMED"), ("محمد", "MOHAMED"), ("أحمد", "AHMED"),
    ("خالد", "KHALID"), ("Aleksandr", "ALEKSANDR"),
])
def test_the_first_name_in_another_spelling_is_the_same(typed, mrz):
    assert match_document_name(first_name=typed, last_name="Eriksson", document_surname="ERIKSSON",
                               document_given_names=mrz).matched


@pytest.mark.parametrize(("typed", "mrz"), [
    ("Maria", "MARIO"), ("Anna", "ANNE"), ("Laura", "ANNA"), ("محمد", "AHMED"), ("Ivan", "IVANA"),
])
def test_another_first_name_is_another_person(typed, mrz):
    m = match_document_name(first_name=typed, last_name="Eriksson", document_surname="ERIKSSON",
                            document_given_names=mrz)
    assert not m.matched and "first name" in m.reason


def test_middle_name_left_out_by_the_client_passes_and_is_named():
    m = match_document_name(first_name="Anna", last_name="Eriksson", document_surname="ERIKSSON",
                            document_given_names="ANNA MARIA")
    assert m.matched and m.extra == ("MARIA",)


def test_middle_name_typed_but_absent_from_the_document_passes():
    m = match_document_name(first_name="Anna", middle_name="Maria", last_name="Eriksson", document_surname="ERIKSSON",
                            document_given_names="ANNA")
    assert m.matched and "middle name typed but not on the document" in m.notes


def test_another_surname_fails():
    m = match_document_name(first_name="Anna", last_name="Whitfield", document_surname="ERIKSSON",
                            document_given_names="ANNA MARIA")
    assert not m.matched and m.missing == ("Whitfield",)


def test_truncated_long_name_matches_only_when_the_field_is_full():
    field = mrz_name_field("Wolfeschlegelsteinhausen Bergerdorff", "Hubert Blaine Charles", 39)
    assert len(field) == 39 and not field.endswith("<")
    surname, _, given = field.partition("<<")
    kw = {"first_name": "Hubert", "middle_name": "Blaine Charles", "last_name": "Wolfeschlegelsteinhausen Bergerdorff",
          "document_surname": surname, "document_given_names": given}
    assert match_document_name(**kw, field_full=True).matched
    assert not match_document_name(**kw, field_full=False).matched


def test_filler_rules_of_the_name_field():
    assert mrz_name_field("Eriksson", "Anna Maria", 39) == "ERIKSSON<<ANNA<MARIA" + "<" * 19
    assert mrz_name_field("Müller-Lüdenscheidt", "Jürgen", 30) == "MUELLER<LUEDENSCHEIDT<<JUERGEN"
    assert mrz_name_field("Müller-Lüdenscheidt", "Jürgen", 25) == "MUELLER<LUEDENSCHEIDT<<JU"


def test_names_in_a_bill_text_even_without_spaces():
    assert names_in_text("Account holder: ANNA ERIKSSON\n12 Baker St", first_name="Anna", last_name="Eriksson").matched
    assert names_in_text("ANNAMARIAERIKSSON", first_name="Anna", last_name="Eriksson").matched
    assert not names_in_text("OLIVER WHITFIELD", first_name="Anna", last_name="Eriksson").matched
    assert not names_in_text("LAURA ERIKSSON\n12 Baker St", first_name="Anna", last_name="Eriksson").matched


def test_a_name_read_without_spaces_with_its_j_read_as_an_i_is_found_and_another_given_name_is_not():
    """OCR of a bill's addressee line ran the words together and read the J of Jansen as an I."""
    bill = "STADTWERKE RHEINAU\nStromrechnung\nTOMASKARELIANSEN\nMUELLERSTRASSE 8\n13353 BERLIN"
    found = names_in_text(bill, first_name="Tomas", middle_name="Karel", last_name="Jansen")
    assert found.matched, found
    assert not names_in_text(bill.replace("TOMAS", "PIETER"), first_name="Tomas", middle_name="Karel",
                             last_name="Jansen").matched
    assert not names_in_text(bill, first_name="Tomas", middle_name="Karel", last_name="Hansen").matched


def test_letters_the_mrz_writes_as_two_by_icao_9303_match_and_another_name_does_not():
    assert match_document_name(first_name="Örjan", last_name="Åkesson", document_surname="AAKESSON",
                               document_given_names="OERJAN").matched
    assert match_document_name(first_name="Søren", last_name="Kierkegård", document_surname="KIERKEGAARD",
                               document_given_names="SOEREN").matched
    assert not match_document_name(first_name="Åsa", last_name="Lund", document_surname="LUND",
                                   document_given_names="AASE").matched
    assert not match_document_name(first_name="Örjan", last_name="Åkesson", document_surname="AAKERMAN",
                                   document_given_names="OERJAN").matched


def test_particles_typed_as_the_middle_name_are_part_of_the_surname_written_together_or_apart():
    for surname in ("VANDERMERWE", "VAN DER MERWE"):
        assert match_document_name(first_name="Pieter", middle_name="van der", last_name="Merwe",
                                   document_surname=surname, document_given_names="PIETER").matched
    assert not match_document_name(first_name="Pieter", middle_name="van der", last_name="Merwe",
                                   document_surname="VANDERBERG", document_given_names="PIETER").matched


def test_a_bills_eszett_read_as_a_b_is_the_registered_name_and_only_for_a_name_with_one():
    assert names_in_text("Bjorn WeiB 25.10.2026", first_name="Björn", last_name="Weiß").matched
    assert not names_in_text("Bjorn WeiB 25.10.2026", first_name="Björn", last_name="Weis").matched
    assert not names_in_text("Bjorn WeiL 25.10.2026", first_name="Björn", last_name="Weiß").matched


def test_a_second_surname_typed_as_the_middle_name_is_found_in_the_documents_surname():
    for surname in ("SANCHEZIBANEZ", "SANCHEZ IBANEZ"):
        assert match_document_name(first_name="Íñigo", middle_name="Sánchez", last_name="Ibáñez",
                                   document_surname=surname, document_given_names="INIGO").matched
    together = match_document_name(first_name="Íñigo", middle_name="Sánchez", last_name="Ibáñez",
                                   document_surname="SANCHEZIBANEZ", document_given_names="INIGO")
    assert "'Sánchez' typed as a middle name, on the document as a surname" in together.notes
    # the surname typed as the last name must still be on the document
    assert not match_document_name(first_name="Íñigo", middle_name="Sánchez", last_name="Ibáñez",
                                   document_surname="SANCHEZ", document_given_names="INIGO").matched
    assert not match_document_name(first_name="Íñigo", middle_name="Sánchez", last_name="Ibáñez",
                                   document_surname="SANCHEZ GARCIA", document_given_names="INIGO").matched
