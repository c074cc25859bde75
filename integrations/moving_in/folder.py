"""Reading another CRM's export: a folder of CSV files and its mapping.json (docs/moving-in.md).

Nothing here touches the database. Each file is read into `Row`s that know their file and line, with
their columns renamed and their values translated by the mapping, and with typed readers (`date`,
`amount`, ...) that turn a bad cell into a `Problem` naming the file, line and column in plain words.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FILES = ("staff.csv", "clients.csv", "kyc.csv", "kyc_documents.csv", "accounts.csv", "deals.csv", "notes.csv",
         "calls.csv", "tasks.csv", "balances.csv", "transactions.csv", "withdrawals.csv")
DOCUMENTS_DIR = "documents"  # KYC files in an uploaded archive: documents/<name>, as kyc_documents.csv names them
MAX_ZIP_BYTES = 200 * 1024 * 1024
TRUE_WORDS = frozenset({"1", "y", "yes", "true", "t", "on", "x"})
FALSE_WORDS = frozenset({"", "0", "n", "no", "false", "f", "off"})


class FolderUnreadable(Exception):  # noqa: N818 (the folder as a whole is refused: nothing is imported)
    """The folder cannot be imported at all (no clients.csv, a mapping.json that is not JSON)."""


@dataclass(frozen=True)
class Problem:
    """One bad cell or row: where it is and what is wrong, in words a person acts on."""

    file: str
    line: int
    column: str
    problem: str


@dataclass
class Mapping_:
    """The folder's mapping.json: the old system's name, column renames per file (or for every file:
    "*"), value translations per column, the date format and time zone of its dates."""

    source: str = "old-crm"
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ()
    timezone: str = "UTC"
    account_type: str = ""
    cutover: str = ""

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Mapping_:
        if not isinstance(data, Mapping):
            raise FolderUnreadable("mapping.json must hold one JSON object")
        formats = data.get("date_format") or ()
        formats = (formats,) if isinstance(formats, str) else tuple(str(f) for f in formats)
        columns = {str(name): {_key(old): str(new) for old, new in (renames or {}).items()}
                   for name, renames in (data.get("columns") or {}).items()}
        values = {str(column): {_key(old): str(new) for old, new in (table or {}).items()}
                  for column, table in (data.get("values") or {}).items()}
        mapping = cls(source=str(data.get("source") or "old-crm")[:64], columns=columns, values=values,
                      date_formats=formats, timezone=str(data.get("timezone") or "UTC"),
                      account_type=str(data.get("account_type") or ""), cutover=str(data.get("cutover") or ""))
        try:
            ZoneInfo(mapping.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise FolderUnreadable(f"mapping.json: unknown time zone {mapping.timezone!r}") from None
        return mapping

    def column(self, file: str, header: str) -> str:
        key = _key(header)
        for table in (self.columns.get(file) or {}, self.columns.get("*") or {}):
            if key in table:
                return table[key]
        return key

    def value(self, column: str, value: str) -> str:
        return (self.values.get(column) or {}).get(_key(value), value)


def _key(text: Any) -> str:
    return " ".join(str(text).split()).lower().replace(" ", "_")


def time_parse(value: str, mapping: Mapping_) -> datetime | None:
    """`value` read by the mapping's date formats, then as ISO 8601; aware (in the mapping's time zone
    when it has no offset); None when it is no date."""
    parsed: datetime | None = None
    for fmt in mapping.date_formats:
        try:
            parsed = datetime.strptime(value.strip(), fmt)  # noqa: DTZ007 (made aware just below)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(mapping.timezone))
    return parsed


@dataclass
class Row:
    """One data row of a file: its cells by the CRM's column names, and where it came from."""

    file: str
    line: int
    cells: dict[str, str]
    mapping: Mapping_
    problems: list[Problem]

    def problem(self, column: str, text: str) -> None:
        self.problems.append(Problem(self.file, self.line, column, text))

    def text(self, column: str, *, required: bool = False) -> str:
        value = self.cells.get(column, "").strip()
        if required and not value:
            self.problem(column, f"{column} is empty; every row needs one.")
        return value

    def mapped(self, column: str, *, required: bool = False) -> str:
        """The cell translated by the mapping's "values" for this column (statuses, countries, roles)."""
        value = self.text(column, required=required)
        return self.mapping.value(column, value) if value else value

    def at(self, column: str, *, required: bool = False) -> datetime | None:
        """A time: ISO 8601 (2024-03-01, 2024-03-01 14:30, with or without an offset) or one of the
        mapping's date formats; without an offset, in the mapping's time zone."""
        value = self.text(column, required=required)
        if not value:
            return None
        parsed = time_parse(value, self.mapping)
        if parsed is None:
            formats = " or ".join(["YYYY-MM-DD HH:MM", *self.mapping.date_formats])
            self.problem(column, f"“{value}” is not a date in the format {formats}.")
        return parsed

    def amount(self, column: str, *, required: bool = True, negative: bool = True) -> Decimal | None:
        value = self.text(column, required=required).replace(" ", "").replace("\u00a0", "")
        if not value:
            return None
        if "," in value and "." not in value:
            value = value.replace(",", ".")
        try:
            amount = Decimal(value.replace(",", ""))
        except InvalidOperation:
            self.problem(column, f"“{value}” is not an amount (write 1234.56).")
            return None
        if not amount.is_finite():
            self.problem(column, f"“{value}” is not an amount (write 1234.56).")
            return None
        if amount < 0 and not negative:
            self.problem(column, f"The amount {value} is negative; a balance at the cut-over cannot be below zero.")
            return None
        return amount

    def integer(self, column: str, *, required: bool = False) -> int | None:
        value = self.text(column, required=required)
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            self.problem(column, f"“{value}” is not a whole number.")
            return None

    def flag(self, column: str) -> bool:
        value = self.mapped(column).lower()
        if value in TRUE_WORDS:
            return True
        if value not in FALSE_WORDS:
            self.problem(column, f"“{value}” is not yes or no.")
        return False


