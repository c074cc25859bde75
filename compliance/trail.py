"""The compliance trail export (issue 35, item 5): for a brand, or one client of it, over a period,
every KYC decision, screening hit and its decisions, restriction, consent, risk-score change and
reveal of personal data, with the KYC documents and the audit chain's verification status. A regulator
reads it as who reviewed what, when, and what was decided.

The export is a ZIP: `summary.pdf` (weasyprint; the scope, the period, the rows per section, the
chain's status), one CSV per section, and `documents/` with the files. It runs as a django-rq job
(crm.jobs) with progress, started from the Compliance trail page or the staff API.

The sections are a registry (`SECTIONS`): each names its columns and yields its rows, oldest first,
from one or two set-based queries through the owning apps' selectors. Other parts of compliance add
theirs in a few lines, e.g. the AML alerts and the case actions:

    trail_section_register(TrailSection("alerts", _("AML alerts"), ("at", "client", "rule", ...),
                                        rows=_alert_rows, order=35))
"""

from __future__ import annotations

import datetime as dt
import heapq
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from compliance import permissions
from compliance.models import (
    AmlAlert,
    CaseStep,
    Restriction,
    RiskScore,
    ScreeningDecision,
    ScreeningHit,
    TrailExport,
)
from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotAllowed, ValidationFailed
from crm.jobs import JobHandle, job_start
from crm.lib.payloads import user_ref
from crm.models import Brand, Client, User
from crm.permissions import user_can
from plumbing.csvsafe import SafeCsvWriter

TRAIL_JOB_KIND = "compliance.trail_export"
EXPORT_PERMISSION = permissions.TRAIL_EXPORT
MAX_PERIOD_DAYS = 3660
PROGRESS_EVERY = 2000


@dataclass(frozen=True)
class TrailScope:
    brand_id: int
    client_id: int | None
    client_code: str  # "" for the whole brand
    start: dt.datetime
    end: dt.datetime  # exclusive


@dataclass(frozen=True)
class TrailSection:
    key: str  # the CSV's name
    title: Promise | str
    columns: tuple[str, ...]
    rows: Callable[[TrailScope], Iterable[Sequence[Any]]]  # oldest first; the first column is the time
    order: int = 100


SECTIONS: dict[str, TrailSection] = {}


def trail_section_register(section: TrailSection) -> None:
    SECTIONS[section.key] = section


def _who(email: str | None, name: str | None = None) -> str:
    return (name or email or "").strip()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str) if value not in (None, "", {}) else ""


# --- the sections ------------------------------------------------------------------------------------

KYC_EVENTS = ["kyc.submitted", "kyc.approved", "kyc.rejected", "kyc.info_requested", "kyc.expired", "kyc.reopened",
              "kyc.assessed"]


def _kyc_rows(scope: TrailScope) -> Iterator[Sequence[Any]]:
    from crm.selectors import trail_events

    qs = trail_events(brand_id=scope.brand_id, client_id=scope.client_id, names=KYC_EVENTS, start=scope.start,
                      end=scope.end)
    for at, client, name, actor, data in qs.values_list("occurred_at", "client__code", "name", "actor__email",
                                                        "data").iterator(chunk_size=5000):
        yield at, client, name, actor or "", _json(data)


def _screening_rows(scope: TrailScope) -> Iterator[Sequence[Any]]:
    hits = ScreeningHit.objects.filter(client__brand_id=scope.brand_id, created_at__gte=scope.start,
                                       created_at__lt=scope.end)
    steps = ScreeningDecision.objects.filter(hit__client__brand_id=scope.brand_id, at__gte=scope.start,
                                             at__lt=scope.end)
    if scope.client_id is not None:
        hits, steps = hits.filter(client_id=scope.client_id), steps.filter(hit__client_id=scope.client_id)
    raised = ((at, client, str(code), wl, ent, str(score), "raised", "", "", trigger, status)
              for at, client, code, wl, ent, score, trigger, status in hits.order_by("created_at", "id").values_list(
                  "created_at", "client__code", "code", "watchlist__name", "ent_num", "score", "trigger", "status")
              .iterator(chunk_size=5000))
    decided = ((at, client, str(code), wl, ent, str(score), step, action, officer or "", reason, "")
               for at, client, code, wl, ent, score, step, action, officer, reason in steps.order_by("at", "id")
               .values_list("at", "hit__client__code", "hit__code", "hit__watchlist__name", "hit__ent_num",
                            "hit__score", "step", "action", "officer__email", "reason").iterator(chunk_size=5000))
    yield from heapq.merge(raised, decided, key=lambda r: r[0])


