"""Lead acquisition: touches (every arrival of a person), contact keys (dedupe), campaigns,
scoring and routing rules, agent availability, first-contact SLA, merges and spreadsheet imports.

The person is always a crm.Client; leads never creates a second kind of "lead" record. What is
specific to acquisition hangs off the client here.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.fieldcrypt import EncryptedJSONField, EncryptedTextField
from crm.lib.money import CurrencyField, MoneyAmountField, amount_format
from crm.lib.states import StateMachine
from crm.lib.webhooks import accepted_once
from crm.models import ReceivedWebhook
from leads.exceptions import LeadImportTransitionRefused
from plumbing.context import history_user


class Channel(models.TextChoices):
    FORM = "form", _("Web form")
    API = "api", _("API")
    IMPORT = "import", _("Import")


class Campaign(models.Model):
    """A marketing campaign of one brand; leads name it by `code` (utm_campaign or ?campaign=)."""

    code = models.SlugField(max_length=64)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=120)
    source = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand_id", "name"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["brand", "code"], name="campaign_unique_code_per_brand"),
        ]

    def __str__(self) -> str:
        return self.name


class LeadTouch(models.Model):
    """One arrival of a person through a form, the API or an import, with its attribution.

    A repeat registration is another touch on the same client (`is_repeat`), never a second client.
    """

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    # brand, client and campaign lead the composite indexes in Meta. One foreign key, (client,
    # brand) to the client's (id, brand), stands for both (migration leads 0010): the touch's
    # brand is its client's, checked once per row instead of twice.
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+", db_index=False,
                              db_constraint=False)
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="lead_touches", db_index=False,
                               db_constraint=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    is_repeat = models.BooleanField(default=False)
    source = models.CharField(max_length=100, blank=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="touches",
                                 db_index=False)
    # The campaign as the lead named it, kept even when no Campaign row has this code.
    campaign_code = models.CharField(max_length=100, blank=True)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    utm_term = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)
    click_id = models.CharField(max_length=255, blank=True)
    referrer_code = models.CharField(max_length=64, blank=True)
    landing_page = models.CharField(max_length=500, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    consent_given = models.BooleanField(default=False)
    consent_text_version = models.CharField(max_length=32, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    # What the person declared (experience, deposit intent, income...): scoring reads it.
    declared = models.JSONField(default=dict, blank=True)
    # The input as received, for disputes with lead vendors (the person's name, email and phone in
    # it): encrypted in its column (crm.lib.fieldcrypt). Nothing queries into it.
    payload: Any = EncryptedJSONField(default=dict, blank=True)  # a dict (JSON), stored encrypted
    api_key = models.ForeignKey("crm.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    lead_import = models.ForeignKey("leads.LeadImport", on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="touches")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes: ClassVar = [
            models.Index(F("client"), F("created_at").desc(), name="touch_client_recent_idx"),
            # Marketing reports: a brand's touches by period, by campaign.
            models.Index(F("brand"), F("created_at").desc(), name="touch_brand_recent_idx"),
            models.Index(fields=["campaign", "created_at"], name="touch_campaign_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.created_at:%Y-%m-%d %H:%M}"


class ContactKind(models.TextChoices):
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")


class ContactKey(models.Model):
    """A normalised email or E.164 phone that identifies one client within a brand.

    The UNIQUE constraint is the dedupe's source of truth: two clients of one brand can never share
    a key, whatever races happen between concurrent intakes.
    """

    # Indexed by the unique (brand, kind, value) constraint and contact_key_client_idx. One foreign
    # key, (client, brand) to the client's (id, brand), stands for both (migration leads 0010): a
    # key's brand is its client's.
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+", db_index=False,
                              db_constraint=False)
    kind = models.CharField(max_length=8, choices=ContactKind.choices)
    value = models.CharField(max_length=254)
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="contact_keys", db_index=False,
                               db_constraint=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["brand", "kind", "value"], name="contact_key_unique_per_brand"),
        ]
        indexes: ClassVar = [models.Index(fields=["client"], name="contact_key_client_idx")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class ClientMerge(models.Model):
    """Staff merged client `merged` into `kept`. Codes are kept in clear so the record survives both."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    kept = models.ForeignKey("crm.Client", on_delete=models.SET_NULL, null=True, related_name="merges_kept")
    merged = models.ForeignKey("crm.Client", on_delete=models.SET_NULL, null=True, related_name="merges_merged")
    kept_code = models.UUIDField()
    merged_code = models.UUIDField()
    actor = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, related_name="+")
    reason = models.TextField()
    moved = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints: ClassVar = [
            # A client is merged away at most once.
            models.UniqueConstraint(fields=["merged_code"], name="client_merge_once"),
        ]

    def __str__(self) -> str:
        return f"{self.merged_code} -> {self.kept_code}"


