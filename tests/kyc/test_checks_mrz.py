"""The MRZ reader: check digits, OCR slips corrected by position, TD3 and TD1."""

from __future__ import annotations

from datetime import date

from mrz.generator.td1 import TD1CodeGenerator
from mrz.generator.td3 import TD3CodeGenerator

from kyc.checks.mrz import check_digit, find_mrz


def test_check_digit_weights():
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("<<<<<<") == "0"


def test_td3_read_with_ocr_slips_in_digit_and_letter_fields():
    lines = str(TD3CodeGenerator("P", "UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "UTO", "740812", "F",
                                 "120415")).split("\n")
    slipped = lines[1][:10] + "UT0" + lines[1][13:19].replace("0", "O") + lines[1][19:]
    m = find_mrz(["PASSPORT", lines[0], slipped])
    assert m is not None and m.format == "TD3" and m.digits_valid
    assert (m.surname, m.given_names, m.document_number, m.nationality) == ("ERIKSSON", "ANNA MARIA", "L898902C3", "UTO")
    assert m.birth_date(date(2025, 1, 1)) == date(1974, 8, 12)
    assert m.expiry_date(date(2025, 1, 1)) == date(2012, 4, 15)


def test_td1_and_a_corrupted_digit_named():
    lines = str(TD1CodeGenerator("ID", "UTO", "D23145890", "740812", "F", "340415", "UTO", "ERIKSSON",
                                 "ANNA MARIA")).split("\n")
    m = find_mrz(lines)
    assert m is not None and m.format == "TD1" and m.digits_valid and m.document_type == "id_card"
    bad = lines[1][:6] + str((int(lines[1][6]) + 1) % 10) + lines[1][7:]
    m = find_mrz([lines[0], bad, lines[2]])
    assert m is not None and [d["field"] for d in m.digits.values() if not d["valid"]] == ["birth_date", "composite"]


def test_no_mrz_in_plain_text():
    assert find_mrz(["CITY PUBLIC LIBRARY", "Library card - members only", "Member ANNA ERIKSSON"]) is None


def test_lookalike_characters_read_as_their_latin_capitals():
    lines = str(TD1CodeGenerator("ID", "UTO", "XV1907483", "870905", "F", "270904", "UTO", "HADDAD",
                                 "JAMES ROBERT")).split("\n")
    m = find_mrz([lines[0].replace("X", "×").replace("V", "V"), lines[1].replace("UTO", "UТО"), lines[2]])
    assert m is not None and m.digits_valid and m.document_number == "XV1907483"


def test_a_confused_character_of_the_document_number_is_repaired_only_when_both_digits_agree():
    lines = str(TD3CodeGenerator("P", "UTO", "ERIKSSON", "ANNA MARIA", "LB9890203", "UTO", "740812", "F",
                                 "320415")).split("\n")
    misread = "L89890203" + lines[1][9:]  # B read as 8
    m = find_mrz([lines[0], misread])
    assert m is not None and m.digits_valid and m.document_number == "LB9890203"
    td1 = str(TD1CodeGenerator("ID", "UTO", "K0I234568", "740812", "F", "340415", "UTO", "ERIKSSON",
                               "ANNA MARIA")).split("\n")
    m = find_mrz([td1[0].replace("K0I234568", "K01234568"), td1[1], td1[2]])
    assert m is not None and m.digits_valid and m.document_number == "K0I234568"
    # Two swaps would each agree (D23I45890 and DZ3145890): nothing is guessed.
    td1 = str(TD1CodeGenerator("ID", "UTO", "D23I45890", "740812", "F", "340415", "UTO", "ERIKSSON",
                               "ANNA MARIA")).split("\n")
    m = find_mrz([td1[0].replace("D23I45890", "D23145890"), td1[1], td1[2]])
    assert m is not None and not m.digits_valid and m.document_number == "D23145890"
    # A corrupted birth date digit is never "repaired" by touching the number.
    bad = misread[:19] + str((int(misread[19]) + 3) % 10) + misread[20:]
    m = find_mrz([lines[0], bad])
    assert m is not None and not m.digits_valid


