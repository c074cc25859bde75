"""A registered address against the text of a document (a bill, a bank statement), word by word.

Addresses are written many ways that a reader sees as one: diacritics kept, dropped or written out
(Köln, KOLN, KOELN; București, BUCURESTI), street-type words in full or abbreviated and in the
language of the country (Street, St., Str., Straße, Strasse, Bulevardul, Bd., Rue, Calle, C/,
Avenida, Av., Via, ul.), German and Dutch street names written with their type as one word
(Hauptstraße, HAUPTSTR.), a country as its ISO code or its name in one of the main languages, the
postcode with or without its space or dash. What may not differ: a house number, a postcode, the
street's and the town's names.

The rules:
- every number of the registered address (house, flat) must be on the document as a word;
- the postcode, recognised by the country's format, must be on the document, spaces and dashes
  aside;
- street-type words match by kind (a boulevard is Bd., Bulevardul, Boulevard, Blvd.), may be left out
  by the document, but another kind next to the same street name is another street (Baker Street is
  not Baker Road);
- the country may be left out (a bill seldom prints its own country); written next to the postcode as
  another country, it is another address;
- of the remaining words (street and town names) at least 80% must be found, all of them when there
  are fewer than five.

`address_compare` returns the evidence: each registered word, what it was found as and how.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

from matching.locale_names import locale_data

# Street-type words by kind, upper case without diacritics; abbreviations lose their dot.
STREET_TYPES: dict[str, frozenset[str]] = {
    "street": frozenset({"STREET", "ST", "STR", "STRASSE", "STRADA", "STRAAT", "CALLE", "C", "CL", "RUE",
                         "VIA", "UL", "ULICA", "ULITSA", "ULITCA", "RUA", "CARRER", "GASSE", "SOKAK", "SOK",
                         "SOKAGI", "GATAN", "GATE", "GADE", "VEJ", "KATU", "UTCA", "ODOS", "ODOU"}),
    "road": frozenset({"ROAD", "RD", "CARRETERA", "CTRA", "CHAUSSEE", "DRUM", "SHOSSE", "CALEA", "SOSEAUA", "SOS",
                       "SOSEA", "ESTRADA", "ESTR"}),
    "avenue": frozenset({"AVENUE", "AVE", "AV", "AVDA", "AVENIDA", "AVINGUDA", "VIALE", "ALLEE", "ALEEA",
                         "ALEJA", "LAAN", "PROSPEKT", "PR", "PROSP", "CADDE", "CAD", "CADDESI", "ALAMEDA"}),
    "boulevard": frozenset({"BOULEVARD", "BLVD", "BD", "BDUL", "BLD", "BULEVARDUL", "BULEVARD", "BULVAR",
                            "BULEVAR", "BOUL", "BV", "BULVARDI"}),
    "square": frozenset({"SQUARE", "SQ", "PLATZ", "PLAZA", "PZA", "PIAZZA", "PTA", "PIATA", "PLAC", "PL",
                         "PLACE", "PLEIN", "PLOSHCHAD", "PRACA", "PCA", "TORG", "LARGO", "LGO"}),
    "lane": frozenset({"LANE", "LN", "VICOLO", "CALLEJON", "PEREULOK", "PER", "SOKACIK", "TRAVESSA", "TRAV", "TV",
                       "INTRAREA", "INTR"}),
    "drive": frozenset({"DRIVE", "DR"}),
    "court": frozenset({"COURT", "CT"}),
    "close": frozenset({"CLOSE"}),
    "crescent": frozenset({"CRESCENT", "CRES"}),
    "terrace": frozenset({"TERRACE", "TCE", "TER"}),
    "way": frozenset({"WAY", "WEG", "VAGEN", "VEIEN", "VEGUR"}),
    "quay": frozenset({"QUAI", "QUAY", "KADE", "KAI", "NABEREZHNAYA", "NAB", "SPLAIUL", "SPL"}),
}
# Suffixes that make the street's type part of its name in German, Dutch and Nordic spelling.
_TYPE_SUFFIXES = (("STRASSE", "street"), ("STRAAT", "street"), ("GASSE", "street"), ("STR", "street"),
                  ("GATAN", "street"), ("GADE", "street"), ("VEJ", "street"), ("PLATZ", "square"), ("PLEIN", "square"),
                  ("ALLEE", "avenue"), ("LAAN", "avenue"), ("WEG", "way"), ("VAGEN", "way"))
# Words that only label what follows (No. 106, nr. 106, Flat 3, Apt. 4): never required.
NOISE = frozenset({"NO", "NR", "NUMBER", "NUMERO", "NUM", "N", "NRO", "HNO", "FLAT", "APT", "APARTMENT", "AP",
                   "APTO", "WOHNUNG", "WHG", "SC", "SCARA", "ET", "ETAJ", "BL", "BLOC", "SECTOR", "SECTORUL",
                   "DOM", "D", "KV", "KVARTIRA", "ETAGE", "PISO", "PUERTA", "THE", "OF", "DE", "DEL", "LA", "DI",
                   "DER", "DES", "DU", "LE", "VON"})
_LABELS_BEFORE_NUMBER = frozenset({"BL", "SC", "ET", "AP", "D", "KV"})

# Postcodes by country, upper case; a match is compared without its spaces and dashes.
POSTCODE_FORMATS: dict[str, str] = {
    "GB": r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", "IE": r"[A-Z]\d[\dW] ?[A-Z\d]{4}", "NL": r"\d{4} ?[A-Z]{2}",
    "PL": r"\d{2}-?\d{3}", "PT": r"\d{4}-?\d{3}", "SE": r"\d{3} ?\d{2}", "CZ": r"\d{3} ?\d{2}", "SK": r"\d{3} ?\d{2}",
    "GR": r"\d{3} ?\d{2}", "CA": r"[A-Z]\d[A-Z] ?\d[A-Z]\d", "US": r"\d{5}(?:-\d{4})?", "BR": r"\d{5}-?\d{3}",
    "JP": r"\d{3}-?\d{4}", "MT": r"[A-Z]{3} ?\d{4}", "LV": r"(?:LV-?)?\d{4}", "LT": r"(?:LT-?)?\d{5}",
    "RO": r"\d{6}", "RU": r"\d{6}", "BY": r"\d{6}", "KZ": r"\d{6}", "CN": r"\d{6}", "IN": r"\d{3} ?\d{3}",
    "SG": r"\d{6}", "VN": r"\d{6}",
    **dict.fromkeys(("DE", "FR", "IT", "ES", "FI", "EE", "HR", "UA", "TR", "MY", "TH", "ID", "MX", "MA", "EG",
                     "SA", "KW", "PK", "SA", "DZ", "TN", "RS", "ME", "BA"), r"\d{5}"),
    **dict.fromkeys(("AT", "BE", "CH", "DK", "NO", "HU", "BG", "SI", "LU", "CY", "AU", "NZ", "ZA", "PH", "MK",
                     "AL", "AM", "GE", "LI", "AR", "BD", "TN", "GL"), r"\d{4}"),
}
# Country names that the locale data does not carry (common English forms, the country's own name).
_COUNTRY_ALIASES = {
    "GB": ("UK", "U K", "GREAT BRITAIN", "ENGLAND", "SCOTLAND", "WALES", "NORTHERN IRELAND", "UNITED KINGDOM"),
    "US": ("USA", "U S A", "U S", "UNITED STATES", "UNITED STATES OF AMERICA", "AMERICA"),
    "AE": ("UAE", "U A E", "EMIRATES"), "NL": ("HOLLAND", "NEDERLAND"), "CZ": ("CZECHIA", "CZECH REPUBLIC", "CESKO"),
    "RO": ("ROMANIA",), "DE": ("DEUTSCHLAND", "GERMANY", "ALLEMAGNE"), "AT": ("OSTERREICH", "OESTERREICH"),
    "CH": ("SCHWEIZ", "SUISSE", "SVIZZERA"), "ES": ("ESPANA",), "IT": ("ITALIA",), "PL": ("POLSKA",),
    "GR": ("HELLAS", "ELLADA"), "HU": ("MAGYARORSZAG",), "CY": ("KYPROS", "KIBRIS"), "BG": ("BALGARIYA", "BULGARIA"),
    "TR": ("TURKIYE", "TURKEY"), "RU": ("ROSSIYA", "RUSSIA", "RUSSIAN FEDERATION"), "UA": ("UKRAINA", "UKRAINE"),
    "SA": ("KSA", "SAUDI ARABIA"), "EG": ("MISR",), "MA": ("MAROC",), "CN": ("PRC", "ZHONGGUO"),
}
_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "ro", "ru", "ar", "tr", "sv", "da", "fi", "cs", "el",
              "hu", "bg", "uk", "zh", "ca", "id", "vi")

_FOLD_OUT = str.maketrans({"Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS", "ẞ": "SS", "Æ": "AE", "Ø": "OE", "Œ": "OE",
                           "Å": "AA", "Þ": "TH", "Ł": "L", "Đ": "D", "Ð": "D", "İ": "I", "ı": "I"})
_WORD = re.compile(r"[A-Z0-9]+")


def _plain(text: str, *, write_out: bool) -> str:
    """Upper case, diacritics dropped (KÖLN -> KOLN) or written out (KÖLN -> KOELN)."""
    text = unicodedata.normalize("NFKC", text).upper()
    if write_out:
        text = text.translate(_FOLD_OUT)
    text = text.replace("ß", "SS").replace("ẞ", "SS")
    decomposed = unicodedata.normalize("NFKD", text)
    out = "".join(c for c in decomposed if not unicodedata.combining(c))
    return out.translate(_FOLD_OUT)


def _forms(word: str) -> frozenset[str]:
    """The spellings a word may have on the other side: diacritics dropped and written out."""
    return frozenset({_plain(word, write_out=False), _plain(word, write_out=True)})


def street_kind(word: str) -> str:
    """The kind of street a word names ('' when it is no street-type word)."""
    for kind, words in STREET_TYPES.items():
        if word in words:
            return kind
    return ""


def _split_type_suffix(word: str) -> tuple[str, str] | None:
    """HAUPTSTRASSE -> (HAUPT, street); HAUPTSTR -> (HAUPT, street); STRASSE alone is not split."""
    for suffix, kind in _TYPE_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and word.isalpha():
            return word[: -len(suffix)], kind
    return None


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # as written, upper case, diacritics kept
    forms: frozenset[str]  # spellings without diacritics (dropped, written out)
    kind: str = "word"  # word | number | type | noise
    street: str = ""  # the street kind, for a type word
    line: int = 0  # the part of the text between newlines, commas and semicolons
    index: int = 0
    row: int = 0  # the line of the text (between newlines only)


def words_of(text: str) -> list[Word]:
    """The words of an address or a document, each with its spellings and what it is."""
    out: list[Word] = []
    parts = re.split(r"([\n,;])", text)
    rows = [0]
    for sep in parts[1::2]:
        rows.append(rows[-1] + (sep == "\n"))
    for line_no, line in enumerate(parts[0::2]):
        raw_words = re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", line).upper())
        for raw in raw_words:
            forms = _forms(raw)
            plain = _plain(raw, write_out=False)
            for piece_text, piece_forms, kind, street in _classify(raw, plain, forms):
                out.append(Word(piece_text, piece_forms, kind, street, line_no, len(out), rows[line_no]))
    return out


def _classify(raw: str, plain: str, forms: frozenset[str]) -> list[tuple[str, frozenset[str], str, str]]:
    if any(c.isdigit() for c in plain):
        return [(raw, forms, "number", "")]
    kind = street_kind(plain)
    if kind:
        return [(raw, forms, "type", kind)]
    if plain in NOISE:
        return [(raw, forms, "noise", "")]
    split = _split_type_suffix(plain) or _split_type_suffix(_plain(raw, write_out=True))
    if split:
        stem, kind = split
        return [(stem, _forms(stem), "word", ""), (raw[len(stem):] or kind.upper(), frozenset({kind.upper()}), "type",
                                                    kind)]
    return [(raw, forms, "word", "")]


# --- countries ----------------------------------------------------------------------------------

@cache
def _country_names() -> dict[tuple[str, ...], str]:
    """{name as words: alpha-2} for every country in the main languages, plus common forms."""
    names: dict[tuple[str, ...], str] = {}
    for code, by_language in locale_data().items():
        for lang in _LANGUAGES:
            name = by_language.get(lang, "")
            if name.startswith("*"):
                name = by_language.get(name[1:], "")
            for spelling in {_plain(name, write_out=False), _plain(name, write_out=True)}:
                key = tuple(_WORD.findall(spelling))
                if key and len("".join(key)) >= 4:
                    names.setdefault(key, code)
    for code, aliases in _COUNTRY_ALIASES.items():
        for alias in aliases:
            names[tuple(alias.split())] = code
    return names


def country_of(words: list[str]) -> str:
    """The alpha-2 code a run of words names (by name, any main language), or ''."""
    return _country_names().get(tuple(words), "")


def _countries_in(words: list[Word]) -> list[tuple[int, int, str]]:
    """(start, end, alpha-2) of every country named in the words, longest first at each start."""
    names = _country_names()
    found: list[tuple[int, int, str]] = []
    plains = [_plain(w.text, write_out=False) for w in words]
    i = 0
    while i < len(words):
        for size in (5, 4, 3, 2, 1):
            key = tuple(plains[i:i + size])
            if len(key) == size and key in names and all(words[i + k].line == words[i].line for k in range(size)):
                found.append((i, i + size, names[key]))
                i += size - 1
                break
        i += 1
    return found


def _alpha2_codes() -> frozenset[str]:
    return frozenset(locale_data())


# --- postcodes ----------------------------------------------------------------------------------

def postcode_in(text: str, country: str) -> str:
    """The registered address's postcode by its country's format (compact: no spaces or dashes)."""
    pattern = POSTCODE_FORMATS.get(country.upper())
    if not pattern:
        return ""
    upper = _plain(text, write_out=False)
    found = re.findall(r"(?<![A-Z0-9])(?:" + country.upper() + r"[- ]?)?(" + pattern + r")(?![A-Z0-9])", upper)
    return re.sub(r"[\s-]", "", found[-1]) if found else ""


# --- the comparison -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AddressComparison:
    matched: bool
    found: dict[str, str] = field(default_factory=dict)  # registered word -> how it was found
    missing: tuple[str, ...] = ()
    share: float = 0.0
    postcode: str = ""
    country: str = ""
    reason: str = ""

    def as_evidence(self, registered: str) -> dict[str, object]:
        return {"registered": registered, "found_share": self.share, "missing": list(self.missing),
                "matched": self.matched, "found": self.found, "postcode": self.postcode, "country": self.country,
                "reason": self.reason}


def _registered_country(words: list[Word], country: str) -> tuple[str, set[int]]:
    """The registered country (the code given, or the one the address names) and its words' indexes."""
    codes = _alpha2_codes()
    taken: set[int] = set()
    found = country.upper()
    for start, end, code in _countries_in(words):
        if start >= len(words) - 5:  # a country is written at the end
            taken.update(range(start, end))
            found = found or code
    if words and words[-1].kind != "number" and _plain(words[-1].text, write_out=False) in codes:
        last = _plain(words[-1].text, write_out=False)
        if not found or found == last or len(words) > 2:
            taken.add(len(words) - 1)
            found = found or last
    return found, taken


