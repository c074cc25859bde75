"""Segments: dynamic groups of a brand's clients, their live count, CSV export (a background job), and the
automation action "add_to_segment".

A definition is a dict of optional filters, all of which must hold (empty lists match anything):

    {"stages": ["lead", "registered"], "countries": ["GB"], "languages": ["en"],
     "registered_from": "2025-01-01", "registered_to": "2025-03-31", "tags": ["vip"],
     "pipeline_statuses": ["interested"]}

Each filter is a condition of the segment engine that marketing's segments use too (plumbing.segments,
on the client's facts of leads.segment_facts): the definition is validated and compiled to one query
there; money, trading and the other facts are marketing's. Members added explicitly belong regardless.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.audit import audit_record
from crm.exceptions import NotAllowed, ValidationFailed
from crm.jobs import JobHandle, job_start, jobs_for
from crm.models import Brand, Client, Job, User
from crm.permissions import client_queryset_for_user, user_can
from crm.services import access_export_record
from leads import segment_facts  # noqa: F401  (registers the client's facts the filters name)
from leads.models import Segment, SegmentMember
from plumbing import segments as engine

# The sales desk's definition is flat: each filter is one condition of the segment engine
# (plumbing.segments, on the client's facts of leads.segment_facts), and all of them hold.
FILTERS: dict[str, tuple[str, str]] = {
    "stages": ("stage", "in"), "countries": ("country", "in"), "languages": ("language", "in"),
    "tags": ("tags", "any"), "pipeline_statuses": ("pipeline_status", "in"),
    "registered_from": ("registered", "on_or_after"), "registered_to": ("registered", "before"),
}
EXPORT_COLUMNS = ("code", "first_name", "last_name", "stage", "country", "language", "owner", "created_at", "tags")
_PATH = re.compile(r"conditions\.(\d+)\.")


def _require_manager(actor: User | None) -> None:
    if actor is not None and not user_can(actor, "crm.assign_client"):
        raise NotAllowed(gettext("Only administrators and desk managers manage segments."))


def _conditions(definition: Mapping[str, Any], *, to_inclusive: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """(filter, the engine's condition) of each filter given (an empty one matches anything); with
    `to_inclusive`, "registered until" counts its whole day (the engine's "before" the next)."""
    out = []
    for key, (fact, op) in FILTERS.items():
        value = definition.get(key)
        if not (value.replace(",", " ").split() if isinstance(value, str) else value):
            continue
        if to_inclusive and key == "registered_to":
            value = (date.fromisoformat(str(value)) + timedelta(days=1)).isoformat()
        out.append((key, {"fact": fact, "op": op, "value": value}))
    return out


def definition_clean(data: Mapping[str, Any], *, brand: Brand) -> dict[str, Any]:
    """A validated, normalised definition; ValidationFailed names each bad filter."""
    errors = {key: [gettext("Unknown filter.")] for key in sorted(set(data) - set(FILTERS))}
    given = _conditions(data)
    out: dict[str, Any] = {}
    try:
        clean = engine.definition_clean({"match": "all", "conditions": [c for _key, c in given]}, scope=brand,
                                        allowed={fact for fact, _op in FILTERS.values()}, translate=gettext)
    except engine.DefinitionInvalid as exc:
        for path, messages in exc.fields.items():
            match = _PATH.match(path)
            errors.setdefault(given[int(match.group(1))][0] if match else path, []).extend(messages)
    else:
        out = {key: cond["value"] for (key, _cond), cond in zip(given, clean["conditions"], strict=True)}
    if out.get("registered_from") and out.get("registered_to") and out["registered_from"] > out["registered_to"]:
        errors["registered_to"] = [gettext("The range ends before it starts.")]
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def definition_clients(*, brand: Brand, definition: Mapping[str, Any], user: User | None = None,
                       segment: Segment | None = None, tz: Any = None) -> QuerySet[Client]:
    """Clients of `brand` matching `definition` (or added to `segment`), within `user`'s scope."""
    base = client_queryset_for_user(user) if user is not None else Client.objects.all()
    base = base.filter(brand=brand).exclude(tags__contains=["merged"])
    conditions = [c for _key, c in _conditions(definition, to_inclusive=True)]
    if not conditions:
        return base  # no filter: the whole brand (members are in it already)
    compiled = engine.definition_compile({"match": "all", "conditions": conditions}, brand_id=brand.pk,
                                         now=timezone.now(), tz=tz or timezone.get_current_timezone())
    condition = Q(pk__in=RawSQL(compiled.text(), compiled.params))  # noqa: S611 - the engine's composed statement, its values bound
    if segment is not None and segment.pk:
        condition |= Q(pk__in=SegmentMember.objects.filter(segment=segment).values("client_id"))
    return base.filter(condition)


def segment_clients(*, segment: Segment, user: User | None = None) -> QuerySet[Client]:
    return definition_clients(brand=segment.brand, definition=segment.definition, user=user, segment=segment)


def segments_for(*, user: User) -> QuerySet[Segment]:
    qs = Segment.objects.select_related("brand")
    if getattr(user, "is_administrator", False) or getattr(user, "all_brands", False):
        return qs
    return qs.filter(brand__in=user.brands.all())


@transaction.atomic
def segment_save(*, actor: User | None, brand: Brand, name: str, definition: Mapping[str, Any],
                 segment: Segment | None = None) -> Segment:
    """Create or change a segment; the definition is validated (ValidationFailed names the filter)."""
    _require_manager(actor)
    name = " ".join((name or "").split())
    errors: dict[str, list[str]] = {}
    if not name or len(name) > 120:
        errors["name"] = [gettext("Give a name of up to 120 characters.")]
    try:
        clean = definition_clean(definition, brand=brand)
    except ValidationFailed as exc:
        errors.update(exc.fields)
        clean = {}
    if errors:
        raise ValidationFailed(fields=errors)
    before = None if segment is None else {"name": segment.name, "definition": segment.definition}
    if segment is None:
        segment = Segment(brand=brand, created_by=actor)
    segment.name, segment.definition = name, clean
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:
        raise ValidationFailed(fields={"name": [gettext("This brand already has a segment with this name.")]}) from None
    audit_record(action="segment.saved", obj=segment, before=before, after={"name": name, "definition": clean},
                 actor=actor)
    return segment


@transaction.atomic
def segment_member_add(*, segment: Segment, client: Client, rule_name: str = "") -> bool:
    """Add `client` to `segment` explicitly. False if it was a member already."""
    if client.brand_id != segment.brand_id:
        raise ValidationFailed(fields={"segment": [gettext("The segment belongs to another brand.")]})
    _member, created = SegmentMember.objects.get_or_create(segment=segment, client=client,
                                                          defaults={"added_by_rule": rule_name[:120]})
    return created


# --- export ------------------------------------------------------------------------------------


EXPORT_JOB_KIND = "leads.segment_export"


@transaction.atomic
def segment_export_request(*, actor: User, segment: Segment) -> Job:
    """Queue a CSV export of the segment as `actor` sees it (a background job, crm.jobs). Contact
    details are not exported: they are revealed one by one, and each reveal is logged."""
    _require_manager(actor)
    job = job_start(kind=EXPORT_JOB_KIND, actor=actor, brand=segment.brand,
                    title=gettext("Export of “%(name)s”") % {"name": segment.name},
                    func="leads.jobs.segment_export", kwargs={"segment_id": segment.pk, "segment": str(segment.code)},
                    link=reverse("lead_segment_edit", args=[segment.code]))
    audit_record(action="segment.export_requested", obj=segment, after={"job": str(job.code)}, actor=actor)
    return job


def segment_exports_for(*, user: User, segment: Segment) -> QuerySet[Job]:
    """`user`'s exports of `segment`, newest first."""
    return jobs_for(user=user).filter(kind=EXPORT_JOB_KIND, kwargs__segment=str(segment.code))


def segment_export_run(*, handle: JobHandle, segment_id: int) -> int:
    """Write the CSV to the job's result file, row by row from a server-side cursor (never the
    whole export in memory). Runs as the requester: their scope decides the rows. Returns the
    number of rows; the export is recorded as an access event with that count."""
    segment = Segment.objects.select_related("brand").get(pk=segment_id)
    actor = handle.job.started_by
    clients = (segment_clients(segment=segment, user=actor).select_related("owner").order_by("created_at", "id"))
    handle.progress(0, clients.count(), force=True)
    rows = 0
    slug = slugify(segment.name)[:60] or "segment"
    with handle.csv_result(f"segment-{slug}-{timezone.now():%Y%m%d-%H%M}.csv") as writer:
        writer.writerow(EXPORT_COLUMNS)
        for c in clients.iterator(chunk_size=2000):
            writer.writerow((c.code, c.first_name, c.last_name, c.stage, c.country, c.language,
                             c.owner.full_name if c.owner else "", c.created_at.isoformat(), " ".join(c.tags or [])))
            rows += 1
            if rows % 500 == 0:
                handle.progress(rows, max(rows, handle.job.total or 0))
    handle.set_result_rows(rows)
    handle.progress(rows, rows, force=True, rows=rows)
    access_export_record(actor=actor, what=f"segment export: {segment.name}", rows=rows)
    return rows


# --- automation: add_to_segment ------------------------------------------------------------------


def _segment_choices(brand: Brand) -> list[tuple[str, str]]:
    return [(str(s.code), s.name) for s in Segment.objects.filter(brand=brand, is_active=True).order_by("name")]


def _add_validate(spec: Mapping[str, Any], brand: Brand) -> dict[str, str]:
    value = str(spec.get("segment") or "")
    try:
        uuid.UUID(value)
    except ValueError:
        return {"segment": gettext("Choose a segment.")}
    if not Segment.objects.filter(brand=brand, code=value).exists():
        return {"segment": gettext("Choose a segment of this brand.")}
    return {}


def _add_run(ctx: Any, spec: Mapping[str, Any]) -> Any:
    from automation.actions import ActionFailed, ActionResult

    segment = Segment.objects.filter(code=str(spec.get("segment") or ""), brand_id=ctx.client.brand_id).first()
    if segment is None:
        raise ActionFailed(gettext("The segment no longer exists."))
    if segment_member_add(segment=segment, client=ctx.client, rule_name=ctx.rule.name):
        return ActionResult.done(gettext("Added to segment “%(name)s”.") % {"name": segment.name})
    return ActionResult.skipped(gettext("Already in segment “%(name)s”.") % {"name": segment.name})


def _describe(spec: Mapping[str, Any]) -> str:
    value = str(spec.get("segment") or "")
    try:
        segment = Segment.objects.filter(code=uuid.UUID(value)).only("name").first()
    except ValueError:
        segment = None
    return gettext("Add to segment “%(name)s”") % {"name": segment.name if segment else value}


def register_automation_action() -> None:
    from automation.actions import ActionParam, provide_action

    provide_action("add_to_segment", run=_add_run, validate=_add_validate, label=_("Add to a segment"),
                   params=(ActionParam("segment", _("Segment"), kind="choice"),),
                   choices={"segment": _segment_choices}, describe=_describe)

