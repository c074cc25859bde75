"""Builds a third screening set deterministically (seed 6102, not the script set's 61): the variations
real client data has beside scripts and romanisations, on Latin names as well as on the six scripts,
against a list in OFAC's CSV layout (variant_sdn.csv, variant_alt.csv, variant_add.csv) and
variant_queries.csv (query_id, full_name, dob, country, client_type, script, variation, expected, half,
also: the other listed parties the query is just as much, whose alerts are neither right nor wrong).

`half` splits by listed party: `tune` (the matcher may be improved on what its categories show) and
`held` (reported only, never looked at name by name).

Families of listed parties (`script` column): `cyrillic` (Russian and Ukrainian names, listed as OFAC
writes them: "IVANOV, Aleksandr Sergeyevich"), `spanish` (two surnames and accents), `diacritic`
(Turkish, German, Polish, Czech, Vietnamese names with their letters), `english` (given, middle, surname),
and the script set's families made anew with this seed (`han`, `hangul`, `japanese`, `thai`, `myanmar`,
`arabic`), with the new variations added to them.

Variations with a listed party to find:
- native (the name in its own script, Cyrillic included), translit (another romanisation of each word:
  Aleksandr / Alexander, Sergeyevich / Sergeevich, Solovyov / Soloviev), ukrainian (the Ukrainian form of
  a Russian listing: Oleksandr, Serhiy, Mykola), wade_giles, rr, mr, passport, arabic_translit, article;
- order (surname first without a comma, or given names last), missing_middle (a middle name, patronymic
  or father's name left out), initials (given or middle names as initials), compound (a double surname
  hyphenated, joined or one of its two left out), honorific (Mr, Dr, Gen., Sheikh, Haji, Don, Sr., U,
  Daw), diacritics_stripped (José Muñoz -> Jose Munoz, Yılmaz -> Yilmaz), diacritics_added (letters
  given accents they do not have), nickname (Bill for William, Sasha for Aleksandr, Pepe for José),
  typo2 (two edits, as the script set makes them).
Variations where nothing may alert: neg_same_surname (a common listed surname with another given name),
neg_shared_given (the listed given names with another surname), neg_near (a near-collision: a given name
that looks like the listed one and is another name, Aleksey for Aleksandr, Mahmoud for Muhammad, or a
second surname that differs), neg_entity (from the script set's companies). As in the script set, a
name every screening tool must take for a listed one (all its words among a listed name's, or one word a
typing slip from it) is no negative and is left out.

Run: python tests/compliance/data/make_variant_set.py
"""

from __future__ import annotations

import csv
import importlib.util
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 6102


def _script_set():  # noqa: ANN202 - the sibling generator, loaded by path (tests/compliance/data is no package)
    name = "make_script_set"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "make_script_set.py")
    assert spec is not None and spec.loader is not None  # noqa: S101
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


S = _script_set()
Listed = S.Listed

