"""The registered name against a document's (matching.documents), kind by kind: each way of
writing the same name passes, with evidence saying which word matched which and how; each way of
being another person fails (a different given name or surname is a different person)."""

from __future__ import annotations

import pytest

from matching.documents import match_document_name, names_in_text


def match(first, last, surname, given, middle="", **kw):
    return match_document_name(first_name=first, middle_name=middle, last_name=last, document_surname=surname,
                               document_given_names=given, **kw)


def pair(result, registered):
    return next(w for w in result.words if w.registered == registered)


# Particles belong to the surname wherever the client typed them; a middle name only on the document
# is normal ("Sem van Dijk" typed as First Middle Last, the passport VAN DIJK / SEM DAAN).
def test_a_particle_typed_among_the_given_names_is_part_of_the_surname():
    m = match("Sem", "Dijk", "VAN<DIJK", "SEM<DAAN", middle="van")
    assert m.matched, m
    assert pair(m, "van").document == "VAN" and pair(m, "van").part == "surname"
    assert m.extra == ("DAAN",) and not m.missing
    assert match("Sem", "van Dijk", "VAN DIJK", "SEM DAAN").matched
    assert match("Sem", "Dijk", "VAN DIJK", "SEM").matched  # the particle left out by the client


def test_a_particle_does_not_make_another_surname_the_same():
    m = match("Sem", "Dalen", "VAN DIJK", "SEM DAAN", middle="van")
    assert not m.matched and "surname" in m.reason


# Romanisations of one name (Arabic, Russian, Chinese...).
@pytest.mark.parametrize(("typed_first", "typed_last", "surname", "given"), [
    ("Umar", "Mostafa", "MUSTAFA", "OMAR"),  # Arabic: the miss
    ("Yusuf", "Haddad", "HADDAD", "YOUSSEF"),
    ("محمد", "حداد", "HADDAD", "MOHAMED"),  # typed in Arabic script
    ("Sergey", "Ivanov", "IVANOV", "SERGEI"),  # Russian
    ("Julia", "Ivanova", "IVANOVA", "IULIIA"),
    ("Юлия", "Иванова", "IVANOVA", "IULIIA"),  # typed in Cyrillic
    ("Dmitry", "Sokolov", "SOKOLOV", "DMITRII"),
    ("伟", "张", "ZHANG", "WEI"),  # typed in Chinese characters
    ("Aleksandr", "Petrov", "PETROV", "ALEXANDER"),
])
def test_another_romanisation_of_the_same_name_passes(typed_first, typed_last, surname, given):
    m = match(typed_first, typed_last, surname, given)
    assert m.matched, m
    assert all(w.how for w in m.words)


@pytest.mark.parametrize(("typed_first", "surname", "given"), [
    ("Amr", "MUSTAFA", "OMAR"),  # another Arabic name, not a spelling of Omar
    ("Ahmed", "MUSTAFA", "MOHAMED"),
    ("أحمد", "MUSTAFA", "MOHAMED"),
    ("Maria", "MUSTAFA", "MARIO"),  # another final vowel: another person
    ("Ivan", "MUSTAFA", "IVANA"),
    ("Dana", "MUSTAFA", "TANA"),
])
def test_a_different_given_name_fails_however_close(typed_first, surname, given):
    m = match(typed_first, "Mustafa", surname, given)
    assert not m.matched and "first name" in m.reason


# Hyphens and spacing.
def test_hyphens_and_spaces_are_the_same_word_boundaries():
    assert match("Anne-Marie", "Dubois", "DUBOIS", "ANNE<MARIE").matched
    joined = match("Anne Marie", "Dubois", "DUBOIS", "ANNEMARIE")
    assert joined.matched and "written together" in pair(joined, "Anne Marie").how
    assert match("Jürgen", "Müller-Lüdenscheidt", "MUELLER<LUEDENSCHEIDT", "JUERGEN").matched


def test_a_hyphenated_name_with_another_part_fails():
    assert not match("Anne-Marie", "Dubois", "DUBOIS", "ANNE<SOPHIE").matched
    assert not match("Jürgen", "Müller-Lüdenscheidt", "MUELLER<SCHMIDT", "JUERGEN").matched


