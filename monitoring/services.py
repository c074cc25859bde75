"""Writes of agent monitoring: raising alerts (for every detector: agent behaviour here, traders and
partners in monitoring.traders) and the context managers record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import ValidationFailed
from crm.lib.enqueue import task_send_on_commit
from crm.lib.payloads import user_ref
from crm.models import Brand, Client, Desk, User
from monitoring.models import (
    AlertStatus,
    CampaignDay,
    Cover,
    Holiday,
    Leave,
    MonitoringAlert,
    MonitoringSettings,
    Notice,
    RouteTo,
    Shift,
    SubjectKind,
)

DETECTOR_MAX = 64


def monitoring_settings_for(brand: Brand | int) -> MonitoringSettings:
    """The brand's monitoring settings (unsaved defaults when none were set: desk managers review)."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    found = MonitoringSettings.objects.select_related("reporting_officer").filter(brand_id=brand_id).first()
    return found if found is not None else MonitoringSettings(brand_id=brand_id)


def alert_route(*, brand: Brand | int, agent: User | None = None, client: Client | None = None) -> User | None:
    """Who reviews an alert: the brand's reporting officer when the brand routes there (or when the
    subject has no desk manager: a partner, a client or agent without a desk), else the desk manager
    of the agent's desk (a client's desk for a client alert). Never the agent the alert is about."""
    settings = monitoring_settings_for(brand)
    officer = settings.reporting_officer if settings.reporting_officer_id else None
    manager: User | None = None
    if settings.route_to == RouteTo.DESK_MANAGER:
        desk = None
        if agent is not None and agent.desk_id:
            desk = agent.desk
        elif client is not None and client.desk_id:
            desk = client.desk
        if desk is not None and desk.manager_id and desk.manager_id != getattr(agent, "pk", None):
            manager = desk.manager
    chosen = manager or officer
    if chosen is not None and agent is not None and chosen.pk == agent.pk:
        return None  # an officer or manager never reviews themselves: administrators see unrouted alerts
    return chosen


