"""Data-subject requests (issue 64, section 2): a client asks for a copy of their personal data or for
its erasure; an officer fulfils or refuses it within a month.

    received --(officer starts the export / approves the erasure)--> in_progress --> fulfilled
        \\------------------------------(refused, with the reason)-------------/--> refused

- The client asks in the trader's room (portal calls `data_request_submit`); staff who work these
  requests record one on the client's behalf (channel "staff"). One open request of a kind per client.
- An access request is fulfilled by the subject-access export: a django-rq job (crm.jobs) an officer
  starts, which writes one ZIP (index.html listing every file, profile.json, CSV for the tables) from
  the owning apps' selectors, stores it privately (encrypted with the brand's key) and marks the
  request fulfilled. The client downloads it from their own page; nobody else's page serves it.
- Compliance's own matters about the client (AML alerts, cases and the reports to the regulator,
  screening hits, risk scores, restrictions' grounds) are never exported: the export records on the
  request what it withheld (kinds and counts, "withheld under AML confidentiality"), for the officers
  only; the archive itself says nothing of them (tipping off).
- An erasure request is decided by an officer, who sees the erasure engine's plan
  (compliance.erasure.erasure_plan) and approves it: erasure_apply runs and its result is kept.

Every step writes a DataRequestStep (the state machine), an audit row and a domain event.

Apps above compliance (support) add their part of the export through `subject_data_section_register`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import importlib.util
import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from compliance import permissions
from compliance.data_request_models import (
    DATA_REQUEST_STATES,
    DataRequestChannel,
    DataRequestKind,
    DataRequestStatus,
    DataSubjectRequest,
)
from compliance.exceptions import DataRequestRefused
from compliance.models import AmlAlert, Case, Restriction, RiskScore, ScreeningHit
from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotAllowed, NotFound, ValidationFailed
from crm.jobs import JobHandle, job_start
from crm.lib.payloads import user_ref
from crm.lib.private_files import PrivateStore
from crm.models import Client, User
from crm.permissions import client_queryset_for_user, code_or_404, user_can
from plumbing.csvsafe import SafeCsvWriter

EXPORT_JOB_KIND = "compliance.subject_access_export"
DEFAULT_DAYS = 30  # one month (GDPR art. 12(3)); settings.DATA_REQUEST_DAYS changes it
DETAILS_MAX = 2000
REASON_MAX = 2000
WITHHELD_GROUND = "withheld under AML confidentiality"
EVERYTHING_SINCE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def request_days() -> int:
    return int(getattr(settings, "DATA_REQUEST_DAYS", DEFAULT_DAYS))


# --- the archive's private storage -------------------------------------------------------------------

def storage_root() -> Path:
    configured = getattr(settings, "COMPLIANCE_DATA_REQUEST_DIR", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "compliance-data-requests"


_STORE = PrivateStore(storage_root)


# --- what the export holds: sections, registered by the apps that own the data --------------------------

@dataclass(frozen=True)
class SubjectDataSection:
    """One part of the export. `columns` given: a CSV named `<key>.csv` of `rows(client)` (sequences,
    in the columns' order); `columns` None: `<key>.json` of the JSON value `rows(client)` gives.
    `files(client)`: (path in the archive, bytes) for files that go with it (KYC documents)."""

    key: str
    title: Promise | str
    rows: Callable[[Client], Any]
    columns: tuple[str, ...] | None = None
    files: Callable[[Client], Iterable[tuple[str, bytes]]] | None = None
    order: int = 100


@dataclass(frozen=True)
class WithheldKind:
    """A kind of record about the client that the export never holds, counted on the request."""

    key: str
    label: Promise | str
    count: Callable[[Client], int]
    ground: str = WITHHELD_GROUND


SECTIONS: dict[str, SubjectDataSection] = {}
WITHHELD: dict[str, WithheldKind] = {}


def subject_data_section_register(section: SubjectDataSection) -> None:
    SECTIONS[section.key] = section


def subject_data_withheld_register(kind: WithheldKind) -> None:
    WITHHELD[kind.key] = kind


def _text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def _profile(client: Client) -> dict[str, Any]:
    return {"code": str(client.code), "brand": client.brand.name, "first_name": client.first_name,
            "last_name": client.last_name, "email": client.email, "phone": client.phone, "country": client.country,
            "nationality": client.nationality, "language": client.language, "timezone": client.timezone,
            "date_of_birth": _text(client.date_of_birth), "classification": client.classification,
            "stage": client.stage, "verified_at": _text(client.verified_at), "created_at": _text(client.created_at),
            "source": client.source, "campaign": client.campaign, "utm_source": client.utm_source,
            "utm_medium": client.utm_medium, "utm_campaign": client.utm_campaign}


CONSENT_ACTIONS = ["portal.register", "portal.consent_accepted", "portal.consent_withdrawn"]


def _consents(client: Client) -> Iterable[Sequence[Any]]:
    from crm.selectors import trail_audit_rows

    rows = trail_audit_rows(brand_id=client.brand_id, actions=CONSENT_ACTIONS, start=EVERYTHING_SINCE,
                            end=timezone.now() + dt.timedelta(days=1), object_type="crm.client",
                            object_id=str(client.code))
    for at, action, after in rows.values_list("at", "action", "after"):
        details = (after or {}).get("consents") if action == "portal.register" else after
        yield at, action.removeprefix("portal."), json.dumps(details or {}, ensure_ascii=False, sort_keys=True)


def _kyc_submissions(client: Client) -> Iterable[Sequence[Any]]:
    from kyc.selectors import submissions_for_client

    for s in submissions_for_client(client=client):
        yield s.code, s.submitted_at, s.get_status_display(), s.decided_at, s.reason


def _document_path(doc: Any) -> str:
    ext = {"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}.get(doc.content_type, "bin")
    return f"documents/{doc.code}.{ext}"


def _kyc_documents(client: Client) -> Iterable[Sequence[Any]]:
    from kyc.selectors import documents_for_client

    for d in documents_for_client(client=client):
        yield d.code, d.created_at, d.kind, d.side, d.original_name, d.expires_on, _document_path(d)


def _kyc_document_files(client: Client) -> Iterable[tuple[str, bytes]]:
    from kyc.selectors import document_content, documents_for_client

    for d in documents_for_client(client=client):
        yield _document_path(d), document_content(d)


def _trading_accounts(client: Client) -> Iterable[Sequence[Any]]:
    from trading.selectors import accounts_for_client

    for summary in accounts_for_client(client=client, days=3660):
        a = summary.account
        yield (a.login, a.server.name, "demo" if a.is_demo else "live", a.account_type, a.currency, a.leverage,
               a.opened_at, a.closed_at, a.balance, a.equity, summary.deals)


def _wallet_transactions(client: Client) -> Iterable[Sequence[Any]]:
    from wallet.selectors import kind_label, statement_lines, wallet_balances_for_client

    for wallet in wallet_balances_for_client(client):
        _opening, lines = statement_lines(wallet.account)
        for line in lines:
            t = line.transaction
            yield (t.code, line.recorded_at, t.occurred_at, kind_label(t.kind), line.amount.amount,
                   line.amount.currency, line.running_balance.amount)


def _emails(client: Client) -> Iterable[Sequence[Any]]:
    from emails.selectors import client_emails

    for e in client_emails(client=client, limit=100_000):
        yield e.code, e.created_at, e.sent_at, e.get_status_display(), e.to_email, e.subject, e.body_text


def _staff_access(client: Client) -> Iterable[Sequence[Any]]:
    """Who of the staff opened the client's record, revealed their contact details or exported them:
    the access log (crm.services.access), oldest first."""
    from crm.models import AccessEvent

    rows = AccessEvent.objects.filter(client=client).order_by("at", "id").values_list(
        "at", "kind", "user__full_name", "user__email", "detail")
    for at, kind, name, email, detail in rows.iterator(chunk_size=2000):
        yield at, kind, name or email, detail


for _section in (
    SubjectDataSection("profile", _("Your profile"), _profile, order=10),
    SubjectDataSection("consents", _("Consents you gave or withdrew"), _consents,
                       ("at", "action", "details"), order=20),
    SubjectDataSection("kyc_submissions", _("Verification submissions and their decisions"), _kyc_submissions,
                       ("submission", "submitted_at", "status", "decided_at", "reason"), order=30),
    SubjectDataSection("kyc_documents", _("Verification documents (the files are in documents/)"),
                       _kyc_documents, ("document", "uploaded_at", "kind", "side", "file_name", "expires_on", "file"),
                       files=_kyc_document_files, order=31),
    SubjectDataSection("trading_accounts", _("Trading accounts"), _trading_accounts,
                       ("login", "server", "type", "account_type", "currency", "leverage", "opened_at", "closed_at",
                        "balance", "equity", "deals_last_10_years"), order=40),
    SubjectDataSection("wallet_transactions", _("Wallet transactions"), _wallet_transactions,
                       ("transaction", "recorded_at", "occurred_at", "kind", "amount", "currency", "balance_after"),
                       order=50),
    SubjectDataSection("emails", _("Emails we sent you"), _emails,
                       ("email", "created_at", "sent_at", "status", "to", "subject", "text"), order=70),
    SubjectDataSection("staff_access", _("Staff who accessed your record"), _staff_access,
                       ("at", "what", "staff_member", "detail"), order=80),
):
    subject_data_section_register(_section)


def _sar_count(client: Client) -> int:
    return Case.objects.filter(client=client, sar_drafted_at__isnull=False).count()


for _withheld in (
    WithheldKind("aml_alerts", _("AML alerts"), lambda c: AmlAlert.objects.filter(client=c).count()),
    WithheldKind("cases", _("Compliance cases"), lambda c: Case.objects.filter(client=c).count()),
    WithheldKind("regulator_reports", _("Suspicious-activity reports to the regulator"), _sar_count),
    WithheldKind("screening_hits", _("Sanctions and PEP screening hits"),
                 lambda c: ScreeningHit.objects.filter(client=c).count()),
    WithheldKind("risk_scores", _("AML risk scores"), lambda c: RiskScore.objects.filter(client=c).count()),
    WithheldKind("restrictions", _("Compliance restrictions and their grounds"),
                 lambda c: Restriction.objects.filter(client=c).count()),
):
    subject_data_withheld_register(_withheld)


# --- asking -------------------------------------------------------------------------------------------

def _kind(value: Any) -> str:
    text = str(value or "")
    if text not in DataRequestKind.values:
        raise ValidationFailed(fields={"kind": [gettext("Choose a copy of your data or its erasure.")]})
    return text


def _clean_text(value: Any, *, field: str, limit: int, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise ValidationFailed(fields={field: [gettext("This field is required.")]})
    if len(text) > limit:
        raise ValidationFailed(fields={field: [gettext("Write at most %(n)s characters.") % {"n": limit}]})
    if "\x00" in text:
        raise ValidationFailed(fields={field: [gettext("The text holds a character that cannot be stored.")]})
    return text


def _event(row: DataSubjectRequest, name: str, actor: User | None) -> None:
    # Without the client: its timeline is the sales floor's; the data names the client.
    emit(name, brand=row.brand_id, actor=actor, data={
        "request": str(row.code), "client": str(row.client.code), "kind": row.kind, "status": row.status,
        "due": row.due_at.isoformat(), "by": user_ref(actor) if actor is not None else None})


@transaction.atomic
def data_request_submit(*, client: Client, kind: Any, details: Any = "", actor: User | None = None,
                        received_at: dt.datetime | None = None) -> DataSubjectRequest:
    """Record the client's request of `kind` (access or erasure). `actor` None: the client asked in the
    trader's room, now; else a member of staff records it on the client's behalf (they need the
    permission and the client in their scope), received now or at `received_at` (a letter that came
    days ago: its clock runs from then). Due `request_days()` after it was received. ValidationFailed
    naming the field for bad input; DataRequestRefused while a request of the kind is open."""
    if actor is not None and not (user_can(actor, permissions.DATA_REQUEST_RECORD)
                                  and client_queryset_for_user(actor).filter(pk=client.pk).exists()):
        raise NotAllowed(gettext("You are not allowed to record data requests for this client."))
    kind_value = _kind(kind)
    text = _clean_text(details, field="details", limit=DETAILS_MAX)
    now = timezone.now()
    if received_at is not None and (actor is None or received_at > now or timezone.is_naive(received_at)
                                    or received_at < client.created_at - dt.timedelta(days=1)):
        raise ValidationFailed(fields={"received_at": [gettext(
            "Give the day the request reached us: not in the future, not before the client was known.")]})
    Client.objects.select_for_update().filter(pk=client.pk).first()  # one open request of a kind: serialised
    if DataSubjectRequest.objects.filter(client=client, kind=kind_value, status__in=DATA_OPEN).exists():
        raise DataRequestRefused(gettext("A request of this kind is already open; it is answered by its due date."),
                                 code="already_open")
    received = received_at or now
    row = DataSubjectRequest.objects.create(
        brand_id=client.brand_id, client=client, kind=kind_value, details=text, received_at=received,
        due_at=received + dt.timedelta(days=request_days()),
        channel=DataRequestChannel.STAFF if actor is not None else DataRequestChannel.PORTAL, recorded_by=actor)
    row.steps.create(from_status="", to_status=row.status, actor=actor, at=now,
                     reason="recorded by staff" if actor is not None else "asked in the trader's room")
    audit_record(action="compliance.data_request_received", obj=row, actor=actor, brand=client.brand_id,
                 after={"client": str(client.code), "kind": kind_value, "channel": row.channel,
                        "due": row.due_at.isoformat()})
    _event(row, "compliance.data_request_received", actor)
    return row


DATA_OPEN = (DataRequestStatus.RECEIVED, DataRequestStatus.IN_PROGRESS)


# --- deciding -----------------------------------------------------------------------------------------

def _require_work(actor: User | None) -> User:
    if actor is None or not user_can(actor, permissions.DATA_REQUEST_WORK):
        raise NotAllowed(gettext("Only compliance officers fulfil or refuse data requests."))
    return actor


def _locked(row: DataSubjectRequest) -> DataSubjectRequest:
    return DataSubjectRequest.objects.select_for_update().select_related("client", "brand").get(pk=row.pk)


@transaction.atomic
def data_request_export_start(*, request: DataSubjectRequest, actor: User) -> DataSubjectRequest:
    """Start the subject-access export of an access request (a job; the request is in progress until it
    ends and fulfilled when it does). Again on a request in progress whose job failed or was
    cancelled; DataRequestRefused otherwise."""
    _require_work(actor)
    row = _locked(request)
    if row.kind != DataRequestKind.ACCESS:
        raise DataRequestRefused(gettext("Only a request for a copy of the data is exported."), code="not_access")
    if row.status == DataRequestStatus.RECEIVED:
        DATA_REQUEST_STATES.move(row, DataRequestStatus.IN_PROGRESS, save=[], actor=actor,
                                 reason="export started")
    elif row.status != DataRequestStatus.IN_PROGRESS or (row.job is not None and not row.job.is_finished):
        raise DataRequestRefused(gettext("This request is not waiting for an export."), code="not_waiting")
    row.job = job_start(kind=EXPORT_JOB_KIND, actor=actor, brand=row.brand,
                        func="compliance.data_requests.data_request_export_job", kwargs={"request_id": row.pk},
                        link=reverse("compliance_data_request", args=[row.code]),
                        title=gettext("Copy of the data of %(name)s") % {"name": row.client.full_name})
    row.save(update_fields=["job"])
    audit_record(action="compliance.data_request_export_started", obj=row, actor=actor, brand=row.brand_id,
                 after={"client": str(row.client.code), "job": str(row.job.code)})
    _event(row, "compliance.data_request_started", actor)
    return row


def subject_data_write(client: Client, out: Any, *, progress: Callable[[int], None] | None = None
                       ) -> dict[str, int]:
    """Write the client's export as a ZIP to the binary file `out`: every registered section, the files
    that go with them, and index.html listing each file. Returns the rows (or 1 a file) per file."""
    contents: dict[str, int] = {}
    titles: dict[str, str] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for section in sorted(SECTIONS.values(), key=lambda s: (s.order, s.key)):
            if section.columns is None:
                name = f"{section.key}.json"
                zf.writestr(name, json.dumps(section.rows(client), ensure_ascii=False, indent=2, default=_text))
                contents[name] = 1
            else:
                name = f"{section.key}.csv"
                n = 0
                with zf.open(name, "w") as raw:
                    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                    writer = SafeCsvWriter(text)
                    writer.writerow(section.columns)
                    for row in section.rows(client):
                        writer.writerow([_text(v) for v in row])
                        n += 1
                    text.flush()
                    text.detach()
                contents[name] = n
            titles[name] = str(section.title)
            for path, data in (section.files(client) if section.files else ()):
                zf.writestr(path, data)
                contents[path] = 1
                titles[path] = str(section.title)
            if progress is not None:
                progress(len(contents))
        zf.writestr("index.html", _index_html(client, contents, titles))
    return contents


def _index_html(client: Client, contents: dict[str, int], titles: dict[str, str]) -> str:
    e = html.escape
    rows = "".join(f"<tr><td><a href=\"{e(name)}\">{e(name)}</a></td><td>{e(titles.get(name, ''))}</td>"
                   f"<td>{n}</td></tr>\n" for name, n in contents.items())
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{e(gettext('Your personal data'))}</title>"
            f"</head><body><h1>{e(gettext('Your personal data'))}</h1>"
            f"<p>{e(client.full_name)} &middot; {e(client.brand.name)} &middot; {e(timezone.now().isoformat())}</p>"
            f"<p>{e(gettext('Tables are CSV files (UTF-8), the rest JSON. Records that the law requires us to keep '
                             'confidential are not included.'))}</p>"
            f"<table><thead><tr><th>{e(gettext('File'))}</th><th>{e(gettext('What it holds'))}</th>"
            f"<th>{e(gettext('Rows'))}</th></tr></thead><tbody>\n{rows}</tbody></table></body></html>")


def subject_data_withheld(client: Client) -> list[dict[str, Any]]:
    """What the export leaves out about `client`: each kind with records, its count and the ground."""
    found = []
    for kind in WITHHELD.values():
        count = kind.count(client)
        if count:
            found.append({"kind": kind.key, "label": str(kind.label), "count": count, "ground": kind.ground})
    return found


def data_request_export_job(handle: JobHandle, *, request_id: int) -> int:
    """The django-rq job: write the ZIP, store it privately, record what it holds and withheld, and
    fulfil the request."""
    row = DataSubjectRequest.objects.select_related("client", "client__brand", "brand").get(pk=request_id)
    actor = _require_work(handle.job.started_by)
    client = row.client
    with translation.override(client.language or row.brand.default_language or None):
        handle.progress(0, len(SECTIONS) + 1, force=True)
        with tempfile.TemporaryFile() as tmp:
            contents = subject_data_write(client, tmp, progress=lambda n: handle.progress(n, None))
            tmp.seek(0)
            data = tmp.read()
    withheld = subject_data_withheld(client)
    name = _STORE.new_name("zip")
    _STORE.write(name, data, scope=row.brand.code)
    with transaction.atomic():
        locked = _locked(row)
        if locked.status != DataRequestStatus.IN_PROGRESS:  # refused while it ran: the file is not kept
            transaction.on_commit(lambda: _STORE.remove(name))
            return 0
        now = timezone.now()
        DATA_REQUEST_STATES.move(locked, DataRequestStatus.FULFILLED, also={
            "archive_name": name, "archive_size": len(data), "archive_sha256": hashlib.sha256(data).hexdigest(),
            "contents": contents, "withheld": withheld, "decided_by": actor, "decided_at": now, "fulfilled_at": now,
        }, save=["archive_name", "archive_size", "archive_sha256", "contents", "withheld", "decided_by",
                 "decided_at", "fulfilled_at"], actor=actor, reason="export built")
        audit_record(action="compliance.data_request_fulfilled", obj=locked, actor=actor, brand=locked.brand_id,
                     after={"client": str(client.code), "files": len(contents), "bytes": len(data),
                            "sha256": locked.archive_sha256, "withheld": withheld})
        _event(locked, "compliance.data_request_fulfilled", actor)
    rows = sum(contents.values())
    handle.set_result_rows(rows)
    handle.progress(len(SECTIONS) + 1, len(SECTIONS) + 1, force=True, files=len(contents), rows=rows)
    from crm.services import access_export_record

    access_export_record(actor=actor, what=f"subject access export {row.code}", rows=rows)
    return rows


@transaction.atomic
def data_request_refuse(*, request: DataSubjectRequest, actor: User, reason: Any) -> DataSubjectRequest:
    """Refuse an open request, saying why (the client reads the reason). ValidationFailed on "reason"
    without one."""
    _require_work(actor)
    text = _clean_text(reason, field="reason", limit=REASON_MAX, required=True)
    row = _locked(request)
    DATA_REQUEST_STATES.move(row, DataRequestStatus.REFUSED, also={
        "refusal_reason": text, "decided_by": actor, "decided_at": timezone.now()},
        save=["refusal_reason", "decided_by", "decided_at"], actor=actor, reason=text)
    audit_record(action="compliance.data_request_refused", obj=row, actor=actor, brand=row.brand_id, reason=text,
                 after={"client": str(row.client.code), "kind": row.kind})
    _event(row, "compliance.data_request_refused", actor)
    return row


def erasure_available() -> bool:
    """Whether the erasure engine (compliance.erasure) is installed in this tree."""
    return importlib.util.find_spec("compliance.erasure") is not None


def data_request_erasure_plan(*, request: DataSubjectRequest) -> Any:
    """The erasure engine's plan for the request's client (what would be erased, kept and why), or None
    without the engine."""
    if request.kind != DataRequestKind.ERASURE or not erasure_available():
        return None
    from compliance import erasure  # type: ignore[attr-defined,unused-ignore]  # the erasure helper's module, maybe absent

    return erasure.erasure_plan(request.client)


@transaction.atomic
def data_request_erasure_approve(*, request: DataSubjectRequest, actor: User) -> DataSubjectRequest:
    """An officer approves an erasure request: the erasure engine plans and applies it for the client
    (compliance.erasure), the result is kept on the request, which is fulfilled."""
    _require_work(actor)
    row = _locked(request)
    if row.kind != DataRequestKind.ERASURE:
        raise DataRequestRefused(gettext("Only an erasure request is approved for erasure."), code="not_erasure")
    if not erasure_available():
        raise DataRequestRefused(gettext("The erasure engine is not installed: the request cannot be applied yet."),
                                 code="erasure_unavailable")
    from compliance import erasure  # type: ignore[attr-defined,unused-ignore]  # the erasure helper's module, maybe absent

    if row.status == DataRequestStatus.RECEIVED:
        DATA_REQUEST_STATES.move(row, DataRequestStatus.IN_PROGRESS, save=[], actor=actor, reason="erasure approved")
    plan = erasure.erasure_plan(row.client)
    result = erasure.erasure_apply(client=row.client, actor=actor, plan=plan, request=row)
    now = timezone.now()
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        raw: Any = dataclasses.asdict(result)
    else:
        raw = result if isinstance(result, dict) else {"result": str(result)}
    outcome = json.loads(json.dumps(raw, default=str))
    DATA_REQUEST_STATES.move(row, DataRequestStatus.FULFILLED, also={
        "outcome": outcome, "decided_by": actor, "decided_at": now, "fulfilled_at": now},
        save=["outcome", "decided_by", "decided_at", "fulfilled_at"], actor=actor, reason="erased")
    audit_record(action="compliance.data_request_fulfilled", obj=row, actor=actor, brand=row.brand_id,
                 after={"client": str(row.client.code), "kind": row.kind, "outcome": outcome})
    _event(row, "compliance.data_request_fulfilled", actor)
    return row


# --- reading ------------------------------------------------------------------------------------------

def data_requests_for_client(*, client: Client) -> list[DataSubjectRequest]:
    """The client's own requests, newest first (the trader's room)."""
    return list(DataSubjectRequest.objects.filter(client=client).order_by("-received_at", "-pk"))


def data_request_for_client(*, client: Client, code: Any) -> DataSubjectRequest:
    """The client's own request with `code`; NotFound for anyone else's or none."""
    row = DataSubjectRequest.objects.filter(client=client, code=code_or_404(code)).first()
    if row is None:
        raise NotFound()
    return row


def data_requests_for_user(user: Any) -> QuerySet[DataSubjectRequest]:
    """The requests `user` may see: none without the permission; else those of the clients in their
    scope (an officer of one brand sees that brand's), in SQL."""
    if not user_can(user, permissions.DATA_REQUEST_VIEW):
        return DataSubjectRequest.objects.none()
    return DataSubjectRequest.objects.filter(client__in=client_queryset_for_user(user))


def data_request_queue(*, user: Any, status: str = "open", kind: str = "") -> QuerySet[DataSubjectRequest]:
    """The officers' list: by status ("open": received or in progress; "" every one), kind; earliest
    due first."""
    qs = data_requests_for_user(user).select_related("client", "brand", "decided_by")
    if status == "open":
        qs = qs.filter(status__in=DATA_OPEN)
    elif status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("due_at", "pk")


def data_request_get_for_user(user: Any, code: Any) -> DataSubjectRequest:
    row = (data_requests_for_user(user).select_related("client", "brand", "decided_by", "recorded_by", "job")
           .filter(code=code_or_404(code)).first())
    if row is None:
        raise NotFound()
    return row


def data_request_archive(row: DataSubjectRequest) -> bytes:
    """The stored ZIP of a fulfilled access request (fetch the request through an access helper first)."""
    if not row.archive_name:
        raise NotFound()
    return _STORE.read(row.archive_name)


def data_request_archive_name(row: DataSubjectRequest) -> str:
    return f"my-data-{row.fulfilled_at or row.received_at:%Y%m%d}-{str(row.code)[:8]}.zip"