def test_no_repair_when_only_the_composite_would_agree():
    lines = str(TD3CodeGenerator("P", "UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "UTO", "740812", "F",
                                 "320415")).split("\n")
    wrong_digit = lines[1][:9] + str((int(lines[1][9]) + 1) % 10) + lines[1][10:]
    m = find_mrz([lines[0], wrong_digit])
    assert m is not None and not m.digits_valid and m.document_number == "L898902C3"


def test_a_confused_character_of_the_optional_data_is_repaired_only_when_every_digit_then_holds():
    """The personal number (TD3) and the optional data (TD1) hold letters and figures: an O read as a 0
    there broke the personal number's digit and the composite, and the document went to an officer."""
    lines = str(TD3CodeGenerator("P", "UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "UTO", "740812", "F",
                                 "320415", "X4O7K1")).split("\n")
    m = find_mrz([lines[0], lines[1].replace("X4O7K1", "X407K1")])  # O read as 0
    assert m is not None and m.digits_valid and m.lines[1][28:34] == "X4O7K1"
    # Two swaps would each make the digits hold (ZE1842268: the 8 as a B, or the 2 before it as a Z):
    # nothing is guessed.
    other = str(TD3CodeGenerator("P", "UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "UTO", "740812", "F",
                                 "320415", "ZE184226B")).split("\n")
    m = find_mrz([other[0], other[1].replace("ZE184226B", "ZE1842268")])
    assert m is not None and not m.digits_valid
    td1 = str(TD1CodeGenerator("ID", "UTO", "D23145890", "740812", "F", "340415", "UTO", "ERIKSSON",
                               "ANNA MARIA", optional_data1="BS5O21")).split("\n")
    m = find_mrz([td1[0].replace("BS5O21", "BS5021"), td1[1], td1[2]])  # O read as 0: only the composite knew
    assert m is not None and m.digits_valid and m.lines[0][15:21] == "BS5O21"
    # The same misread beside a birth date's digit altered by hand: nothing is repaired, the digits fail.
    altered = td1[1][:6] + str((int(td1[1][6]) + 3) % 10) + td1[1][7:]
    m = find_mrz([td1[0].replace("BS5O21", "BS5021"), altered, td1[2]])
    assert m is not None and [d["field"] for d in m.digits.values() if not d["valid"]] == ["birth_date", "composite"]
    # A personal number altered by hand (a figure for another figure) is not a confusion: it still fails.
    m = find_mrz([lines[0], lines[1].replace("X4O7K1", "X4O8K1")])
    assert m is not None and not m.digits_valid


def test_a_first_line_whose_fillers_ran_together_and_two_lines_in_one_row_are_read():
    lines = str(TD3CodeGenerator("P", "UTO", "HADDAD", "SARA", "LP3803266", "UTO", "921101", "M",
                                 "320816")).split("\n")
    short = "P<UTOHADDAD<<SARA<<<<<<"  # OCR returned 23 of its 44 characters
    m = find_mrz(["PASSPORT", short, lines[1]])
    assert m is not None and m.digits_valid and (m.surname, m.given_names) == ("HADDAD", "SARA")
    assert m.lines[0] == lines[0] and not m.name_field_full
    # A skewed scan: detection put both lines in one row.
    m = find_mrz(["PASSPORT", f"{short} {lines[1]}"])
    assert m is not None and m.digits_valid and m.document_number == "LP3803266"
    # A short line of text that only looks like the start of one is no MRZ.
    assert find_mrz(["P<UTOHADDAD<<SARA<<<<<<", "DATE OF BIRTH 01 NOV 1992"]) is None


