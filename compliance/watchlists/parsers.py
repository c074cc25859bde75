"""Parsers of the lists' published layouts into plain entries (no Django: the loader stores them).

Every parser reads the whole input before anything is stored and raises `ListFormatError` naming the
file, the line and the field of the first fault, so that a malformed file loads nothing.

Layouts:
- ``ofac-csv``: OFAC's legacy CSV files sdn.csv (ent_num, SDN_Name, SDN_Type, Program, Title,
  Call_Sign, Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks), alt.csv (ent_num, alt_num,
  alt_type, alt_name, alt_remarks) and add.csv (ent_num, add_num, address, city/state/postal,
  country, add_remarks); headerless as OFAC ships them or with a header row; ``-0-`` is empty; DOBs,
  places of birth and nationalities inside Remarks ("DOB 12 Jan 1960; alt. DOB 1961; POB ...;
  nationality Iran;"); a weak alias is an alt row whose remarks say "weak" or "low quality", or a
  quoted ``a.k.a. "..."`` in the Remarks.
- ``eu-xml``: the EU's consolidated financial sanctions list (export / sanctionEntity / nameAlias,
  citizenship, birthdate, address; ``strong="false"`` marks a weak alias).
- ``un-xml``: the UN Security Council's consolidated list (INDIVIDUALS / INDIVIDUAL, ENTITIES /
  ENTITY; REFERENCE_NUMBER, FIRST_NAME..FOURTH_NAME, *_ALIAS with QUALITY Low for weak ones,
  INDIVIDUAL_DATE_OF_BIRTH with TYPE_OF_DATE EXACT / APPROXIMATELY / BETWEEN).
- ``uk-csv``: the UK's consolidated list CSV (a "Last Updated" line, then a header with Name 6 =
  surname, Name 1..5, Group Type, Alias Type, Alias Quality, DOB dd/mm/yyyy with 00 for unknown
  parts, Nationality, Country, Group ID; one row per name of an entry).
- ``pep-csv``: a simple CSV with a header: id, full_name, type, dob (ISO, a year, or several
  separated by ';'), country, aliases (';'), position.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element  # noqa: S405 - parsing goes through defusedxml below

from defusedxml import DefusedXmlException, ElementTree

from compliance.watchlists.countries import country_code
from matching.screen import DOB, ListedName

FORMATS = ("ofac-csv", "eu-xml", "un-xml", "uk-csv", "pep-csv")


class ListFormatError(ValueError):
    """A list file that does not follow its layout; nothing of it is loaded."""

    def __init__(self, source: str, line: int | None, field_name: str, message: str) -> None:
        self.source, self.line, self.field_name = source, line, field_name
        where = f"{source}, line {line}" if line else source
        super().__init__(f"{where}, field {field_name}: {message}")


@dataclass
class ParsedEntry:
    ent_num: str
    entry_type: str  # person, company, vessel, aircraft
    names: list[ListedName] = field(default_factory=list)
    dobs: list[DOB] = field(default_factory=list)
    places_of_birth: list[str] = field(default_factory=list)
    countries: set[str] = field(default_factory=set)
    programs: str = ""
    remarks: str = ""

    def fingerprint(self) -> dict[str, object]:
        """What a diff compares: the details that matter to screening."""
        return {
            "type": self.entry_type,
            "names": sorted(f"{n.kind}:{int(n.weak)}:{n.text}" for n in self.names),
            "dobs": sorted(str(d) for d in self.dobs),
            "countries": sorted(self.countries),
            "places": sorted(self.places_of_birth),
        }


@dataclass(frozen=True)
class SourceFile:
    name: str
    data: bytes


# --- dates -------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_OFAC_DATE = re.compile(r"^(?:(circa|approximately)\s+)?(?:(\d{1,2})\s+)?(?:([A-Za-z]{3})[a-z]*\s+)?(\d{4})"
                        r"(?:\s*(?:to|-)\s*(\d{4}))?$", re.IGNORECASE)


def parse_list_date(text: str) -> DOB:
    """'12 Jan 1960', 'Jan 1960', '1960', 'circa 1960', '1960 to 1962', '1960-01-12', '00/01/1960'."""
    value = text.strip().rstrip(".")
    iso = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", value)
    if iso:
        y, m, d = iso.groups()
        return _checked(int(y), int(m) if m else None, int(d) if d else None)
    uk = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", value)
    if uk:
        d, m, y = (int(x) for x in uk.groups())
        return _checked(y, m or None, d or None)
    match = _OFAC_DATE.match(value)
    if not match:
        raise ValueError(f"not a date: {text!r}")
    circa, day, month, year, year_to = match.groups()
    month_no = _MONTHS.get(month.lower()[:3]) if month else None
    if month and not month_no:
        raise ValueError(f"not a month: {month!r}")
    dob = _checked(int(year), month_no, int(day) if day else None)
    return DOB(dob.year, dob.month, dob.day, circa=bool(circa), year_to=int(year_to) if year_to else None)


def _checked(year: int, month: int | None, day: int | None) -> DOB:
    if month and day:
        dt.date(year, month, day)  # raises ValueError on 31 Feb
    elif month and not 1 <= month <= 12:
        raise ValueError(f"month {month} out of range")
    if not 1800 <= year <= 2100:
        raise ValueError(f"year {year} out of range")
    return DOB(year, month, day)


# --- OFAC --------------------------------------------------------------------------------------

SDN_COLUMNS = ["ent_num", "SDN_Name", "SDN_Type", "Program", "Title", "Call_Sign", "Vess_type", "Tonnage",
               "GRT", "Vess_flag", "Vess_owner", "Remarks"]
ALT_COLUMNS = ["ent_num", "alt_num", "alt_type", "alt_name", "alt_remarks"]
ADD_COLUMNS = ["ent_num", "add_num", "address", "city_state_postal", "country", "add_remarks"]
OFAC_TYPES = {"individual": "person", "": "company", "entity": "company", "vessel": "vessel", "aircraft": "aircraft"}


def _ofac_value(value: str) -> str:
    value = value.strip()
    return "" if value == "-0-" else value


def _decode(src: SourceFile) -> str:
    """The file's text: UTF-8, else Windows-1252 (what older list files are written in). A file that
    is neither (a binary file, bytes Windows-1252 leaves undefined) or that holds a NUL or another
    control character no list writes is refused, naming the file and its line."""
    try:
        text = src.data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = src.data.decode("cp1252")
        except UnicodeDecodeError as exc:
            line = src.data.count(b"\n", 0, exc.start) + 1
            raise ListFormatError(src.name, line, "file", "neither UTF-8 nor Windows-1252 text "
                                  f"(byte 0x{src.data[exc.start]:02x}); is it the list's file?") from None
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise ListFormatError(src.name, line, "file", f"a control character (U+{ord(bad.group()):04X}) "
                              "no list file holds; is it the list's file?")
    return text


# NUL and the C0 controls but tab, line feed and carriage return (and control-Z, OFAC's end marker).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x19\x1b-\x1f\x7f]")


def _csv_guarded(src: SourceFile, rows: Iterator[Any], line: Callable[[], int]) -> Iterator[Any]:
    # csv's own faults (a field over its 131,072-character limit, a stray quote) as the file's fault.
    try:
        yield from rows
    except csv.Error as exc:
        raise ListFormatError(src.name, line() + 1, "file", f"not a CSV file this list reads ({exc})") from None


def _csv_rows(src: SourceFile, columns: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a headerless or headed OFAC file as dicts, with their line numbers; the file's end
    marker (a lone control-Z) is skipped."""
    reader = csv.reader(io.StringIO(_decode(src)))
    first = True
    for row in _csv_guarded(src, reader, lambda: reader.line_num):
        line = reader.line_num
        if not row or row == ["\x1a"] or all(not c.strip() for c in row):
            continue
        if first:
            first = False
            if row[0].strip().lower() == columns[0].lower():
                continue
        if len(row) != len(columns):
            raise ListFormatError(src.name, line, columns[min(len(row), len(columns)) - 1],
                                  f"expected {len(columns)} fields, found {len(row)}")
        yield line, {c: _ofac_value(v) for c, v in zip(columns, row, strict=True)}