def _restriction_rows(scope: TrailScope) -> Iterator[Sequence[Any]]:
    base = Restriction.objects.filter(client__brand_id=scope.brand_id)
    if scope.client_id is not None:
        base = base.filter(client_id=scope.client_id)
    fields = ("client__code", "code", "kind", "source")
    imposed = ((at, client, str(code), "imposed", kind, source, reason, by or "", until or "")
               for at, client, code, kind, source, reason, by, until in base
               .filter(imposed_at__gte=scope.start, imposed_at__lt=scope.end).order_by("imposed_at", "id")
               .values_list("imposed_at", *fields, "reason", "imposed_by__email", "until").iterator(chunk_size=5000))
    lifted = ((at, client, str(code), "lifted", kind, source, reason, by or "", "")
              for at, client, code, kind, source, reason, by in base
              .filter(lifted_at__gte=scope.start, lifted_at__lt=scope.end).order_by("lifted_at", "id")
              .values_list("lifted_at", *fields, "lift_reason", "lifted_by__email").iterator(chunk_size=5000))
    yield from heapq.merge(imposed, lifted, key=lambda r: r[0])


CONSENT_ACTIONS = ["portal.register", "portal.consent_accepted", "portal.consent_withdrawn"]


def _consent_rows(scope: TrailScope) -> Iterator[Sequence[Any]]:
    """The consents given at registration and each later acceptance or withdrawal, as the audit log
    recorded them, with each row's place in the hash chain."""
    from crm.selectors import trail_audit_rows

    audit = trail_audit_rows(brand_id=scope.brand_id, actions=CONSENT_ACTIONS, start=scope.start, end=scope.end,
                             object_type="crm.client", object_id=scope.client_code)
    for at, obj, action, after, actor, seq in audit.values_list("at", "object_id", "action", "after", "actor_label",
                                                                "seq").iterator(chunk_size=5000):
        details = (after or {}).get("consents") if action == "portal.register" else after
        name = "registered" if action == "portal.register" else action.removeprefix("portal.")
        yield at, obj, name, _json(details), actor, seq if seq is not None else ""


def _risk_rows(scope: TrailScope) -> Iterator[Sequence[Any]]:
    qs = RiskScore.objects.filter(brand_id=scope.brand_id, computed_at__gte=scope.start, computed_at__lt=scope.end)
    if scope.client_id is not None:
        qs = qs.filter(client_id=scope.client_id)
    for at, client, band, previous, score, factors, trigger, by, due, version in qs.order_by(
            "computed_at", "id").values_list("computed_at", "client__code", "band", "previous_band", "score", "factors",
                                             "trigger", "computed_by__email", "review_due", "model_version"
                                             ).iterator(chunk_size=5000):
        contributions = "; ".join(f"{f.get('key')}={f.get('points')} ({f.get('value')})" for f in factors or [])
        yield at, client, band, previous, score, contributions, trigger, by or "", due, version


def _reveal_rows(scope: TrailScope) -> Iterator[Sequence[Any]]:
    from crm.selectors import trail_reveals

    qs = trail_reveals(brand_id=scope.brand_id, client_id=scope.client_id, start=scope.start, end=scope.end)
    for row in qs.values_list("at", "client__code", "kind", "user__email", "ip", "request_id", "detail").iterator(
            chunk_size=5000):
        yield tuple("" if v is None else v for v in row)


def _document_rows(scope: TrailScope) -> Iterator[Sequence[Any]]:
    for doc in _documents(scope):
        yield (doc.created_at, doc.client.code, str(doc.code), doc.kind, doc.side, doc.submission.status,
               doc.sha256, _document_path(doc))


def _documents(scope: TrailScope) -> Iterator[Any]:
    from kyc.selectors import documents_in_period

    yield from documents_in_period(brand_id=scope.brand_id, client_id=scope.client_id, start=scope.start,
                                   end=scope.end).iterator(chunk_size=500)