def address_compare(registered: str, text: str, *, country: str = "") -> AddressComparison:  # noqa: C901 - one rule per kind of word
    """Is the registered address the one on the document? See the module's docstring for the rules.
    `country`: the client's country (alpha-2), when the address does not end with it."""
    wanted = words_of(registered)
    doc = words_of(text)
    code, country_words = _registered_country(wanted, country)
    found: dict[str, str] = {}
    missing: list[str] = []
    doc_forms: dict[str, list[Word]] = {}
    for w in doc:
        for f in w.forms:
            doc_forms.setdefault(f, []).append(w)
    compact_doc = re.sub(r"[^A-Z0-9]", "", _plain(text, write_out=False))
    compact_doc_out = re.sub(r"[^A-Z0-9]", "", _plain(text, write_out=True))

    # OCR often drops the spaces of a line ("LONDONNW16XE"): a registered line found whole, without
    # its spaces, counts word by word as found.
    whole_lines: set[int] = set()
    for line_no, line in enumerate(re.split(r"[\n,;]", registered)):
        compact = {re.sub(r"[^A-Z0-9]", "", _plain(line, write_out=w)) for w in (False, True)}
        if any(len(c) >= 6 and (c in compact_doc or c in compact_doc_out) for c in compact):
            whole_lines.add(line_no)

    postcode = postcode_in(registered, code) if code else ""
    postcode_ok = True
    postcode_parts = _postcode_words(wanted, postcode)
    if postcode:
        on_doc = postcode in _postcodes_on(text, code) or any(wanted[i].line in whole_lines for i in postcode_parts)
        found["postcode " + postcode] = f"postcode ({code} format)" if on_doc else ""
        postcode_ok = on_doc
        if not on_doc:
            missing.append(postcode)

    doc_country = _country_next_to_postcode(doc, postcode) if postcode else ""
    if doc_country in {c for _, _, c in _countries_in(wanted)}:
        doc_country = ""  # a name the registered address carries too (Georgia, the state; Luxembourg, the town)
    if code:
        if doc_country and doc_country != code:
            found[f"country {code}"] = ""
            missing.append(code)
        else:
            written = any(c == code for _, _, c in _countries_in(doc))
            found[f"country {code}"] = "named on the document" if written else "not written (not required)"

    together = _written_together(wanted, doc)
    counted = 0
    hits = 0
    numbers_ok = True
    types_ok = True
    for i, w in enumerate(wanted):
        if i in country_words or i in postcode_parts or w.kind == "noise":
            continue
        if w.kind == "type":
            how = "same, written together with the street's name" if i in together else \
                _type_found(w, wanted, doc, doc_forms)
            if how is None:
                types_ok = False
                missing.append(w.text)
                found[w.text] = ""
            else:
                found[w.text] = how
            continue
        how = _word_found(w, doc_forms, whole=w.line in whole_lines) or together.get(i, "")
        if w.kind == "number":
            if how in ("same", "same, diacritics written another way") and not _near_its_street(w, wanted, doc_forms):
                how = ""  # the number is on the document, but not by the street's name (a date, an amount)
            if not how:
                numbers_ok = False
                missing.append(w.text)
            found[w.text] = how
            continue
        counted += 1
        if how:
            hits += 1
        else:
            missing.append(w.text)
        found[w.text] = how
    share = hits / counted if counted else (1.0 if numbers_ok else 0.0)
    need = 1.0 if counted < 5 else 0.8
    reason = ""
    if not postcode_ok:
        reason = "another postcode"
    elif doc_country and code and doc_country != code:
        reason = "another country"
    elif not numbers_ok:
        reason = "another house or flat number"
    elif not types_ok:
        reason = "another kind of street"
    elif share < need:
        reason = "street or town not on the document"
    matched = bool(wanted) and not reason
    return AddressComparison(matched, found, tuple(missing), round(share, 2), postcode, code, reason)


