"""The categories of the variant set's tuning half (tests/compliance/data/make_variant_set.py) that the
matcher missed or alerted on wrongly, one test each: the listed party is found the way clients really
write it (a nickname, another transliteration of a Russian name, its Ukrainian form, a Hangul final, a
Thai spelling), and the look-alike of each category stays quiet."""

from __future__ import annotations

import pytest

from matching import ListedEntry, ListedName, Query, Screener
from matching.scripts import thai_to_latin
from tests.compliance.screening_asks import alerts, how

ENTRIES = [
    ListedEntry("1", "person", (ListedName("SMITH, William James"),)),
    ListedEntry("2", "person", (ListedName("IVANOV, Aleksandr Sergeyevich"),)),
    ListedEntry("3", "person", (ListedName("SHEVCHENKO, Sergey Petrovich"),)),
    ListedEntry("4", "person", (ListedName("SHEVCHENKO, Nikolay Petrovich"),)),
    ListedEntry("5", "person", (ListedName("YAKOVLEV, Grigoriy Vladimirovich"),)),
    ListedEntry("6", "person", (ListedName("GARCIA LOPEZ, Jose Antonio"),)),
    ListedEntry("7", "person", (ListedName("HARRISON, James Edward"),)),
    ListedEntry("8", "person", (ListedName("YI, Yong Min"),)),
    ListedEntry("9", "person", (ListedName("SRIWONG, Somchai"),)),
    ListedEntry("10", "person", (ListedName("CHAN-O-CHA, Chatchai"),)),
    ListedEntry("11", "person", (ListedName("CHARNVIRAKUL, Vichai"),)),
    ListedEntry("12", "person", (ListedName("PHROMMA, Wichai"),)),
    ListedEntry("13", "person", (ListedName("AL-UTAYBI, Hamza Salih"),)),
    ListedEntry("14", "person", (ListedName("AL-UTAYBI, Hisham Salih"),)),
    ListedEntry("15", "person", (ListedName("PARK, Hyuk-nam"),)),
    ListedEntry("16", "person", (ListedName("XU, Rongxin"),)),
    ListedEntry("17", "person", (ListedName("SOLOVYOV, Dmitriy Yuryevich"),)),
]


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener(ENTRIES)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Bill Smith", "1"),
        ("Sasha Ivanov", "2"),
        ("Pepe Garcia Lopez", "6"),
        ("Jim Harrison", "7"),
        ("Dima Solovyov", "17"),
    ],
)
def test_a_nickname_finds_the_listed_given_name(screener: Screener, typed: str, expected: str) -> None:
    assert alerts(screener, typed) == [expected]
    assert "another form of the name" in how(screener, typed)


@pytest.mark.parametrize("typed", ["Robert Smith", "Bob Harrison", "Dima Ivanov", "Paco Garcia Lopez"])
def test_a_nickname_of_another_name_is_another_person(screener: Screener, typed: str) -> None:
    assert alerts(screener, typed) == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Oleksandr Ivanov", "2"),
        ("Serhiy Petrovych Shevchenko", "3"),
        ("Hryhoriy Yakovlev", "5"),
    ],
)
def test_the_ukrainian_form_finds_the_russian_listing(screener: Screener, typed: str, expected: str) -> None:
    assert expected in alerts(screener, typed)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Sergei Petrowitsch Schewtschenko", "3"),
        ("Grigory Jakowlew", "5"),
        ("Alexander Sergeevich Ivanoff", "2"),
        ("Dmitry Yurievich Soloviev", "17"),
        ("Dmitrii Solovjov", "17"),
    ],
)
def test_another_transliteration_of_a_russian_name(screener: Screener, typed: str, expected: str) -> None:
    assert alerts(screener, typed) == [expected]


def test_the_german_transliteration_meets_the_english_one_as_cyrillic() -> None:
    # w for v, sch for sh, tsch for ch: no spelling rule met these before the Cyrillic key.
    [hit] = Screener(ENTRIES).screen(Query("Sergei Petrowitsch Schewtschenko"))
    assert "'schewtschenko' = 'shevchenko' (transliteration variant (Cyrillic))" in hit.explanation
    assert "'petrowitsch' = 'petrovich' (transliteration variant (Cyrillic))" in hit.explanation


@pytest.mark.parametrize("typed", ["Aleksey Ivanov", "Sergey Petrovich Kovalenko", "Grigoriy Yakubov"])
def test_a_near_russian_name_is_another_person(screener: Screener, typed: str) -> None:
    assert alerts(screener, typed) == []


def test_an_initial_left_over_beside_a_listed_name_left_over_is_another_person(screener: Screener) -> None:
    # S. P. is Sergey Petrovich; Nikolay Petrovich would have met an N.
    assert alerts(screener, "S. P. Shevchenko") == ["3"]
    assert alerts(screener, "N. P. Shevchenko") == ["4"]
    assert alerts(screener, "R. Edward Harrison") == []
    assert alerts(screener, "J. Edward Harrison") == ["7"]


def test_a_listed_korean_surname_is_not_read_written_together_with_a_given_name(screener: Screener) -> None:
    assert alerts(screener, "Kwon Young-min") == []  # not Yi Yong read as "Young"
    assert alerts(screener, "권영민") == []
    assert alerts(screener, "Lee Young-min") == ["8"]
    assert alerts(screener, "이영민") == ["8"]


@pytest.mark.parametrize(
    ("thai", "latin"),
    [
        ("ศรีวงศ์", "siwong"),
        ("ชาญวีรกูล", "chanwirakun"),
        ("ชาติชาย", "chatchai"),
        ("พรหมมา", "phromma"),
        ("จันทร์โอชา", "chanocha"),
        ("ศาสตร์", "sat"),
        # unchanged: a final ตร, a doubled ต, a short vowel before three consonants
        ("ชินวัตร", "chinwat"),
        ("ประวิตร", "prawit"),
        ("กิตติ", "kitti"),
        ("สุขสวัสดิ์", "suksawat"),
    ],
)
def test_thai_spellings(thai: str, latin: str) -> None:
    assert thai_to_latin(thai) == latin


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("สมชาย ศรีวงศ์", "9"),
        ("ชาติชาย จันทร์โอชา", "10"),
        ("วิชัย ชาญวีรกูล", "11"),
        ("วิชัย พรหมมา", "12"),
        ("Chatchay Chanocha", "10"),
    ],
)
def test_thai_names_find_their_listing(screener: Screener, typed: str, expected: str) -> None:
    assert alerts(screener, typed) == [expected]


def test_arabic_consonants_swapped_are_another_name(screener: Screener) -> None:
    # حمزة (h m z) and هشام (h sh m) are one consonant apart only if two may swap places.
    assert alerts(screener, "حمزة صالح العتيبي") == ["13"]
    assert alerts(screener, "هشام صالح العتيبي") == ["14"]


def test_a_hangul_final_reads_as_revised_romanization(screener: Screener) -> None:
    assert alerts(screener, "박혁남") == ["15"]  # bak hyeok nam, not bag hyeog


def test_wade_giles_hsu_is_pinyin_xu(screener: Screener) -> None:
    assert alerts(screener, "Jung-hsin Hsu") == ["16"]
    assert alerts(screener, "Hsü Jung-hsin") == ["16"]