def _clean_alert_input(*, subject_kind: str, detector: str, score: float, reasons: Sequence[str],
                       evidence: Sequence[dict[str, str]], agent: User | None, client: Client | None,
                       partner_id: int | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    subjects: dict[str, object] = {SubjectKind.AGENT: agent, SubjectKind.CLIENT: client, SubjectKind.PARTNER: partner_id}
    if subject_kind not in subjects:
        errors["subject_kind"] = [gettext("Choose agent, client or partner.")]
    else:
        if subjects[subject_kind] is None:
            errors[subject_kind] = [gettext("An alert about a %(kind)s names the %(kind)s.") % {"kind": subject_kind}]
        extra = [k for k, v in subjects.items() if k != subject_kind and v is not None]
        if extra:
            errors["subject_kind"] = [gettext("An alert has one subject; also given: %(extra)s.")
                                      % {"extra": ", ".join(extra)}]
    if not detector or len(detector) > DETECTOR_MAX:
        errors["detector"] = [gettext("Name the detector (at most %(n)s characters).") % {"n": DETECTOR_MAX}]
    if not isinstance(score, int | float) or score != score:  # NaN
        errors["score"] = [gettext("The score must be a number.")]
    if not reasons or not all(isinstance(r, str) and r.strip() for r in reasons):
        errors["reasons"] = [gettext("An alert says in words why it fired: give at least one reason.")]
    if not all(isinstance(e, dict) and e.get("label") and e.get("url") for e in evidence):
        errors["evidence"] = [gettext("Each piece of evidence has a label and a url.")]
    return errors


@transaction.atomic
def raise_alert(*, brand: Brand | int, subject_kind: str, detector: str, day: date, score: float,
                reasons: Sequence[str], evidence: Sequence[dict[str, str]], agent: User | None = None,
                client: Client | None = None, partner_id: int | None = None) -> MonitoringAlert | None:
    """Raise an alert about one subject (an agent, a client or a partner) for `day`.

    Idempotent per (subject, detector, day): raising it again returns the alert already there,
    unchanged. Returns None, raising nothing, while an earlier alert of the same subject and detector
    was decided benign with `quiet_until` on or after `day`. The new alert is routed (alert_route)
    and event "monitoring.alert_raised" is emitted for the notifications to hang on.
    """
    errors = _clean_alert_input(subject_kind=subject_kind, detector=detector, score=score, reasons=reasons,
                                evidence=evidence, agent=agent, client=client, partner_id=partner_id)
    if errors:
        raise ValidationFailed(fields=errors)
    brand_id = brand if isinstance(brand, int) else brand.pk
    subject: dict[str, Any] = {"subject_kind": subject_kind}
    if subject_kind == SubjectKind.AGENT:
        subject["agent"] = agent
    elif subject_kind == SubjectKind.CLIENT:
        subject["client"] = client
    else:
        subject["partner_id"] = partner_id
    existing = MonitoringAlert.objects.filter(**subject, detector=detector, day=day).first()
    if existing is not None:
        return existing
    if MonitoringAlert.objects.filter(**subject, detector=detector, status=AlertStatus.BENIGN,
                                      quiet_until__gte=day).exists():
        return None
    routed_to = alert_route(brand=brand_id, agent=agent, client=client)
    try:
        with transaction.atomic():
            alert = MonitoringAlert.objects.create(
                brand_id=brand_id, **subject, detector=detector, day=day, score=float(score),
                reasons=[r.strip() for r in reasons], evidence=[{"label": str(e["label"]), "url": str(e["url"])}
                                                                for e in evidence],
                routed_to=routed_to,
            )
    except IntegrityError:
        # Raised at the same moment by another worker: theirs stands.
        return MonitoringAlert.objects.get(**subject, detector=detector, day=day)
    partner_code = str(alert.partner.code) if alert.partner_id is not None and alert.partner else None
    emit("monitoring.alert_raised", brand=brand_id, data={
        "alert": str(alert.code), "subject_kind": subject_kind, "agent": user_ref(agent),
        "client": str(client.code) if client is not None else None, "partner": partner_code,
        "detector": detector, "day": day.isoformat(), "score": round(float(score), 3),
        "routed_to": user_ref(routed_to),
    })
    return alert


# --- the context managers record ---------------------------------------------------------------------

CONTEXT_MAX_DAYS = 366


def _managed_agent(actor: User, agent: User | None, field: str, errors: dict[str, list[str]]) -> None:
    from monitoring.permissions import agents_managed_by

    if agent is None:
        errors[field] = [gettext("Choose an agent.")]
    elif not agents_managed_by(actor).filter(pk=agent.pk).exists():
        errors[field] = [gettext("Choose an agent of a desk you manage.")]


def _period(starts_on: date | None, ends_on: date | None, errors: dict[str, list[str]], *,
            start_field: str = "starts_on", end_field: str = "ends_on") -> None:
    if starts_on is None:
        errors[start_field] = [gettext("Enter the first day.")]
    if ends_on is None:
        errors[end_field] = [gettext("Enter the last day.")]
    if starts_on is not None and ends_on is not None:
        if ends_on < starts_on:
            errors[end_field] = [gettext("The last day is before the first day.")]
        elif (ends_on - starts_on).days > CONTEXT_MAX_DAYS:
            errors[end_field] = [gettext("A period is at most a year long.")]


def _agent_brand_id(agent: User) -> int:
    desk = agent.desk
    return desk.brand_id if desk is not None else 0


@transaction.atomic
def cover_set(*, actor: User, agent: User | None, covered: User | None, starts_on: date | None,
              ends_on: date | None, note: str = "") -> Cover:
    """Record that `agent` covers `covered`'s book from `starts_on` to `ends_on`: their access to
    that book in the period is not out-of-book. Both agents of a desk `actor` manages."""
    errors: dict[str, list[str]] = {}
    _managed_agent(actor, agent, "agent", errors)
    _managed_agent(actor, covered, "covered", errors)
    if agent is not None and covered is not None and agent.pk == covered.pk:
        errors["covered"] = [gettext("An agent cannot cover their own book.")]
    _period(starts_on, ends_on, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    assert agent is not None and covered is not None and starts_on and ends_on  # noqa: S101 - checked above
    cover = Cover.objects.create(brand_id=_agent_brand_id(agent), agent=agent, covered=covered, starts_on=starts_on,
                                 ends_on=ends_on, note=note.strip()[:200], set_by=actor)
    audit_record(action="monitoring.cover_set", obj=cover, actor=actor, brand=cover.brand_id, after={
        "agent": str(agent.code), "covered": str(covered.code), "from": str(starts_on), "to": str(ends_on)})
    return cover


@transaction.atomic
def leave_set(*, actor: User, agent: User | None, starts_on: date | None, ends_on: date | None,
              note: str = "") -> Leave:
    """Record the agent's leave (a day type of its own for the scoring)."""
    errors: dict[str, list[str]] = {}
    _managed_agent(actor, agent, "agent", errors)
    _period(starts_on, ends_on, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    assert agent is not None and starts_on and ends_on  # noqa: S101 - checked above
    leave = Leave.objects.create(brand_id=_agent_brand_id(agent), agent=agent, starts_on=starts_on, ends_on=ends_on,
                                 note=note.strip()[:200], set_by=actor)
    audit_record(action="monitoring.leave_set", obj=leave, actor=actor, brand=leave.brand_id, after={
        "agent": str(agent.code), "from": str(starts_on), "to": str(ends_on)})
    return leave


@transaction.atomic
def notice_enter(*, actor: User, agent: User | None, given_on: date | None, last_day: date | None,
                 note: str = "") -> Notice:
    """Record a resignation notice and the last day. The agent is watched at the lower threshold
    from then on, and their last 30 days are rescored (a Celery task, after commit)."""
    errors: dict[str, list[str]] = {}
    _managed_agent(actor, agent, "agent", errors)
    _period(given_on, last_day, errors, start_field="given_on", end_field="last_day")
    if agent is not None and not errors and Notice.objects.filter(agent=agent, withdrawn_at__isnull=True).exists():
        errors["agent"] = [gettext("This agent already has a notice; withdraw it first.")]
    if errors:
        raise ValidationFailed(fields=errors)
    assert agent is not None and given_on and last_day  # noqa: S101 - checked above
    notice = Notice.objects.create(brand_id=_agent_brand_id(agent), agent=agent, given_on=given_on,
                                   last_day=last_day, note=note.strip()[:200], set_by=actor)
    audit_record(action="monitoring.notice_enter", obj=notice, actor=actor, brand=notice.brand_id, after={
        "agent": str(agent.code), "given_on": str(given_on), "last_day": str(last_day)})
    agent_id = agent.pk

    task_send_on_commit("monitoring.tasks.notice_rescore", agent_id, robust=True)
    return notice


@transaction.atomic
def notice_withdraw(*, actor: User, notice: Notice) -> Notice:
    errors: dict[str, list[str]] = {}
    _managed_agent(actor, notice.agent, "agent", errors)
    if errors:
        raise ValidationFailed(fields=errors)
    if notice.withdrawn_at is None:
        notice.withdrawn_at = timezone.now()
        notice.save(update_fields=["withdrawn_at"])
        audit_record(action="monitoring.notice_withdraw", obj=notice, actor=actor, brand=notice.brand_id)
    return notice


@transaction.atomic
def shift_set(*, actor: User, agent: User | None, start_hour: int | None, end_hour: int | None,
              starts_on: date | None) -> Shift:
    """The agent's working hours (UTC) from `starts_on` (replacing a shift set for the same day)."""
    errors: dict[str, list[str]] = {}
    _managed_agent(actor, agent, "agent", errors)
    if start_hour is None or not 0 <= start_hour <= 23:
        errors["start_hour"] = [gettext("Enter a start hour from 0 to 23.")]
    if end_hour is None or not 1 <= end_hour <= 24:
        errors["end_hour"] = [gettext("Enter an end hour from 1 to 24.")]
    elif start_hour is not None and start_hour == end_hour % 24:
        errors["end_hour"] = [gettext("The shift ends when it starts: enter a different end hour.")]
    if starts_on is None:
        errors["starts_on"] = [gettext("Enter the day the shift starts.")]
    if errors:
        raise ValidationFailed(fields=errors)
    assert agent is not None and starts_on and start_hour is not None and end_hour is not None  # noqa: S101
    shift, _ = Shift.objects.update_or_create(agent=agent, starts_on=starts_on, defaults={
        "brand_id": _agent_brand_id(agent), "start_hour": start_hour, "end_hour": end_hour, "set_by": actor})
    audit_record(action="monitoring.shift_set", obj=shift, actor=actor, brand=shift.brand_id, after={
        "agent": str(agent.code), "start_hour": start_hour, "end_hour": end_hour, "from": str(starts_on)})
    return shift


@transaction.atomic
def campaign_day_set(*, actor: User, desk: Desk | None, day: date | None, note: str = "") -> CampaignDay:
    """A campaign day of a desk `actor` manages (more activity expected)."""
    from monitoring.permissions import desks_managed_by

    errors: dict[str, list[str]] = {}
    if desk is None or not desks_managed_by(actor).filter(pk=desk.pk).exists():
        errors["desk"] = [gettext("Choose a desk you manage.")]
    if day is None:
        errors["day"] = [gettext("Enter the day.")]
    elif desk is not None and CampaignDay.objects.filter(desk=desk, day=day).exists():
        errors["day"] = [gettext("This day is already a campaign day of the desk.")]
    if errors:
        raise ValidationFailed(fields=errors)
    assert desk is not None and day is not None  # noqa: S101 - checked above
    row = CampaignDay.objects.create(brand_id=desk.brand_id, desk=desk, day=day, note=note.strip()[:200],
                                     set_by=actor)
    audit_record(action="monitoring.campaign_day_set", obj=row, actor=actor, brand=desk.brand_id,
                 after={"desk": str(desk.code), "day": str(day)})
    return row


@transaction.atomic
def holiday_set(*, actor: User, brand: Brand | None, day: date | None, name: str, country: str = "") -> Holiday:
    """A public holiday of a brand `actor` manages a desk of (of one country, or of the whole brand)."""
    from monitoring.permissions import desks_managed_by

    errors: dict[str, list[str]] = {}
    if brand is None or not desks_managed_by(actor).filter(brand=brand).exists():
        errors["brand"] = [gettext("Choose a brand you manage a desk of.")]
    country = (country or "").strip().upper()
    if country and not (len(country) == 2 and country.isalpha()):
        errors["country"] = [gettext("Enter a two-letter country code, or leave it empty for the whole brand.")]
    name = (name or "").strip()
    if not name:
        errors["name"] = [gettext("Name the holiday.")]
    if day is None:
        errors["day"] = [gettext("Enter the day.")]
    elif brand is not None and Holiday.objects.filter(brand=brand, country=country, day=day).exists():
        errors["day"] = [gettext("This holiday is already recorded.")]
    if errors:
        raise ValidationFailed(fields=errors)
    assert brand is not None and day is not None  # noqa: S101 - checked above
    row = Holiday.objects.create(brand=brand, country=country, day=day, name=name[:120], set_by=actor)
    audit_record(action="monitoring.holiday_set", obj=row, actor=actor, brand=brand.pk,
                 after={"day": str(day), "country": country, "name": row.name})
    return row


SETTINGS_PERMISSION = "monitoring.change_monitoringsettings"


@transaction.atomic
def monitoring_four_eyes_save(*, brand: Brand, kinds: Sequence[str], actor: User) -> MonitoringSettings:
    """Set whose restriction from monitoring needs two reviewers in `brand` (subject kinds: agent, client,
    partner; none: one reviewer restricts at once), by a monitoring administrator (SETTINGS_PERMISSION,
    checked by the caller). An unknown kind is refused naming the field. Audited
    "monitoring.restriction_four_eyes_saved" with before and after; the brand's other settings are kept."""
    chosen = list(dict.fromkeys(str(k) for k in kinds))
    unknown = [k for k in chosen if k not in SubjectKind.values]
    if unknown:
        raise ValidationFailed(fields={"kinds": gettext("Choose among: %(kinds)s.")
                                       % {"kinds": ", ".join(SubjectKind.values)}})
    chosen = [k for k in SubjectKind.values if k in chosen]  # the choices' order, whatever was sent
    settings = MonitoringSettings.objects.select_for_update().filter(brand=brand).first()
    before = list(settings.restriction_four_eyes or []) if settings is not None else None
    settings = settings or MonitoringSettings(brand=brand)
    settings.restriction_four_eyes, settings.updated_by = chosen, actor
    settings.save()
    audit_record(action="monitoring.restriction_four_eyes_saved", obj=settings, actor=actor, brand=brand,
                 before={"restriction_four_eyes": before} if before is not None else None,
                 after={"restriction_four_eyes": chosen})
    return settings
