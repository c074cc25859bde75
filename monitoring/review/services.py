"""Decisions on a monitoring alert, each audited, each by someone who may review it
(monitoring.review.permissions):

- benign, with a reason: the same pattern (subject and detector) stays quiet for N days, since
  raise_alert raises nothing while a benign alert's `quiet_until` covers the day;
- coaching, with a note: a task for the agent's desk manager to coach them;
- escalate to compliance, with a reason: event "monitoring.alert_escalated", on which compliance opens
  a task for an officer (or adds a client's alert to the client's case): the apps are siblings and
  the event is the bridge;
- restrict, with a reason: the agent, by the core's staff restriction (no reveals, no exports,
  read-only from their next request until it is lifted on the core's restriction page). A client or a
  partner is restricted by compliance (a sibling app: escalate the alert). Four eyes (RESTRICTION_APPROVAL, crm.lib.approvals): for the subject kinds the brand's settings list
  (MonitoringSettings.restriction_four_eyes; every kind when the brand has none) the first reviewer only
  proposes the restriction, the alert stays open with the proposal on it, and a second, different
  reviewer approves it (it takes effect, the alert is decided by them) or sends it back with a reason
  (the proposal is cleared, the alert open again for any decision). While a restriction waits, the
  alert takes no other decision.

Every look at an alert and its evidence is audited by monitoring's own pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import Conflict, NotAllowed, ValidationFailed
from crm.lib.approvals import FourEyes
from crm.lib.payloads import user_ref
from crm.lib.validation import InvalidValue, text_clean
from crm.models import Desk, User
from crm.permissions import desks_run_by, staff_restriction_refusal, user_can
from crm.services import staff_restrict, task_create
from monitoring.exceptions import RestrictionFourEyesRefused
from monitoring.models import ALERT_STATES, AgentDayScore, AlertStatus, MonitoringAlert, SubjectKind
from monitoring.review.budget import BUDGET_MAX, BUDGET_MIN, threshold_for_budget
from monitoring.review.models import DeskAlertBudget
from monitoring.review.permissions import alert_queryset_for_reviewer
from monitoring.services import monitoring_settings_for

DECISIONS = (AlertStatus.BENIGN, AlertStatus.COACHING, AlertStatus.ESCALATED, AlertStatus.RESTRICTED)
REASON_MAX = 2000
QUIET_DAYS_MAX = 365


def _reason(value: str, *, field: str = "reason") -> str:
    try:
        return text_clean(value, field=field, max_length=REASON_MAX, required=True)
    except InvalidValue as exc:
        raise ValidationFailed(fields={exc.field: [exc.message]}) from None


def _locked_for(actor: User, alert: MonitoringAlert, to: str, *, restriction_step: bool = False) -> MonitoringAlert:
    """The alert, locked, if `actor` may decide it and it may become `to` (ALERT_STATES: decided once).
    While a restriction waits for its second reviewer only that proposal's steps are taken."""
    locked = (alert_queryset_for_reviewer(actor).select_for_update(of=("self",))
              .select_related("agent", "agent__desk", "client").filter(pk=alert.pk).first())
    if locked is None:
        raise NotAllowed(gettext("You may not decide this alert."))
    ALERT_STATES.check(locked, to)
    if not restriction_step and RESTRICTION_APPROVAL.pending(locked) is not None:
        raise Conflict(gettext("A restriction of this alert's subject waits for a second reviewer: approve it or "
                               "send it back first."), code="restriction_pending")
    return locked


def _decided(alert: MonitoringAlert, *, actor: User, status: str, reason: str, quiet_until: date | None = None,
             **audit_after: object) -> MonitoringAlert:
    before = {"status": alert.status}
    ALERT_STATES.move(alert, status, save=(), also={"decided_by": actor, "decided_at": timezone.now(),
                                                    "decision_reason": reason, "quiet_until": quiet_until})
    audit_record(action="monitoring.alert_decided", obj=alert, actor=actor, reason=reason, before=before,
                 after={"status": status, "quiet_until": quiet_until.isoformat() if quiet_until else None,
                        **audit_after})
    emit("monitoring.alert_decided", brand=alert.brand_id, actor=actor, data={
        "alert": str(alert.code), "decision": status, "by": user_ref(actor),
        "quiet_until": quiet_until.isoformat() if quiet_until else None})
    return alert


