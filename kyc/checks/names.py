"""Names as a document's machine-readable zone spells them (ICAO Doc 9303 part 3): Latin letters with
diacritics expanded (Ä -> AE, Ø -> OE, ß -> SS), Cyrillic by the ICAO table (Ю -> IU, Я -> IA, Ж -> ZH,
Щ -> SHCH...), spaces and hyphens as filler, and a name longer than the field cut at the field's width.

Comparing the registered name with the document's is matching.documents (shared with
screening's matcher): this module only spells names the MRZ way.
"""

from __future__ import annotations

import re
import unicodedata

# ICAO 9303 part 3, transliteration of Latin multinational characters (the recommended expansion).
LATIN_EXPANDED = {
    "Ä": "AE", "Æ": "AE", "Å": "AA", "Ö": "OE", "Ø": "OE", "Œ": "OE", "Ü": "UE", "ß": "SS", "Þ": "TH",
    "Ð": "D", "Đ": "D", "Ħ": "H", "Ĳ": "IJ", "Ł": "L", "Ŀ": "L", "Ŋ": "N", "ı": "I", "Ñ": "N",
}

# ICAO 9303 part 3, Cyrillic (Russian, with the Ukrainian and Belarusian letters).
CYRILLIC = {
    "А": "A", "Б": "B", "В": "V", "Г": "G", "Ґ": "G", "Д": "D", "Е": "E", "Ё": "E", "Є": "IE", "Ж": "ZH",
    "З": "Z", "И": "I", "І": "I", "Ї": "I", "Й": "I", "К": "K", "Л": "L", "М": "M", "Н": "N", "О": "O",
    "П": "P", "Р": "R", "С": "S", "Т": "T", "У": "U", "Ў": "U", "Ф": "F", "Х": "KH", "Ц": "TS", "Ч": "CH",
    "Ш": "SH", "Щ": "SHCH", "Ъ": "IE", "Ы": "Y", "Ь": "", "Э": "E", "Ю": "IU", "Я": "IA",
    "Ђ": "D", "Ј": "J", "Љ": "LJ", "Њ": "NJ", "Ћ": "C", "Џ": "DZ", "Ѓ": "G", "Ќ": "K", "Ѕ": "DZ",
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


def mrz_name_field(surname: str, given_names: str, width: int) -> str:
    """The MRZ name field as a document would print it: SURNAME<<GIVEN<NAMES, filled with '<' to the
    width, or cut at the width when longer (ICAO 9303's simple truncation)."""
    text = icao(surname) + "<<" + icao(given_names)
    return text[:width].ljust(width, FILLER)
