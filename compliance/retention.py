"""The retention schedule (issue 64, section 2): each kind of clients' data is kept so many days, then
removed or anonymised by a daily run (beat: compliance.tasks.retention_run_daily).

    kind                    default    removed how
    leads never converted   2 years    the lead is erased (compliance.erasure), counted from its last change
    KYC documents of        5 years    the documents and address go (kyc.services.kyc_records_erase),
      rejected applicants              counted from the rejection
    closed support tickets  6 years    by support, when it registers its source
    marketing consents      2 years    by marketing, when it registers its source (after the relationship)

A rule (RetentionRule) per brand, or for every brand, overrides the default's days and basis. Each run
writes a RetentionRun: per kind what was found past its time and what was removed; a second run on the
same day finds nothing more, since what it removed is gone (or marked erased). `retention_preview` shows
what the next run would remove without changing anything. Apps above compliance add their kinds with
`retention_source_register` (support's closed tickets, marketing's consent records).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from compliance import permissions
from compliance.erasure import erasure_apply, erasure_plan
from compliance.exceptions import ErasureRefused
from compliance.retention_models import ClientErasure, RetentionKind, RetentionRule, RetentionRun
from crm.audit import audit_record
from crm.exceptions import NotAllowed, ValidationFailed
from crm.models import Brand, Client, Stage
from crm.permissions import user_can

if TYPE_CHECKING:
    from crm.models import User

logger = logging.getLogger("compliance.retention")

RETENTION_VIEW = permissions.RETENTION_VIEW
RETENTION_MANAGE = permissions.RETENTION_MANAGE


@dataclass(frozen=True)
class Default:
    keep_days: int
    basis: Any


DEFAULT_RULES: dict[str, Default] = {
    RetentionKind.LEADS_NEVER_CONVERTED: Default(730, _(
        "Storage limitation: a lead who never became a client is kept two years after the last contact.")),
    RetentionKind.KYC_REJECTED: Default(1825, _(
        "AML record keeping: identification documents of a rejected applicant are kept five years.")),
    RetentionKind.CLOSED_TICKETS: Default(2190, _(
        "Limitation period: correspondence is kept six years after the ticket closed.")),
    RetentionKind.MARKETING_CONSENTS: Default(730, _(
        "Proof of consent: kept two years after the relationship ends.")),
}


@dataclass(frozen=True)
class RetentionSource:
    """One kind's rows past their time: `find(brand_id, cutoff)` gives the ids due (rows older than the
    cutoff by the kind's own clock), `remove(ids)` removes or anonymises them and returns how many."""

    kind: str
    find: Callable[[int, dt.datetime], list[int]]
    remove: Callable[[list[int]], int]


_SOURCES: dict[str, RetentionSource] = {}


def retention_source_register(source: RetentionSource) -> None:
    _SOURCES[source.kind] = source


def relationships_ended_before(*, brand_id: int, before: dt.datetime) -> list[int]:
    """Ids of the brand's clients whose relationship ended before `before`: closed then, or erased then (what
    apps above compliance hold until the relationship's end plus their days: marketing's consent records)."""
    closed = Client.objects.filter(brand_id=brand_id, stage=Stage.CLOSED, stage_changed_at__lt=before)
    erased = ClientErasure.objects.filter(client__brand_id=brand_id, erased_at__lt=before)
    return sorted({*closed.values_list("pk", flat=True), *erased.values_list("client_id", flat=True)})


def _leads_due(brand_id: int, cutoff: dt.datetime) -> list[int]:
    erased = ClientErasure.objects.values("client_id")
    return list(Client.objects.filter(brand_id=brand_id, stage=Stage.LEAD, updated_at__lt=cutoff)
                .exclude(pk__in=erased).order_by("pk").values_list("pk", flat=True))


def _leads_remove(ids: list[int]) -> int:
    removed = 0
    for client in Client.objects.filter(pk__in=ids).order_by("pk"):
        try:
            with transaction.atomic():
                erasure_apply(client=client, actor=None, plan=erasure_plan(client))
        except ErasureRefused as exc:  # an open alert or balance: kept, tried again tomorrow
            logger.info("retention: lead %s not erased: %s", client.pk, exc)
            continue
        removed += 1
    return removed


def _kyc_due(brand_id: int, cutoff: dt.datetime) -> list[int]:
    from kyc.selectors import rejected_applicants_with_documents

    return rejected_applicants_with_documents(brand_id=brand_id, rejected_before=cutoff)


def _kyc_remove(ids: list[int]) -> int:
    from kyc.services import kyc_records_erase

    return sum(kyc_records_erase(client=client, actor=None) for client in Client.objects.filter(pk__in=ids))