def _ofac_kind(files: list[SourceFile]) -> dict[str, SourceFile]:
    kinds: dict[str, SourceFile] = {}
    for src in files:
        name = src.name.rsplit("/", 1)[-1].lower()
        head = _decode(src).lstrip().split("\n", 1)[0]
        fields = next(csv.reader([head]), [])
        if "alt" in name or len(fields) == len(ALT_COLUMNS):
            kinds["alt"] = src
        elif "add" in name or len(fields) == len(ADD_COLUMNS):
            kinds["add"] = src
        else:
            kinds["sdn"] = src
    if "sdn" not in kinds:
        raise ListFormatError(files[0].name if files else "(no file)", None, "file", "sdn.csv is required")
    return kinds


def _remarks(entry: ParsedEntry, remarks: str, src: str, line: int) -> None:
    """DOBs, places of birth, nationalities, citizenships and quoted weak aliases inside Remarks."""
    for part in (p.strip() for p in remarks.split(";")):
        low = part.lower()
        try:
            if low.startswith(("dob ", "alt. dob ")):
                entry.dobs.append(parse_list_date(part.split(" ", 2 if low.startswith("alt") else 1)[-1]))
            elif low.startswith(("pob ", "alt. pob ")):
                entry.places_of_birth.append(part.split(" ", 2 if low.startswith("alt") else 1)[-1])
                place_country = country_code(part.rsplit(",", 1)[-1])
                if place_country:
                    entry.countries.add(place_country)
            elif low.startswith(("nationality ", "alt. nationality ", "citizen ", "alt. citizen ",
                                 "nationality of registration ", "organization established date")):
                if low.startswith("organization"):
                    continue
                name = part.split(" ", 3 if low.startswith("nationality of") else
                                  (2 if low.startswith("alt.") else 1))[-1]
                code = country_code(name)
                if not code:
                    raise ValueError(f"unknown country {name!r}")
                entry.countries.add(code)
        except ValueError as exc:
            raise ListFormatError(src, line, "Remarks", f"{part!r}: {exc}") from exc
    for weak in re.findall(r"a\.k\.a\.\s+[\"'‘“]([^\"'’”]+)[\"'’”]", remarks):
        entry.names.append(ListedName(weak.strip(), "aka", weak=True))


