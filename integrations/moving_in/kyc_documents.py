"""Moving in the old system's KYC: kyc.csv (one row per verification the old system decided) and
kyc_documents.csv (the files each was decided on, by their path in the export folder), through
kyc.services.kyc_submission_import.

    kyc.csv            old_id, client_old_id, status (approved / rejected, or mapped), submitted_at,
                       decided_at, reason (a rejection's, required), can_resubmit (yes/no), reviewer
    kyc_documents.csv  kyc_old_id, kind (passport, id_card, driving_licence, utility_bill,
                       bank_statement, or mapped), side (front / back), file (a path in the folder)

A verification is imported whole or not at all: a document whose file is missing, outside the
folder, unreadable or not what KYC accepts (its type by content, its size, readable: KYC's own rules)
is a bad row of kyc_documents.csv naming the file, and its verification a bad row of kyc.csv; a
later export with the file imports it. A dry run checks every file by the same rules and stores
none (the file store is not in the database's transaction). Each verification is remembered as an
ImportedRef (kind "kyc", its old id): a second run stores nothing twice. A row of kyc.csv without
an old_id and without documents that says "approved" is the approval alone, as before
(kyc_approval_import, keyed by the client's old id).
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from crm.exceptions import ValidationFailed
from integrations.moving_in.folder import Row, time_parse
from kyc.services import DocumentIn, kyc_submission_import

# `run` below is the CrmImport (integrations.moving_in.importer) that calls these functions; it is not
# imported here, which would make the two modules import each other.
CrmImport = Any

DOCUMENTS_FILE = "kyc_documents.csv"
DECISIONS = ("approved", "rejected")
KINDS = ("passport", "id_card", "driving_licence", "utility_bill", "bank_statement")
SIDES = ("", "front", "back")
_NEVER = datetime.max.replace(tzinfo=UTC)
# The service's field names that are another column of kyc.csv.
_COLUMN_OF = {"decision": "status", "submitted_at": "submitted_at", "decided_at": "decided_at", "reason": "reason"}


def kyc_import(run: CrmImport, rows: list[Row]) -> None:
    """kyc.csv and kyc_documents.csv of `run`'s folder, in the order the old system decided them
    (a client's rejection before their approval); counted as "kyc" and "kyc_documents"."""
    documents = list(run.folder.rows(DOCUMENTS_FILE))
    run.total += len(documents)
    by_submission: dict[str, list[Row]] = defaultdict(list)
    for document in documents:
        key = document.text("kyc_old_id", required=True)
        if key:
            by_submission[key].append(document)
        else:
            _documents_counted(run, [document], "failed")
    claimed: set[str] = set()

    def when(row: Row) -> tuple[datetime, int]:
        return (time_parse(row.text("decided_at"), run.mapping) or _NEVER, row.line)

    for row in sorted(rows, key=when):
        key = row.text("old_id") or row.text("client_old_id")
        own = by_submission.get(key, []) if key not in claimed else []
        claimed.add(key)
        before = Counter(run.report.counts["kyc"])
        run._row("kyc", row, partial(_submission_row, run, key=key, documents=own))
        outcome = next(iter((run.report.counts["kyc"] - before).keys()), "failed")
        _documents_counted(run, own, outcome)
    for key, orphans in by_submission.items():
        if key in claimed:
            continue
        for document in orphans:
            document.problem("kyc_old_id", f"No verification with the old id {key} in kyc.csv.")
        _documents_counted(run, orphans, "failed")


def _documents_counted(run: CrmImport, documents: list[Row], outcome: str) -> None:
    for _document in documents:
        run.report.counts["kyc_documents"][outcome] += 1
        run._step()


def _submission_row(run: CrmImport, row: Row, *, key: str, documents: list[Row]) -> str:
    client = run._client(row)
    status = row.mapped("status", required=True).lower()
    decided_at = row.at("decided_at", required=True)
    submitted_at = row.at("submitted_at") or decided_at
    reason = row.text("reason")
    can_resubmit = row.flag("can_resubmit") if row.text("can_resubmit") else True
    reviewer = run._user(row, "reviewer")
    if status and status not in DECISIONS:
        row.problem("status", f"Only approvals and rejections come in (“{status}”): a verification the old system "
                              "had not decided is sent again here (or map the status in mapping.json, values.status).")
    if status == "rejected" and not reason:
        row.problem("reason", "A rejection needs its reason (the reason column): the client and compliance read it.")
    if client is None or decided_at is None or submitted_at is None or run._row_failed():
        return "failed"
    if run._ref("kyc", key) is not None:
        return "unchanged"
    if status == "approved" and not documents and not row.text("old_id"):
        return str(run._kyc_row(row))  # the approval alone (kyc_approval_import), as before documents came in
    with contextlib.ExitStack() as files:
        inputs = [_document_in(run, document, files) for document in documents]
        if run._row_failed():
            return _documents_refused(row, documents)
        try:
            submission = kyc_submission_import(
                client=client, documents=[i for i in inputs if i is not None], decision=status,
                submitted_at=submitted_at, decided_at=decided_at, reason=reason, can_resubmit=can_resubmit,
                reviewer=reviewer, source=run.source, store_files=not run.dry_run)
        except ValidationFailed as refused:
            return _refusal_reported(row, documents, refused)
    run._remember("kyc", key, object_code=str(submission.code), client_code=client.code, values={
        "status": status, "decided_at": decided_at.isoformat(), "reason": reason,
        "documents": [document.text("file") for document in documents]})
    return "created"


def _document_in(run: CrmImport, document: Row, files: contextlib.ExitStack) -> DocumentIn | None:
    """The document row's file, opened (KYC's service reads at most its size limit), or None with a
    problem naming the file."""
    kind = document.mapped("kind", required=True).lower()
    side = document.mapped("side").lower()
    name = document.text("file", required=True)
    if kind and kind not in KINDS:
        document.problem("kind", f"Unknown kind of document “{kind}”: {', '.join(KINDS)} (or map it in "
                                 "mapping.json, values.kind).")
    if side not in SIDES:
        document.problem("side", f"“{side}” is no side of a card: front or back (or nothing).")
    if not name or not kind or kind not in KINDS or side not in SIDES:
        return None
    path = _inside(run.folder.path, name)
    if path is None:
        document.problem("file", f"{name}: the path leaves the export folder; give it relative to the folder.")
        return None
    if not path.is_file():
        document.problem("file", f"{name}: no such file in the export folder.")
        return None
    try:
        stream = files.enter_context(path.open("rb"))
    except OSError as error:
        document.problem("file", f"{name}: the file cannot be read ({error.strerror or error}).")
        return None
    return DocumentIn(kind=kind, side=side, filename=path.name, file=stream, field=f"line:{document.line}")


def _inside(folder: Path, name: str) -> Path | None:
    root = folder.resolve()
    path = (root / name).resolve()
    return path if path.is_relative_to(root) and path != root else None


def _documents_refused(row: Row, documents: list[Row]) -> str:
    lines = ", ".join(str(d.line) for d in documents if any(p.file == DOCUMENTS_FILE and p.line == d.line
                                                             for p in d.problems))
    row.problem("", f"Not imported: its documents on {DOCUMENTS_FILE} (line {lines}) were refused.")
    return "failed"


def _refusal_reported(row: Row, documents: list[Row], refused: ValidationFailed) -> str:
    """KYC's refusal on the rows it is about: a file's on its line of kyc_documents.csv, the rest on kyc.csv."""
    by_line = {f"line:{d.line}": d for d in documents}
    for field, messages in (refused.fields or {}).items():
        text = "; ".join(str(m) for m in (messages if isinstance(messages, list | tuple) else [messages]))
        document = by_line.get(field)
        if document is not None:
            document.problem("file", f"{document.text('file')}: {text}")
        else:
            row.problem(_COLUMN_OF.get(field, ""), text)
    if not refused.fields:
        row.problem("", str(refused.message))
    if any(field in by_line for field in refused.fields or {}):
        return _documents_refused(row, documents)
    return "failed"