# --- scoring ----------------------------------------------------------------------------------


class ScoringKind(models.TextChoices):
    COUNTRY_TIER = "country_tier", _("Country tier")
    DECLARED_EXPERIENCE = "declared_experience", _("Declared experience")
    DEPOSIT_INTENT = "deposit_intent", _("Declared deposit intent")
    SOURCE_QUALITY = "source_quality", _("Source quality")
    COMPLETENESS = "completeness", _("Completeness")
    HNW_INDICATOR = "hnw_indicator", _("High-net-worth indicator")


class ScoringRule(models.Model):
    """Points a lead earns when the rule's condition holds; `params` are validated per kind
    (leads.scoring.PARAM_VALIDATORS)."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="scoring_rules")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=32, choices=ScoringKind.choices)
    params = models.JSONField(default=dict, blank=True)
    points = models.SmallIntegerField()
    is_active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand_id", "order", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(points__gte=-100, points__lte=100), name="scoring_rule_points_range"),
        ]

    def __str__(self) -> str:
        return self.name


class LeadScore(models.Model):
    """A computed score (0-100) and the rules that made it; the newest row per client is current."""

    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="lead_scores",
                               db_index=False)  # lead_score_client_idx
    touch = models.ForeignKey(LeadTouch, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    score = models.PositiveSmallIntegerField()
    # [{"rule": code, "name": ..., "kind": ..., "points": n, "why": "..."}]
    breakdown = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes: ClassVar = [models.Index(F("client"), F("computed_at").desc(), name="lead_score_client_idx")]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(score__lte=100), name="lead_score_range"),
        ]

    def __str__(self) -> str:
        return f"{self.score} ({self.computed_at:%Y-%m-%d %H:%M})"


# --- routing ----------------------------------------------------------------------------------


class RoutingTarget(models.TextChoices):
    AGENT = "agent", _("A named agent")
    DESK = "desk", _("A desk")


class RoutingStrategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_LOADED = "least_loaded", _("Least loaded")
    WEIGHTED = "weighted", _("Weighted")


class RoutingRule(models.Model):
    """Where a new lead goes. Rules are tried by `order`; the fallback rule (at most one per brand)
    is tried last and matches every lead. Empty condition lists match anything."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="routing_rules")
    name = models.CharField(max_length=120)
    order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    is_fallback = models.BooleanField(default=False)
    countries = ArrayField(models.CharField(max_length=2), default=list, blank=True)
    languages = ArrayField(models.CharField(max_length=8), default=list, blank=True)
    campaigns = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    sources = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    referrer_codes = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    score_min = models.PositiveSmallIntegerField(null=True, blank=True)
    score_max = models.PositiveSmallIntegerField(null=True, blank=True)
    target_kind = models.CharField(max_length=8, choices=RoutingTarget.choices, default=RoutingTarget.DESK)
    target_agent = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    target_desk = models.ForeignKey("crm.Desk", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    strategy = models.CharField(max_length=16, choices=RoutingStrategy.choices, default=RoutingStrategy.ROUND_ROBIN)
    # {"<user code>": weight} for the weighted strategy; agents not named weigh 1.
    weights = models.JSONField(default=dict, blank=True)
    # When nobody on the target is available: try the next rules instead of queueing on this desk.
    fall_through = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand_id", "is_fallback", "order", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=(Q(target_kind="agent", target_agent__isnull=False)
                           | Q(target_kind="desk", target_desk__isnull=False)),
                name="routing_rule_target_set",
            ),
            models.CheckConstraint(
                condition=Q(score_min__isnull=True) | Q(score_max__isnull=True) | Q(score_min__lte=F("score_max")),
                name="routing_rule_score_range",
            ),
            # One catch-all per brand, or "which fallback wins" would depend on ids.
            models.UniqueConstraint(fields=["brand"], condition=Q(is_fallback=True), name="routing_one_fallback"),
        ]

    def __str__(self) -> str:
        return self.name


class RoutingPointer(models.Model):
    """The round-robin / weighted state of one rule, in the database so that every process shares it.
    Locked with SELECT ... FOR UPDATE while a lead is routed."""

    rule = models.OneToOneField(RoutingRule, on_delete=models.CASCADE, related_name="pointer")
    last_agent = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Weighted strategy: the current weight of each agent ({"<user id>": n}), smooth weighted round robin.
    state = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"pointer of rule {self.rule_id}"


class AvailabilityStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    ON_LEAVE = "on_leave", _("On leave")
    ABSENT = "absent", _("Absent")


class AgentAvailability(models.Model):
    """Whether routing may give an agent new leads: status and, optionally, the agent's own shift
    (in the agent's time zone). Without a shift the desk's working hours apply."""

    user = models.OneToOneField("crm.User", on_delete=models.CASCADE, related_name="lead_availability")
    status = models.CharField(max_length=12, choices=AvailabilityStatus.choices, default=AvailabilityStatus.AVAILABLE)
    shift_start = models.TimeField(null=True, blank=True)
    shift_end = models.TimeField(null=True, blank=True)
    # ISO weekdays, Monday = 1; empty = Monday to Friday.
    shift_days = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(shift_start__isnull=True, shift_end__isnull=True)
                | Q(shift_start__isnull=False, shift_end__isnull=False),
                name="availability_shift_both_or_none",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.status}"


# --- first-contact SLA ----------------------------------------------------------------------


class DeskSla(models.Model):
    """How fast a desk must first contact a new lead, and what happens when it does not."""

    desk = models.OneToOneField("crm.Desk", on_delete=models.CASCADE, related_name="lead_sla")
    minutes_to_first_contact = models.PositiveIntegerField(default=15)
    # Without it, the desk's manager is told.
    escalate_to = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    auto_reassign = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user)

    def __str__(self) -> str:
        return f"{self.desk_id}: {self.minutes_to_first_contact} min"