def parse_ofac(files: list[SourceFile]) -> list[ParsedEntry]:
    kinds = _ofac_kind(files)
    entries = _ofac_sdn(kinds["sdn"])
    if "alt" in kinds:
        _ofac_aliases(kinds["alt"], entries)
    if "add" in kinds:
        _ofac_addresses(kinds["add"], entries)
    return list(entries.values())


def _ofac_sdn(sdn: SourceFile) -> dict[str, ParsedEntry]:
    """sdn.csv: one entry per row, its DOBs, places and nationalities read from the remarks."""
    entries: dict[str, ParsedEntry] = {}
    for line, row in _csv_rows(sdn, SDN_COLUMNS):
        ent = row["ent_num"]
        if not ent.isdigit():
            raise ListFormatError(sdn.name, line, "ent_num", f"not a number: {ent!r}")
        if ent in entries:
            raise ListFormatError(sdn.name, line, "ent_num", f"{ent} listed twice")
        if not row["SDN_Name"]:
            raise ListFormatError(sdn.name, line, "SDN_Name", "empty")
        kind = OFAC_TYPES.get(row["SDN_Type"].lower())
        if kind is None:
            raise ListFormatError(sdn.name, line, "SDN_Type", f"unknown type {row['SDN_Type']!r}")
        entry = ParsedEntry(ent_num=ent, entry_type=kind, names=[ListedName(row["SDN_Name"])],
                            programs=row["Program"], remarks=row["Remarks"])
        code = country_code(row["Vess_flag"]) if row["Vess_flag"] else None
        if code:
            entry.countries.add(code)
        _remarks(entry, row["Remarks"], sdn.name, line)
        entries[ent] = entry
    return entries


def _ofac_aliases(alt: SourceFile, entries: dict[str, ParsedEntry]) -> None:
    """alt.csv: aliases typed aka / fka / nka, weak where the remarks say so."""
    for line, row in _csv_rows(alt, ALT_COLUMNS):
        entry = _owner(entries, row["ent_num"], alt.name, line)
        kind = row["alt_type"].lower().strip(".").replace(".", "")
        if kind not in ("aka", "fka", "nka"):
            raise ListFormatError(alt.name, line, "alt_type", f"unknown alias type {row['alt_type']!r}")
        if not row["alt_name"]:
            raise ListFormatError(alt.name, line, "alt_name", "empty")
        weak = bool(re.search(r"weak|low quality", row["alt_remarks"], re.IGNORECASE))
        entry.names.append(ListedName(row["alt_name"], kind, weak=weak))