# Russian given names: (key, the list's spelling, [other transliterations], Cyrillic, Ukrainian form, [nicknames]).
RU_GIVEN = [
    ("aleksandr", "Aleksandr", ["Alexander", "Aleksander", "Alexandr"], "Александр", "Oleksandr", ["Sasha"]),
    ("dmitriy", "Dmitriy", ["Dmitry", "Dmitrii", "Dimitri"], "Дмитрий", "Dmytro", ["Dima"]),
    ("sergey", "Sergey", ["Sergei", "Sergii", "Serguei"], "Сергей", "Serhiy", ["Seryozha"]),
    ("yevgeniy", "Yevgeniy", ["Evgeny", "Evgenii", "Yevgeny", "Evgueni"], "Евгений", "Yevhen", ["Zhenya"]),
    ("yuriy", "Yuriy", ["Yuri", "Iurii", "Yury", "Jurij"], "Юрий", "Yurii", ["Yura"]),
    ("mikhail", "Mikhail", ["Mihail", "Michail", "Mikhael"], "Михаил", "Mykhailo", ["Misha"]),
    ("nikolay", "Nikolay", ["Nikolai", "Nicolai", "Nikolaj"], "Николай", "Mykola", ["Kolya"]),
    ("aleksey", "Aleksey", ["Alexei", "Alexey", "Aleksei"], "Алексей", "Oleksiy", ["Alyosha"]),
    ("vladimir", "Vladimir", ["Wladimir", "Vladimyr"], "Владимир", "Volodymyr", ["Volodya"]),
    ("pyotr", "Pyotr", ["Petr", "Piotr"], "Пётр", "Petro", ["Petya"]),
    ("andrey", "Andrey", ["Andrei", "Andrej"], "Андрей", "Andriy", ["Andryusha"]),
    ("grigoriy", "Grigoriy", ["Grigory", "Grigori"], "Григорий", "Hryhoriy", ["Grisha"]),
    ("viktor", "Viktor", ["Victor"], "Виктор", "Viktor", ["Vitya"]),
    ("vyacheslav", "Vyacheslav", ["Viacheslav", "Wiatscheslaw"], "Вячеслав", "Viacheslav", ["Slava"]),
    ("konstantin", "Konstantin", ["Constantin", "Konstantine"], "Константин", "Kostiantyn", ["Kostya"]),
    ("anatoliy", "Anatoliy", ["Anatoly", "Anatolii"], "Анатолий", "Anatolii", ["Tolya"]),
]
# Given names that look like a listed one and are another name (a near-collision).
RU_NEAR = {
    "aleksandr": "aleksey",
    "aleksey": "aleksandr",
    "vladimir": "vyacheslav",
    "vyacheslav": "vladimir",
    "yuriy": "yevgeniy",
    "yevgeniy": "yuriy",
    "andrey": "anatoliy",
    "anatoliy": "andrey",
    "mikhail": "nikolay",
    "nikolay": "mikhail",
    "grigoriy": "viktor",
    "viktor": "grigoriy",
    "dmitriy": "konstantin",
    "konstantin": "dmitriy",
    "sergey": "pyotr",
    "pyotr": "sergey",
}
RU_PATRONYMICS = [
    ("sergeyevich", "Sergeyevich", ["Sergeevich"], "Сергеевич"),
    ("aleksandrovich", "Aleksandrovich", ["Alexandrovich", "Aleksandrowitsch"], "Александрович"),
    ("vladimirovich", "Vladimirovich", ["Wladimirowitsch"], "Владимирович"),
    ("nikolayevich", "Nikolayevich", ["Nikolaevich"], "Николаевич"),
    ("viktorovich", "Viktorovich", ["Victorovich"], "Викторович"),
    ("yuryevich", "Yuryevich", ["Yurievich", "Iurievich", "Yurevich"], "Юрьевич"),
    ("petrovich", "Petrovich", ["Petrowitsch"], "Петрович"),
    ("ivanovich", "Ivanovich", ["Iwanowitsch"], "Иванович"),
    ("mikhaylovich", "Mikhaylovich", ["Mikhailovich", "Michailovich"], "Михайлович"),
    ("olegovich", "Olegovich", [], "Олегович"),
]
RU_SURNAMES = [
    ("ivanov", "Ivanov", ["Ivanoff"], "Иванов"),
    ("petrov", "Petrov", ["Petroff"], "Петров"),
    ("smirnov", "Smirnov", ["Smirnoff"], "Смирнов"),
    ("kuznetsov", "Kuznetsov", ["Kuznetzov", "Kusnezow"], "Кузнецов"),
    ("sokolov", "Sokolov", ["Sokoloff"], "Соколов"),
    ("lebedev", "Lebedev", ["Lebedew"], "Лебедев"),
    ("kozlov", "Kozlov", ["Koslov"], "Козлов"),
    ("novikov", "Novikov", ["Nowikow"], "Новиков"),
    ("morozov", "Morozov", ["Morosov"], "Морозов"),
    ("volkov", "Volkov", ["Wolkow"], "Волков"),
    ("solovyov", "Solovyov", ["Soloviev", "Solovyev", "Solovjov"], "Соловьёв"),
    ("vasilyev", "Vasilyev", ["Vasiliev", "Vassiliev", "Wassiljew"], "Васильев"),
    ("zaytsev", "Zaytsev", ["Zaitsev", "Zajcev"], "Зайцев"),
    ("pavlovskiy", "Pavlovskiy", ["Pavlovsky", "Pavlovskii", "Pawlowski"], "Павловский"),
    ("yakovlev", "Yakovlev", ["Iakovlev", "Jakowlew"], "Яковлев"),
    ("fyodorov", "Fyodorov", ["Fedorov", "Fiodorov"], "Фёдоров"),
    ("tkachenko", "Tkachenko", ["Tkatchenko"], "Ткаченко"),
    ("shevchenko", "Shevchenko", ["Schewtschenko"], "Шевченко"),
    ("kovalenko", "Kovalenko", ["Kowalenko"], "Коваленко"),
    ("bondarenko", "Bondarenko", [], "Бондаренко"),
]
RU_HONORIFICS = ["Mr", "Mr.", "Dr.", "Gen.", "Colonel", "General"]