class Folder:
    """An export: its files read lazily, in the order of FILES. A missing file is an empty one,
    except clients.csv."""

    def __init__(self, path: Path, *, mapping_path: Path | None = None) -> None:
        self.path = path
        if not path.is_dir():
            raise FolderUnreadable(f"{path.name}: not a folder")
        if not (path / "clients.csv").is_file():
            raise FolderUnreadable("the folder has no clients.csv")
        mapping_file = mapping_path or path / "mapping.json"
        data: Any = {}
        if mapping_file.is_file():
            try:
                data = json.loads(mapping_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise FolderUnreadable(f"{mapping_file.name}: {error}") from None
        self.mapping = Mapping_.load(data)
        self.problems: list[Problem] = []

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def rows(self, name: str) -> Iterator[Row]:
        """The rows of `name` (none when the file is absent); blank lines are skipped."""
        path = self.path / name
        if not path.is_file():
            return
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None:
            return
        columns = [self.mapping.column(name, h) for h in header]
        line = 1
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            yield Row(file=name, line=line, cells=dict(zip(columns, cells, strict=False)), mapping=self.mapping,
                      problems=self.problems)

    def count(self, name: str) -> int:
        """How many rows `name` has (as `rows` reads them), counted without building them: the run's progress."""
        path = self.path / name
        if not path.is_file():
            return 0
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as stream:
            reader = csv.reader(stream)
            next(reader, None)
            return sum(1 for cells in reader if any(c.strip() for c in cells))

    def ib_data(self) -> dict[str, Any] | None:
        """ib.json, the partner programme in ib_import's format, or None."""
        path = self.path / "ib.json"
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise FolderUnreadable(f"ib.json: {error}") from None
        if not isinstance(data, dict):
            raise FolderUnreadable("ib.json must hold one JSON object")
        return data


def zip_extract(archive: Path, target: Path) -> Path:
    """Unpack an uploaded export into `target` (only its files, flattened: no path of the archive is
    trusted; KYC files of a folder named documents/ into target/documents/) and return the folder
    that holds clients.csv."""
    if archive.stat().st_size > MAX_ZIP_BYTES:
        raise FolderUnreadable("the archive is larger than 200 MB")
    target.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            wanted = {*FILES, "mapping.json", "ib.json"}
            total = 0
            for name in names:
                base = Path(name).name
                document = Path(name).parent.name == DOCUMENTS_DIR and base not in ("", ".", "..")
                if base not in wanted and not document:
                    continue
                info = zf.getinfo(name)
                total += info.file_size
                if total > MAX_ZIP_BYTES * 5:
                    raise FolderUnreadable("the archive unpacks to more than 1 GB")
                if document:
                    (target / DOCUMENTS_DIR).mkdir(exist_ok=True)
                (target / (f"{DOCUMENTS_DIR}/{base}" if document else base)).write_bytes(zf.read(name))
    except zipfile.BadZipFile:
        raise FolderUnreadable("the file is not a zip archive") from None
    return target
