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


def test_bills_and_statements_are_known_by_their_titles_in_each_language():
    # An Italian water bill names neither "bill" nor a word of English: its title and service do.
    assert detect_kind("Brightgrid Energy\nFattura servizio idrico\nTotale da pagare 214,43 EUR") == "utility_bill"
    assert detect_kind("Stadtwerke\nWasserrechnung\nRechnungsbetrag 81,20 EUR") == "utility_bill"
    assert detect_kind("Facture d'eau\nMontant à payer 42,10 EUR") == "utility_bill"
    assert detect_kind("Crédit Mutuel\nRelevé de compte\nSolde 1 204,33 EUR") == "bank_statement"
    assert detect_kind("Estratto conto corrente\nSaldo finale 3.201,44") == "bank_statement"
    assert detect_kind("Wyciąg bankowy\nNumer rachunku PL61 1090") == "bank_statement"
    # A street named like a word of one (Calle del Prado) and a library card are still not bills.
    assert detect_kind("CITY PUBLIC LIBRARY\nCalle del Prado 4\nMember since 2019") == "unknown"