# Spanish given names: (key, with accents, [nicknames]); surnames (key, with accents).
ES_GIVEN = [
    ("jose", "José", ["Pepe"]),
    ("francisco", "Francisco", ["Paco", "Pancho"]),
    ("jesus", "Jesús", ["Chuy"]),
    ("ramon", "Ramón", []),
    ("joaquin", "Joaquín", ["Quino"]),
    ("angel", "Ángel", []),
    ("andres", "Andrés", []),
    ("sebastian", "Sebastián", []),
    ("martin", "Martín", []),
    ("hector", "Héctor", []),
    ("raul", "Raúl", []),
    ("oscar", "Óscar", []),
    ("inigo", "Iñigo", []),
    ("ignacio", "Ignacio", ["Nacho"]),
    ("guillermo", "Guillermo", ["Memo"]),
    ("manuel", "Manuel", ["Manolo"]),
    ("antonio", "Antonio", ["Toño"]),
    ("enrique", "Enrique", ["Quique"]),
    ("alfonso", "Alfonso", ["Poncho"]),
    ("rodrigo", "Rodrigo", ["Rodri"]),
]
ES_SURNAMES = [
    ("munoz", "Muñoz"),
    ("nunez", "Núñez"),
    ("perez", "Pérez"),
    ("hernandez", "Hernández"),
    ("rodriguez", "Rodríguez"),
    ("martinez", "Martínez"),
    ("sanchez", "Sánchez"),
    ("gomez", "Gómez"),
    ("jimenez", "Jiménez"),
    ("dominguez", "Domínguez"),
    ("vasquez", "Vásquez"),
    ("pena", "Peña"),
    ("ibanez", "Ibáñez"),
    ("ordonez", "Ordóñez"),
    ("gutierrez", "Gutiérrez"),
    ("suarez", "Suárez"),
    ("alvarez", "Álvarez"),
    ("castaneda", "Castañeda"),
    ("garcia", "García"),
    ("lopez", "López"),
    ("londono", "Londoño"),
    ("zuniga", "Zúñiga"),
    ("echeverria", "Echeverría"),
    ("beltran", "Beltrán"),
]
ES_HONORIFICS = ["Don", "Sr.", "Señor", "Lic.", "Ing.", "Dr."]

# Names of languages with letters of their own: (key, spelled right, spelled plain as a keyboard without
# them writes it), given names and surnames.
DIA_GIVEN = [
    ("mehmet", "Mehmet", "Mehmet"),
    ("huseyin", "Hüseyin", "Huseyin"),
    ("ibrahim", "İbrahim", "Ibrahim"),
    ("caglar", "Çağlar", "Caglar"),
    ("sukru", "Şükrü", "Sukru"),
    ("gokhan", "Gökhan", "Gokhan"),
    ("jurgen", "Jürgen", "Jurgen"),
    ("jorg", "Jörg", "Jorg"),
    ("bjorn", "Björn", "Bjorn"),
    ("lukasz", "Łukasz", "Lukasz"),
    ("wojciech", "Wojciech", "Wojciech"),
    ("zdenek", "Zdeněk", "Zdenek"),
    ("jiri", "Jiří", "Jiri"),
    ("tomas", "Tomáš", "Tomas"),
    ("ozgur", "Özgür", "Ozgur"),
    ("duc", "Đức", "Duc"),
    ("søren", "Søren", "Soren"),
    ("francois", "François", "Francois"),
]
DIA_SURNAMES = [
    ("yilmaz", "Yılmaz", "Yilmaz"),
    ("sahin", "Şahin", "Sahin"),
    ("celik", "Çelik", "Celik"),
    ("ozturk", "Öztürk", "Ozturk"),
    ("dogan", "Doğan", "Dogan"),
    ("aydin", "Aydın", "Aydin"),
    ("gunes", "Güneş", "Gunes"),
    ("schafer", "Schäfer", "Schafer"),
    ("muller", "Müller", "Muller"),
    ("kruger", "Krüger", "Kruger"),
    ("wojcik", "Wójcik", "Wojcik"),
    ("wisniewski", "Wiśniewski", "Wisniewski"),
    ("dvorak", "Dvořák", "Dvorak"),
    ("novotny", "Novotný", "Novotny"),
    ("cerny", "Černý", "Cerny"),
    ("ngo", "Ngô", "Ngo"),
    ("dang", "Đặng", "Dang"),
    ("lefevre", "Lefèvre", "Lefevre"),
    ("sorensen", "Sørensen", "Sorensen"),
    ("kucuk", "Küçük", "Kucuk"),
]

