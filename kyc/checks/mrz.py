"""The machine-readable zone: found among OCR'd lines, its OCR slips corrected by position (a digit
field read 'O' is a 0, a letter field read '0' is an O), parsed into fields, every check digit and the
composite digit verified (ICAO 9303 part 3, weights 7-3-1).

TD3 (passports): two lines of 44 characters. TD1 (identity cards): three lines of 30.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

_VALUES = {**{str(d): d for d in range(10)}, **{chr(65 + i): 10 + i for i in range(26)}, "<": 0}

TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "T": "1", "Z": "2", "S": "5", "B": "8",
            "G": "6"}
TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G"}


def check_digit(text: str) -> str:
    total = sum(_VALUES.get(ch, 0) * (7, 3, 1)[i % 3] for i, ch in enumerate(text))
    return str(total % 10)


# Characters OCR returns for a Latin capital of the OCR-B font: Cyrillic and Greek capitals drawn
# alike, the multiplication sign for X, and the degree signs for C and F (their compatibility
# decomposition, "°C", would add a character and shift the rest of the line).
LOOKALIKES = str.maketrans("АВЕКМНОРСТХУІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧ×℃℉", "ABEKMHOPCTXYIJSABEZHIKMNOPTYXXCF")


def _norm_line(text: str) -> str:
    # Before the decomposition (℃ would become "°C") and after it (a capital with a mark, Ё, decomposes
    # into its lookalike and the mark).
    s = text.upper().replace(" ", "").translate(LOOKALIKES)
    s = unicodedata.normalize("NFKD", s).translate(LOOKALIKES)
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = s.replace("«", "<<").replace("‹", "<").replace("(", "<").replace("[", "<").replace("{", "<")
    s = re.sub(r"[^A-Z0-9<]", "<", s)
    return s


def _fix(text: str, kinds: str) -> str:
    """Correct by position: kinds holds 'd' (digit), 'a' (letter or filler) or 'x' (either)."""
    out = []
    for ch, kind in zip(text, kinds, strict=False):
        if kind == "d":
            out.append(TO_DIGIT.get(ch, "0" if ch == "<" else ch))
        elif kind == "a":
            out.append(TO_LETTER.get(ch, ch))
        else:
            out.append(ch)
    return "".join(out)


def _fit(text: str, width: int) -> str:
    """A line OCR read a little long or short, brought to its width (fillers are what OCR miscounts)."""
    while len(text) > width and "<<<" in text:
        i = text.rfind("<<<")
        text = text[:i] + text[i + 1:]
    if len(text) < width:
        # Missing fillers are most likely inside the longest run of them.
        runs = list(re.finditer(r"<{2,}", text))
        if runs:
            run = max(runs, key=lambda m: len(m.group()))
            text = text[:run.end()] + "<" * (width - len(text)) + text[run.end():]
        else:
            text = text.ljust(width, "<")
    return text[:width]


@dataclass(frozen=True)
class Mrz:
    format: str  # "TD3" | "TD1"
    lines: tuple[str, ...]
    document_code: str
    issuing_country: str
    document_number: str
    surname: str
    given_names: str
    nationality: str
    birth_date_raw: str
    sex: str
    expiry_date_raw: str
    name_field_full: bool
    digits: dict[str, dict[str, str | bool]] = field(default_factory=dict)  # name -> {expected, found, valid}

    @property
    def digits_valid(self) -> bool:
        return all(d["valid"] for d in self.digits.values())

    @property
    def document_type(self) -> str:
        code = self.document_code[:1]
        if self.format == "TD3" and code == "P":
            return "passport"
        if self.format == "TD1" and code in "IAC":
            return "id_card"
        return "unknown"

    def birth_date(self, as_of: date) -> date | None:
        return _date(self.birth_date_raw, past=True, as_of=as_of)

    def expiry_date(self, as_of: date) -> date | None:
        return _date(self.expiry_date_raw, past=False, as_of=as_of)


def _date(raw: str, *, past: bool, as_of: date) -> date | None:
    if not re.fullmatch(r"\d{6}", raw):
        return None
    yy, mm, dd = int(raw[:2]), int(raw[2:4]), int(raw[4:])
    if past:
        year = 2000 + yy if 2000 + yy <= as_of.year else 1900 + yy
    else:
        year = 2000 + yy if 2000 + yy <= as_of.year + 50 else 1900 + yy
    try:
        return date(year, mm, dd)
    except ValueError:
        return None


def _digit(name: str, data: str, found: str) -> dict[str, str | bool]:
    expected = check_digit(data)
    return {"field": name, "expected": expected, "found": found, "valid": expected == found}


def _names(field_text: str) -> tuple[str, str, bool]:
    full = not field_text.endswith("<")
    surname, _, given = field_text.partition("<<")
    return surname.replace("<", " ").strip(), given.replace("<", " ").strip(), full


def parse_td3(line1: str, line2: str) -> Mrz:
    l1 = _fit(line1, 44)
    l1 = l1[:2] + _fix(l1[2:5], "aaa") + _fix(l1[5:], "a" * 39)
    l2 = _fit(line2, 44)
    l2 = l2[:9] + _fix(l2[9:10], "d") + _fix(l2[10:13], "aaa") + _fix(l2[13:20], "dddddd" + "d") + \
        _fix(l2[20:21], "a") + _fix(l2[21:28], "ddddddd") + l2[28:43] + _fix(l2[43:44], "d")
    surname, given, full = _names(l1[5:44])
    number = l2[0:9]
    digits = {
        "document_number": _digit("document_number", number, l2[9]),
        "birth_date": _digit("birth_date", l2[13:19], l2[19]),
        "expiry_date": _digit("expiry_date", l2[21:27], l2[27]),
        "composite": _digit("composite", l2[0:10] + l2[13:20] + l2[21:43], l2[43]),
    }
    if l2[28:42].strip("<") or l2[42] != "<":
        digits["personal_number"] = _digit("personal_number", l2[28:42], l2[42])
    return Mrz("TD3", (l1, l2), l1[0:2].rstrip("<"), l1[2:5], number.rstrip("<"), surname, given, l2[10:13],
               l2[13:19], l2[20], l2[21:27], full, digits)


def parse_td1(line1: str, line2: str, line3: str) -> Mrz:
    l1 = _fit(line1, 30)
    l1 = l1[:2] + _fix(l1[2:5], "aaa") + l1[5:]
    l2 = _fit(line2, 30)
    l2 = _fix(l2[0:7], "ddddddd") + _fix(l2[7:8], "a") + _fix(l2[8:15], "ddddddd") + _fix(l2[15:18], "aaa") + \
        l2[18:29] + _fix(l2[29:30], "d")
    l3 = _fix(_fit(line3, 30), "a" * 30)
    surname, given, full = _names(l3)
    number, number_digit = l1[5:14], l1[14]
    if number_digit == "<" and l1[15:30].strip("<"):
        # A long document number continues in the optional data, its check digit after it.
        rest = l1[15:30].rstrip("<")
        number, number_digit = number + rest[:-1], rest[-1]
    digits = {
        "document_number": _digit("document_number", number, number_digit),
        "birth_date": _digit("birth_date", l2[0:6], l2[6]),
        "expiry_date": _digit("expiry_date", l2[8:14], l2[14]),
        "composite": _digit("composite", l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29]),
    }
    return Mrz("TD1", (l1, l2, l3), l1[0:2].rstrip("<"), l1[2:5], number.rstrip("<"), surname, given,
               l2[15:18], l2[0:6], l2[7], l2[8:14], full, digits)


CONFUSED = {"O": "0", "0": "O", "I": "1", "1": "I", "B": "8", "8": "B", "S": "5", "5": "S", "Z": "2", "2": "Z"}


# The spans of letters and digits together (line, start, end): no position tells a misread O from a 0
# there. TD3: the document number and the personal number; TD1: the document number and both optional
# data fields (the composite digit covers them).
_MIXED = {"TD3": ((1, 0, 9), (1, 28, 42)), "TD1": ((0, 5, 14), (0, 15, 30), (1, 18, 29))}
# Check digits a misread in a mixed span can break; the date fields' digits are read by position.
_MIXED_DIGITS = frozenset({"document_number", "personal_number", "composite"})


def _reparse(found: Mrz, lines: list[str]) -> Mrz:
    return parse_td3(*lines) if found.format == "TD3" else parse_td1(*lines)


def _repair_number(found: Mrz) -> Mrz:
    """A letter and a figure OCR confuses (O/0, I/1, B/8, S/5, Z/2) in a span of letters and digits (see
    _MIXED): when only the check digits over those spans fail, one such character is swapped, and the
    swap is kept only when EVERY check digit then holds, and only when exactly one swap does. A check
    digit itself, and every field whose kind of character is known, are never changed here (a wrong
    check digit is what a digit altered by hand leaves)."""
    bad = {name for name, d in found.digits.items() if not d["valid"]}
    if not bad or not bad <= _MIXED_DIGITS:
        return found
    fixes: dict[tuple[str, ...], Mrz] = {}
    for index, start, end in _MIXED[found.format]:
        line = found.lines[index]
        for pos in range(start, min(end, len(line))):
            ch = line[pos]
            if ch not in CONFUSED:
                continue
            lines = list(found.lines)
            lines[index] = line[:pos] + CONFUSED[ch] + line[pos + 1:]
            attempt = _reparse(found, lines)
            if attempt.digits_valid:
                fixes[attempt.lines] = attempt
    return next(iter(fixes.values())) if len(fixes) == 1 else found


TD3_NAME_LINE = re.compile(r"P[A-Z<][A-Z0-9]{3}[A-Z]+<<[A-Z<]*<$")
# An identity card's first line whose trailing fillers OCR ran together: code, state, a document number
# with its check digit, then a run of fillers (the optional data left empty). _fit pads it back to 30,
# and the document number's check digit must still hold.
TD1_FIRST_LINE = re.compile(r"[IAC][A-Z<][A-Z0-9]{3}[A-Z0-9<]{10}<{4,}$")


def _candidates(lines: Sequence[str], *, repaired: bool = False) -> list[str]:
    out = []
    for text in lines:
        s = _norm_line(text)
        if len(s) >= 26 and (s.count("<") >= 2 or re.search(r"\d{6}", s)):
            out.append(s)
        elif TD3_NAME_LINE.match(s) or (repaired and TD3_NAME_LINE.match("P" + s)):
            # A passport's first line whose trailing fillers OCR ran together ("SARA<<<<<<" for
            # twenty-odd of them): it carries no check digit, and _fit pads it back to 44.
            out.append(s)
        elif 20 <= len(s) < 26 and TD1_FIRST_LINE.match(s):
            out.append(s)
    return out


def _split_rows(lines: Sequence[str]) -> list[str]:
    """Each row, and, when a skewed page put both MRZ lines in one row, its pieces as rows of their own
    (tried in turn: the joined text may also be one line that detection cut in two)."""
    out: list[str] = []
    for text in lines:
        out.append(text)
        parts = text.split()
        if len(parts) > 1 and all(len(p) >= 12 and "<" in p for p in parts):
            out.extend(parts)
    return out


# A piece of an MRZ line that detection boxed apart and that landed in a row of its own (a smaller box
# whose centre is off the line's): fillers and figures only, or a short run of letters and fillers.
_FRAGMENT = re.compile(r"[A-Z0-9<]{1,16}")


def _is_fragment(raw: str) -> bool:
    s = _norm_line(raw)
    compact = raw.replace(" ", "")
    return bool(_FRAGMENT.fullmatch(s)) and len(compact) == len(s) and ("<" in s or s.isdigit()) \
        and sum(ch.isalpha() for ch in compact if ch != "<") <= 4


def _joined_fragments(lines: Sequence[str]) -> list[str]:
    """The rows with a fragment of an MRZ line (see _FRAGMENT) put back at the end of the MRZ-like row
    before it. Only tried when the rows as read give no MRZ whose check digits hold."""
    out: list[str] = []
    for text in lines:
        if out and _is_fragment(text):
            before = _norm_line(out[-1])
            if len(before) >= 20 and "<" in before and len(before) + len(_norm_line(text)) <= 46:
                out[-1] = before + _norm_line(text)
                continue
        out.append(text)
    return out


# A first line whose leading letter OCR lost ("<UTOERIKSSON<<ANNA..." for "P<UTO..."): the document code
# put back (P before a passport's 44-character second line, I before an identity card's 30-character
# one). A second line whose fillers OCR ran together is padded back (_fit) from 34 characters. A passport's first line carries no check digit: its second line's digits must all hold for it
# to be kept; an identity card's first line holds the document number, whose digit must hold.
_HEADLESS = re.compile(r"<[A-Z][A-Z<]{2}[A-Z0-9<]+")


def _with_code(cand: list[str], i: int) -> str:
    first = cand[i]
    if not _HEADLESS.fullmatch(first) or i + 1 >= len(cand):
        return first
    nxt = len(cand[i + 1])
    if 34 <= nxt <= 48 and "<<" in first:
        return "P" + first
    if 26 <= nxt <= 33 and i + 2 < len(cand):
        return "I" + first
    return first


def find_mrz(lines: Sequence[str]) -> Mrz | None:
    """The MRZ among OCR'd lines (in reading order), or None when there is none to read. When the rows
    as read give none whose check digits hold, the rows are tried again with split-off fragments of a
    line joined back and a first line's lost document code put back; that reading is kept only when
    every check digit then holds."""
    found = _find_mrz(lines, repaired=False)
    if found is not None and found.digits_valid:
        return found
    again = _find_mrz(_joined_fragments(lines), repaired=True)
    if again is not None and again.digits_valid:
        return again
    return found


def _find_mrz(lines: Sequence[str], *, repaired: bool) -> Mrz | None:
    cand = _candidates(_split_rows(lines), repaired=repaired)
    best: Mrz | None = None
    for i, first in enumerate(cand):
        if repaired:
            first = _with_code(cand, i)
        if not re.match(r"[PIAC][A-Z<][A-Z0-9<]{3}", first) or "<" not in first:
            continue
        if first[:1] == "P" and i + 1 < len(cand) and (30 <= len(first) <= 48 or TD3_NAME_LINE.match(first)) \
                and (34 if repaired else 40) <= len(cand[i + 1]) <= 48 and "<<" in first:
            found = parse_td3(first, cand[i + 1])
        elif first[:1] in "IAC" and i + 2 < len(cand) and (26 <= len(first) <= 33 or TD1_FIRST_LINE.match(first)) \
                and 26 <= len(cand[i + 1]) <= 33:
            found = parse_td1(first, cand[i + 1], cand[i + 2])
        else:
            continue
        found = _repair_number(found)
        if best is None or _valid_count(found) > _valid_count(best):
            best = found
        if best.digits_valid:
            break
    return best


def _valid_count(found: Mrz) -> int:
    return sum(1 for d in found.digits.values() if d["valid"])