def _alert_rows(scope: TrailScope) -> Iterator[Sequence[Any]]:
    """Every AML alert raised in the period, with its rule and version, score, facts and what became of it."""
    alerts = AmlAlert.objects.filter(brand_id=scope.brand_id, created_at__gte=scope.start, created_at__lt=scope.end)
    if scope.client_id is not None:
        alerts = alerts.filter(client_id=scope.client_id)
    for row in alerts.order_by("created_at", "id").values_list(
            "created_at", "client__code", "code", "rule__kind", "rule_version__number", "score", "summary",
            "transaction_ids", "status", "status_by__email", "status_reason").iterator(chunk_size=5000):
        at, client, code, rule, version, score, summary, transactions, status, by, reason = row
        yield (at, str(client), str(code), rule, version, score, summary, " ".join(map(str, transactions)), status,
               by or "", reason)


def _case_rows(scope: TrailScope) -> Iterator[Sequence[Any]]:
    """Every move of the cases in scope: opened, assigned, review, decision proposed, approved, sent
    back, closed, reopened (compliance.cases), with who and why."""
    steps = CaseStep.objects.filter(case__client__brand_id=scope.brand_id, at__gte=scope.start, at__lt=scope.end)
    if scope.client_id is not None:
        steps = steps.filter(case__client_id=scope.client_id)
    for at, client, case, action, before, after, by, reason in steps.order_by("at", "id").values_list(
            "at", "case__client__code", "case__code", "action", "from_status", "to_status", "actor__email",
            "reason").iterator(chunk_size=5000):
        yield at, str(client), str(case), action, before, after, by or "", reason


DISPUTE_EVENTS = ["wallet.dispute_opened", "wallet.dispute_updated", "wallet.dispute_decided"]


def _dispute_rows(scope: TrailScope) -> Iterator[Sequence[Any]]:
    """Each step of the client's payment disputes (retrieval requests, chargebacks), as the wallet's
    events tell it: opened, evidence added, representment sent, escalated, accepted, won, lost."""
    from crm.selectors import trail_events

    qs = trail_events(brand_id=scope.brand_id, client_id=scope.client_id, names=DISPUTE_EVENTS, start=scope.start,
                      end=scope.end)
    for at, client, actor, data in qs.values_list("occurred_at", "client__code", "actor__email", "data").iterator(
            chunk_size=5000):
        d = data or {}
        yield (at, str(client or ""), d.get("dispute", ""), d.get("deposit", ""), d.get("kind", ""),
               d.get("action", ""), d.get("status", ""), d.get("reason_code", ""), d.get("amount", ""),
               d.get("currency", ""), d.get("due", ""), actor or "", d.get("note", ""))