@transaction.atomic
def alert_decide_benign(*, actor: User, alert: MonitoringAlert, reason: str,
                        quiet_days: int | None = None) -> MonitoringAlert:
    """Benign, with a reason: the same pattern of the same subject is not raised again for
    `quiet_days` days from today (the brand's setting when None)."""
    reason = _reason(reason)
    days = monitoring_settings_for(alert.brand_id).quiet_days if quiet_days is None else quiet_days
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= QUIET_DAYS_MAX:
        raise ValidationFailed(fields={"quiet_days": [gettext("Give a whole number of days from 0 to %(max)s.")
                                                      % {"max": QUIET_DAYS_MAX}]})
    locked = _locked_for(actor, alert, AlertStatus.BENIGN)
    quiet_until = max(timezone.localdate(), locked.day) + timedelta(days=days)
    return _decided(locked, actor=actor, status=AlertStatus.BENIGN, reason=reason, quiet_until=quiet_until,
                    quiet_days=days)


def _coach(alert: MonitoringAlert, actor: User) -> User:
    """Who coaches: the agent's desk manager, else the reviewer."""
    desk = alert.agent.desk if alert.agent is not None else None
    manager = desk.manager if desk is not None and desk.manager_id else None
    if manager is None or not manager.is_active or manager.pk == alert.agent_id:
        return actor
    return manager


@transaction.atomic
def alert_decide_coaching(*, actor: User, alert: MonitoringAlert, note: str) -> MonitoringAlert:
    """Coaching, with a note: a task for the agent's desk manager (the reviewer when the desk has
    none) to coach the agent, holding the note and the alert's reasons. Agent alerts only."""
    note = _reason(note, field="note")
    locked = _locked_for(actor, alert, AlertStatus.COACHING)
    if locked.subject_kind != SubjectKind.AGENT or locked.agent is None:
        raise ValidationFailed(fields={"decision": [gettext("Coaching is for an alert about an agent.")]})
    coach = _coach(locked, actor)
    link = reverse("monitoring_alert", args=[locked.code])
    task = task_create(
        actor=None, assignee=coach,
        title=gettext("Coach %(agent)s (monitoring alert of %(day)s)") % {"agent": locked.agent, "day": locked.day},
        description="\n".join([note, "", *locked.reasons, "", link]),
        due_at=timezone.now() + timedelta(days=7))
    return _decided(locked, actor=actor, status=AlertStatus.COACHING, reason=note, task=str(task.code),
                    coach=str(coach.code))


@transaction.atomic
def alert_escalate(*, actor: User, alert: MonitoringAlert, reason: str) -> MonitoringAlert:
    """Escalate to compliance, with a reason: event "monitoring.alert_escalated", after which
    compliance's handler opens the officers' task (or case item)."""
    reason = _reason(reason)
    locked = _locked_for(actor, alert, AlertStatus.ESCALATED)
    settings = monitoring_settings_for(locked.brand_id)
    officer = settings.reporting_officer if settings.reporting_officer_id else None
    _decided(locked, actor=actor, status=AlertStatus.ESCALATED, reason=reason)
    emit("monitoring.alert_escalated", brand=locked.brand_id, actor=actor, data={
        "alert": str(locked.code), "subject_kind": locked.subject_kind, "agent": user_ref(locked.agent),
        "client": str(locked.client.code) if locked.client is not None else None,
        "detector": locked.detector, "day": locked.day.isoformat(), "score": round(float(locked.score), 3),
        "reasons": list(locked.reasons), "reason": reason, "by": user_ref(actor),
        "officer": user_ref(officer) if officer is not None and officer.pk != locked.agent_id else None,
    })
    return locked


# --- restrictions, with four eyes ----------------------------------------------------------------------
# Monitoring restricts an agent (the core's staff restriction). A client's or a partner's restriction is
# compliance's (a sibling app, reached by escalating the alert), so those kinds are refused here.
RESTRICTABLE = (SubjectKind.AGENT,)


