"""The matcher, kind by kind: each way a listed name can be typed differently finds the listed party,
and each way of being another party does not alert."""

from __future__ import annotations

import datetime as dt

import pytest

from matching import DOB, ListedEntry, ListedName, Query, Screener

ENTRIES = [
    ListedEntry("1", "person", (ListedName("PUTIN, Vladimir Vladimirovich"),), (DOB(1952, 10, 7),), frozenset({"RU"})),
    ListedEntry("2", "person", (ListedName("AL-BAGHDADI, Abu Bakr"), ListedName("AL-BADRI, Ibrahim Awwad", "aka"),
                                ListedName("ABU DUA", "aka", weak=True)), (DOB(1971, circa=True),)),
    ListedEntry("3", "person", (ListedName("KIM, Jong Un"),), (DOB(1984, 1, 8), DOB(1983, 1, 8))),
    ListedEntry("4", "person", (ListedName("XI, Jinping"),)),
    ListedEntry("5", "person", (ListedName("MÜLLER, Jürgen"),), (DOB(1966),)),
    ListedEntry("6", "person", (ListedName("VAN DER BERG, Pieter"),)),
    ListedEntry("7", "person", (ListedName("YILMAZ, İbrahim"),)),
    ListedEntry("8", "person", (ListedName("NGUYỄN, Văn Hùng"),)),
    ListedEntry("9", "person", (ListedName("GARCIA LOPEZ, Juan Carlos"),)),
    ListedEntry("10", "person", (ListedName("QADHAFI, Muammar"),)),
    ListedEntry("11", "person", (ListedName("PAPADOPOULOS, Konstantinos"),)),
    ListedEntry("12", "person", (ListedName("HOSSEINI, Mohammad Reza"),)),
    ListedEntry("13", "person", (ListedName("WOJCIK, Łukasz"),)),
    ListedEntry("20", "company", (ListedName("VOLGA MARINE SHIPPING LLC"),), countries=frozenset({"RU"})),
    ListedEntry("21", "company", (ListedName("ROSNEFT TRADING S.A."),)),
    ListedEntry("22", "vessel", (ListedName("SEA STAR"),)),
]


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener(ENTRIES)


def alerts(screener: Screener, name: str, *, dob: dt.date | None = None, country: str = "",
           client_type: str = "person") -> list[str]:
    return [h.entry.key for h in screener.screen(Query(name, dob=dob, country=country, client_type=client_type))]


@pytest.mark.parametrize(("typed", "expected"), [
    ("Vladimir Putin", "1"), ("putin vladimir", "1"), ("PUTIN, Vladimir V.", "1"),  # order, case, initial
    ("Vladimir  Putin.", "1"), ("Abu-Bakr al Baghdadi", "2"), ("Abu Bakr Albaghdadi", "2"),  # punctuation, particles
    ("Pieter Vanderberg", "6"), ("Pieter van den Berg", "6"),  # joined particles; particles never decide
    ("Jurgen Muller", "5"), ("Juergen Mueller", "5"), ("Ibrahim Yilmaz", "7"), ("Lukasz Wojcik", "13"),  # diacritics
    ("Nguyen Van Hung", "8"), ("Văn Hùng Nguyễn", "8"),  # Vietnamese tones both ways
    ("Владимир Путин", "1"), ("Путин Владимир Владимирович", "1"), ("김정은", "3"), ("习近平", "4"),  # scripts
    ("Κωνσταντίνος Παπαδόπουλος", "11"), ("محمد رضا حسینی", "12"), ("ابو بكر البغدادي", "2"),
    ("Muammar Gaddafi", "10"), ("Moammar Qaddafi", "10"), ("Kim Jong-un", "3"),  # other transliterations
    ("Juan Garcia", "9"), ("Juan Carlos Lopez", "9"), ("J. C. Garcia Lopez", "9"),  # missing parts, initials
    ("Vladimir Puttin", "1"), ("Vladmir Putin", "1"),  # typing errors
    ("Vlаdimir Рutin", "1"),  # Cyrillic а and Р inside Latin words
    ("Ibrahim Awwad al-Badri", "2"),  # an alias
])
def test_it_finds_the_listed_person_however_the_name_is_typed(screener: Screener, typed: str, expected: str | None) -> None:
    found = alerts(screener, typed)
    if expected is None:
        assert found == []
    else:
        assert found == [expected]