retention_source_register(RetentionSource(RetentionKind.LEADS_NEVER_CONVERTED, _leads_due, _leads_remove))
retention_source_register(RetentionSource(RetentionKind.KYC_REJECTED, _kyc_due, _kyc_remove))


@dataclass(frozen=True)
class EffectiveRule:
    kind: str
    keep_days: int
    basis: str
    source: str  # "brand", "all brands" or "default"
    installed: bool  # whether an app removes this kind (a source is registered)

    @property
    def label(self) -> str:
        return str(RetentionKind(self.kind).label)


def rules_for(brand_id: int | None) -> list[EffectiveRule]:
    """The schedule for one brand (None: the rules for every brand): its own rule, else the one for every
    brand, else the default, per kind."""
    rules = RetentionRule.objects.filter(Q(brand__isnull=True) | Q(brand_id=brand_id))
    rows = {(r.brand_id, r.kind): r for r in rules}
    out = []
    for kind, default in DEFAULT_RULES.items():
        own, every = rows.get((brand_id, kind)) if brand_id else None, rows.get((None, kind))
        rule = own or every
        out.append(EffectiveRule(kind, rule.keep_days if rule else default.keep_days,
                                 rule.basis if rule else str(default.basis),
                                 "brand" if own else "all brands" if every else "default", kind in _SOURCES))
    return out


def _due(at: dt.datetime) -> dict[str, dict[int, list[int]]]:
    """Per kind, per brand: the ids past their time at `at`."""
    due: dict[str, dict[int, list[int]]] = {kind: {} for kind in DEFAULT_RULES}
    for brand_id in Brand.objects.order_by("pk").values_list("pk", flat=True):
        for rule in rules_for(brand_id):
            source = _SOURCES.get(rule.kind)
            if source is not None:
                ids = source.find(brand_id, at - dt.timedelta(days=rule.keep_days))
                if ids:
                    due[rule.kind][brand_id] = ids
    return due


def retention_preview(*, at: dt.datetime | None = None) -> dict[str, int]:
    """What a run at `at` (now) would remove, per kind; nothing is changed."""
    return {kind: sum(len(ids) for ids in per_brand.values())
            for kind, per_brand in _due(at or timezone.now()).items()}


def retention_run(*, at: dt.datetime | None = None, actor: User | None = None) -> RetentionRun:
    """Apply the schedule as of `at` (now): each kind's rows past their time are removed or anonymised by
    the owning app; the run's report is kept (RetentionRun) and audited (counts only)."""
    if actor is not None and not user_can(actor, RETENTION_MANAGE):
        raise NotAllowed()
    at = at or timezone.now()
    run = RetentionRun.objects.create(as_of=at, started_at=timezone.now(), started_by=actor)
    results: dict[str, dict[str, int]] = {}
    for kind, per_brand in _due(at).items():
        found = sum(len(ids) for ids in per_brand.values())
        removed = sum(_SOURCES[kind].remove(ids) for ids in per_brand.values()) if found else 0
        results[kind] = {"found": found, "removed": removed}
    run.results, run.removed, run.finished_at = results, sum(r["removed"] for r in results.values()), timezone.now()
    run.save(update_fields=["results", "removed", "finished_at"])
    audit_record(action="compliance.retention_run", obj=run, actor=actor, after={"as_of": at.isoformat(),
                                                                                 "results": results})
    return run


@transaction.atomic
def retention_rule_save(*, actor: User, brand: Brand | None, kind: str, keep_days: Any, basis: Any
                        ) -> RetentionRule:
    """Set how long `kind` is kept for `brand` (None: every brand without its own rule). Audited."""
    if not user_can(actor, RETENTION_MANAGE) or (brand is None and not (actor.all_brands or actor.is_administrator)):
        raise NotAllowed()  # a rule for every brand is for those who work for every brand
    errors: dict[str, list[str]] = {}
    if kind not in DEFAULT_RULES:
        errors["kind"] = [gettext("Choose a kind of data.")]
    try:
        days = int(keep_days)
        if not 1 <= days <= 36500:
            raise ValueError
    except (TypeError, ValueError):
        errors["keep_days"] = [gettext("A whole number of days from 1 to 36,500.")]
    text = str(basis or "").strip()
    if not text or len(text) > 300:
        errors["basis"] = [gettext("Say on what basis it is kept (up to 300 characters).")]
    if errors:
        raise ValidationFailed(fields=errors)
    rule, _created = RetentionRule.objects.update_or_create(brand=brand, kind=kind, defaults={
        "keep_days": days, "basis": text, "updated_by": actor})
    audit_record(action="compliance.retention_rule_save", obj=rule, actor=actor, brand=brand,
                 after={"kind": kind, "keep_days": days, "basis": text})
    return rule


def retention_runs(*, limit: int = 20) -> list[RetentionRun]:
    return list(RetentionRun.objects.select_related("started_by")[:limit])