def _postcodes_on(text: str, country: str) -> set[str]:
    """Every postcode of the country's format on the document, compact."""
    pattern = POSTCODE_FORMATS[country.upper()]
    upper = _plain(text, write_out=False)
    return {re.sub(r"[\s-]", "", m) for m in
            re.findall(r"(?<![A-Z0-9])(?:[A-Z]{1,2}[- ])?(" + pattern + r")(?![A-Z0-9])", upper)} | \
        {re.sub(r"[\s-]", "", m) for m in re.findall(r"(?<![A-Z0-9])(" + pattern + r")(?![A-Z0-9])", upper)}


def _written_together(wanted: list[Word], doc: list[Word]) -> dict[int, str]:
    """Neighbouring registered words that the document (or its OCR) wrote as one word, perhaps run
    into the next (BULEVARDULUNIRII, BULEVARDULUNIRIINR for "Bulevardul Unirii nr."): their indexes."""
    out: dict[int, str] = {}
    doc_words = {f for w in doc for f in w.forms if len(f) >= 8}
    for i in range(len(wanted) - 1):
        a, b = wanted[i], wanted[i + 1]
        if a.line != b.line or a.kind == "number" or b.kind == "number":
            continue
        joined = {fa + fb for fa in a.forms for fb in b.forms if len(fa + fb) >= 8}
        if any(j in d for j in joined for d in doc_words):
            out[i] = out[i + 1] = "same, written together"
    return out