@pytest.mark.parametrize("typed", [
    "Sergei Putin",  # the listed surname with another given name
    "Vladimir Sergeyevich Putin",  # another patronymic
    "Maria Garcia Lopez",  # another given name, both surnames shared
    "Juan Carlos Martinez",  # another surname
    "Mohammad Ahmadi",  # a shared given name only
    "Hans Muller",
    "Jong Un",  # one word in common is not enough for a listed name of three
    "Mahmoud Hosseini Reza",  # Mahmoud is not Mohammad, though the consonants agree
    "Abu Dua Hamdan",  # a weak alias only alerts on the alias, nearly exactly
])
def test_another_person_does_not_alert(screener: Screener, typed: str) -> None:
    assert alerts(screener, typed) == []


def test_a_weak_alias_alerts_only_when_typed_nearly_exactly(screener: Screener) -> None:
    assert alerts(screener, "Abu Dua") == ["2"]
    assert alerts(screener, "Abu Duaa") == []


def test_a_dob_contradicting_every_listed_dob_clears_the_hit(screener: Screener) -> None:
    assert alerts(screener, "Vladimir Putin", dob=dt.date(1952, 10, 7)) == ["1"]
    assert alerts(screener, "Vladimir Putin", dob=dt.date(1970, 10, 7)) == []
    assert alerts(screener, "Kim Jong Un", dob=dt.date(1983, 1, 8)) == ["3"]  # the alt. DOB
    assert alerts(screener, "Kim Jong Un", dob=dt.date(1985, 1, 8)) == []
    assert alerts(screener, "Abu Bakr al-Baghdadi", dob=dt.date(1972, 6, 1)) == ["2"]  # circa 1971
    assert alerts(screener, "Abu Bakr al-Baghdadi", dob=dt.date(1980, 6, 1)) == []
    assert alerts(screener, "Jurgen Muller", dob=dt.date(1966, 3, 3)) == ["5"]  # year only


def test_a_country_never_decides_alone(screener: Screener) -> None:
    assert alerts(screener, "Vladimir Putin", country="FR") == ["1"]
    assert alerts(screener, "Ivan Petrov", country="RU") == []
    hit = screener.screen(Query("Vladimir Putin", country="FR"))[0]
    assert "country FR not listed (not decisive)" in hit.explanation


def test_companies_match_across_legal_forms_but_not_another_distinctive_word(screener: Screener) -> None:
    assert alerts(screener, "Volga Marine Shipping Ltd", client_type="company") == ["20"]
    assert alerts(screener, "VOLGA MARINE SHIPPING LIMITED LIABILITY COMPANY", client_type="company") == ["20"]
    assert alerts(screener, "ООО Волга Марин Шиппинг", client_type="company") == ["20"]
    assert alerts(screener, "Rosneft Trading SA", client_type="company") == ["21"]
    assert alerts(screener, "Volga River Shipping LLC", client_type="company") == []
    assert alerts(screener, "Rosneft Aero LLC", client_type="company") == []
    assert alerts(screener, "Vladimir Putin", client_type="company") == []  # a person is not a company


def test_each_hit_explains_which_token_met_which_and_how(screener: Screener) -> None:
    hit = screener.screen(Query("Владимир Путин", dob=dt.date(1952, 10, 7)))[0]
    assert hit.score >= 0.9
    assert "'Владимир (vladimir)' = 'vladimir' (same after transliteration)" in hit.explanation
    assert "listed only: vladimirovich" in hit.explanation
    assert "DOB 1952-10-07 agrees with listed 1952-10-07" in hit.explanation
    typo = screener.screen(Query("Vladimir Pytin"))[0]
    assert "'pytin' = 'putin' (1 letter apart)" in typo.explanation


def test_candidates_come_from_the_index_not_the_whole_list(screener: Screener) -> None:
    from matching.normalise import tokenise

    assert screener.candidates(tokenise("Vladimir Putin")) == {0}
    assert screener.candidates(tokenise("Nobody Inparticular")) == set()