# English names: (key, name, [nicknames]); surnames; near-collision surnames (another name, two edits or more).
EN_GIVEN = [
    ("william", "William", ["Bill", "Billy", "Will"]),
    ("robert", "Robert", ["Bob", "Rob", "Bobby"]),
    ("richard", "Richard", ["Dick", "Rick"]),
    ("james", "James", ["Jim", "Jimmy"]),
    ("margaret", "Margaret", ["Peggy", "Maggie"]),
    ("elizabeth", "Elizabeth", ["Liz", "Beth", "Betty"]),
    ("michael", "Michael", ["Mike", "Mick"]),
    ("thomas", "Thomas", ["Tom", "Tommy"]),
    ("edward", "Edward", ["Ted", "Ed", "Eddie"]),
    ("charles", "Charles", ["Chuck", "Charlie"]),
    ("anthony", "Anthony", ["Tony"]),
    ("joseph", "Joseph", ["Joe"]),
    ("katherine", "Katherine", ["Kate", "Kathy"]),
    ("nicholas", "Nicholas", ["Nick"]),
    ("christopher", "Christopher", ["Chris"]),
    ("daniel", "Daniel", ["Dan", "Danny"]),
    ("jennifer", "Jennifer", ["Jenny"]),
    ("patrick", "Patrick", ["Paddy", "Pat"]),
    ("gregory", "Gregory", ["Greg"]),
    ("benjamin", "Benjamin", ["Ben"]),
]
EN_SURNAMES = [
    ("smith", "Smith"),
    ("johnson", "Johnson"),
    ("brown", "Brown"),
    ("taylor", "Taylor"),
    ("harrison", "Harrison"),
    ("walker", "Walker"),
    ("oconnor", "O'Connor"),
    ("mcdonald", "McDonald"),
    ("fitzgerald", "Fitzgerald"),
    ("kowalski", "Kowalski"),
    ("robinson", "Robinson"),
    ("hughes", "Hughes"),
    ("campbell", "Campbell"),
    ("murphy", "Murphy"),
    ("sullivan", "Sullivan"),
    ("bennett", "Bennett"),
]
EN_NEAR = {
    "harrison": "Harris",
    "fitzgerald": "Fitzpatrick",
    "mcdonald": "McDowell",
    "kowalski": "Kowalczyk",
    "robinson": "Robertson",
    "walker": "Walters",
    "johnson": "Jameson",
    "campbell": "Campion",
    "sullivan": "Sullivant",
    "bennett": "Bentley",
    "murphy": "Murray",
    "hughes": "Hughson",
}
EN_HONORIFICS = ["Mr", "Mr.", "Mrs", "Ms.", "Dr", "Dr.", "Sir", "Prof.", "Rev."]
AR_HONORIFICS = ["Sheikh", "Shaikh", "Haji", "Hajji", "Sayyid", "Dr.", "Imam"]
AR_NEAR = {
    "Muhammad": "Mahmud",
    "Husayn": "Hasan",
    "Umar": "Amir",
    "Said": "Saad",
    "Salih": "Salim",
    "Jamal": "Kamal",
    "Nabil": "Nabih",
    "Walid": "Khalid",
    "Khalid": "Walid",
    "Hisham": "Hashim",
    "Yasin": "Yasir",
    "Tariq": "Talib",
    "Ahmad": "Hamid",
    "Faysal": "Fadil",
    "Hamza": "Hamid",
}
ZH_HONORIFICS = ["Mr", "Dr.", "Mr."]
KO_HONORIFICS = ["Mr", "Dr."]

# Letters a careless or "helpful" system puts accents on.
_ACCENTED = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü", "n": "ñ", "c": "ç", "s": "ş"}


