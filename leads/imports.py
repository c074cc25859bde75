"""Spreadsheet imports of leads (CSV and XLSX): upload, column mapping, a dry-run preview, and the
run itself as a background job (crm.jobs, leads.jobs) that writes the rows in chunks through
lead_intake_batch.

The file is kept in the database (LeadImport.content) so that an RQ worker on another host can
read it. Progress (total, processed, created, duplicates, failed) is updated after every chunk,
on the import and on its job, in the same transaction as the chunk's leads, so an import whose job
failed or was cancelled can be started again and resumes after the last committed chunk without
writing any row twice. Rows that fail are kept with each
field's messages for the downloadable error report.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import Conflict, FieldErrors, NotAllowed, ValidationFailed
from crm.jobs import JobCancelled, JobHandle, job_start
from crm.lib.validation import storable
from crm.models import Brand, User
from crm.permissions import user_can
from leads import dedupe
from leads.intake import LEAD_FIELDS, REQUIRED_FIELDS, IntakeMeta, lead_clean
from leads.models import IMPORT_STATES, Channel, ImportStatus, LeadImport, LeadImportRowError
from plumbing import context
from plumbing.tables import TableUnreadable, cell_date_text, text_decode, xlsx_rows

MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_ROWS = 100_000
PREVIEW_ROWS = 20
# The preview counts valid, invalid and duplicate rows over at most this many rows.
PREVIEW_COUNT_LIMIT = 5000
CHUNK_ROWS = 250

_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("firstname", "first", "fname", "givenname", "forename", "prenom", "vorname"),
    "last_name": ("lastname", "last", "lname", "surname", "familyname", "nom", "nachname"),
    "email": ("email", "emailaddress", "mail", "email1"),
    "phone": ("phone", "phonenumber", "mobile", "mobilephone", "tel", "telephone", "cell", "msisdn", "phone1"),
    "country": ("country", "countrycode", "countryiso", "iso", "geo"),
    "language": ("language", "lang", "locale"),
    "source": ("source", "leadsource"),
    "campaign": ("campaign", "campaigncode", "campaignid"),
    "utm_source": ("utmsource",),
    "utm_medium": ("utmmedium",),
    "utm_campaign": ("utmcampaign",),
    "utm_term": ("utmterm",),
    "utm_content": ("utmcontent",),
    "click_id": ("clickid", "gclid", "fbclid", "msclkid"),
    "referrer_code": ("referrer", "referrercode", "ref", "ib", "ibcode", "affiliate", "affiliateid", "partner"),
    "landing_page": ("landingpage", "landing", "pageurl", "url"),
    "experience": ("experience", "tradingexperience"),
    "deposit_intent": ("depositintent", "deposit", "intendeddeposit", "budget"),
    "annual_income": ("annualincome", "income"),
    "net_worth": ("networth",),
    "occupation": ("occupation", "job", "profession"),
    "consent": ("consent", "optin", "gdpr", "marketingconsent"),
    "consent_text_version": ("consentversion", "consenttextversion"),
}


def _norm_header(text: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text or "").lower())


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """{"<column index>": field} for the headers that name a lead field (each field once)."""
    lookup = {alias: name for name, aliases in _ALIASES.items() for alias in (*aliases, _norm_header(name))}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for index, header in enumerate(headers):
        name = lookup.get(_norm_header(header))
        if name and name not in taken:
            mapping[str(index)] = name
            taken.add(name)
    return mapping


# --- reading files --------------------------------------------------------------------------------


# Files people upload by mistake, by their first bytes: named in the error, so the user knows what
# they sent (a screenshot renamed .csv, a PDF export, a legacy .xls workbook).
BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"%PDF-", "PDF"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Excel 97-2003 (.xls)"), (b"MZ", "Windows program"),
    (b"\x7fELF", "program"), (b"\x1f\x8b", "gzip"), (b"Rar!", "RAR"), (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
)


_CONTROL_BYTES = frozenset(range(32)) - {9, 10, 13}


def _looks_binary(head: bytes) -> bool:
    """Dozens of control characters, more than one byte in a hundred: no spreadsheet export looks like
    that (a stray NUL in a cell or two does not make a file binary; those rows alone are refused)."""
    controls = sum(byte in _CONTROL_BYTES for byte in head)
    return controls > 16 and controls * 100 > len(head)


def detect_format(filename: str, content: bytes) -> str:
    if content[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        return "xlsx"
    for signature, kind in BINARY_SIGNATURES:
        if content.startswith(signature):
            raise ValidationFailed(fields={"file": [
                gettext("This file is a %(kind)s file, not a spreadsheet: upload a CSV file or an Excel "
                        "workbook (.xlsx).") % {"kind": kind}]})
    if filename.lower().endswith((".csv", ".txt", ".tsv")):
        if _looks_binary(content[:65536]):
            raise ValidationFailed(fields={"file": [
                gettext("This file is not text: upload a CSV file or an Excel workbook (.xlsx).")]})
        return "csv"
    raise ValidationFailed(fields={"file": [gettext("Upload a CSV file or an Excel workbook (.xlsx).")]})


def _cell(value: Any) -> Any:
    value = cell_date_text(value)
    return value.strip() if isinstance(value, str) else value


_STRAY_CR = re.compile(r"\r(?!\n)")


def read_table(content: bytes, file_format: str) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    """The header row and an iterator of (spreadsheet row number, cells) for the non-empty rows."""
    if file_format == "xlsx":
        return _read_xlsx(content)
    text = text_decode(content)
    if "\n" in text:
        # Rows end in LF or CRLF, so a carriage return alone is a stray one inside a cell (pasted
        # from a spreadsheet), not a row break: it becomes a space. In a file without any LF, CR is
        # the line ending (old Mac files) and stays.
        text = _STRAY_CR.sub(" ", text)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    # newline="": the csv module itself splits rows, so that a carriage return inside a quoted cell
    # stays in the cell and files with old Mac (CR-only), Unix and Windows line endings all read.
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        headers = [str(h).strip() for h in next(reader)]
    except StopIteration:
        raise ValidationFailed(fields={"file": [gettext("The file is empty.")]}) from None
    except csv.Error:
        raise ValidationFailed(fields={"file": [gettext("This is not a readable CSV file.")]}) from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        number = 1
        try:
            for number, row in enumerate(reader, start=2):
                if any(cell.strip() for cell in row):
                    yield number, [_cell(c) for c in row]
        except csv.Error as error:
            raise ValidationFailed(fields={"file": [
                gettext("Row %(row)d cannot be read as CSV (%(problem)s): check its quotes and line breaks.")
                % {"row": number + 1, "problem": error}]}) from None

    return headers, rows()


def _read_xlsx(content: bytes) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    try:
        iterator = xlsx_rows(content)
        _number, first = next(iterator)
    except TableUnreadable:
        raise ValidationFailed(fields={"file": [gettext("This is not a readable Excel workbook (.xlsx).")]}) from None
    except StopIteration:
        raise ValidationFailed(fields={"file": [gettext("The file is empty.")]}) from None
    headers = [str(h).strip() if h is not None else "" for h in first]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for number, row in iterator:
            cells = [_cell(c) for c in row]
            if any(c not in (None, "") for c in cells):
                yield number, cells

    return headers, rows()


def row_values(cells: list[Any], mapping: dict[str, str]) -> dict[str, Any]:
    """A row as lead fields, following `mapping` ({"<column index>": field})."""
    out: dict[str, Any] = {}
    for index, name in mapping.items():
        i = int(index)
        value = cells[i] if i < len(cells) else None
        if value not in (None, ""):
            out[name] = value
    return out


# --- services -----------------------------------------------------------------------------------


def _require_importer(actor: User) -> None:
    if actor is None or not user_can(actor, "crm.assign_client"):
        raise NotAllowed()


def _in_brand(user: User, brand: Brand) -> bool:
    return user.is_administrator or user.all_brands or user.brands.filter(pk=brand.pk).exists()


@transaction.atomic
def lead_import_create(*, actor: User, brand: Brand, filename: str, content: bytes) -> LeadImport:
    """Store an uploaded spreadsheet and guess its column mapping from the header row."""
    _require_importer(actor)
    errors = FieldErrors()
    if not _in_brand(actor, brand) or not brand.is_active:
        errors.add("brand", gettext("Choose one of your brands."))
    if not content:
        errors.add("file", gettext("The file is empty."))
    elif len(content) > MAX_IMPORT_BYTES:
        errors.add("file", gettext("The file is larger than %(mb)d MB.") % {"mb": MAX_IMPORT_BYTES // (1024 * 1024)})
    errors.raise_if_any()
    file_format = detect_format(filename, content)
    headers, rows = read_table(content, file_format)
    if not any(headers):
        raise ValidationFailed(fields={"file": [gettext("The first row must name the columns.")]})
    total = 0
    for _row in rows:
        total += 1
        if total > MAX_IMPORT_ROWS:
            raise ValidationFailed(fields={"file": [gettext("Import at most %(max)d rows at once.") % {"max": MAX_IMPORT_ROWS}]})
    if total == 0:
        raise ValidationFailed(fields={"file": [gettext("The file has no rows below the header.")]})
    lead_import = LeadImport.objects.create(
        brand=brand, created_by=actor, filename=filename[:255], file_format=file_format, content=content,
        headers=headers, mapping=guess_mapping(headers), total=total,
    )
    audit_record(action="lead_import.create", obj=lead_import, actor=actor,
                 after={"filename": lead_import.filename, "rows": total, "brand": brand.code})
    return lead_import


@transaction.atomic
def lead_import_set_mapping(*, actor: User, lead_import: LeadImport, mapping: dict[str, str],
                            default_source: str = "", default_campaign: str = "") -> LeadImport:
    """Which column feeds which lead field. Every required field needs a column."""
    _require_importer(actor)
    if lead_import.status != ImportStatus.UPLOADED:
        raise Conflict(gettext("This import has started; its mapping can no longer change."))
    errors = FieldErrors()
    seen: dict[str, str] = {}
    for index, name in mapping.items():
        if name not in LEAD_FIELDS or not str(index).isdigit() or int(index) >= len(lead_import.headers):
            errors.add("__all__", gettext("Choose lead fields from the list."))
            break
        if name in seen:
            errors.add(f"col_{index}", gettext("%(field)s is already taken by another column.") % {"field": LEAD_FIELDS[name]})
        seen[name] = index
    missing = [str(LEAD_FIELDS[n]) for n in REQUIRED_FIELDS if n not in seen]
    if missing:
        errors.add("__all__", gettext("Map a column to each required field: %(fields)s.") % {"fields": ", ".join(missing)})
    default_source = (default_source or "").strip()[:100]
    default_campaign = (default_campaign or "").strip()[:100]
    errors.raise_if_any()
    lead_import.mapping = {str(k): v for k, v in mapping.items()}
    lead_import.default_source, lead_import.default_campaign = default_source, default_campaign
    lead_import.save(update_fields=["mapping", "default_source", "default_campaign"])
    return lead_import


@dataclass
class PreviewRow:
    number: int
    values: dict[str, Any]
    status: str  # "valid" | "invalid" | "duplicate"
    errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Preview:
    rows: list[PreviewRow]
    counted: int
    total: int
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0

    @property
    def partial(self) -> bool:
        return self.counted < self.total


def _meta(lead_import: LeadImport) -> IntakeMeta:
    return IntakeMeta(lead_import=lead_import, actor=lead_import.created_by, default_source=lead_import.default_source,
                      default_campaign=lead_import.default_campaign)


def lead_import_preview(*, lead_import: LeadImport) -> Preview:
    """A dry run: the first rows validated one by one, and counts of valid, invalid and duplicate
    rows (already known people, or repeated in the file) over the first PREVIEW_COUNT_LIMIT rows.
    Nothing is written."""
    headers, rows = read_table(bytes(lead_import.content), lead_import.file_format)
    meta = _meta(lead_import)
    preview = Preview(rows=[], counted=0, total=lead_import.total)
    pending: list[tuple[int, dict[str, Any], list[dedupe.Key]]] = []
    seen: set[dedupe.Key] = set()
    first: dict[int, PreviewRow] = {}

    def settle() -> None:
        known = dedupe.keys_find(lead_import.brand_id, [k for _, _, keys in pending for k in keys], backfill=False)
        for number, _values, keys in pending:
            duplicate = any(k in known or k in seen for k in keys)
            seen.update(keys)
            preview.duplicates += duplicate
            preview.valid += not duplicate
            if number in first:
                first[number].status = "duplicate" if duplicate else "valid"
        pending.clear()

    for number, cells in rows:
        if preview.counted >= PREVIEW_COUNT_LIMIT:
            break
        preview.counted += 1
        values = row_values(cells, lead_import.mapping)
        lead, errors = lead_clean(values, channel=Channel.IMPORT, meta=meta)
        row = PreviewRow(number=number, values=values, status="invalid" if lead is None else "valid", errors=errors)
        if len(preview.rows) < PREVIEW_ROWS:
            preview.rows.append(row)
            first[number] = row
        if lead is None:
            preview.invalid += 1
            continue
        pending.append((number, values, dedupe.contact_keys(email=lead.email, phone=lead.phone)))
        if len(pending) >= 500:
            settle()
    settle()
    return preview


IMPORT_JOB_KIND = "leads.import"
RESTARTABLE = frozenset({ImportStatus.FAILED, ImportStatus.CANCELLED})


@transaction.atomic
def lead_import_start(*, actor: User, lead_import: LeadImport) -> LeadImport:
    """Queue the import as a background job (crm.jobs). Starting it twice changes nothing; an import
    that failed or was cancelled starts again after its last written chunk."""
    _require_importer(actor)
    locked = LeadImport.objects.select_for_update(of=("self",)).defer("content").select_related("job").get(
        pk=lead_import.pk)
    if locked.status != ImportStatus.UPLOADED and not (
            locked.status in RESTARTABLE or (locked.job is not None and locked.job.status in RESTARTABLE)):
        return locked
    if not locked.mapping:
        raise ValidationFailed(fields={"__all__": [gettext("Map the columns first.")]})
    locked.job = job_start(kind=IMPORT_JOB_KIND, actor=actor, brand=locked.brand,
                           title=gettext("Import of %(file)s") % {"file": locked.filename},
                           func="leads.jobs.lead_import", kwargs={"import_id": locked.pk}, total=locked.total,
                           link=reverse("lead_import_detail", args=[locked.code]))
    if locked.status != ImportStatus.QUEUED:  # one whose job was lost or cancelled before it ran stays queued
        IMPORT_STATES.move(locked, ImportStatus.QUEUED)
    locked.save(update_fields=["status", "job"])
    audit_record(action="lead_import.start", obj=locked, actor=actor,
                 after={"rows": locked.total, "job": str(locked.job.code)})
    return locked


def _move(import_id: int, status: str, **fields: Any) -> bool:
    """Move the import to `status` in one UPDATE whose WHERE is the status's sources (IMPORT_STATES);
    False when it was in none of them (nothing is written then)."""
    return bool(LeadImport.objects.filter(pk=import_id, status__in=IMPORT_STATES.sources(status)).update(
        status=status, **fields))


def lead_import_run(*, handle: JobHandle, import_id: int) -> LeadImport:
    """Write the import's rows in chunks (the job). Resumes after the last committed chunk; each
    chunk's progress is written in the chunk's own transaction, and a cancel stops it between
    chunks."""
    from leads.services import lead_intake_batch

    lead_import = LeadImport.objects.select_related("brand", "created_by").get(pk=import_id)
    # Only a queued import is run (IMPORT_STATES): one done, still being mapped, or already taken by
    # another run is left as it is.
    if not _move(import_id, ImportStatus.RUNNING, started_at=lead_import.started_at or timezone.now()):
        return lead_import
    handle.progress(lead_import.processed, lead_import.total, force=True, created=lead_import.created,
                    duplicates=lead_import.duplicates, failed=lead_import.failed)
    meta = _meta(lead_import)
    try:
        with context.acting_as(lead_import.created_by, source="task"):
            _headers, rows = read_table(bytes(lead_import.content), lead_import.file_format)
            skip = lead_import.processed
            chunk: list[tuple[int, dict[str, Any]]] = []
            for position, (number, cells) in enumerate(rows):
                if position < skip:
                    continue
                chunk.append((number, row_values(cells, lead_import.mapping)))
                if len(chunk) >= CHUNK_ROWS:
                    _write_chunk(lead_import, chunk, meta, lead_intake_batch, handle)
                    chunk = []
            if chunk:
                _write_chunk(lead_import, chunk, meta, lead_intake_batch, handle)
    except JobCancelled:
        _move(import_id, ImportStatus.CANCELLED, finished_at=timezone.now())
        raise
    except Exception as exc:  # recorded for the import's page, then re-raised: the job fails with it
        _move(import_id, ImportStatus.FAILED, finished_at=timezone.now(),
              error_message=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    _move(import_id, ImportStatus.DONE, finished_at=timezone.now())
    lead_import.refresh_from_db()
    return lead_import


def _report_value(value: Any) -> Any:
    """A refused cell as the error report keeps it: JSON in PostgreSQL cannot hold NUL, so a NUL
    is shown as the visible symbol for it (U+2400), where the person fixing the file can see it."""
    if not isinstance(value, str | int | float | bool):
        value = str(value)
    return storable(value.replace("\x00", "\u2400")) if isinstance(value, str) else value


@transaction.atomic
def _write_chunk(lead_import: LeadImport, chunk: list[tuple[int, dict[str, Any]]], meta: IntakeMeta,
                 intake: Any, handle: JobHandle) -> None:
    handle.check()  # a cancel stops the import between chunks
    results = intake(brand=lead_import.brand, items=[values for _, values in chunk], channel=Channel.IMPORT, meta=meta)
    errors = [
        LeadImportRowError(lead_import=lead_import, row_number=chunk[r.index][0], errors=r.errors,
                           values={k: _report_value(v) for k, v in chunk[r.index][1].items()})
        for r in results if r.status == "invalid"
    ]
    LeadImportRowError.objects.bulk_create(errors, ignore_conflicts=True)
    LeadImport.objects.filter(pk=lead_import.pk).update(
        processed=F("processed") + len(chunk),
        created=F("created") + sum(1 for r in results if r.status == "created"),
        duplicates=F("duplicates") + sum(1 for r in results if r.status == "duplicate"),
        failed=F("failed") + len(errors),
    )
    now = LeadImport.objects.filter(pk=lead_import.pk).values("processed", "total", "created", "duplicates",
                                                               "failed").get()
    # In the chunk's transaction: the job's counts never run ahead of the rows written.
    handle.progress(now["processed"], now["total"], force=True, check=False, created=now["created"],
                    duplicates=now["duplicates"], failed=now["failed"])
