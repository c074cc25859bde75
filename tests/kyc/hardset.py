"""A labelled set harder than docgen.generated_set, for `benchmarks/kyc_labelled_set.py`: 300 documents
with the decision a compliance officer would take on each, a third of them of the six kinds of miss in
issue 41, each labelled with its kind:

- "bill_read" (kind 1): bills and statements scanned or photographed as images (also inside a PDF), in
  the languages of the brand's countries with the month's name in that language or the date in
  figures, turned, skewed or faded;
- "pdf_embedded" (kind 2): passports and identity cards scanned into a PDF as a picture drawn on part
  of the page (the page rendered whole makes the machine-readable zone too small to read);
- "romanisation" (kind 3): the given name in another romanisation than the document's (Umar, OMAR);
- "particle" (kind 4): a surname particle (van, de, da) and a middle name only on the document;
- "address_spelling" (kind 5): diacritics written another way (Köln, KOELN), a country as a code in
  the registration and written out on the bill;
- "street_type" (kind 6): the street's type word in another language or abbreviated (Bulevardul, Bd.;
  Straße, Str.; Calle, C/).

Each kind has positives (a person approves at a glance) and negatives (a different given name, a
different street number, an old or foreign-named bill: never approved). The other 200 documents
("ordinary") mix every outcome of the ordinary set with harder scans (faded, skewed further, inside a
PDF) and bills in every language. Kinds 3 to 6 are the name and address matchers' part, which this set
measures but the reading side does not change. Reproducible from the seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta

from kyc.checks import Applicant
from tests.kyc import docgen
from tests.kyc.docgen import AS_OF, Bill, Case, Holder, IdDoc

KINDS = ("bill_read", "pdf_embedded", "romanisation", "particle", "address_spelling", "street_type")
LANGUAGES = ("en", *docgen.WORDINGS)


@dataclass(frozen=True)
class Labelled:
    case: Case
    kind: str  # one of KINDS, or "ordinary"


def _id_embedded(name: str, doc: IdDoc, applicant: Applicant, expected: str, failing: set[str] | None = None, *,
                 seed: int, scale: float, width: float, photo: bool = False) -> Case:
    """The identity page scanned at `scale` times 150 dpi and drawn on `width` of an A4 PDF page."""
    from PIL import Image

    img = docgen.identity_image(doc, seed)
    if photo:
        img = docgen.phone_photo(docgen.passport_image(doc, seed) if doc.kind == "passport" else img, seed)
    if scale != 1:
        img = img.resize((round(img.size[0] * scale), round(img.size[1] * scale)), Image.Resampling.BICUBIC)
    rng = random.Random(seed)
    data = docgen.embedded_pdf(img, width=width, left=rng.uniform(0.04, 0.96 - width), top=rng.uniform(0.04, 0.3))
    side = "back" if doc.kind == "id_card" else ""
    return Case(name, "identity", ((data, f"{name}.pdf", doc.kind, side),), applicant, expected,
                frozenset(failing or ()))


def _holder(rng: random.Random) -> Holder:
    first, middle = rng.choice(docgen.GIVEN)
    birth = date(rng.randint(1950, 2003), rng.randint(1, 12), rng.randint(1, 28))
    return Holder(rng.choice(docgen.SURNAMES), f"{first} {middle}".strip(), birth, rng.choice("MF"))


def _iddoc(rng: random.Random, h: Holder) -> IdDoc:
    return IdDoc(rng.choice(("passport", "passport", "id_card")), h, number=docgen._number(rng),
                 issued=AS_OF - timedelta(days=rng.randint(30, 3000)),
                 expiry=AS_OF + timedelta(days=rng.randint(40, 3500)))


# --- kind 1: bills read from pictures ------------------------------------------------------------------

ADDRESSES = {  # a registered address in each language's country, as the client typed it
    "en": "12 Baker Street\nLondon NW1 6XE", "de": "Lindenallee 23\n10115 Berlin", "fr": "8 rue Victor Hugo\n69002 Lyon",
    "es": "Calle Mayor 14\n28013 Madrid", "it": "Via Roma 31\n20121 Milano", "nl": "Keizersgracht 112\n1015 CW Amsterdam",
    "pt": "Rua Augusta 70\n1100-053 Lisboa", "ro": "Strada Lipscani 19\n030031 Bucuresti",
    "pl": "ul. Marszalkowska 45\n00-648 Warszawa",
}
BILL_TRANSFORMS = ("", "rot90", "rot180", "rot270", "skew", "skew8", "lowcontrast", "lowcontrast+skew")


def _bill_read(i: int, rng: random.Random) -> Labelled:
    h = _holder(rng)
    lang = LANGUAGES[i % len(LANGUAGES)]
    a = docgen.applicant_for(h, address=ADDRESSES[lang])
    bill = Bill(rng.choice(("utility_bill", "bank_statement")), f"{h.given_names} {h.surname}", a.address,
                AS_OF - timedelta(days=rng.randint(1, 80)), language=lang, written_date=rng.random() < 0.7)
    fmt = rng.choice(("png", "jpeg", "pdf-embed"))
    transform = BILL_TRANSFORMS[i % len(BILL_TRANSFORMS)]
    name = f"k1_{i:03d}_{lang}_{transform or 'upright'}"
    s = rng.randint(0, 10_000)
    outcome = i % 4
    if outcome == 3:  # older than the brand allows: refused, whatever the language
        return Labelled(docgen._bill_case(name + "_old", replace(bill, issued=AS_OF - timedelta(days=rng.randint(100, 400))),
                                          a, "reject", {"document_date"}, fmt=fmt, transform=transform, seed=s), KINDS[0])
    if outcome == 2:  # someone else's bill
        other = replace(bill, name=f"{rng.choice(('Oliver', 'Grace'))} {rng.choice(docgen.OTHER)}")
        return Labelled(docgen._bill_case(name + "_other", other, a, "review", {"name_match"}, fmt=fmt,
                                          transform=transform, seed=s), KINDS[0])
    return Labelled(docgen._bill_case(name, bill, a, "approve", fmt=fmt, transform=transform, seed=s), KINDS[0])


# --- kind 2: identity pages inside a PDF -----------------------------------------------------------------

def _pdf_embedded(i: int, rng: random.Random) -> Labelled:
    h = _holder(rng)
    doc = _iddoc(rng, h)
    a = docgen.applicant_for(h)
    s = rng.randint(0, 10_000)
    # A 300 dpi scan on a third to a half of the page; a phone photo on the same.
    scale, width, photo = ((2.0, rng.uniform(0.3, 0.5), False), (1.0, rng.uniform(0.3, 0.45), True),
                           (1.5, rng.uniform(0.35, 0.6), False))[i % 3]
    name = f"k2_{i:03d}_{doc.kind}_{'photo' if photo else 'scan'}"
    if i % 4 == 3:
        doc = replace(doc, expiry=AS_OF - timedelta(days=rng.randint(1, 900)))
        return Labelled(_id_embedded(name + "_expired", doc, a, "reject", {"document_expiry"}, seed=s, scale=scale,
                                     width=width, photo=photo), KINDS[1])
    if i % 4 == 2:
        return Labelled(_id_embedded(name + "_other", doc, replace(a, last_name=rng.choice(docgen.OTHER)), "review",
                                     {"name_match"}, seed=s, scale=scale, width=width, photo=photo), KINDS[1])
    return Labelled(_id_embedded(name, doc, a, "approve", seed=s, scale=scale, width=width, photo=photo), KINDS[1])


# --- kinds 3 and 4: names --------------------------------------------------------------------------------

# (registered given name, surname; the document's given names, surname)
ROMANISATIONS = (("Umar", "Mostafa", "OMAR", "MUSTAFA"), ("Yusuf", "Haddad", "YOUSSEF", "HADDAD"),
                 ("Aleksandr", "Volkov", "ALEXANDER", "VOLKOV"), ("Sergei", "Smirnov", "SERGEY", "SMIRNOV"),
                 ("Husain", "Rahman", "HUSSEIN", "RAHMAN"), ("Dmitri", "Orlov", "DMITRIY", "ORLOV"),
                 ("Muhammad", "Karim", "MOHAMMED", "KARIM"), ("Yevgeniy", "Popov", "EVGENII", "POPOV"))
DIFFERENT_GIVEN = ("Ahmed", "Ivan", "Khalid", "Pavel")
PARTICLES = (("Sem", "van Dijk", "SEM DAAN", "VAN DIJK"), ("Ana", "da Silva", "ANA LUISA", "DA SILVA"),
             ("Pieter", "de Vries", "PIETER JAN", "DE VRIES"), ("Lucas", "van der Berg", "LUCAS THIJS", "VAN DER BERG"),
             ("Marie", "de la Cruz", "MARIE ELENA", "DE LA CRUZ"), ("Luca", "di Stefano", "LUCA MARIO", "DI STEFANO"))


def _named(kind: str, i: int, rng: random.Random, table: tuple[tuple[str, str, str, str], ...],
           different: tuple[str, ...]) -> Labelled:
    first, last, doc_given, doc_surname = table[i % len(table)]
    h = Holder(doc_surname.title(), doc_given.title(), date(rng.randint(1955, 2000), rng.randint(1, 12),
                                                             rng.randint(1, 28)), rng.choice("MF"))
    doc = replace(_iddoc(rng, h), kind=rng.choice(("passport", "id_card")))
    a = Applicant(first_name=first, last_name=last, date_of_birth=h.birth, country="GB",
                  address="12 Baker Street\nLondon NW1 6XE")
    fmt = rng.choice(("png", "jpeg", "pdf"))
    name = f"{'k3' if kind == KINDS[2] else 'k4'}_{i:03d}_{first}_{doc_given.replace(' ', '_')}".lower()
    s = rng.randint(0, 10_000)
    if i % 3 == 2:  # a different given name is a different person
        a = replace(a, first_name=different[i % len(different)])
        return Labelled(docgen._id_case(name + "_othergiven", doc, a, "review", {"name_match"}, fmt=fmt, seed=s), kind)
    return Labelled(docgen._id_case(name, doc, a, "approve", fmt=fmt, seed=s), kind)


# --- kinds 5 and 6: addresses -----------------------------------------------------------------------------

# (registered address, the bill's address, the bill's address with another house number, language)
SPELLINGS = (("Hohe Straße 12\n50667 Köln\nDE", "Hohe Strasse 12\n50667 Koeln\nGermany", "Hohe Strasse 21\n50667 Koeln\nGermany", "de"),
             ("Müllerstraße 8\n13353 Berlin\nDE", "Muellerstrasse 8\n13353 Berlin\nDeutschland", "Muellerstrasse 18\n13353 Berlin\nDeutschland", "de"),
             ("Strada Ștefan cel Mare 4\n700064 Iași\nRO", "Strada Stefan cel Mare 4\n700064 Iasi\nRomania", "Strada Stefan cel Mare 14\n700064 Iasi\nRomania", "ro"),
             ("Göteborgsvägen 5\n41105 Göteborg\nSE", "Goeteborgsvaegen 5\n41105 Goeteborg\nSweden", "Goeteborgsvaegen 9\n41105 Goeteborg\nSweden", "en"),
             ("Plac Żelaznej Bramy 3\n00-136 Warszawa\nPL", "Plac Zelaznej Bramy 3\n00-136 Warszawa\nPolska", "Plac Zelaznej Bramy 7\n00-136 Warszawa\nPolska", "pl"),
             ("Rue de l'Église 9\n75015 Paris\nFR", "Rue de l'Eglise 9\n75015 Paris\nFrance", "Rue de l'Eglise 19\n75015 Paris\nFrance", "fr"))
STREET_TYPES = (("Bulevardul Unirii 106\n030833 Bucuresti", "Bd. Unirii nr. 106\n030833 Bucuresti", "Bd. Unirii nr. 108\n030833 Bucuresti", "ro"),
                ("Hauptstraße 5\n80331 München", "Hauptstr. 5\n80331 Muenchen", "Hauptstr. 15\n80331 Muenchen", "de"),
                ("Calle de Alcalá 44\n28014 Madrid", "C/ Alcala 44\n28014 Madrid", "C/ Alcala 46\n28014 Madrid", "es"),
                ("Avenida da Liberdade 110\n1250-146 Lisboa", "Av. da Liberdade 110\n1250-146 Lisboa", "Av. da Liberdade 101\n1250-146 Lisboa", "pt"),
                ("40 Rue de Rivoli\n75004 Paris", "40 R. de Rivoli\n75004 Paris", "42 R. de Rivoli\n75004 Paris", "fr"),
                ("Viale Monza 12\n20125 Milano", "V.le Monza 12\n20125 Milano", "V.le Monza 21\n20125 Milano", "it"))


def _addressed(kind: str, i: int, rng: random.Random, table: tuple[tuple[str, str, str, str], ...]) -> Labelled:
    registered, written, other_number, lang = table[i % len(table)]
    h = _holder(rng)
    a = docgen.applicant_for(h, address=registered, country=registered.splitlines()[-1] if kind == KINDS[4] else "")
    negative = i % 3 == 2
    bill = Bill(rng.choice(("utility_bill", "bank_statement")), f"{h.given_names} {h.surname}",
                other_number if negative else written, AS_OF - timedelta(days=rng.randint(1, 80)), language=lang)
    fmt = rng.choice(("pdf-text", "png", "jpeg"))
    name = f"{'k5' if kind == KINDS[4] else 'k6'}_{i:03d}_{lang}"
    if negative:  # another house number is another address
        return Labelled(docgen._bill_case(name + "_othernumber", bill, a, "review", {"address_match"}, fmt=fmt), kind)
    return Labelled(docgen._bill_case(name, bill, a, "approve", fmt=fmt), kind)


# --- the ordinary part, harder than the tests' set ---------------------------------------------------------

ID_OUTCOMES = ["valid"] * 8 + ["expired", "name", "dob", "digit", "blur", "lowres", "library"]
ID_TRANSFORMS = ("", "", "rot90", "rot180", "rot270", "skew", "photo", "lowcontrast", "embed")


def _ordinary_identity(i: int, rng: random.Random) -> Labelled:
    h = _holder(rng)
    a = docgen.applicant_for(h, middle_name="" if rng.random() < 0.3 else docgen.applicant_for(h).middle_name)
    doc = _iddoc(rng, h)
    k = ID_OUTCOMES[i % len(ID_OUTCOMES)]
    transform = (rng.choice(ID_TRANSFORMS) if k in ("valid", "expired", "name", "dob", "digit")
                 else k if k in ("blur", "lowres") else "")
    fmt = rng.choice(("png", "jpeg", "pdf"))
    s = rng.randint(0, 10_000)
    name = f"o_id_{i:03d}_{k}_{transform or 'upright'}"
    expected, failing = {"valid": ("approve", set()), "expired": ("reject", {"document_expiry"}),
                         "name": ("review", {"name_match"}), "dob": ("review", {"birth_date_match"}),
                         "digit": ("review", {"mrz_check_digits"}), "blur": ("review", {"legibility"}),
                         "lowres": ("review", {"legibility"}), "library": ("reject", {"document_type"})}[k]
    if k == "expired":
        doc = replace(doc, expiry=AS_OF - timedelta(days=rng.randint(1, 900)))
    elif k == "name":
        a = replace(a, last_name=rng.choice(docgen.OTHER))
    elif k == "dob":
        a = replace(a, date_of_birth=h.birth + timedelta(days=rng.choice((-400, 1, 31))))
    elif k == "digit":
        doc = replace(doc, corrupt_digit=True)
    if transform == "embed":
        return Labelled(_id_embedded(name, doc, a, expected, failing, seed=s, scale=1.0, width=rng.uniform(0.7, 0.9)),
                        "ordinary")
    if transform == "lowcontrast":
        case = docgen._id_case(name, doc, a, expected, failing, fmt=fmt, seed=s)
        img = docgen.low_contrast(docgen.identity_image(doc, s))
        data = docgen.encode(img, fmt)
        return Labelled(replace(case, files=((data, case.files[0][1], *case.files[0][2:]),)), "ordinary")
    kind = "id_card" if k == "library" else ""
    if k == "library":
        doc = replace(doc, kind="library_card")
    return Labelled(docgen._id_case(name, doc, a, expected, failing, fmt=fmt, transform=transform, seed=s, kind=kind),
                    "ordinary")


def _ordinary_address(i: int, rng: random.Random) -> Labelled:
    h = _holder(rng)
    lang = rng.choice(LANGUAGES)
    a = docgen.applicant_for(h, address=ADDRESSES[lang])
    bill = Bill(rng.choice(("utility_bill", "bank_statement")), f"{h.given_names} {h.surname}", a.address,
                AS_OF - timedelta(days=rng.randint(1, 85)), language=lang, written_date=rng.random() < 0.6)
    fmt = rng.choice(("pdf-text", "pdf-text", "png", "jpeg", "pdf", "pdf-embed"))
    transform = "" if fmt == "pdf-text" else rng.choice(("", "", "", "skew", "rot180"))
    name = f"o_poa_{i:03d}_{lang}_{fmt}"
    k = ("bill", "bill", "bill", "old", "name", "address")[i % 6]
    s = rng.randint(0, 10_000)
    if k == "old":
        return Labelled(docgen._bill_case(name + "_old", replace(bill, issued=AS_OF - timedelta(days=rng.randint(95, 400))),
                                          a, "reject", {"document_date"}, fmt=fmt, transform=transform, seed=s), "ordinary")
    if k == "name":
        other = replace(bill, name=f"{rng.choice(('Oliver', 'Grace'))} {rng.choice(docgen.OTHER)}")
        return Labelled(docgen._bill_case(name + "_othername", other, a, "review", {"name_match"}, fmt=fmt,
                                          transform=transform, seed=s), "ordinary")
    if k == "address":
        elsewhere = ADDRESSES[rng.choice([x for x in LANGUAGES if x != lang])]
        return Labelled(docgen._bill_case(name + "_otheraddress", replace(bill, address=elsewhere), a, "review",
                                          {"address_match"}, fmt=fmt, transform=transform, seed=s), "ordinary")
    return Labelled(docgen._bill_case(name, bill, a, "approve", fmt=fmt, transform=transform, seed=s), "ordinary")


def labelled_set(seed: int = 41, *, per_kind: int = 17, ordinary_identity: int = 120,
                 ordinary_address: int = 78) -> Iterator[Labelled]:
    """The set: `per_kind` documents of each of the six kinds, then the ordinary ones (300 by default)."""
    rng = random.Random(seed)
    for i in range(per_kind):
        yield _bill_read(i, rng)
        yield _pdf_embedded(i, rng)
        yield _named(KINDS[2], i, rng, ROMANISATIONS, DIFFERENT_GIVEN)
        yield _named(KINDS[3], i, rng, PARTICLES, ("Luuk", "Joao", "Kees", "Bram", "Sophie", "Paolo"))
        yield _addressed(KINDS[4], i, rng, SPELLINGS)
        yield _addressed(KINDS[5], i, rng, STREET_TYPES)
    for i in range(ordinary_identity):
        yield _ordinary_identity(i, rng)
    for i in range(ordinary_address):
        yield _ordinary_address(i, rng)