def _add_accents(rng: random.Random, name: str) -> str:
    """Two letters of a plain name given accents they do not have (Jośe, Garcïa)."""
    chars = list(name)
    spots = [i for i, c in enumerate(chars) if c in _ACCENTED]
    for i in rng.sample(spots, min(2, len(spots))):
        chars[i] = _ACCENTED[chars[i]]
    return "".join(chars)


def _strip(text: str) -> str:
    import unicodedata

    special = str.maketrans({"ı": "i", "İ": "I", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "o", "Ø": "O"})
    text = text.translate(special)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def russian(rng: random.Random, n: int) -> list[Listed]:
    out: list[Listed] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < n:
        given, pat, sur = rng.choice(RU_GIVEN), rng.choice(RU_PATRONYMICS), rng.choice(RU_SURNAMES)
        if (given[0], sur[0]) in seen:
            continue
        seen.add((given[0], sur[0]))
        p = Listed(
            "",
            "cyrillic",
            f"{sur[1].upper()}, {given[1]} {pat[1]}",
            "RU",
            ident=frozenset({given[0], pat[0], sur[0]}),
        )
        if rng.random() < 0.5:
            p.queries.append(("native", f"{given[3]} {pat[3]} {sur[3]}"))
        else:
            p.queries.append(("native", f"{sur[3]} {given[3]} {pat[3]}"))
        p.queries.append(("native", f"{given[3]} {sur[3]}"))

        def other(forms: list[str], listed: str) -> str:
            return rng.choice(forms) if forms else listed

        p.queries.append(
            ("translit", f"{other(given[2], given[1])} {other(pat[2], pat[1])} {other(sur[2], sur[1])}")
        )
        p.queries.append(("translit", f"{other(given[2], given[1])} {other(sur[2], sur[1])}"))
        if given[4] != given[1]:
            p.queries.append(("ukrainian", f"{given[4]} {sur[1]}"))
        p.queries.append(("order", f"{sur[1]} {given[1]} {pat[1]}"))
        p.queries.append(("missing_middle", f"{given[1]} {sur[1]}"))
        p.queries.append(
            (
                "initials",
                rng.choice([f"{given[1][0]}. {pat[1][0]}. {sur[1]}", f"{given[1]} {pat[1][0]}. {sur[1]}"]),
            )
        )
        p.queries.append(("nickname", f"{rng.choice(given[5])} {sur[1]}"))
        p.queries.append(("honorific", f"{rng.choice(RU_HONORIFICS)} {given[1]} {pat[1]} {sur[1]}"))
        p.queries.append(("typo2", S._typo2(rng, f"{given[1]} {pat[1]} {sur[1]}")))
        others = [g for g in RU_GIVEN if g[0] != given[0] and g[0] != RU_NEAR[given[0]]]
        o = rng.choice(others)
        o_pat = rng.choice([x for x in RU_PATRONYMICS if x is not pat])
        p.negatives.append(
            (
                "neg_same_surname",
                f"{o[1]} {o_pat[1]} {sur[1]}",
                frozenset({o[0], o_pat[0], sur[0]}),
                f"{o[1]} {o_pat[1]} {sur[1]}",
            )
        )
        p.negatives.append(
            ("neg_same_surname", f"{o[3]} {sur[3]}", frozenset({o[0], sur[0]}), f"{o[1]} {sur[1]}")
        )
        near = next(g for g in RU_GIVEN if g[0] == RU_NEAR[given[0]])
        p.negatives.append(
            ("neg_near", f"{near[1]} {sur[1]}", frozenset({near[0], sur[0]}), f"{near[1]} {sur[1]}")
        )
        o_sur = rng.choice([s for s in RU_SURNAMES if s is not sur])
        p.negatives.append(
            (
                "neg_shared_given",
                f"{given[1]} {pat[1]} {o_sur[1]}",
                frozenset({given[0], pat[0], o_sur[0]}),
                f"{given[1]} {pat[1]} {o_sur[1]}",
            )
        )
        out.append(p)
    return out