def _ofac_addresses(add: SourceFile, entries: dict[str, ParsedEntry]) -> None:
    """add.csv: each address's country, as an ISO code."""
    for line, row in _csv_rows(add, ADD_COLUMNS):
        entry = _owner(entries, row["ent_num"], add.name, line)
        if row["country"]:
            code = country_code(row["country"])
            if not code:
                raise ListFormatError(add.name, line, "country", f"unknown country {row['country']!r}")
            entry.countries.add(code)


def _owner(entries: dict[str, ParsedEntry], ent: str, src: str, line: int) -> ParsedEntry:
    if ent not in entries:
        raise ListFormatError(src, line, "ent_num", f"{ent!r} is not in sdn.csv")
    return entries[ent]


# --- XML lists ---------------------------------------------------------------------------------

def _xml(src: SourceFile) -> Element:
    try:
        # No list has a DTD; one could only carry entities, which defusedxml refuses anyway.
        root: Element = ElementTree.fromstring(src.data, forbid_dtd=True)
    except ElementTree.ParseError as exc:
        line = getattr(exc, "position", (None,))[0]
        raise ListFormatError(src.name, line, "xml", str(exc)) from exc
    except DefusedXmlException:
        raise ListFormatError(src.name, None, "xml", "a DTD or entity declaration, which no list has") from None
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(node: Element, name: str) -> Iterable[Element]:
    return (c for c in node if _local(c.tag) == name)


def _text(node: Element, name: str) -> str:
    for child in _children(node, name):
        return (child.text or "").strip()
    return ""


def parse_eu(files: list[SourceFile]) -> list[ParsedEntry]:
    entries: list[ParsedEntry] = []
    for src in files:
        root = _xml(src)
        if _local(root.tag) != "export":
            raise ListFormatError(src.name, 1, "export", f"root element is {_local(root.tag)!r}")
        entries.extend(_eu_entry(src, node) for node in _children(root, "sanctionEntity"))
    return entries


def _eu_entry(src: SourceFile, node: Element) -> ParsedEntry:
    ent = node.get("logicalId", "").strip()
    label = f"sanctionEntity {ent or '?'}"
    if not ent:
        raise ListFormatError(src.name, None, f"{label}/@logicalId", "missing")
    subject = next(iter(_children(node, "subjectType")), None)
    code = (subject.get("code", "") if subject is not None else "").lower()
    kind = {"person": "person", "enterprise": "company", "entity": "company"}.get(code)
    if kind is None:
        raise ListFormatError(src.name, None, f"{label}/subjectType/@code", f"unknown type {code!r}")
    entry = ParsedEntry(ent_num=ent, entry_type=kind, programs=node.get("euReferenceNumber", ""))
    for i, alias in enumerate(_children(node, "nameAlias")):
        whole = alias.get("wholeName", "").strip() or " ".join(
            filter(None, (alias.get(k, "").strip() for k in ("firstName", "middleName", "lastName"))))
        if not whole:
            raise ListFormatError(src.name, None, f"{label}/nameAlias/@wholeName", "empty")
        weak = alias.get("strong", "true").lower() == "false"
        entry.names.append(ListedName(whole, "primary" if i == 0 else "aka", weak=weak))
    if not entry.names:
        raise ListFormatError(src.name, None, f"{label}/nameAlias", "no name")
    _eu_births_and_countries(src, node, label, entry)
    return entry


def _eu_births_and_countries(src: SourceFile, node: Element, label: str, entry: ParsedEntry) -> None:
    for born in _children(node, "birthdate"):
        try:
            entry.dobs.append(_eu_birthdate(born))
        except ValueError as exc:
            raise ListFormatError(src.name, None, f"{label}/birthdate", str(exc)) from exc
        if born.get("city"):
            entry.places_of_birth.append(born.get("city", ""))
        if born.get("countryIso2Code", "").strip() not in ("", "00"):
            entry.countries.add(born.get("countryIso2Code", "").upper())
    for tag in ("citizenship", "address"):
        for item in _children(node, tag):
            iso = item.get("countryIso2Code", "").strip().upper()
            if iso and iso != "00":
                entry.countries.add(iso)


def _eu_birthdate(born: Element) -> DOB:
    circa = born.get("circa", "false").lower() == "true"
    if born.get("birthdate"):
        dob = parse_list_date(born.get("birthdate", ""))
    elif born.get("year"):
        month = born.get("monthOfYear")
        day = born.get("dayOfMonth")
        dob = _checked(int(born.get("year", "0")), int(month) if month else None, int(day) if day else None)
    else:
        raise ValueError("neither birthdate nor year")
    return DOB(dob.year, dob.month, dob.day, circa=circa)