# Diacritics both ways: written out (ö/oe, ü/ue), dropped (ș/s), on either side.
@pytest.mark.parametrize(("first", "last", "surname", "given"), [
    ("Jürgen", "Schröder", "SCHROEDER", "JUERGEN"),  # the document writes them out
    ("Jürgen", "Schröder", "SCHRODER", "JURGEN"),  # the document drops them
    ("Juergen", "Schroeder", "SCHRÖDER", "JÜRGEN"),  # the client wrote them out
    ("Jurgen", "Schroder", "SCHROEDER", "JUERGEN"),  # the client dropped them
    ("Ștefan", "Popescu", "POPESCU", "STEFAN"),
    ("Stefan", "Țepeș", "TEPES", "STEFAN"),
])
def test_diacritics_written_either_way_pass(first, last, surname, given):
    assert match(first, last, surname, given).matched


def test_diacritics_do_not_hide_another_name():
    assert not match("Jürgen", "Schröder", "SCHRADER", "JUERGEN").matched
    assert not match("Ștefan", "Popescu", "POPESCU", "STELIAN").matched


# Middle names on one side only.
def test_a_middle_name_on_one_side_only_passes():
    assert match("Anna", "Eriksson", "ERIKSSON", "ANNA MARIA").matched
    assert match("Anna", "Eriksson", "ERIKSSON", "ANNA", middle="Maria").matched


def test_two_different_middle_names_fail():
    m = match("Anna", "Eriksson", "ERIKSSON", "ANNA MARIA", middle="Sofia")
    assert not m.matched and "Sofia" in m.reason


# Initials stand for a given name (never the first name nor the surname).
def test_an_initial_for_a_middle_name_passes():
    m = match("Anna", "Eriksson", "ERIKSSON", "ANNA MARIA", middle="M.")
    assert m.matched and pair(m, "M").how == "initial"
    assert match("Anna", "Eriksson", "ERIKSSON", "ANNA M", middle="Maria").matched


def test_an_initial_of_another_name_or_for_the_first_name_fails():
    assert not match("Anna", "Eriksson", "ERIKSSON", "ANNA MARIA", middle="K.").matched
    assert not match("A.", "Eriksson", "ERIKSSON", "ANNA MARIA").matched
    assert not match("Anna", "E.", "ERIKSSON", "ANNA").matched


def test_the_surname_must_be_the_documents_surname():
    assert not match("Eriksson", "Anna", "ERIKSSON", "ANNA").matched


def test_a_bill_names_the_client_in_either_order_and_with_the_particle():
    assert names_in_text("NORTHERN POWER\nSEM DAAN VAN DIJK\n1 Main St", first_name="Sem", middle_name="van",
                         last_name="Dijk").matched
    assert names_in_text("Customer: MUSTAFA OMAR", first_name="Umar", last_name="Mostafa").matched
    assert not names_in_text("Customer: MUSTAFA AMR", first_name="Umar", last_name="Mostafa").matched


def test_an_umlaut_is_a_letter_of_its_own():
    assert match("Jurgen", "Muller", "MUELLER", "JUERGEN").matched  # typed without the umlauts
    assert not match("Jürgen", "Möller", "MUELLER", "JUERGEN").matched
    assert not match("Jurgen", "Moller", "MUELLER", "JUERGEN").matched


@pytest.mark.parametrize(("arabic", "latin"), [
    ("محمد", "MOHAMED"), ("محمد", "MUHAMMAD"), ("محمود", "MAHMOUD"), ("حسين", "HUSSEIN"), ("حسن", "HASSAN"),
    ("يوسف", "YOUSSEF"), ("سعيد", "SAEED"), ("فاطمة", "FATIMA"), ("خالد", "KHALID"), ("عبدالله", "ABDULLAH"),
])
def test_a_name_typed_in_arabic_script_meets_its_romanisation(arabic, latin):
    m = match(arabic, "Haddad", "HADDAD", latin)
    assert m.matched and pair(m, arabic).how == "same consonants (script without vowels)"


@pytest.mark.parametrize(("arabic", "latin"), [
    ("محمد", "MAHMOUD"), ("محمود", "MUHAMMAD"), ("حسين", "HASSAN"), ("أحمد", "MOHAMED"),
])
def test_arabic_names_of_the_same_consonants_are_told_apart_by_their_long_vowels(arabic, latin):
    assert not match(arabic, "Haddad", "HADDAD", latin).matched