def _word_found(w: Word, doc_forms: dict[str, list[Word]], *, whole: bool) -> str:
    exact = doc_forms.get(w.text)
    if exact:
        return "same"
    if any(f in doc_forms for f in w.forms):
        return "same, diacritics written another way"
    if w.kind == "number" and w.text.isdigit() is False:
        # 12A written 12 A: the number and its letter apart.
        m = re.fullmatch(r"(\d+)([A-Z])", _plain(w.text, write_out=False))
        if m and m.group(1) in doc_forms and m.group(2) in doc_forms:
            return "same, written apart"
    if whole:
        return "same, line read without spaces"
    return ""


def _near_its_street(w: Word, wanted: list[Word], doc_forms: dict[str, list[Word]]) -> bool:
    """Whether a registered house or flat number stands on the document next to (within four words, on
    the same line) a word of the street's name it is registered with. True when that name is not
    found word by word (written together, read without spaces): the street's own rule decides then."""
    names = [x for x in wanted if x.line == w.line and x.kind == "word"]
    anchors = [d for x in names for f in x.forms for d in doc_forms.get(f, [])]
    if not anchors:
        return True
    places = [d for f in w.forms | {w.text} for d in doc_forms.get(f, [])]
    # On the same line, a comma between them or not: "Rua Augusta, 70" is how Portugal writes it.
    return any(p.row == a.row and abs(p.index - a.index) <= 4 for p in places for a in anchors)