def parse_un(files: list[SourceFile]) -> list[ParsedEntry]:
    entries: list[ParsedEntry] = []
    for src in files:
        root = _xml(src)
        if _local(root.tag) != "CONSOLIDATED_LIST":
            raise ListFormatError(src.name, 1, "CONSOLIDATED_LIST", f"root element is {_local(root.tag)!r}")
        for group, item, kind in (("INDIVIDUALS", "INDIVIDUAL", "person"), ("ENTITIES", "ENTITY", "company")):
            for block in _children(root, group):
                for node in _children(block, item):
                    entries.append(_un_entry(src, node, item, kind))
    return entries


def _un_births(src: SourceFile, node: Element, label: str) -> list[DOB]:
    """An individual's dates of birth: exact, a year, approximately, or between two years."""
    dobs: list[DOB] = []
    for born in _children(node, "INDIVIDUAL_DATE_OF_BIRTH"):
        kind_of = _text(born, "TYPE_OF_DATE").upper()
        try:
            if _text(born, "DATE"):
                dob = parse_list_date(_text(born, "DATE")[:10])
            elif kind_of == "BETWEEN":
                dob = DOB(int(_text(born, "FROM_YEAR")), year_to=int(_text(born, "TO_YEAR")))
            elif _text(born, "YEAR"):
                dob = parse_list_date(_text(born, "YEAR"))
            else:
                continue
        except ValueError as exc:
            raise ListFormatError(src.name, None, f"{label}/INDIVIDUAL_DATE_OF_BIRTH", str(exc)) from exc
        dobs.append(DOB(dob.year, dob.month, dob.day, circa=kind_of == "APPROXIMATELY", year_to=dob.year_to))
    return dobs


