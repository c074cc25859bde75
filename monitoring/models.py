"""Agent monitoring: the context managers record (cover, leave, notice, shifts, campaign days,
holidays), the activity table the scoring reads, the scores per agent-day and the alerts.

Role and desk changes are not kept here: the core's staff history (django-simple-history on
crm.User) records every change of a user's role and desk with its date.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.states import StateMachine
from monitoring.exceptions import AlertTransitionRefused
from plumbing.context import history_user

# --- context -----------------------------------------------------------------------------------


class Cover(models.Model):
    """`agent` covers `covered`'s book from `starts_on` to `ends_on` (both days included): their
    access to that book in the period is not out-of-book. Set by a manager."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    agent = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="monitoring_covers")
    covered = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="monitoring_covered_by")
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("to"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    set_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-starts_on", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(ends_on__gte=F("starts_on")), name="monitoring_cover_ends_after_start"),
            # Covering one's own book means nothing and would hide out-of-book access.
            models.CheckConstraint(condition=~Q(agent=F("covered")), name="monitoring_cover_not_self"),
        ]
        indexes: ClassVar = [models.Index(fields=["agent", "starts_on"], name="monitoring_cover_agent_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} covers {self.covered_id} {self.starts_on}..{self.ends_on}"


class Leave(models.Model):
    """The agent is away from `starts_on` to `ends_on` (both included)."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    agent = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="monitoring_leaves")
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("to"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    set_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-starts_on", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(ends_on__gte=F("starts_on")), name="monitoring_leave_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"leave {self.agent_id} {self.starts_on}..{self.ends_on}"


class Notice(models.Model):
    """A resignation (or dismissal) notice: given on `given_on`, last working day `last_day`. While it
    stands the agent is watched at a lower threshold; entering it rescores their last 30 days."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    agent = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="monitoring_notices")
    given_on = models.DateField(_("notice given on"))
    last_day = models.DateField(_("last day"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    set_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-given_on", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(last_day__gte=F("given_on")), name="monitoring_notice_last_after_given"),
            # One standing notice per agent: a second one would make "the last day" ambiguous.
            models.UniqueConstraint(fields=["agent"], condition=Q(withdrawn_at__isnull=True),
                                    name="monitoring_notice_one_standing"),
        ]

    def __str__(self) -> str:
        return f"notice {self.agent_id} given {self.given_on}, last day {self.last_day}"


class Shift(models.Model):
    """The agent's working hours (UTC, `start_hour` to `end_hour`, end 24 = midnight; an end before
    the start runs overnight) from `starts_on` until the agent's next shift row."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    agent = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="monitoring_shifts")
    start_hour = models.PositiveSmallIntegerField(_("start hour"))
    end_hour = models.PositiveSmallIntegerField(_("end hour"))
    starts_on = models.DateField(_("from"))
    set_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-starts_on", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(start_hour__lte=23), name="monitoring_shift_start_hour"),
            models.CheckConstraint(condition=Q(end_hour__gte=1, end_hour__lte=24), name="monitoring_shift_end_hour"),
            models.CheckConstraint(condition=~Q(start_hour=F("end_hour")), name="monitoring_shift_not_empty"),
            models.UniqueConstraint(fields=["agent", "starts_on"], name="monitoring_shift_one_per_day"),
        ]

    def __str__(self) -> str:
        return f"shift {self.agent_id} {self.start_hour}-{self.end_hour} from {self.starts_on}"


class CampaignDay(models.Model):
    """A desk's campaign day: more activity than usual is expected of its agents."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    desk = models.ForeignKey("crm.Desk", on_delete=models.CASCADE, related_name="monitoring_campaign_days")
    day = models.DateField(_("day"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    set_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-day", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["desk", "day"], name="monitoring_campaign_day_unique"),
        ]

    def __str__(self) -> str:
        return f"campaign {self.desk_id} {self.day}"


class Holiday(models.Model):
    """A public holiday of the brand (optionally of one country only): a day type of its own."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    country = models.CharField(_("country"), max_length=2, blank=True,
                               help_text=_("Two-letter country code; empty: the whole brand."))
    day = models.DateField(_("day"))
    name = models.CharField(_("name"), max_length=120)
    set_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-day", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["brand", "country", "day"], name="monitoring_holiday_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.day}"


# --- routing and settings ------------------------------------------------------------------------


class RouteTo(models.TextChoices):
    DESK_MANAGER = "desk_manager", _("The agent's desk manager")
    REPORTING_OFFICER = "reporting_officer", _("The brand's reporting officer")


def four_eyes_kinds_default() -> list[str]:
    """Every subject kind: restricting anyone from monitoring takes two reviewers unless a brand says otherwise."""
    return ["agent", "client", "partner"]


class MonitoringSettings(models.Model):
    """Per brand: where alerts go and how many the desks can review (absent: desk managers, 0.5)."""

    brand = models.OneToOneField("crm.Brand", on_delete=models.CASCADE, related_name="monitoring_settings")
    route_to = models.CharField(_("alerts go to"), max_length=20, choices=RouteTo.choices,
                                default=RouteTo.DESK_MANAGER)
    reporting_officer = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True,
                                          related_name="+")
    # Alerts per 100 agent-days the desks can review (issue 36 item 5; the budget page sets it).
    alert_budget = models.DecimalField(_("alert budget"), max_digits=6, decimal_places=2, default=0.5)
    # Days a "benign" decision keeps the same pattern quiet for that agent.
    quiet_days = models.PositiveSmallIntegerField(_("quiet days after a benign decision"), default=14)
    # Whose restriction needs two reviewers (subject kinds: "agent", "client", "partner"; monitoring
    # restricts agents today, compliance the others): the first proposes it, a second, different reviewer
    # approves it (monitoring.review.services.RESTRICTION_APPROVAL). A kind not listed is restricted by
    # one reviewer at once. Absent settings: every kind needs two.
    restriction_four_eyes = models.JSONField(_("restrictions that need two reviewers"),
                                             default=four_eyes_kinds_default, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    def __str__(self) -> str:
        return f"monitoring settings of brand {self.brand_id}"


# --- alerts and scores ----------------------------------------------------------------------------
    history = HistoricalRecords(get_user=history_user)


class SubjectKind(models.TextChoices):
    AGENT = "agent", _("Agent")
    CLIENT = "client", _("Client")
    PARTNER = "partner", _("Partner")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    BENIGN = "benign", _("Benign")
    COACHING = "coaching", _("Coaching")
    ESCALATED = "escalated", _("Escalated")
    RESTRICTED = "restricted", _("Restricted")


class MonitoringAlert(models.Model):
    """A detector found something about an agent, a client or a partner on `day`.

    A signal, not a verdict: `reasons` says in words why it fired and `evidence` links to what it
    saw. One alert per (subject, detector, day); raised through monitoring.services.raise_alert.
    """

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    subject_kind = models.CharField(max_length=8, choices=SubjectKind.choices)
    agent = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="monitoring_alerts_about")
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    partner = models.ForeignKey("ib.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    detector = models.CharField(max_length=64)
    day = models.DateField()
    score = models.FloatField()  # -log10 of a tail probability (or a detector's own scale): not money
    reasons = models.JSONField(default=list)  # sentences
    evidence = models.JSONField(default=list)  # [{"label": ..., "url": ...}]
    status = models.CharField(max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    routed_to = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    quiet_until = models.DateField(null=True, blank=True)
    # A restriction waiting for a second reviewer (monitoring.review.services.RESTRICTION_APPROVAL): who
    # proposed it, when and why. The alert stays open; the second reviewer's approval decides it
    # (decided_by, never the proposer) and sending it back clears these fields.
    restriction_proposed_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True,
                                                related_name="+")
    restriction_proposed_at = models.DateTimeField(null=True, blank=True)
    restriction_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-day", "-score", "-id"]
        permissions: ClassVar = [("review_monitoringalert", "Can review monitoring alerts")]
        constraints: ClassVar = [
            # Two reviewers: whoever decides a proposed restriction is not whoever proposed it.
            models.CheckConstraint(
                condition=(Q(restriction_proposed_by__isnull=True) | Q(decided_by__isnull=True)
                           | ~Q(decided_by=models.F("restriction_proposed_by"))),
                name="monitoring_alert_restriction_second_reviewer"),
            # The subject is the one field its kind names, and only that one.
            models.CheckConstraint(
                condition=(Q(subject_kind="agent", agent__isnull=False, client__isnull=True, partner__isnull=True)
                           | Q(subject_kind="client", agent__isnull=True, client__isnull=False, partner__isnull=True)
                           | Q(subject_kind="partner", agent__isnull=True, client__isnull=True, partner__isnull=False)),
                name="monitoring_alert_subject_matches_kind"),
            # Idempotent raising: a detector says one thing per subject per day.
            models.UniqueConstraint(fields=["agent", "detector", "day"], condition=Q(subject_kind="agent"),
                                    name="monitoring_alert_agent_once_per_day"),
            models.UniqueConstraint(fields=["client", "detector", "day"], condition=Q(subject_kind="client"),
                                    name="monitoring_alert_client_once_per_day"),
            models.UniqueConstraint(fields=["partner", "detector", "day"], condition=Q(subject_kind="partner"),
                                    name="monitoring_alert_partner_once_per_day"),
        ]
        indexes: ClassVar = [
            # The review queue: open alerts newest first, per brand.
            models.Index(fields=["brand", "status", "-day"], name="monitoring_alert_queue_idx"),
            models.Index(fields=["routed_to", "status"], name="monitoring_alert_routed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.detector} {self.subject_kind} {self.day}"


class AgentDayScore(models.Model):
    """One agent-day as the scoring saw it: the score, whether it alerted and why (history for the
    pages and the budget calibration). Rewritten when the day is rescored."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    agent = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="monitoring_day_scores")
    day = models.DateField()
    score = models.FloatField()
    threshold = models.FloatField()
    alerted = models.BooleanField(default=False)
    reasons = models.JSONField(default=list)
    # The day's counts per signal (opens, export_rows, short_calls, ...), for the performance page.
    signals = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "agent_id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["agent", "day"], name="monitoring_agentday_unique"),
        ]
        indexes: ClassVar = [models.Index(fields=["brand", "day"], name="monitoring_agentday_brand_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.day}: {self.score}"


class AgentDayFeatures(models.Model):
    """The daily features of an agent-day as the scoring reads them (counts per signal, hours), written
    set-based by monitoring.pipeline once per day (again only when what they were computed from
    changed), so that the rescores score from them instead of aggregating the activity again."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    agent = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    data = models.JSONField()
    # The agents whose book this agent covered that day (ids, sorted, comma-separated) when the
    # features were aggregated: a cover recorded or changed later no longer matches, and the day is
    # aggregated again.
    cover_key = models.TextField(default="", blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["agent", "day"], name="monitoring_agentdayfeatures_unique"),
        ]

    def __str__(self) -> str:
        return f"features {self.agent_id} {self.day}"


class ScoringState(models.Model):
    """Where the hourly scoring got to (one row per brand): events before `watermark` are scored."""

    brand = models.OneToOneField("crm.Brand", on_delete=models.CASCADE, related_name="+")
    watermark = models.DateTimeField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)  # calibrated at the last nightly rescore
    notice_threshold = models.FloatField(null=True, blank=True)
    rescored_at = models.DateTimeField(null=True, blank=True)
    # The stored daily features (AgentDayFeatures): when they were last brought up to date, the days
    # before which they are final (aggregated after the day ended), the start of the activity history
    # they were computed against (records untouched for 90 days count from it) and the agents covered.
    features_at = models.DateTimeField(null=True, blank=True)
    features_final_before = models.DateField(null=True, blank=True)
    features_stream_start = models.DateTimeField(null=True, blank=True)
    features_agents = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"scoring of brand {self.brand_id} to {self.watermark}"


# --- the activity table -----------------------------------------------------------------------------


class ActivityKind(models.TextChoices):
    CLIENT_OPEN = "client_open", _("Opened a client")
    PII_REVEAL = "pii_reveal", _("Revealed personal data")
    EXPORT = "export", _("Exported")
    SEARCH = "search", _("Searched")
    CALL = "call", _("Call")
    LOGIN = "login", _("Logged in")


class Activity(models.Model):
    """One thing a member of staff did, as monitoring reads it. Append-only (the database refuses
    UPDATE and DELETE) and partitioned by day (migration 0002 creates the table; old days are dropped
    by detaching their partitions, never row by row). Written in batches by monitoring.recording.

    No foreign keys: a row keeps what was true at that moment (the client's owner then), and a
    client merged away later must not take its history with it.
    """

    pk = models.CompositePrimaryKey("id", "time")
    id = models.BigIntegerField()
    time = models.DateTimeField()
    brand_id = models.BigIntegerField(null=True)
    agent_id = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=ActivityKind.choices)
    client_id = models.BigIntegerField(null=True)
    client_owner_id = models.BigIntegerField(null=True)
    client_high_value = models.BooleanField(default=False)
    rows = models.IntegerField(null=True)
    duration_s = models.IntegerField(null=True)
    outcome = models.CharField(max_length=24, blank=True)
    ip = models.GenericIPAddressField(null=True)
    device = models.CharField(max_length=200, blank=True)
    ref = models.CharField(max_length=64, blank=True)  # the source's reference (access event id, call code)

    class Meta:
        managed = False
        db_table = "monitoring_activity"
        ordering = ["time"]

    def __str__(self) -> str:
        return f"{self.kind} by {self.agent_id} at {self.time:%Y-%m-%d %H:%M}"


# --- the alert's lifecycle (crm.lib.states) -------------------------------------------------------------

def _alert_refused(old: str, new: str) -> str:
    return gettext("This alert was decided already (%(from)s): it cannot become %(to)s.") % {
        "from": str(AlertStatus(old).label).lower(), "to": str(AlertStatus(new).label).lower()}


# An alert is open until a reviewer decides it, once: benign, coaching, escalated to compliance, or the
# agent restricted (monitoring.review.services). A pattern raised again is a new alert.
_DECIDED = frozenset({AlertStatus.BENIGN, AlertStatus.COACHING, AlertStatus.ESCALATED, AlertStatus.RESTRICTED})
ALERT_STATES = StateMachine(
    name="monitoring alert", model="monitoring.MonitoringAlert", states=AlertStatus,
    transitions={AlertStatus.OPEN: _DECIDED, **{state: frozenset() for state in _DECIDED}},
    terminal=_DECIDED, error=AlertTransitionRefused, message=_alert_refused,
)