def _restriction_needs_two(alert: MonitoringAlert, values: Mapping[str, Any]) -> bool:
    """The threshold as data: the brand's settings list the subject kinds whose restriction takes two
    reviewers (every kind for a brand without settings)."""
    kinds = monitoring_settings_for(alert.brand_id).restriction_four_eyes or []
    return alert.subject_kind in kinds


RESTRICTION_APPROVAL = FourEyes(
    name="monitoring restriction", proposer_field="restriction_proposed_by",
    value_fields=("restriction_proposed_at", "restriction_reason"), error=RestrictionFourEyesRefused,
    audit=audit_record, same_person_code=RestrictionFourEyesRefused.default_code,
    # The approval is audited by "monitoring.alert_decided" (the approver its actor, the proposer named in it),
    # written with the restriction it imposes.
    actions={"proposed": "monitoring.restriction_proposed", "sent_back": "monitoring.restriction_sent_back"},
    needed=_restriction_needs_two,
    same_person_approve=gettext_lazy("A second reviewer must approve this restriction."),
    same_person_send_back=gettext_lazy("A second reviewer must review this restriction."),
    not_pending=gettext_lazy("No restriction of this alert waits for a second reviewer."),
)


def _restrictable(actor: User, alert: MonitoringAlert) -> User:
    """The agent `actor` may restrict (crm.permissions.staff_restriction_refusal), checked before anything
    is written; ValidationFailed for a client's or partner's alert (escalate those to compliance)."""
    if alert.subject_kind not in RESTRICTABLE or alert.agent is None:
        raise ValidationFailed(fields={"decision": [gettext(
            "Only an agent can be restricted here; escalate a client's or a partner's alert to compliance.")]})
    refusal = staff_restriction_refusal(actor, alert.agent)
    if refusal:
        raise NotAllowed(refusal)
    return alert.agent


def _restrict(alert: MonitoringAlert, agent: User, *, actor: User, reason: str,
              proposed_by: User | None = None) -> MonitoringAlert:
    """Restrict the agent (by `actor`, who decides the alert) and decide the alert as restricted."""
    restriction = staff_restrict(actor=actor, user=agent, reason=reason, origin=f"monitoring alert {alert.code}")
    extra: dict[str, Any] = {"proposed_by": user_ref(proposed_by)} if proposed_by is not None else {}
    return _decided(alert, actor=actor, status=AlertStatus.RESTRICTED, reason=reason,
                    restriction=str(restriction.code), **extra)


@transaction.atomic
def alert_restrict_now(*, actor: User, alert: MonitoringAlert, reason: str) -> MonitoringAlert:
    """Restrict the agent, with a reason: no reveals, no exports, read-only from their next request
    until it is lifted (crm.services.staff_restrict; `actor` must be allowed to restrict them). Agent
    alerts only. Where the brand's settings want two reviewers for agents, this only proposes it
    (RESTRICTION_APPROVAL): the alert stays open with the proposal until a second reviewer approves
    (alert_restriction_approve) or sends it back."""
    reason = _reason(reason)
    locked = _locked_for(actor, alert, AlertStatus.RESTRICTED)
    agent = _restrictable(actor, locked)
    if RESTRICTION_APPROVAL.needed(locked, {}):
        RESTRICTION_APPROVAL.propose(locked, actor=actor, reason=reason, values={
            "restriction_proposed_at": timezone.now(), "restriction_reason": reason},
            after={"alert": str(locked.code), "subject_kind": locked.subject_kind})
        return locked
    return _restrict(locked, agent, actor=actor, reason=reason)


@transaction.atomic
def alert_restriction_approve(*, actor: User, alert: MonitoringAlert) -> MonitoringAlert:
    """A second reviewer (who may decide the alert and restrict its subject; never the proposer:
    RestrictionFourEyesRefused, nothing written) approves the waiting restriction: it takes effect with
    the proposal's reason and the alert is decided as restricted by them."""
    locked = _locked_for(actor, alert, AlertStatus.RESTRICTED, restriction_step=True)
    proposal = RESTRICTION_APPROVAL.check_second(locked, actor=actor)
    agent = _restrictable(actor, locked)
    RESTRICTION_APPROVAL.approve(locked, actor=actor)
    return _restrict(locked, agent, actor=actor, reason=str(proposal.values["restriction_reason"]),
                     proposed_by=proposal.by)