class LeadContactState(models.Model):
    """Per client: when the current assignment started, when first contact is due, and whether it
    happened or was escalated. Reset on every (re)assignment."""

    client = models.OneToOneField("crm.Client", on_delete=models.CASCADE, related_name="lead_contact")
    desk = models.ForeignKey("crm.Desk", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    owner = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    assigned_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    contacted_at = models.DateTimeField(null=True, blank=True)
    contacted_via = models.CharField(max_length=20, blank=True)
    contacted_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalations = models.PositiveIntegerField(default=0)

    class Meta:
        indexes: ClassVar = [
            # The SLA sweep looks only at uncontacted, not yet escalated leads with a deadline.
            models.Index(fields=["due_at"], condition=Q(contacted_at__isnull=True, escalated_at__isnull=True,
                                                        due_at__isnull=False), name="lead_contact_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id}: due {self.due_at}"


# --- spreadsheet imports --------------------------------------------------------------------


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class LeadImport(models.Model):
    """A spreadsheet of leads: the file (kept in the database, so a worker on another host can read
    it), the column mapping, and the progress of the background job (crm.Job) that writes it."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=255)
    file_format = models.CharField(max_length=8)  # "csv" | "xlsx"
    content = models.BinaryField()
    headers = models.JSONField(default=list, blank=True)
    # {"<column index>": "<lead field>"}
    mapping = models.JSONField(default=dict, blank=True)
    default_source = models.CharField(max_length=100, blank=True)
    default_campaign = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    # The latest run (an import that failed or was cancelled can be started again).
    job = models.ForeignKey("crm.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.filename

    @property
    def percent(self) -> int:
        return int(self.processed * 100 / self.total) if self.total else 0

    @property
    def is_finished(self) -> bool:
        return self.status in {ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.CANCELLED}


def _import_refused(old: str, new: str) -> str:
    return gettext("An import that is %(from)s cannot become %(to)s.") % {
        "from": str(ImportStatus(old).label).lower(), "to": str(ImportStatus(new).label).lower()}


# Uploaded (its mapping still editable) until started: queued as a background job, running when the
# job takes it, then done, failed or cancelled. A failed or cancelled import, or a running one whose
# job's worker died, is started again (queued) and goes on after its last written chunk. A done one
# stays done. leads.imports moves it with one UPDATE whose WHERE is the new status's sources.
IMPORT_STATES = StateMachine(
    name="lead import", model="leads.LeadImport", states=ImportStatus,
    transitions={
        ImportStatus.UPLOADED: frozenset({ImportStatus.QUEUED}),
        ImportStatus.QUEUED: frozenset({ImportStatus.RUNNING}),
        ImportStatus.RUNNING: frozenset({ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.CANCELLED,
                                         ImportStatus.QUEUED}),
        ImportStatus.FAILED: frozenset({ImportStatus.QUEUED}),
        ImportStatus.CANCELLED: frozenset({ImportStatus.QUEUED}),
        ImportStatus.DONE: frozenset(),
    },
    terminal=frozenset({ImportStatus.DONE}),
    error=LeadImportTransitionRefused, message=_import_refused,
)


class LeadImportRowError(models.Model):
    """A row the import could not take, with each field's messages (the error report)."""

    lead_import = models.ForeignKey(LeadImport, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField()
    errors = models.JSONField(default=dict)
    values = models.JSONField(default=dict)

    class Meta:
        ordering = ["row_number"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["lead_import", "row_number"], name="import_row_error_once"),
        ]

    def __str__(self) -> str:
        return f"row {self.row_number}"


# --- the sales desk: calls, telephony, pipeline, saved views, campaign costs ----------------------


class CallDirection(models.TextChoices):
    OUTBOUND = "outbound", _("Outbound")
    INBOUND = "inbound", _("Inbound")


class CallOutcome(models.TextChoices):
    NO_ANSWER = "no_answer", _("No answer")
    BUSY = "busy", _("Busy")
    VOICEMAIL = "voicemail", _("Voicemail")
    WRONG_NUMBER = "wrong_number", _("Wrong number")
    CONNECTED = "connected", _("Connected")
    CALLBACK = "callback", _("Call back")
    INTERESTED = "interested", _("Interested")
    NOT_INTERESTED = "not_interested", _("Not interested")
    REGISTERED = "registered", _("Registered")


# Outcomes in which somebody answered: they count as contact and as talk time.
ANSWERED_OUTCOMES: frozenset[str] = frozenset({
    CallOutcome.WRONG_NUMBER, CallOutcome.CONNECTED, CallOutcome.CALLBACK, CallOutcome.INTERESTED,
    CallOutcome.NOT_INTERESTED, CallOutcome.REGISTERED,
})


class Call(models.Model):
    """One phone call with a client: logged by the agent on the profile, or reported by the
    telephony provider's webhook (then `provider` + `provider_call_id` identify it)."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # Null when the provider reported a number that matches no client (still counts as agent talk time).
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, null=True, blank=True, related_name="calls")
    agent = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="calls")
    direction = models.CharField(max_length=8, choices=CallDirection.choices, default=CallDirection.OUTBOUND)
    outcome = models.CharField(max_length=16, choices=CallOutcome.choices, blank=True)
    # The number called or calling (E.164), encrypted in its column (crm.lib.fieldcrypt), here and in the
    # history; nothing searches calls by it (a provider's call finds its client by the client's phone hash).
    phone = EncryptedTextField(max_length=20, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(default=0)
    talk_seconds = models.PositiveIntegerField(default=0)
    notes = models.TextField(blank=True)
    recording_url = models.URLField(max_length=500, blank=True)
    provider = models.CharField(max_length=40, blank=True)
    provider_call_id = models.CharField(max_length=128, blank=True)
    logged_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints: ClassVar = [
            # Webhook retries and replays find the call they already made instead of a second one.
            models.UniqueConstraint(fields=["provider", "provider_call_id"], condition=~Q(provider_call_id=""),
                                    name="call_unique_provider_id"),
            models.CheckConstraint(condition=Q(talk_seconds__lte=F("duration_seconds")), name="call_talk_within_duration"),
        ]
        indexes: ClassVar = [
            models.Index(F("client"), F("started_at").desc(), name="call_client_recent_idx"),
            # KPIs: an agent's calls by period.
            models.Index(fields=["agent", "started_at"], name="call_agent_period_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.started_at:%Y-%m-%d %H:%M}"


class TelephonyProvider(models.Model):
    """A VoIP provider that posts call events to /hooks/telephony/<code>/, signed with its secret.
    Its click-to-call template ("sip:{phone}", "https://pbx.example/call?to={phone}&ext={extension}")
    is used for clients of its brand (or of every brand when `brand` is empty).

    The secret is generated by the CRM (leads.telephony), shown once, and stored only encrypted
    (crm.lib.crypto, Fernet): `secret_encrypted` is a token, never the secret itself."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    secret_encrypted = models.CharField(max_length=500, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)  # set with each new secret
    click_to_call_template = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # The secret stays out of the history: rotation must leave no copy of an old secret behind.
    history = HistoricalRecords(get_user=history_user, excluded_fields=["secret_encrypted"])

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class TelephonyEvent(models.Model):
    """A webhook event accepted from a provider. The unique key makes replays and retries no-ops."""

    provider = models.CharField(max_length=40)
    provider_call_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=16)
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="telephony_events")
    occurred_at = models.DateTimeField()
    # The event as the provider sent it (the caller's number in it): encrypted in its column.
    payload: Any = EncryptedJSONField(default=dict)  # a dict (JSON), stored encrypted
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["received_at", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["provider", "provider_call_id", "event_type"],
                                    name="telephony_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.provider_call_id}:{self.event_type}"


class TelephonyWebhookOutcome(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    DUPLICATE = "duplicate", _("Duplicate (already received)")
    REFUSED_BAD_SIGNATURE = "refused_bad_signature", _("Refused: bad signature")
    REFUSED_STALE = "refused_stale", _("Refused: stale timestamp")
    REFUSED_MALFORMED = "refused_malformed", _("Refused: malformed")


class TelephonyWebhook(ReceivedWebhook):
    """One webhook delivery from a telephony provider (leads.calls, through crm.lib.webhooks' inbox).
    Accepted ones are unique per provider and event id (the call's id and the event: "abc-1:ended"):
    a repeated delivery changes nothing and is kept as a duplicate. The body holds the caller's
    number, so it is stored encrypted, as the call's number and the applied event's payload are."""

    provider = models.CharField(max_length=40)  # as in the URL, also for a provider nobody configured
    kind = models.CharField(max_length=16, blank=True)  # the event: started, answered or ended
    call = models.ForeignKey(Call, on_delete=models.SET_NULL, null=True, blank=True, related_name="webhooks")
    outcome = models.CharField(max_length=30, choices=TelephonyWebhookOutcome.choices)
    body: Any = EncryptedTextField(blank=True)  # the raw body, the caller's number in it

    class Meta(ReceivedWebhook.Meta):
        constraints: ClassVar = [accepted_once("provider", name="leads_telephony_webhook_accepted_once")]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} {self.outcome}"


class PipelineStatus(models.Model):
    """One step of a brand's sales pipeline (New, Contacted, Interested...). Keys are stable; labels
    are the brand's own wording."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="pipeline_statuses")
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=80)
    order = models.PositiveIntegerField(default=0)
    is_won = models.BooleanField(default=False)
    is_lost = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    # Call outcomes that move a client here when an agent logs them (leads.pipeline.pipeline_follow_call).
    # An outcome belongs to at most one status of a brand; pipeline_status_save enforces that.
    call_outcomes = ArrayField(models.CharField(max_length=16, choices=CallOutcome.choices), default=list,
                               blank=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand_id", "order", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["brand", "key"], name="pipeline_status_unique_key"),
            models.CheckConstraint(condition=~Q(is_won=True, is_lost=True), name="pipeline_status_not_won_and_lost"),
        ]

    def __str__(self) -> str:
        return self.display_label

    @property
    def display_label(self) -> str:
        """The label in the reader's language: the default statuses' English labels are in the
        catalogue; a brand's own wording shows as typed."""
        return gettext(self.label)

    @property
    def call_outcome_labels(self) -> list[str]:
        return [str(CallOutcome(o).label) for o in self.call_outcomes if o in CallOutcome.values]


class ClientPipeline(models.Model):
    """The client's current pipeline status. The history of moves is the "lead.status_changed"
    event stream; a client without a row is at its brand's first status."""

    client = models.OneToOneField("crm.Client", on_delete=models.CASCADE, related_name="pipeline")
    status = models.ForeignKey(PipelineStatus, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["status"], name="client_pipeline_status_idx")]

    def __str__(self) -> str:
        return f"{self.client_id}: {self.status_id}"


class SavedView(models.Model):
    """A named set of workspace filters (the query string) of one user."""

    user = models.ForeignKey("crm.User", on_delete=models.CASCADE, related_name="lead_saved_views")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints: ClassVar = [models.UniqueConstraint(fields=["user", "name"], name="saved_view_unique_name")]

    def __str__(self) -> str:
        return self.name


class CampaignCost(models.Model):
    """What a campaign cost over a period (entered by marketing), for cost per lead and per FTD."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="costs")
    period_start = models.DateField()
    period_end = models.DateField()
    amount = MoneyAmountField()  # exact at the currency's exponent (crm.lib.money.money_parse)
    currency = CurrencyField()
    created_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-period_start", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="campaign_cost_period_order"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="campaign_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {amount_format(self.amount, self.currency)}"


# --- segments ----------------------------------------------------------------------------------


class Segment(models.Model):
    """A named group of a brand's clients: those matching `definition` (a dynamic filter over
    stage, country, language, registration dates, tags and pipeline status, validated by
    leads.segments.definition_clean) plus clients added explicitly (automation "add_to_segment")."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=120)
    definition = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand_id", "name"]
        constraints: ClassVar = [models.UniqueConstraint(fields=["brand", "name"], name="segment_unique_name")]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A client added to a segment explicitly, whatever its filter says."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)
    added_by_rule = models.CharField(max_length=120, blank=True)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["segment", "client"], name="segment_member_once")]

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.client_id}"