def spanish(rng: random.Random, n: int) -> list[Listed]:
    out: list[Listed] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < n:
        given = rng.sample(ES_GIVEN, 2 if rng.random() < 0.5 else 1)
        first, second = rng.sample(ES_SURNAMES, 2)
        key = (*(g[0] for g in given), first[0], second[0])
        if key in seen:
            continue
        seen.add(key)
        g_acc = " ".join(g[1] for g in given)
        p = Listed(
            "",
            "spanish",
            f"{first[1].upper()} {second[1].upper()}, {g_acc}",
            "MX",
            ident=frozenset({*(g[0] for g in given), first[0], second[0]}),
        )
        p.queries.append(("diacritics_stripped", _strip(f"{g_acc} {first[1]} {second[1]}")))
        p.queries.append(("diacritics_added", _add_accents(rng, _strip(f"{g_acc} {first[1]} {second[1]}"))))
        p.queries.append(
            (
                "compound",
                rng.choice(
                    [
                        f"{g_acc} {first[1]}-{second[1]}",
                        f"{g_acc} {first[1]}",
                        f"{_strip(g_acc)} {_strip(first[1])}{_strip(second[1]).lower()}",
                    ]
                ),
            )
        )
        p.queries.append(("compound", f"{g_acc} {first[1]} y {second[1]}"))
        p.queries.append(("order", f"{first[1]} {second[1]} {g_acc}"))
        if len(given) == 2:
            p.queries.append(("missing_middle", f"{given[0][1]} {first[1]} {second[1]}"))
            p.queries.append(("initials", f"{given[0][1]} {given[1][1][0]}. {first[1]} {second[1]}"))
        if given[0][2]:
            p.queries.append(("nickname", f"{rng.choice(given[0][2])} {first[1]} {second[1]}"))
        p.queries.append(("honorific", f"{rng.choice(ES_HONORIFICS)} {g_acc} {first[1]} {second[1]}"))
        p.queries.append(("typo2", S._typo2(rng, _strip(f"{g_acc} {first[1]} {second[1]}"))))
        o_second = rng.choice([s for s in ES_SURNAMES if s not in (first, second)])
        p.negatives.append(
            (
                "neg_near",
                f"{g_acc} {first[1]} {o_second[1]}",
                frozenset({*(g[0] for g in given), first[0], o_second[0]}),
                f"{g_acc} {first[1]} {o_second[1]}",
            )
        )
        o_given = rng.choice([g for g in ES_GIVEN if g not in given])
        p.negatives.append(
            (
                "neg_same_surname",
                f"{o_given[1]} {first[1]} {second[1]}",
                frozenset({o_given[0], first[0], second[0]}),
                f"{o_given[1]} {first[1]} {second[1]}",
            )
        )
        o_first = rng.choice([s for s in ES_SURNAMES if s not in (first, second)])
        p.negatives.append(
            (
                "neg_shared_given",
                f"{g_acc} {o_first[1]} {o_second[1]}",
                frozenset({*(g[0] for g in given), o_first[0], o_second[0]}),
                f"{g_acc} {o_first[1]} {o_second[1]}",
            )
        )
        out.append(p)
    return out


def diacritic(rng: random.Random, n: int) -> list[Listed]:
    out: list[Listed] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < n:
        given, sur = rng.choice(DIA_GIVEN), rng.choice(DIA_SURNAMES)
        if (given[0], sur[0]) in seen:
            continue
        seen.add((given[0], sur[0]))
        plain_listed = rng.random() < 0.4  # some lists write the letters, others not
        listed = f"{(sur[2] if plain_listed else sur[1]).upper()}, {given[2] if plain_listed else given[1]}"
        p = Listed("", "diacritic", listed, "TR", ident=frozenset({given[0], sur[0]}))
        if plain_listed:
            p.queries.append(("diacritics_added", f"{given[1]} {sur[1]}"))
        else:
            p.queries.append(("diacritics_stripped", f"{given[2]} {sur[2]}"))
        p.queries.append(("diacritics_added", _add_accents(rng, f"{given[2]} {sur[2]}")))
        p.queries.append(("order", f"{sur[1]} {given[1]}"))
        p.queries.append(("honorific", f"{rng.choice(EN_HONORIFICS)} {given[1]} {sur[1]}"))
        typed = f"{given[2]} {sur[2]}"
        if sum(len(w) >= 4 for w in typed.split()) >= 2:
            p.queries.append(("typo2", S._typo2(rng, typed)))
        o_given = rng.choice([g for g in DIA_GIVEN if g is not given])
        p.negatives.append(
            (
                "neg_same_surname",
                f"{o_given[1]} {sur[1]}",
                frozenset({o_given[0], sur[0]}),
                f"{o_given[2]} {sur[2]}",
            )
        )
        o_sur = rng.choice([s for s in DIA_SURNAMES if s is not sur])
        p.negatives.append(
            (
                "neg_shared_given",
                f"{given[1]} {o_sur[1]}",
                frozenset({given[0], o_sur[0]}),
                f"{given[2]} {o_sur[2]}",
            )
        )
        out.append(p)
    return out


