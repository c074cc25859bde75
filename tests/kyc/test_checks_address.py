"""Proof of address read from OCR'd text: the spaces OCR drops do not hide a line or the kind."""

from __future__ import annotations

from kyc.checks.address import address_match, detect_kind

REGISTERED = "12 Baker Street\nLondon NW1 6XE"


def test_an_address_line_read_without_its_spaces_matches_and_another_address_does_not():
    read = "MARCOSILVA\n12 BAKER STREET\nLONDONNW16XE\nStatementdate:21/05/2025"
    assert address_match(REGISTERED, read)["matched"]
    elsewhere = "MARCOSILVA\n12 BAKER STREET\nLEEDSLS16AB"
    result = address_match(REGISTERED, elsewhere)
    assert not result["matched"] and "LONDON" in result["missing"]
    # Another house number is never made up for by the rest of the line.
    assert not address_match(REGISTERED, "14 BAKER STREET\nLONDONNW16XE")["matched"]


def test_the_kind_of_bill_is_found_in_words_run_together():
    assert detect_kind("NORTHERNPOWER&GAS\nElectricityandgasbill\nAmount due:84.17 GBP") == "utility_bill"
    assert detect_kind("UTOPIASAVINGSBANK\nCurrentaccountstatement\nClosingbalance:986.12GBP") == "bank_statement"
    assert detect_kind("CITY PUBLIC LIBRARY\nMember since 2019") == "unknown"
