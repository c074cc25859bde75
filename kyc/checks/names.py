"""Name matching between what the client registered and what a document says, transliteration-aware.

A document's machine-readable zone spells names in A-Z only, by ICAO Doc 9303 part 3: Latin letters
with diacritics either expanded (Ä -> AE, Ø -> OE, ß -> SS) or reduced to the base letter (Ä -> A),
Cyrillic by the ICAO table (Ю -> IU, Я -> IA, Ж -> ZH, Щ -> SHCH...), spaces and hyphens as filler,
and a name longer than the field cut at the field's width. The client may have typed the name with or
without diacritics, in Cyrillic or Arabic script, in another common romanisation (Yulia for IULIIA,
Mohammed for MOHAMED), or without a middle name the document carries.

The rules, from strictest to loosest, each named in the evidence:
- "exact": equal once both sides are spelled the ICAO way;
- "transliteration": equal once diacritics are expanded or reduced on either side;
- "romanisation": equal once the common variant spellings are folded (iotated vowels IU/YU/JU,
  doubled letters, KH/H, J/Y/I, AE/A...), or, for names typed in Arabic or Cyrillic script, their
  consonant skeletons agree (vowels are what romanisations disagree on);
- "truncated": the document's field is full and its last name part is the start of the client's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# ICAO 9303 part 3, transliteration of Latin multinational characters (the recommended expansion).
LATIN_EXPANDED = {
    "Ä": "AE", "Æ": "AE", "Å": "AA", "Ö": "OE", "Ø": "OE", "Œ": "OE", "Ü": "UE", "ß": "SS", "Þ": "TH",
    "Ð": "D", "Đ": "D", "Ħ": "H", "Ĳ": "IJ", "Ł": "L", "Ŀ": "L", "Ŋ": "N", "ı": "I", "Ñ": "N",
}
# The same letters reduced to a base letter (the other spelling a document or a client may use).
LATIN_REDUCED = {"Ä": "A", "Æ": "AE", "Å": "A", "Ö": "O", "Ø": "O", "Œ": "OE", "Ü": "U", "ß": "SS", "Þ": "TH"}

# ICAO 9303 part 3, Cyrillic (Russian, with the Ukrainian and Belarusian letters).
CYRILLIC = {
    "А": "A", "Б": "B", "В": "V", "Г": "G", "Ґ": "G", "Д": "D", "Е": "E", "Ё": "E", "Є": "IE", "Ж": "ZH",
    "З": "Z", "И": "I", "І": "I", "Ї": "I", "Й": "I", "К": "K", "Л": "L", "М": "M", "Н": "N", "О": "O",
    "П": "P", "Р": "R", "С": "S", "Т": "T", "У": "U", "Ў": "U", "Ф": "F", "Х": "KH", "Ц": "TS", "Ч": "CH",
    "Ш": "SH", "Щ": "SHCH", "Ъ": "IE", "Ы": "Y", "Ь": "", "Э": "E", "Ю": "IU", "Я": "IA",
    "Ђ": "D", "Ј": "J", "Љ": "LJ", "Њ": "NJ", "Ћ": "C", "Џ": "DZ", "Ѓ": "G", "Ќ": "K", "Ѕ": "DZ",
}

# Arabic letters to the consonant a romanisation writes for them; long vowels, hamza carriers and
# letters most romanisations leave out (ʿayn) become nothing, as vowels do on the Latin side.
ARABIC = {
    "ب": "B", "ت": "T", "ث": "TH", "ج": "J", "ح": "H", "خ": "KH", "د": "D", "ذ": "DH", "ر": "R", "ز": "Z",
    "س": "S", "ش": "SH", "ص": "S", "ض": "D", "ط": "T", "ظ": "Z", "ع": "", "غ": "GH", "ف": "F", "ق": "K",
    "ك": "K", "ل": "L", "م": "M", "ن": "N", "ه": "H", "ة": "", "و": "", "ي": "", "ى": "", "ا": "", "أ": "",
    "إ": "", "آ": "", "ء": "", "ؤ": "", "ئ": "", "پ": "P", "چ": "CH", "ژ": "ZH", "گ": "G", "ک": "K", "ی": "",
}

FILLER = "<"


def _script(text: str) -> str:
    for ch in text:
        if "\u0600" <= ch <= "\u06ff":
            return "arabic"
        if "\u0400" <= ch <= "\u04ff":
            return "cyrillic"
    return "latin"


def _latin(text: str, table: dict[str, str]) -> str:
    out = []
    for ch in text.upper():
        if ch in table:
            out.append(table[ch])
        elif ch == "ß" or ch == "ẞ":
            out.append("SS")
        elif ch in CYRILLIC:
            out.append(CYRILLIC[ch])
        else:
            base = unicodedata.normalize("NFKD", ch)
            out.append("".join(c for c in base if not unicodedata.combining(c)))
    return "".join(out)


def _clean(text: str) -> str:
    """A-Z and the filler only: what an MRZ may hold."""
    return re.sub(r"[^A-Z<]", "", re.sub(r"[\s\-'’,.]+", "<", text))


def icao(text: str) -> str:
    """The ICAO 9303 spelling of a name (recommended expansion): 'Müller-Lüdenscheidt' ->
    'MUELLER<LUEDENSCHEIDT', 'Юлия' -> 'IULIIA'. Arabic script has no A-Z spelling here (see skeleton)."""
    return _clean(_latin(text, LATIN_EXPANDED)).strip(FILLER)


def latin_upper(text: str) -> str:
    """Text in upper-case Latin letters (ICAO's spelling), digits and punctuation kept: for addresses,
    whose house numbers and postcodes count."""
    return _latin(text, LATIN_EXPANDED)


def icao_variants(text: str) -> set[str]:
    """Every A-Z spelling a document may carry for the name: expanded and reduced diacritics."""
    return {v for v in (icao(text), _clean(_latin(text, LATIN_REDUCED)).strip(FILLER)) if v}


def tokens(text: str) -> list[str]:
    """The parts of a name (an MRZ field or what the client typed), in order, in their own script."""
    text = text.replace(FILLER, " ")
    return [t for t in re.split(r"[\s\-'’,.]+", text.strip()) if t]


_FOLDS = (
    ("SHCH", "SC"), ("SCH", "SH"), ("KH", "H"), ("TH", "T"), ("PH", "F"), ("CK", "K"), ("Q", "K"),
    ("AE", "A"), ("OE", "O"), ("UE", "U"), ("OU", "U"), ("EE", "I"),
    ("IU", "U"), ("YU", "U"), ("JU", "U"), ("IA", "A"), ("YA", "A"), ("JA", "A"), ("IE", "E"),
    ("YE", "E"), ("JE", "E"), ("IO", "O"), ("YO", "O"), ("JO", "O"), ("IY", "I"), ("YI", "I"),
    ("J", "Y"), ("W", "V"),
)


def folded(token: str) -> str:
    """A Latin name part with the common romanisation variants folded: doubled letters single, the
    iotated vowels (IU/YU/JU, IA/YA/JA...) to the vowel, KH/H, J/Y: Yulia, Julia, Iuliia -> ULA."""
    s = re.sub(r"(.)\1+", r"\1", token.upper())
    for a, b in _FOLDS:
        s = s.replace(a, b)
    s = re.sub(r"(.)\1+", r"\1", s)
    return s.replace("Y", "I") if len(s) > 1 else s


def skeleton(token: str) -> str:
    """The consonants of a name part, as a romanisation of Arabic would write them: 'Mohammed',
    'MUHAMMAD', 'محمد' -> 'MHMD'."""
    if _script(token) == "arabic":
        s = "".join(ARABIC.get(ch, "") for ch in token)
    else:
        s = _latin(token, LATIN_EXPANDED).upper()
    s = re.sub(r"[^A-Z]", "", s)
    for a, b in (("KH", "X"), ("SH", "C"), ("TH", "T"), ("DH", "D"), ("GH", "G"), ("Q", "K"), ("CK", "K"),
                 ("OU", "U"), ("EE", "I"), ("J", "G")):
        s = s.replace(a, b)
    s = re.sub(r"[AEIOUYW]", "", s)
    return re.sub(r"(.)\1+", r"\1", s)


def token_match(client: str, document: str, *, truncated: bool = False) -> str | None:
    """How a name part the client typed matches one read off the document (A-Z), or None."""
    doc = document.upper()
    script = _script(client)
    if script != "arabic":
        spelled = icao_variants(client)
        if doc in spelled:
            return "exact" if doc == icao(client) else "transliteration"
        if any(folded(v) == folded(doc) for v in spelled):
            return "romanisation"
    sk_client, sk_doc = skeleton(client), skeleton(doc)
    short = script != "latin" and len(doc) <= 4  # Ali, Omar: one or two consonants say it all
    if (len(sk_client) >= 2 or (short and sk_client)) and sk_client == sk_doc:
        # Latin against Latin: only longer names whose first letters agree (Mohammed / MUHAMMAD),
        # never Maria / MARIO.
        if script != "latin" or (len(sk_client) >= 3 and folded(icao(client))[:1] == folded(doc)[:1]):
            return "romanisation"
    if truncated and doc and script != "arabic" and any(v.startswith(doc) for v in icao_variants(client)):
        return "truncated"
    return None


@dataclass(frozen=True)
class NameMatch:
    matched: bool
    how: dict[str, str] = field(default_factory=dict)  # the client's name part -> the rule that matched it
    missing: tuple[str, ...] = ()  # the client's name parts not found on the document
    extra: tuple[str, ...] = ()  # the document's name parts the client left out (middle names)

    def as_evidence(self) -> dict[str, object]:
        return {"matched": self.matched, "how": self.how, "missing": list(self.missing), "extra": list(self.extra)}


def _match_sequence(client: Sequence[str], document: Sequence[str], *, truncated: bool,
                    how: dict[str, str]) -> tuple[list[str], list[int]]:
    """Match the client's parts to the document's in order; returns the unmatched client parts and
    the indexes of the document's parts used."""
    missing: list[str] = []
    used: list[int] = []
    start = 0
    for part in client:
        for i in range(start, len(document)):
            last = i == len(document) - 1
            kind = token_match(part, document[i], truncated=truncated and last)
            if kind:
                how[part] = kind
                used.append(i)
                start = i + 1
                break
        else:
            missing.append(part)
    return missing, used


def match_name(*, first_name: str, last_name: str, middle_name: str = "", surname: str,
               given_names: str, field_full: bool = False) -> NameMatch:
    """Match the registered name against the document's surname and given names (MRZ fields or
    read text). `field_full`: the document's name field had no filler left, so the last part may
    be cut (the name was truncated to the field's width)."""
    doc_surname, doc_given = tokens(surname), tokens(given_names)
    how: dict[str, str] = {}
    client_surname, client_given = tokens(last_name), tokens(first_name) + tokens(middle_name)
    if not doc_surname or not client_surname:
        return NameMatch(False, {}, tuple(client_surname + client_given), tuple(doc_given))
    miss_s, used_s = _match_sequence(client_surname, doc_surname, truncated=field_full and not doc_given, how=how)
    miss_g, used_g = _match_sequence(client_given, doc_given, truncated=field_full, how=how)
    # A field truncated inside the given names may have dropped the client's later given names whole.
    if field_full and miss_g and used_g and all(p in client_given[client_given.index(miss_g[0]):] for p in miss_g):
        for part in miss_g:
            how[part] = "truncated"
        miss_g = []
    if field_full and miss_g and not doc_given and not miss_s:
        for part in miss_g:
            how[part] = "truncated"
        miss_g = []
    # The surname must be whole-matched, the first given name too (a middle name may be absent on
    # either side only where the document has the first one).
    first_ok = not client_given or (client_given[0] in how)
    missing = tuple(miss_s + miss_g)
    extra = tuple(p for i, p in enumerate(doc_given) if i not in used_g)
    if middle_name and not miss_s and first_ok and miss_g and set(miss_g) <= set(tokens(middle_name)) \
            and not extra:
        missing = ()  # the document carries no middle name at all
    matched = not missing and first_ok
    if not matched and _joined_match(client_surname, doc_surname) and (
            _joined_match(client_given, doc_given) or _joined_match(client_given[:1], doc_given)):
        # OCR that lost the spaces between name parts (ANNAMARIA for Anna Maria).
        how = {part: "spacing" for part in client_surname + client_given}
        return NameMatch(True, how, (), ())
    return NameMatch(matched=matched, how=how, missing=missing, extra=extra)


def _joined_match(client: Sequence[str], document: Sequence[str]) -> bool:
    if not client or not document:
        return not client and not document
    spelled = {"".join(v) for v in _product([sorted(icao_variants(p)) for p in client])}
    doc = "".join(document).upper()
    return doc in spelled or any(folded(v) == folded(doc) for v in spelled)


def _product(options: list[list[str]]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [()]
    for choices in options:
        out = [prefix + (c,) for prefix in out for c in choices or [""]]
    return out


def mrz_name_field(surname: str, given_names: str, width: int) -> str:
    """The MRZ name field as a document would print it: SURNAME<<GIVEN<NAMES, filled with '<' to the
    width, or cut at the width when longer (ICAO 9303's simple truncation)."""
    text = icao(surname) + "<<" + icao(given_names)
    return text[:width].ljust(width, FILLER)


def contains_name(text: str, names: Iterable[str]) -> dict[str, str]:
    """Which of the name parts appear in a document's free text (a bill): part -> how it matched."""
    words = [w for w in re.split(r"[^A-Z]+", icao(text.replace("\n", " ")).replace("<", " ")) if w]
    found: dict[str, str] = {}
    squashed = "".join(words)
    for part in names:
        for word in words:
            kind = token_match(part, word)
            if kind:
                found[part] = kind
                break
        else:
            # OCR that lost the spaces (ANNAMARIAERIKSSON): the part inside the squashed text.
            if any(len(v) >= 3 and v in squashed for v in icao_variants(part)):
                found[part] = "spacing"
    return found
