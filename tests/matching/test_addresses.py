"""A registered address against a document's text (matching.addresses), kind by kind: the same
address written another way matches, with the evidence saying how; another number, postcode, street
or country does not."""

from __future__ import annotations

import pytest

from matching.addresses import address_compare, country_of, postcode_in

BUCHAREST = "Bulevardul Unirii 106, București, 030833, RO"
COLOGNE = "Hauptstraße 5, Köln, 50667, DE"


# A street named after its type, in another language or abbreviated (the sixth miss).
@pytest.mark.parametrize("bill", [
    "BULEVARDUL UNIRII 106\n030833 BUCURESTI",
    "BD. UNIRII NR. 106\n030833 BUCUREȘTI\nROMANIA",
    "Bulevardul Unirii nr. 106, sector 3\n030833 Bucuresti",
    "BULEVARDULUNIRII NR.106\n030833 BUCURESTI",  # OCR that lost a space
])
def test_a_street_named_after_its_type_matches_however_the_type_is_written(bill):
    result = address_compare(BUCHAREST, bill)
    assert result.matched, result
    assert result.found["106"] == "same" and result.found["BULEVARDUL"]


def test_a_different_street_number_or_street_kind_still_fails():
    result = address_compare(BUCHAREST, "BD. UNIRII NR. 108\n030833 BUCURESTI")
    assert not result.matched and result.reason == "another house or flat number" and "106" in result.missing
    assert not address_compare(BUCHAREST, "CALEA UNIRII 106\n030833 BUCURESTI\nAV. UNIRII").matched
    assert address_compare("12 Baker Street\nLondon NW1 6XE", "12 Baker Road\nLondon NW1 6XE",
                           country="GB").reason == "another kind of street"


def test_the_house_number_must_stand_by_its_street_not_anywhere_on_the_document():
    # The registered 12 is on this bill only in its date and amount; the street's number is 21.
    bill = "BOLLETTA\nMario Rossi\nV.le Monza 21\n20125 Milano MI\nData 12/03/2025\nTotale 12,50"
    result = address_compare("Viale Monza 12\n20125 Milano", bill)
    assert not result.matched and result.reason == "another house or flat number" and "12" in result.missing
    same = address_compare("Viale Monza 12\n20125 Milano", bill.replace("Monza 21", "Monza 12"))
    assert same.matched and same.found["12"] == "same"
    # A flat number on a line of its own, and a number before its street, still match.
    assert address_compare("Flat 3, 12 Baker Street\nLondon NW1 6XE",
                           "Mr A Smith\nFlat 3\n12 Baker Street\nLondon NW1 6XE", country="GB").matched
    assert address_compare("40 Rue de Rivoli\n75004 Paris", "Facture 2025\n40 R. de Rivoli\n75004 Paris").matched


# Street-type words and their abbreviations in the main languages.
@pytest.mark.parametrize(("registered", "bill"), [
    ("12 Baker Street, London NW1 6XE, GB", "12 BAKER ST.\nLONDON NW1 6XE"),
    (COLOGNE, "HAUPTSTR. 5\n50667 KOELN"),
    (COLOGNE, "Hauptstrasse 5\n50667 Köln"),
    ("Calle Mayor 5, 28013 Madrid, ES", "C/ MAYOR 5\n28013 MADRID"),
    ("Avenida da Liberdade 10, 1250-096 Lisboa, PT", "AV. DA LIBERDADE 10\n1250-096 LISBOA"),
    ("Goethestraße 3, 60313 Frankfurt am Main, DE", "GOETHE STR. 3\n60313 FRANKFURT AM MAIN"),
    ("ul. Marszałkowska 10, 00-001 Warszawa, PL", "ULICA MARSZALKOWSKA 10\n00-001 WARSZAWA"),
    ("Boulevard Haussmann 40, 75009 Paris, FR", "40 BD HAUSSMANN\n75009 PARIS"),
    ("5 Oak Avenue, Dublin D02 X285, IE", "5 OAK AVE.\nDUBLIN D02X285"),
    # Portuguese and Romanian street types, in full and abbreviated.
    ("Travessa do Carmo 5, 1200-095 Lisboa, PT", "TV. DO CARMO 5\n1200-095 LISBOA"),
    ("Largo do Rato 3, 1250-188 Lisboa, PT", "LGO DO RATO, 3\n1250-188 LISBOA"),
    ("Calea Victoriei 12, 010061 București, RO", "CALEA VICTORIEI NR. 12\n010061 BUCURESTI"),
    ("Șoseaua Kiseleff 3, 011341 București, RO", "SOS. KISELEFF NR. 3\n011341 BUCURESTI"),
    ("Splaiul Independenței 7, 050091 București, RO", "SPL. INDEPENDENTEI 7\n050091 BUCURESTI"),
])
def test_street_types_and_abbreviations(registered, bill):
    assert address_compare(registered, bill).matched, address_compare(registered, bill)