@transaction.atomic
def alert_restriction_send_back(*, actor: User, alert: MonitoringAlert, reason: str) -> MonitoringAlert:
    """A second reviewer disagrees with the waiting restriction, saying why: nothing is restricted, the
    proposal is cleared (the audit row keeps it) and the alert is open for any decision again. Never the
    proposer (RestrictionFourEyesRefused)."""
    reason = _reason(reason)
    locked = _locked_for(actor, alert, AlertStatus.RESTRICTED, restriction_step=True)
    RESTRICTION_APPROVAL.send_back(locked, actor=actor, reason=reason, after={"alert": str(locked.code)})
    return locked


# --- the desk's alert budget ---------------------------------------------------------------------

HISTORY_DAYS = 180


def desk_budget_refusal(actor: User | None, desk: Desk) -> str | None:
    """Why `actor` may not set `desk`'s budget, or None: administrators any desk, a desk manager the
    desks they run, holding "monitoring_review.change_deskalertbudget"."""
    if actor is None or actor.is_administrator:
        return None
    if not user_can(actor, "monitoring_review.change_deskalertbudget"):
        return gettext("You are not allowed to set alert budgets.")
    if not desks_run_by(actor).filter(pk=desk.pk).exists():
        return gettext("You can set the budget of your own desks only.")
    return None


def desk_scores(desk: Desk, *, days: int = HISTORY_DAYS) -> list[float]:
    """The agent-day scores of the desk's agents over the last `days` days (the calibration's history)."""
    since = timezone.localdate() - timedelta(days=days)
    return list(AgentDayScore.objects.filter(agent__desk=desk, day__gte=since).values_list("score", flat=True))


@transaction.atomic
def desk_budget_calibrate(*, desk: Desk, actor: User | None = None) -> DeskAlertBudget:
    """Set the desk's threshold from its history of agent-day scores so that its budget is met on
    that history (monitoring.review.budget.threshold_for_budget). Nightly and whenever the budget
    changes."""
    budget, _created = DeskAlertBudget.objects.select_for_update().get_or_create(desk=desk)
    cal = threshold_for_budget(desk_scores(desk), float(budget.alerts_per_100))
    before = {"threshold": budget.threshold}
    budget.threshold, budget.notice_threshold = cal.threshold, cal.notice_threshold
    budget.agent_days, budget.alerts_on_history = cal.agent_days, cal.alerts
    budget.calibrated_at = timezone.now()
    budget.save()
    audit_record(action="monitoring.budget_calibrated", obj=desk, actor=actor, before=before,
                 after={"budget": str(budget.alerts_per_100), "threshold": cal.threshold,
                        "agent_days": cal.agent_days, "alerts": cal.alerts})
    return budget


@transaction.atomic
def desk_budget_set(*, actor: User | None, desk: Desk, alerts_per_100: Decimal | str) -> DeskAlertBudget:
    """The desk's manager sets how many alerts per 100 agent-days the desk can review; the threshold
    is calibrated to it at once."""
    refusal = desk_budget_refusal(actor, desk)
    if refusal:
        raise NotAllowed(refusal)
    try:
        value = Decimal(str(alerts_per_100).strip())
    except (InvalidOperation, ValueError):
        value = Decimal("NaN")
    if not value.is_finite() or not BUDGET_MIN <= value <= BUDGET_MAX:
        raise ValidationFailed(fields={"alerts_per_100": [
            gettext("Give a number of alerts per 100 agent-days from %(min)s to %(max)s.")
            % {"min": BUDGET_MIN, "max": BUDGET_MAX}]})
    value = value.quantize(Decimal("0.01"))
    budget, _created = DeskAlertBudget.objects.select_for_update().get_or_create(desk=desk)
    before = {"alerts_per_100": str(budget.alerts_per_100)}
    budget.alerts_per_100, budget.set_by = value, actor
    budget.save(update_fields=["alerts_per_100", "set_by", "updated_at"])
    audit_record(action="monitoring.budget_set", obj=desk, actor=actor, before=before,
                 after={"alerts_per_100": str(value)})
    return desk_budget_calibrate(desk=desk, actor=actor)
