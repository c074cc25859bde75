"""Writes of agent monitoring: raising alerts (for every detector: agent behaviour here, traders and
partners in monitoring.traders) and the context managers record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from crm.events import emit
from crm.exceptions import ValidationFailed
from crm.lib.payloads import user_ref
from crm.models import Brand, Client, User
from monitoring.models import AlertStatus, MonitoringAlert, MonitoringSettings, RouteTo, SubjectKind

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
    subjects = {SubjectKind.AGENT: agent, SubjectKind.CLIENT: client, SubjectKind.PARTNER: partner_id}
    if subject_kind not in subjects:
        errors["subject_kind"] = [gettext("Choose agent, client or partner.")]
    else:
        if subjects[subject_kind] is None:  # type: ignore[index]
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