def _document_path(doc: Any) -> str:
    ext = {"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}.get(doc.content_type, "bin")
    return f"documents/{doc.client.code}/{doc.code}.{ext}"


for _section in (
    TrailSection("kyc_decisions", _("KYC submissions and decisions"),
                 ("at", "client", "event", "by", "details"), _kyc_rows, order=10),
    TrailSection("screening", _("Screening hits and decisions"),
                 ("at", "client", "hit", "list", "entry", "score", "step", "action", "officer", "reason_or_trigger",
                  "status"), _screening_rows, order=20),
    TrailSection("restrictions", _("Restrictions"),
                 ("at", "client", "restriction", "step", "kind", "source", "reason", "by", "until"),
                 _restriction_rows, order=30),
    TrailSection("aml_alerts", _("AML alerts"),
                 ("at", "client", "alert", "rule", "rule_version", "score", "summary", "transactions", "status",
                  "decided_by", "reason"), _alert_rows, order=35),
    TrailSection("case_actions", _("Case actions"),
                 ("at", "client", "case", "action", "from_status", "to_status", "by", "reason"), _case_rows, order=40),
    TrailSection("payment_disputes", _("Payment disputes (retrieval requests and chargebacks)"),
                 ("at", "client", "dispute", "deposit", "kind", "action", "status", "reason_code", "amount", "currency",
                  "deadline", "by", "note"), _dispute_rows, order=45),
    TrailSection("consents", _("Consents"), ("at", "client", "action", "details", "by", "audit_seq"),
                 _consent_rows, order=50),
    TrailSection("risk_scores", _("Risk score changes"),
                 ("at", "client", "band", "previous_band", "points", "factors", "trigger", "by", "review_due",
                  "model_version"), _risk_rows, order=60),
    TrailSection("personal_data_reveals", _("Reveals of personal data"),
                 ("at", "client", "kind", "by", "ip", "request_id", "detail"), _reveal_rows, order=70),
    TrailSection("documents", _("KYC documents"),
                 ("at", "client", "document", "kind", "side", "submission_status", "sha256", "file"),
                 _document_rows, order=80),
):
    trail_section_register(_section)


# --- asking for it -----------------------------------------------------------------------------------

def _require(actor: User | None) -> None:
    if actor is None or not user_can(actor, EXPORT_PERMISSION):
        raise NotAllowed(gettext("Only compliance officers export the compliance trail."))


def trail_period(start: dt.date | None, end: dt.date | None) -> tuple[dt.datetime, dt.datetime]:
    """The period from the first day's start to the end of the last day (UTC), or ValidationFailed
    naming the field that is wrong."""
    errors: dict[str, list[str]] = {}
    if start is None:
        errors["start"] = [gettext("Give the first day of the period.")]
    if end is None:
        errors["end"] = [gettext("Give the last day of the period.")]
    if start is not None and end is not None:
        if end < start:
            errors["end"] = [gettext("The last day is before the first day.")]
        elif (end - start).days > MAX_PERIOD_DAYS:
            errors["end"] = [gettext("The period is longer than %(n)s days: export it in parts.") % {
                "n": MAX_PERIOD_DAYS}]
        elif start > timezone.localdate():
            errors["start"] = [gettext("The period starts in the future.")]
    if errors:
        raise ValidationFailed(gettext("The period is not valid."), fields=errors)
    assert start is not None and end is not None  # noqa: S101 - checked above
    first = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    return first, dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)


@transaction.atomic
def trail_export_request(*, actor: User, brand: Brand, start: dt.date | None, end: dt.date | None,
                         client: Client | None = None) -> TrailExport:
    """Queue the export of the brand's (or the client's) trail over the days `start` to `end`
    (inclusive), as a job. Only compliance officers; the client must be the brand's."""
    _require(actor)
    if client is not None and client.brand_id != brand.pk:
        raise ValidationFailed(fields={"client": [gettext("This client is not a client of the brand.")]})
    first, after = trail_period(start, end)
    row = TrailExport.objects.create(brand=brand, client=client, start=first, end=after, requested_by=actor)
    who = client.full_name if client is not None else brand.name
    row.job = job_start(kind=TRAIL_JOB_KIND, actor=actor, brand=brand, func="compliance.trail.trail_export_job",
                        kwargs={"export_id": row.pk}, link=reverse("compliance_trail"),
                        title=gettext("Compliance trail: %(who)s, %(start)s to %(end)s") % {
                            "who": who, "start": start, "end": end})
    row.save(update_fields=["job"])
    audit_record(action="compliance.trail_export_requested", obj=row, actor=actor, brand=brand,
                 after={"client": str(client.code) if client else None, "start": first.isoformat(),
                        "end": after.isoformat()})
    return row


# --- building it -------------------------------------------------------------------------------------

def trail_scope(row: TrailExport) -> TrailScope:
    return TrailScope(brand_id=row.brand_id, client_id=row.client_id,
                      client_code=str(row.client.code) if row.client is not None else "", start=row.start, end=row.end)


def _text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else value


def trail_write(scope: TrailScope, out: Any, *, progress: Callable[[int, int], None] | None = None,
                summary: dict[str, Any] | None = None) -> dict[str, int]:
    """Write the export of `scope` as a ZIP to the binary file `out`; returns the rows per section
    (and "documents": the files copied). The summary PDF is rendered from `summary` plus the counts."""
    from kyc.selectors import document_content

    counts: dict[str, int] = {}
    done = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for section in sorted(SECTIONS.values(), key=lambda s: (s.order, s.key)):
            n = 0
            with zf.open(f"{section.key}.csv", "w") as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                writer = SafeCsvWriter(text)
                writer.writerow(section.columns)
                for row in section.rows(scope):
                    writer.writerow([_text(v) for v in row])
                    n += 1
                    if progress is not None and (done + n) % PROGRESS_EVERY == 0:
                        progress(done + n, 0)
                text.flush()
                text.detach()
            counts[section.key] = n
            done += n
        files = 0
        for doc in _documents(scope):
            zf.writestr(_document_path(doc), document_content(doc))
            files += 1
        counts["files"] = files
        zf.writestr("summary.pdf", trail_summary_pdf(scope, counts=counts, **(summary or {})))
    return counts