def _un_entry(src: SourceFile, node: Element, item: str, kind: str) -> ParsedEntry:
    ref = _text(node, "REFERENCE_NUMBER") or _text(node, "DATAID")
    label = f"{item} {ref or '?'}"
    if not ref:
        raise ListFormatError(src.name, None, f"{label}/REFERENCE_NUMBER", "missing")
    parts = [_text(node, t) for t in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")]
    name = " ".join(p for p in parts if p)
    if not name:
        raise ListFormatError(src.name, None, f"{label}/FIRST_NAME", "empty")
    entry = ParsedEntry(ent_num=ref, entry_type=kind, names=[ListedName(name)], programs=_text(node, "UN_LIST_TYPE"))
    original = _text(node, "NAME_ORIGINAL_SCRIPT")
    if original:
        entry.names.append(ListedName(original, "aka"))
    for alias in _children(node, f"{item}_ALIAS"):
        alias_name = _text(alias, "ALIAS_NAME")
        if alias_name:
            quality = _text(alias, "QUALITY").lower()
            entry.names.append(ListedName(alias_name, "aka", weak=quality in ("low", "weak")))
    entry.dobs.extend(_un_births(src, node, label))
    for nat in _children(node, "NATIONALITY"):
        for value in _children(nat, "VALUE"):
            code = country_code(value.text or "")
            if code:
                entry.countries.add(code)
    for tag in (f"{item}_ADDRESS", "INDIVIDUAL_PLACE_OF_BIRTH"):
        for place in _children(node, tag):
            code = country_code(_text(place, "COUNTRY"))
            if code:
                entry.countries.add(code)
            if tag.endswith("BIRTH") and _text(place, "CITY"):
                entry.places_of_birth.append(_text(place, "CITY"))
    return entry


# --- UK and PEP CSV ----------------------------------------------------------------------------

def _dict_rows(src: SourceFile, required: list[str], *, skip_until: str = "") -> Iterator[tuple[int, dict[str, str]]]:
    text = _decode(src)
    lines = text.splitlines(keepends=True)
    start = 0
    if skip_until:
        for i, line in enumerate(lines):
            if line.lower().startswith(skip_until.lower()):
                start = i
                break
    reader = csv.DictReader(io.StringIO("".join(lines[start:])))
    header = [h.strip() for h in (reader.fieldnames or [])]
    for column in required:
        if column not in header:
            raise ListFormatError(src.name, start + 1, column, "missing from the header")
    reader.fieldnames = header
    for row in _csv_guarded(src, reader, lambda: start + reader.line_num):
        if None in row:
            raise ListFormatError(src.name, start + reader.line_num, header[-1], "more fields than the header")
        yield start + reader.line_num, {k: (v or "").strip() for k, v in row.items()}


def parse_uk(files: list[SourceFile]) -> list[ParsedEntry]:
    entries: dict[str, ParsedEntry] = {}
    required = ["Name 6", "Name 1", "Group Type", "Alias Type", "Group ID", "DOB", "Nationality", "Country"]
    for src in files:
        for line, row in _dict_rows(src, required, skip_until="Name 6"):
            ent = row["Group ID"]
            if not ent:
                raise ListFormatError(src.name, line, "Group ID", "empty")
            kind = {"individual": "person", "entity": "company", "ship": "vessel"}.get(row["Group Type"].lower())
            if kind is None:
                raise ListFormatError(src.name, line, "Group Type", f"unknown type {row['Group Type']!r}")
            entry = entries.setdefault(ent, ParsedEntry(ent_num=ent, entry_type=kind, programs=row.get("Regime", "")))
            given = " ".join(row.get(f"Name {i}", "") for i in range(1, 6)).split()
            surname = row["Name 6"]
            if not surname and not given:
                raise ListFormatError(src.name, line, "Name 6", "empty name")
            text = f"{surname}, {' '.join(given)}" if surname and given else (surname or " ".join(given))
            alias_type = row["Alias Type"].lower()
            primary = alias_type.startswith("primary name") and not alias_type.endswith("variation")
            weak = row.get("Alias Quality", "").lower() in ("low", "weak")
            entry.names.insert(0 if primary else len(entry.names),
                               ListedName(text, "primary" if primary else "aka", weak=weak))
            for field_name in ("Name Non-Latin Script",):
                if row.get(field_name):
                    entry.names.append(ListedName(row[field_name], "aka"))
            if row["DOB"]:
                try:
                    dob = parse_list_date(row["DOB"])
                except ValueError as exc:
                    raise ListFormatError(src.name, line, "DOB", str(exc)) from exc
                if str(dob) not in {str(d) for d in entry.dobs}:
                    entry.dobs.append(dob)
            for field_name in ("Nationality", "Country", "Country of Birth"):
                for value in filter(None, (v.strip() for v in re.split(r"[;,]\s*(?=[A-Z(])|\(\d\)", row.get(field_name, "")))):
                    code = country_code(value)
                    if code:
                        entry.countries.add(code)
    return list(entries.values())


def parse_pep(files: list[SourceFile]) -> list[ParsedEntry]:
    entries: dict[str, ParsedEntry] = {}
    for src in files:
        for line, row in _dict_rows(src, ["id", "full_name"]):
            ent = row["id"]
            if not ent:
                raise ListFormatError(src.name, line, "id", "empty")
            if ent in entries:
                raise ListFormatError(src.name, line, "id", f"{ent} listed twice")
            if not row["full_name"]:
                raise ListFormatError(src.name, line, "full_name", "empty")
            kind = (row.get("type") or "person").lower()
            if kind not in ("person", "company"):
                raise ListFormatError(src.name, line, "type", f"unknown type {kind!r}")
            entry = ParsedEntry(ent_num=ent, entry_type=kind, names=[ListedName(row["full_name"])],
                                remarks=row.get("position", ""))
            for alias in filter(None, (a.strip() for a in row.get("aliases", "").split(";"))):
                entry.names.append(ListedName(alias, "aka"))
            for value in filter(None, (d.strip() for d in row.get("dob", "").split(";"))):
                try:
                    entry.dobs.append(parse_list_date(value))
                except ValueError as exc:
                    raise ListFormatError(src.name, line, "dob", str(exc)) from exc
            for value in filter(None, (c.strip() for c in row.get("country", "").split(";"))):
                code = country_code(value)
                if not code:
                    raise ListFormatError(src.name, line, "country", f"unknown country {value!r}")
                entry.countries.add(code)
            entries[ent] = entry
    return list(entries.values())


PARSERS = {"ofac-csv": parse_ofac, "eu-xml": parse_eu, "un-xml": parse_un, "uk-csv": parse_uk, "pep-csv": parse_pep}


def parse(fmt: str, files: list[SourceFile]) -> list[ParsedEntry]:
    """Entries of a list in layout `fmt`; raises ListFormatError on the first fault."""
    if fmt not in PARSERS:
        raise ListFormatError(files[0].name if files else "", None, "format", f"unknown format {fmt!r}")
    if not files:
        raise ListFormatError("(no file)", None, "file", "no file given")
    return PARSERS[fmt](files)