def english(rng: random.Random, n: int) -> list[Listed]:
    out: list[Listed] = []
    seen: set[tuple[str, ...]] = set()
    while len(out) < n:
        given, middle = rng.sample(EN_GIVEN, 2)
        sur = rng.choice(EN_SURNAMES)
        if (given[0], sur[0]) in seen:
            continue
        seen.add((given[0], sur[0]))
        p = Listed(
            "",
            "english",
            f"{sur[1].upper()}, {given[1]} {middle[1]}",
            "GB",
            ident=frozenset({given[0], middle[0], sur[0]}),
        )
        p.queries.append(("order", f"{sur[1]} {given[1]} {middle[1]}"))
        p.queries.append(("missing_middle", f"{given[1]} {sur[1]}"))
        p.queries.append(
            (
                "initials",
                rng.choice(
                    [
                        f"{given[1][0]}. {middle[1][0]}. {sur[1]}",
                        f"{given[1]} {middle[1][0]}. {sur[1]}",
                        f"{given[1][0]} {middle[1]} {sur[1]}",
                    ]
                ),
            )
        )
        p.queries.append(("nickname", f"{rng.choice(given[2])} {sur[1]}"))
        p.queries.append(("honorific", f"{rng.choice(EN_HONORIFICS)} {given[1]} {middle[1]} {sur[1]}"))
        p.queries.append(("diacritics_added", _add_accents(rng, f"{given[1]} {sur[1]}")))
        p.queries.append(("typo2", S._typo2(rng, f"{given[1]} {middle[1]} {sur[1]}")))
        o_given = rng.choice([g for g in EN_GIVEN if g not in (given, middle)])
        p.negatives.append(
            (
                "neg_same_surname",
                f"{o_given[1]} {sur[1]}",
                frozenset({o_given[0], sur[0]}),
                f"{o_given[1]} {sur[1]}",
            )
        )
        if sur[0] in EN_NEAR:
            near = EN_NEAR[sur[0]]
            p.negatives.append(
                (
                    "neg_near",
                    f"{given[1]} {middle[1]} {near}",
                    frozenset({given[0], middle[0], near.lower()}),
                    f"{given[1]} {middle[1]} {near}",
                )
            )
        o_sur = rng.choice([s for s in EN_SURNAMES if s is not sur])
        p.negatives.append(
            (
                "neg_shared_given",
                f"{given[1]} {o_sur[1]}",
                frozenset({given[0], o_sur[0]}),
                f"{given[1]} {o_sur[1]}",
            )
        )
        out.append(p)
    return out


def _extra_scripts(rng: random.Random, parties: list[Listed]) -> None:
    """The new variations on the script set's families: order, honorifics, a middle (father's) name left
    out, Arabic near-collisions."""
    for p in parties:
        surname, _, given = p.listed.partition(", ")
        if p.script == "arabic":
            words = given.split()
            sur = surname.title().replace("Al-", "al-")
            p.queries.append(("honorific", f"{rng.choice(AR_HONORIFICS)} {given} {sur}"))
            p.queries.append(("missing_middle", f"{words[0]} {sur}"))
            p.queries.append(("order", f"{sur} {given}"))
            p.queries.append(("compound", f"{words[0]} bin {words[1]} {sur}"))
            if words[0] in AR_NEAR:
                near = AR_NEAR[words[0]]
                p.negatives.append(
                    (
                        "neg_near",
                        f"{near} {words[1]} {sur}",
                        frozenset({near, words[1], sur}),
                        f"{near} {words[1]} {sur}",
                    )
                )
        elif p.script == "han" and given:
            p.queries.append(("order", f"{given} {surname.title()}"))
            p.queries.append(("honorific", f"{rng.choice(ZH_HONORIFICS)} {surname.title()} {given}"))
        elif p.script == "hangul" and given:
            p.queries.append(("order", f"{given} {surname.title()}"))
            p.queries.append(("honorific", f"{rng.choice(KO_HONORIFICS)} {given} {surname.title()}"))
        elif p.script in ("japanese", "thai") and given:
            p.queries.append(("order", f"{surname.title()} {given}"))
            p.queries.append(("honorific", f"{rng.choice(EN_HONORIFICS)} {given} {surname.title()}"))