def trail_chain_status() -> tuple[bool, str, int]:
    """The audit chain's verification now: (ok, what is wrong or how far it was checked, rows checked)."""
    from crm.audit import verify_chain

    report = verify_chain()
    if report.ok:
        return True, gettext("The audit chain verified: %(n)s rows, %(cp)s signed checkpoints matched.") % {
            "n": report.checked, "cp": report.checkpoints}, report.checked
    return False, str(report.describe()), report.checked


def trail_summary_pdf(scope: TrailScope, *, counts: dict[str, int], chain_ok: bool | None = None,
                      chain_detail: str = "", requested_by: str = "", brand_name: str = "",
                      client_name: str = "") -> bytes:
    from crm.lib.pdf import pdf_render

    sections = [{"title": str(s.title), "file": f"{s.key}.csv", "rows": counts.get(s.key, 0)}
                for s in sorted(SECTIONS.values(), key=lambda s: (s.order, s.key))]
    return pdf_render("compliance/trail_summary_pdf.html", {
        "scope": scope, "sections": sections, "files": counts.get("files", 0), "chain_ok": chain_ok,
        "chain_detail": chain_detail, "requested_by": requested_by, "brand_name": brand_name,
        "client_name": client_name, "generated_at": timezone.now(), "last_day": scope.end - dt.timedelta(days=1)})


def trail_export_job(handle: JobHandle, *, export_id: int) -> int:
    """The django-rq job: verify the audit chain, write the ZIP, record what it holds."""
    row = TrailExport.objects.select_related("brand", "client", "requested_by").get(pk=export_id)
    actor = handle.job.started_by
    _require(actor)
    scope = trail_scope(row)
    with translation.override(actor.language or None):
        handle.progress(0, None, force=True)
        chain_ok, chain_detail, _checked = trail_chain_status()
        name = f"compliance-trail-{row.brand.code}-{row.start:%Y%m%d}-{(row.end - dt.timedelta(days=1)):%Y%m%d}.zip"
        with handle.result_file(name, binary=True) as out:
            counts = trail_write(scope, out, progress=lambda n, _t: handle.progress(n, None),
                                 summary={"chain_ok": chain_ok, "chain_detail": chain_detail,
                                          "requested_by": _who(actor.email, actor.full_name),
                                          "brand_name": row.brand.name,
                                          "client_name": row.client.full_name if row.client else ""})
    rows = sum(v for k, v in counts.items() if k != "files")
    handle.set_result_rows(rows)
    handle.progress(rows, rows, force=True, rows=rows, documents=counts.get("files", 0))
    with transaction.atomic():
        TrailExport.objects.filter(pk=row.pk).update(counts=counts, chain_ok=chain_ok, chain_detail=chain_detail)
        audit_record(action="compliance.trail_exported", obj=row, actor=actor, brand=row.brand_id,
                     after={"counts": counts, "chain_ok": chain_ok})
        emit("compliance.trail_exported", brand=row.brand_id, actor=actor, data={
            "export": str(row.code), "client": str(row.client.code) if row.client else None,
            "start": row.start.isoformat(), "end": row.end.isoformat(), "by": user_ref(actor)})
    from crm.services import access_export_record

    access_export_record(actor=actor, what=f"compliance trail export {row.code}", rows=rows)
    return rows


def trail_exports_for(*, user: Any) -> Any:
    """The exports `user` may see: an officer's own and, for an administrator, everyone's; newest first."""
    if not user_can(user, "compliance.view_trailexport"):
        return TrailExport.objects.none()
    qs = TrailExport.objects.select_related("brand", "client", "job", "requested_by")
    if not getattr(user, "is_administrator", False):
        qs = qs.filter(requested_by=user)
    return qs.order_by("-requested_at", "-pk")


__all__ = ["SECTIONS", "TrailScope", "TrailSection", "trail_export_request", "trail_section_register"]
