"""Segments: dynamic groups of a brand's clients, their live count, CSV export (a background job), and the
automation action "add_to_segment".

A definition is a dict of optional filters, all of which must hold (empty lists match anything):

    {"stages": ["lead", "registered"], "countries": ["GB"], "languages": ["en"],
     "registered_from": "2025-01-01", "registered_to": "2025-03-31", "tags": ["vip"],
     "pipeline_statuses": ["interested"]}

Deposit totals, trading volume and last login/trade are not offered: the wallet and the trading
activity they would read are not in the CRM yet. Members added explicitly belong regardless.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.text import slugify
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.audit import audit_record
from crm.exceptions import NotAllowed, ValidationFailed
from crm.jobs import JobHandle, job_start, jobs_for
from crm.lib.validation import InvalidValue, country_normalise, language_normalise
from crm.models import Brand, Client, Job, Stage, User
from crm.permissions import client_queryset_for_user, user_can
from crm.services import access_export_record
from leads.models import PipelineStatus, Segment, SegmentMember

LIST_KEYS = ("stages", "countries", "languages", "tags", "pipeline_statuses")
DATE_KEYS = ("registered_from", "registered_to")
LIST_MAX = 100
EXPORT_COLUMNS = ("code", "first_name", "last_name", "stage", "country", "language", "owner", "created_at", "tags")


def _require_manager(actor: User | None) -> None:
    if actor is not None and not user_can(actor, "crm.assign_client"):
        raise NotAllowed(gettext("Only administrators and desk managers manage segments."))


def definition_clean(data: Mapping[str, Any], *, brand: Brand) -> dict[str, Any]:
    """A validated, normalised definition; ValidationFailed names each bad key."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    unknown = set(data) - set(LIST_KEYS) - set(DATE_KEYS)
    for key in sorted(unknown):
        errors[key] = [gettext("Unknown filter.")]
    for key in LIST_KEYS:
        values = _list_clean(data.get(key) or [], key=key, brand=brand, errors=errors)
        if values:
            out[key] = values
    for key in DATE_KEYS:
        raw = data.get(key)
        if raw in (None, ""):
            continue
        parsed = raw if isinstance(raw, date) else parse_date(str(raw)) if isinstance(raw, str) else None
        if parsed is None:
            errors[key] = [gettext("Give a date as YYYY-MM-DD.")]
        else:
            out[key] = parsed.isoformat()
    if out.get("registered_from") and out.get("registered_to") and out["registered_from"] > out["registered_to"]:
        errors["registered_to"] = [gettext("The range ends before it starts.")]
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def _list_clean(raw: Any, *, key: str, brand: Brand, errors: dict[str, list[str]]) -> list[str]:
    """The values of the list filter `key` (a list, or text separated by commas or spaces),
    normalised and without repeats; what is wrong goes in `errors`."""
    if isinstance(raw, str):
        raw = [v for v in raw.replace(",", " ").split() if v]
    if not isinstance(raw, list | tuple) or len(raw) > LIST_MAX:
        errors[key] = [gettext("Give a list of at most %(n)d values.") % {"n": LIST_MAX}]
        return []
    values: list[str] = []
    for item in raw:
        try:
            text = _list_value(key, str(item).strip())
        except InvalidValue as exc:
            errors.setdefault(key, []).append(exc.message)
            continue
        if text and text not in values:
            values.append(text)
    if key == "pipeline_statuses" and values:
        known = set(PipelineStatus.objects.filter(brand=brand, key__in=values).values_list("key", flat=True))
        missing = [v for v in values if v not in known]
        if missing:
            errors[key] = [gettext("Unknown status: %(v)s.") % {"v": ", ".join(missing)}]
    return values


def _list_value(key: str, text: str) -> str:
    """One value of the list filter `key`, normalised; InvalidValue when it names nothing known."""
    if key == "countries":
        return country_normalise(text, field=key)
    if key == "languages":
        return language_normalise(text, field=key)
    if key == "stages" and text not in Stage.values:
        raise InvalidValue(key, gettext("Unknown stage “%(v)s”.") % {"v": text})
    if key == "tags":
        return " ".join(text.split()).lower()[:50]
    return text


def _filter(definition: Mapping[str, Any], tz: Any) -> Q:
    q = Q()
    if definition.get("stages"):
        q &= Q(stage__in=definition["stages"])
    if definition.get("countries"):
        q &= Q(country__in=definition["countries"])
    if definition.get("languages"):
        q &= Q(language__in=definition["languages"])
    if definition.get("tags"):
        q &= Q(tags__overlap=definition["tags"])
    if definition.get("registered_from"):
        q &= Q(created_at__gte=timezone.make_aware(datetime.combine(date.fromisoformat(definition["registered_from"]),
                                                                    time.min), tz))
    if definition.get("registered_to"):
        end = date.fromisoformat(definition["registered_to"]) + timedelta(days=1)
        q &= Q(created_at__lt=timezone.make_aware(datetime.combine(end, time.min), tz))
    if definition.get("pipeline_statuses"):
        first = (PipelineStatus.objects.filter(brand_id__isnull=False, is_active=True).order_by("order", "id"))
        q_status = Q(pipeline__status__key__in=definition["pipeline_statuses"])
        # Clients never moved are at their brand's first status.
        first_keys = {s.brand_id: s.key for s in reversed(list(first))}
        never = [brand_id for brand_id, key in first_keys.items() if key in definition["pipeline_statuses"]]
        if never:
            q_status |= Q(pipeline__isnull=True, brand_id__in=never)
        q &= q_status
    return q


def definition_clients(*, brand: Brand, definition: Mapping[str, Any], user: User | None = None,
                       segment: Segment | None = None, tz: Any = None) -> QuerySet[Client]:
    """Clients of `brand` matching `definition` (or added to `segment`), within `user`'s scope."""
    tz = tz or timezone.get_current_timezone()
    base = client_queryset_for_user(user) if user is not None else Client.objects.all()
    condition = _filter(definition, tz)
    base = base.filter(brand=brand).exclude(tags__contains=["merged"])
    if not condition:
        return base  # no filter: the whole brand (members are in it already)
    if segment is not None and segment.pk:
        condition |= Q(pk__in=SegmentMember.objects.filter(segment=segment).values("client_id"))
    return base.filter(condition).distinct()


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