def _idents_clash(ident: frozenset[str], latin: str, other: Listed) -> bool:
    return S._confusable(ident, latin, other)


_TITLES = frozenset(
    _strip(t).lower().rstrip(".")
    for t in (*RU_HONORIFICS, *ES_HONORIFICS, *EN_HONORIFICS, *AR_HONORIFICS, "bin", "y")
)


def _also(query: str, party: Listed, parties: list[Listed]) -> list[str]:
    """Other listed parties a positive query is just as much (every screening tool alerts on them too):
    its words, titles aside, all among a listed name's, and each initial the first letter of one of the
    rest ("Edward Harrison" is every listed Edward Harrison whatever his middle name)."""
    words = [w for w in S._folded(_strip(query).replace(".", " ")) if w not in _TITLES]
    if not words or not query.isascii() and _strip(query) == query:
        return []
    full = {w for w in words if len(w) > 1}
    initials = [w for w in words if len(w) == 1]
    out = []
    for other in parties:
        if other is party or other.script != party.script or other.entity:
            continue
        listed = S._folded(_strip(other.listed))
        rest = sorted(listed - full)
        if (
            full <= listed
            and len(initials) <= len(rest)
            and all(any(r.startswith(i) for r in rest) for i in initials)
        ):
            out.append(other.ent)
    return out


def build() -> tuple[list[Listed], list[tuple[str, ...]]]:
    rng = random.Random(SEED)
    scripted = (
        S.chinese(rng, 30)
        + S.korean(rng, 30)
        + S.japanese(rng, 24)
        + S.thai(rng, 24)
        + S.burmese(rng, 24)
        + S.arabic(rng, 30)
    )
    _extra_scripts(rng, scripted)
    made = (
        russian(rng, 40) + spanish(rng, 36) + diacritic(rng, 30) + english(rng, 36) + scripted + S.entities()
    )
    parties: list[Listed] = []
    for p in made:
        if p.entity or not any(_idents_clash(p.ident, p.listed, q) for q in parties if q.script == p.script):
            parties.append(p)
    order = list(range(len(parties)))
    rng.shuffle(order)
    halves = {number: ("tune" if rank % 2 == 0 else "held") for rank, number in enumerate(order)}
    for n, p in enumerate(parties):
        p.ent = str(62000 + n)
    rows: list[tuple[str, ...]] = []
    for n, p in enumerate(parties):
        client_type = "company" if p.entity else "person"
        for variation, query in p.queries:
            also = " ".join(_also(query, p, parties))
            rows.append((query, "", "", client_type, p.script, variation, p.ent, halves[n], also))
        for variation, query, ident, latin in p.negatives:
            if not any(
                _idents_clash(ident, latin, q) for q in parties if q.script == p.script and not p.entity
            ):
                rows.append((query, "", "", client_type, p.script, variation, "", halves[n], ""))
    return parties, rows


COUNTRY = {**S.COUNTRY, "RU": "Russia", "MX": "Mexico", "TR": "Turkey", "GB": "United Kingdom"}


def main() -> None:
    parties, rows = build()
    with (
        (HERE / "variant_sdn.csv").open("w", newline="", encoding="utf-8") as sdn,
        (HERE / "variant_alt.csv").open("w", newline="", encoding="utf-8") as alt,
        (HERE / "variant_add.csv").open("w", newline="", encoding="utf-8") as add,
    ):
        sdn_w, add_w = (csv.writer(f, lineterminator="\r\n") for f in (sdn, add))
        del alt  # no aliases: each name is listed in one spelling
        for n, p in enumerate(parties, start=1):
            sdn_w.writerow(
                [
                    p.ent,
                    p.listed,
                    "-0- " if p.entity else "individual",
                    "SDGT",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                    "-0- ",
                ]
            )
            if p.country:
                add_w.writerow([p.ent, n, "-0- ", "-0- ", COUNTRY[p.country], "-0- "])
    with (HERE / "variant_queries.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(
            [
                "query_id",
                "full_name",
                "dob",
                "country",
                "client_type",
                "script",
                "variation",
                "expected",
                "half",
                "also",
            ]
        )
        for n, row in enumerate(rows, start=1):
            writer.writerow([f"V{n:04d}", *row])


if __name__ == "__main__":
    main()