def test_another_street_type_next_to_the_same_name_is_another_street():
    assert not address_compare("10 Rue de Rivoli, 75001 Paris, FR", "10 AVENUE DE RIVOLI\n75001 PARIS").matched
    assert not address_compare("Calle Mayor 5, 28013 Madrid, ES", "PLAZA MAYOR 5\n28013 MADRID").matched
    # Calea Victoriei and a Strada Victoriei are two streets; a Largo is not the Rua of the same name.
    assert not address_compare("Calea Victoriei 12, 010061 București, RO",
                               "STR. VICTORIEI NR. 12\n010061 BUCURESTI").matched
    assert not address_compare("Rua do Rato 3, 1250-188 Lisboa, PT", "LARGO DO RATO 3\n1250-188 LISBOA").matched
    # ...and another house number on the same street still fails.
    assert not address_compare("Șoseaua Kiseleff 3, 011341 București, RO", "SOS. KISELEFF NR. 5\n011341 BUCURESTI").matched
    assert not address_compare("Travessa do Carmo 5, 1200-095 Lisboa, PT", "TV. DO CARMO 15\n1200-095 LISBOA").matched


# Diacritics both ways (Köln / KOELN / KOLN; KOELN typed, Köln printed).
@pytest.mark.parametrize(("registered", "bill"), [
    (COLOGNE, "HAUPTSTRASSE 5\n50667 KOELN"),
    (COLOGNE, "HAUPTSTRASSE 5\n50667 KOLN"),
    ("Hauptstrasse 5, Koeln, 50667, DE", "Hauptstraße 5\n50667 Köln"),
    (BUCHAREST, "BULEVARDUL UNIRII 106\n030833 BUCURESTI"),
])
def test_diacritics_written_either_way(registered, bill):
    result = address_compare(registered, bill)
    assert result.matched, result


def test_diacritics_do_not_hide_another_town():
    result = address_compare(COLOGNE, "HAUPTSTRASSE 5\n50667 KIEL")
    assert not result.matched and "KÖLN" in result.missing


# Countries by ISO code and by name in the main languages; left out by the bill is normal.
@pytest.mark.parametrize("country_line", ["GERMANY", "DEUTSCHLAND", "ALLEMAGNE", "ALEMANIA", "GERMANIA", ""])
def test_a_country_given_as_a_code_matches_its_name_in_any_main_language(country_line):
    result = address_compare(COLOGNE, f"HAUPTSTR. 5\n50667 KOELN\n{country_line}")
    assert result.matched and result.country == "DE"
    assert result.found["country DE"] == ("named on the document" if country_line else "not written (not required)")


def test_the_country_of_the_client_counts_when_the_address_does_not_name_it():
    assert address_compare("Hauptstraße 5, 50667 Köln", "HAUPTSTR. 5\n50667 KOELN\nDEUTSCHLAND",
                           country="DE").found["country DE"] == "named on the document"


def test_another_country_written_with_the_address_fails():
    result = address_compare(COLOGNE, "HAUPTSTR. 5\n50667 KOELN\nAUSTRIA")
    assert not result.matched and result.reason == "another country"


def test_country_names():
    assert country_of(["UNITED", "KINGDOM"]) == country_of(["UK"]) == "GB"
    assert country_of(["ROMANIA"]) == "RO" and country_of(["ESPANA"]) == "ES" and country_of(["SPAIN"]) == "ES"
    assert country_of(["BAKER"]) == ""


# Postcodes by country format.
@pytest.mark.parametrize(("registered", "country", "postcode"), [
    ("12 Baker Street, London NW1 6XE", "GB", "NW16XE"),
    ("Keizersgracht 100, 1015 CJ Amsterdam", "NL", "1015CJ"),
    ("ul. Marszałkowska 10, 00-001 Warszawa", "PL", "00001"),
    ("Bulevardul Unirii 106, București, 030833", "RO", "030833"),
    ("Rua Augusta 5, 1100-048 Lisboa", "PT", "1100048"),
    ("1 Main St, Toronto ON M5V 2T6", "CA", "M5V2T6"),
])
def test_postcodes_are_read_by_the_country_format(registered, country, postcode):
    assert postcode_in(registered, country) == postcode


@pytest.mark.parametrize(("registered", "same", "other"), [
    ("12 Baker Street, London NW1 6XE, GB", "12 BAKER STREET\nLONDON NW16XE", "12 BAKER STREET\nLONDON NW1 6XF"),
    ("Keizersgracht 100, 1015 CJ Amsterdam, NL", "KEIZERSGRACHT 100\n1015CJ AMSTERDAM",
     "KEIZERSGRACHT 100\n1016 CJ AMSTERDAM"),
    ("ul. Marszałkowska 10, 00-001 Warszawa, PL", "UL. MARSZALKOWSKA 10\n00001 WARSZAWA",
     "UL. MARSZALKOWSKA 10\n00-002 WARSZAWA"),
])
def test_a_postcode_matches_without_its_space_or_dash_and_another_fails(registered, same, other):
    assert address_compare(registered, same).matched
    result = address_compare(registered, other)
    assert not result.matched and result.reason == "another postcode"


def test_a_town_or_state_named_like_a_country_is_not_another_country():
    assert address_compare("12 Peachtree St, Atlanta, Georgia 30303", "12 PEACHTREE ST\nATLANTA GEORGIA 30303",
                           country="US").matched