def test_a_degree_celsius_read_for_a_c_takes_one_place_not_two():
    lines = str(TD1CodeGenerator("ID", "UTO", "CE4121273", "600409", "F", "271128", "UTO", "DE LA CRUZ",
                                 "MARIE ELENA")).split("\n")
    m = find_mrz([lines[0].replace("C", "\u2103", 1), lines[1], lines[2]])
    assert m is not None and m.digits_valid and m.document_number == "CE4121273"
    # The same line with its check digit altered still fails: the sign took one place, not the digit's.
    altered = lines[0][:14] + str((int(lines[0][14]) + 1) % 10) + lines[0][15:]
    m = find_mrz([altered.replace("C", "\u2103", 1), lines[1], lines[2]])
    assert m is not None and [d["field"] for d in m.digits.values() if not d["valid"]] == ["document_number", "composite"]


def test_an_identity_cards_first_line_whose_fillers_ran_together_is_read():
    lines = str(TD1CodeGenerator("ID", "UTO", "LF4990190", "920115", "M", "280907", "UTO", "ROSSI",
                                 "JAMES ROBERT")).split("\n")
    short = lines[0].rstrip("<") + "<" * 10  # OCR returned 25 of its 30 characters
    m = find_mrz(["Issued 26 JUN 2020 Authority UTO", short, lines[1], lines[2]])
    assert m is not None and m.format == "TD1" and m.digits_valid
    assert (m.document_number, m.surname, m.given_names) == ("LF4990190", "ROSSI", "JAMES ROBERT")
    # A short line whose document number does not hold its check digit is not taken as read.
    m = find_mrz([short.replace("LF499", "LF498"), lines[1], lines[2]])
    assert m is None or not m.digits_valid
    # Nor is a short line of text that merely starts like one.
    assert find_mrz(["IDENTITY CARD<<<<<<<", "DATE OF BIRTH 15 JAN 1992", "ROSSI JAMES"]) is None


def test_a_line_split_off_in_a_row_of_its_own_is_joined_back_when_every_digit_then_holds():
    lines = str(TD3CodeGenerator("P", "CYP", "NICOLAOU", "CHRISTOS", "849668274", "CYP", "610420", "M",
                                 "310725")).split("\n")
    # A card scanned small on an A4 page: the fillers ran together and the line's end came as its own row.
    head, tail = lines[1][:33], lines[1][-5:]
    m = find_mrz(["REPUBLIC OF CYPRUS", "P<CYPNICOLA0U<<CHRISTOS<<<<<<<<<", head, tail])
    assert m is not None and m.digits_valid and m.lines == tuple(lines)
    assert (m.surname, m.given_names, m.document_number) == ("NICOLAOU", "CHRISTOS", "849668274")
    # The same split with its composite digit altered gives no reading whose digits hold.
    altered = tail[:-1] + str((int(tail[-1]) + 1) % 10)
    m = find_mrz(["REPUBLIC OF CYPRUS", "P<CYPNICOLA0U<<CHRISTOS<<<<<<<<<", head, altered])
    assert m is None or not m.digits_valid


def test_a_first_line_whose_document_code_was_lost_is_read():
    td1 = str(TD1CodeGenerator("I", "D", "186RZKL08", "500718", "F", "280110", "D", "SCHROEDER",
                               "ANNELIESE")).split("\n")
    m = find_mrz([td1[0][1:], td1[1], td1[2]])
    assert m is not None and m.digits_valid and m.document_type == "id_card"
    assert (m.document_number, m.surname, m.given_names) == ("186RZKL08", "SCHROEDER", "ANNELIESE")
    # Its document number altered by hand: its check digit fails, nothing valid is read.
    m = find_mrz([td1[0][1:].replace("186RZ", "187RZ"), td1[1], td1[2]])
    assert m is None or not m.digits_valid
    td3 = str(TD3CodeGenerator("P", "UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "UTO", "740812", "F",
                               "340415")).split("\n")
    m = find_mrz(["PASSPORT", td3[0][1:], td3[1]])
    assert m is not None and m.digits_valid and m.document_type == "passport"
    assert (m.surname, m.given_names) == ("ERIKSSON", "ANNA MARIA")