def _type_found(w: Word, wanted: list[Word], doc: list[Word], doc_forms: dict[str, list[Word]]) -> str | None:
    """How a registered street-type word is on the document: as itself, as another word of its kind
    ("Bd." for Bulevardul), or left out; None when the street's name stands next to another kind."""
    names = [n for n in (_neighbour(wanted, w.index, -1), _neighbour(wanted, w.index, 1)) if n is not None]
    kinds_next_to_name: set[str] = set()
    for name in names:
        for f in name.forms:
            for d in doc_forms.get(f, []):
                for side in (-1, 1):
                    other = _neighbour(doc, d.index, side)
                    if other is not None and other.kind == "type":
                        kinds_next_to_name.add(other.street)
    if w.street in kinds_next_to_name:
        if w.text in doc_forms or any(f in doc_forms for f in w.forms):
            return "same"
        return f"street type ({w.street}) written another way"
    if kinds_next_to_name:
        return None
    return "street type left out (not required)"


def _neighbour(words: list[Word], index: int, step: int) -> Word | None:
    j = index + step
    while 0 <= j < len(words) and words[j].kind == "noise":
        j += step
    if 0 <= j < len(words) and words[j].line == words[index].line and words[j].kind in ("word", "type"):
        return words[j]
    return None


def _postcode_words(words: list[Word], postcode: str) -> set[int]:
    """The indexes of the words that make up the postcode (NW1 6XE is two words)."""
    if not postcode:
        return set()
    for size in (1, 2, 3):
        for start in range(len(words) - size + 1):
            joined = "".join(_plain(w.text, write_out=False) for w in words[start:start + size])
            if joined == postcode or (joined.endswith(postcode) and joined[: -len(postcode)].isalpha()
                                      and len(joined) - len(postcode) <= 2):
                return set(range(start, start + size))
    return set()


def _country_next_to_postcode(doc: list[Word], postcode: str) -> str:
    """The country written on the postcode's line or the next one, if any."""
    lines = {w.line for w in doc if postcode in re.sub(r"[^A-Z0-9]", "", _plain(w.text, write_out=False))}
    if not lines:
        for start in range(len(doc) - 1):
            joined = "".join(_plain(w.text, write_out=False) for w in doc[start:start + 2])
            if joined == postcode:
                lines.add(doc[start].line)
    near = {ln + k for ln in lines for k in (0, 1)}
    for start, _end, code in _countries_in(doc):
        if doc[start].line in near:
            return code
    return ""
