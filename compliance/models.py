"""Watchlists (sanctions and PEP lists), their versions as loaded, and each version's entries.

A version is a whole snapshot of a list as published: its entries are stored under it, never edited,
and its diff against the previous version (added, removed and changed entry numbers) is kept on it,
so that re-screening after a load can look at the changed entries only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from compliance.exceptions import AmlAlertTransitionRefused, CaseTransitionRefused, HitTransitionRefused
from crm.lib.states import StateMachine, history_writer
from plumbing.context import history_user


class ListFormat(models.TextChoices):
    OFAC_CSV = "ofac-csv", _("OFAC SDN CSV (sdn.csv, alt.csv, add.csv)")
    EU_XML = "eu-xml", _("EU consolidated financial sanctions list (XML)")
    UN_XML = "un-xml", _("UN Security Council consolidated list (XML)")
    UK_CSV = "uk-csv", _("UK sanctions list (CSV)")
    PEP_CSV = "pep-csv", _("PEP list (CSV)")


class ListKind(models.TextChoices):
    SANCTIONS = "sanctions", _("Sanctions")
    PEP = "pep", _("Politically exposed persons")


class EntryType(models.TextChoices):
    PERSON = "person", _("Person")
    COMPANY = "company", _("Company")
    VESSEL = "vessel", _("Vessel")
    AIRCRAFT = "aircraft", _("Aircraft")


class Watchlist(models.Model):
    name = models.CharField(max_length=80, unique=True)
    source_format = models.CharField(max_length=10, choices=ListFormat.choices)
    kind = models.CharField(max_length=10, choices=ListKind.choices, default=ListKind.SANCTIONS)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class WatchlistVersion(models.Model):
    watchlist = models.ForeignKey(Watchlist, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.CharField(max_length=500, help_text=_("The file names loaded"))
    published_on = models.DateField(null=True, blank=True)
    checksum = models.CharField(max_length=64, help_text=_("SHA-256 of the files, in the order given"))
    entry_count = models.PositiveIntegerField()
    name_count = models.PositiveIntegerField()
    added = models.JSONField(default=list)  # entry numbers new in this version
    removed = models.JSONField(default=list)
    changed = models.JSONField(default=list)
    loaded_at = models.DateTimeField(auto_now_add=True)
    loaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")

    class Meta:
        constraints: ClassVar = [
            # Versions count up per list; two loads racing for the same number: one fails, nothing half-stored.
            models.UniqueConstraint(fields=["watchlist", "number"], name="compliance_version_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.watchlist} v{self.number}"


class WatchlistEntry(models.Model):
    version = models.ForeignKey(WatchlistVersion, on_delete=models.CASCADE, related_name="entries")
    ent_num = models.CharField(max_length=40, help_text=_("The list's own entry number (OFAC ent_num)"))
    entry_type = models.CharField(max_length=10, choices=EntryType.choices)
    primary_name = models.CharField(max_length=500)
    # [{"text", "kind": primary|aka|fka|nka, "weak": bool}]
    names = models.JSONField(default=list)
    # [{"year", "month", "day", "circa", "year_to"}] at the precision the list gives
    dobs = models.JSONField(default=list)
    places_of_birth = models.JSONField(default=list)
    countries = models.JSONField(default=list)  # ISO 3166 alpha-2: nationalities, citizenships, registration
    programs = models.CharField(max_length=500, blank=True)
    remarks = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=64, help_text=_("Hash of the details screening compares"))

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["version", "ent_num"], name="compliance_entry_per_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.ent_num} {self.primary_name}"

    def as_dict(self) -> dict[str, Any]:
        return {"ent_num": self.ent_num, "type": self.entry_type, "names": self.names, "dobs": self.dobs,
                "countries": self.countries}


# --- screening: hits of clients against the lists, and the officers' decisions ---------------------------


class ScreeningTrigger(models.TextChoices):
    REGISTRATION = "registration", _("Registration")
    KYC_SUBMISSION = "kyc_submission", _("KYC submission")
    DETAILS_CHANGED = "details_changed", _("Change of name, date of birth or country")
    LIST_UPDATE = "list_update", _("List update")
    DAILY = "daily", _("Daily re-screening")


class HitStatus(models.TextChoices):
    OPEN = "open", _("Waiting for review")
    PENDING = "pending", _("Waiting for a second officer")
    CONFIRMED = "confirmed", _("Confirmed")
    DISMISSED = "dismissed", _("Dismissed as a false positive")


class HitAction(models.TextChoices):
    CONFIRM = "confirm", _("Confirm")
    DISMISS = "dismiss", _("Dismiss")


UNRESOLVED_HIT_STATUSES = (HitStatus.OPEN, HitStatus.PENDING)


class ScreeningHit(models.Model):
    """A client found on a list entry, waiting for (or carrying) the officers' decision.

    `client_fingerprint` and `entry_fingerprint` are the hashes of what was compared (the client's
    name, date of birth, country and nationality; the entry's details as the list gives them): a decided pair is
    raised again only when one of them changes."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="screening_hits")
    watchlist = models.ForeignKey(Watchlist, on_delete=models.PROTECT, related_name="hits")
    version = models.ForeignKey(WatchlistVersion, on_delete=models.PROTECT, related_name="hits",
                                help_text=_("The version whose entry raised the hit"))
    entry = models.ForeignKey(WatchlistEntry, on_delete=models.PROTECT, related_name="hits")
    ent_num = models.CharField(max_length=40)
    score = models.DecimalField(max_digits=4, decimal_places=3)
    matched_name = models.CharField(max_length=500)
    explanation = models.TextField()
    # [{"typed", "listed", "how"}]: each typed token and the listed token it matched.
    matches = models.JSONField(default=list)
    # The client's details as screened: {"name", "dob", "country"} and "nationality" when recorded.
    screened = models.JSONField(default=dict)
    client_fingerprint = models.CharField(max_length=64)
    entry_fingerprint = models.CharField(max_length=64)
    trigger = models.CharField(max_length=20, choices=ScreeningTrigger.choices)
    status = models.CharField(max_length=12, choices=HitStatus.choices, default=HitStatus.OPEN)
    # The first officer's decision while a second officer's approval is needed (four-eyes).
    pending_action = models.CharField(max_length=10, choices=HitAction.choices, blank=True)
    pending_reason = models.TextField(blank=True)
    pending_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    decision_reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-pk"]
        indexes: ClassVar = [
            # The review queue: unresolved hits, best first.
            models.Index(fields=["status", "-score"], name="compliance_hit_queue_idx"),
            # Re-screening looks up the earlier hits of the clients it found, pair by pair.
            models.Index(fields=["client", "watchlist", "ent_num"], name="compliance_hit_pair_idx"),
        ]
        constraints: ClassVar = [
            # One unresolved hit per (client, list entry): two screenings racing raise it once.
            models.UniqueConstraint(fields=["client", "watchlist", "ent_num"], name="compliance_hit_unresolved_unique",
                                    condition=models.Q(status__in=["open", "pending"])),
            models.CheckConstraint(condition=models.Q(status__in=["open", "pending", "confirmed", "dismissed"]),
                                   name="compliance_hit_status_valid"),
            # Four-eyes: the approving officer is never the one who decided first.
            models.CheckConstraint(condition=models.Q(approved_by__isnull=True)
                                   | ~models.Q(approved_by=models.F("pending_by")),
                                   name="compliance_hit_second_officer_differs"),
        ]

    def __str__(self) -> str:
        return f"hit {self.code}: client {self.client_id} on {self.ent_num}"

    @property
    def unresolved(self) -> bool:
        return self.status in UNRESOLVED_HIT_STATUSES


class ScreeningDecision(models.Model):
    """Each step an officer took on a hit, in order: a decision, a first decision waiting for the
    second officer, the second officer's approval or sending it back. Rows are never changed."""

    class Step(models.TextChoices):
        DECIDED = "decided", _("Decided")
        PROPOSED = "proposed", _("Decided, waiting for a second officer")
        APPROVED = "approved", _("Approved by the second officer")
        SENT_BACK = "sent_back", _("Sent back by the second officer")

    hit = models.ForeignKey(ScreeningHit, on_delete=models.CASCADE, related_name="decisions")
    step = models.CharField(max_length=10, choices=Step.choices)
    action = models.CharField(max_length=10, choices=HitAction.choices)
    officer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.step} {self.action} on hit {self.hit_id}"


def _labels(states: type[models.TextChoices], old: str, new: str) -> dict[str, str]:
    return {"from": str(states(old).label).lower(), "to": str(states(new).label).lower()}


# A hit's life: an officer's decision takes effect at once (confirmed, dismissed) or, at and above the
# high score, waits for a second officer (pending), who approves it (route "approve": only the
# second officer's approval decides a pending hit) or sends it back (open). A decided hit stays
# decided: a change on either side raises a new hit.
HIT_STATES = StateMachine(
    name="screening hit", model="compliance.ScreeningHit", states=HitStatus, error=HitTransitionRefused,
    transitions={
        HitStatus.OPEN: frozenset({HitStatus.PENDING, HitStatus.CONFIRMED, HitStatus.DISMISSED}),
        HitStatus.PENDING: frozenset({HitStatus.OPEN}),
        HitStatus.CONFIRMED: frozenset(),
        HitStatus.DISMISSED: frozenset(),
    },
    routes={"approve": {HitStatus.PENDING: frozenset({HitStatus.CONFIRMED, HitStatus.DISMISSED})}},
    terminal=frozenset({HitStatus.CONFIRMED, HitStatus.DISMISSED}),
    message=lambda old, new: gettext("A screening hit that is %(from)s cannot become %(to)s.")
    % _labels(HitStatus, old, new),
)
# --- jurisdictions and restrictions ------------------------------------------------------------------
# A brand's jurisdictions (country, or a region of one) with their status over time, and the
# restrictions on clients (what a client may not do, who decided it, why and until when). Lifting
# a restriction keeps the row: who lifted it, when and why stay beside who imposed it.

class JurisdictionStatus(models.TextChoices):
    SANCTIONED = "sanctioned", _("Sanctioned")
    HIGH_RISK = "high_risk", _("High risk")
    ALLOWED = "allowed", _("Allowed")


class Jurisdiction(models.Model):
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    country = models.CharField(max_length=2, help_text=_("ISO 3166-1 alpha-2"))
    region = models.CharField(max_length=10, blank=True, help_text=_("ISO 3166-2 subdivision code; empty: the whole country"))
    status = models.CharField(max_length=12, choices=JurisdictionStatus.choices)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text=_("Empty: until changed"))
    source = models.CharField(max_length=200, blank=True, help_text=_("The list or file it came from"))
    note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints: ClassVar = [
            # One status per place and brand: a new list changes the row (its history keeps the old one).
            models.UniqueConstraint(fields=["brand", "country", "region"], name="compliance_jurisdiction_unique"),
            models.CheckConstraint(condition=models.Q(country__regex=r"^[A-Z]{2}$"),
                                   name="compliance_jurisdiction_country_iso2"),
            models.CheckConstraint(condition=models.Q(effective_to__isnull=True)
                                   | models.Q(effective_to__gt=models.F("effective_from")),
                                   name="compliance_jurisdiction_dates_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.country}{'-' + self.region if self.region else ''}: {self.status}"

    def in_effect(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


class RestrictionKind(models.TextChoices):
    DEPOSIT = "no_deposit", _("No deposits")
    WITHDRAWAL = "no_withdrawal", _("No withdrawals")
    TRADING = "no_trading", _("No trading")
    LOGIN = "no_login", _("No trader's room login")


class RestrictionSource(models.TextChoices):
    MANUAL = "manual", _("Set by an officer")
    JURISDICTION = "jurisdiction", _("Sanctioned jurisdiction")
    SCREENING = "screening", _("Confirmed screening hit")
    OFFBOARDING = "offboarding", _("Offboarded by a compliance case")


class Restriction(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=RestrictionKind.choices)
    source = models.CharField(max_length=16, choices=RestrictionSource.choices, default=RestrictionSource.MANUAL)
    reason = models.TextField()
    imposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    imposed_at = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True, help_text=_("Empty: until lifted"))
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    lift_reason = models.TextField(blank=True)
    # No trading: each account's access before it was set read-only, by account code, restored on lifting.
    trading_before = models.JSONField(default=dict, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints: ClassVar = [
            # At most one open restriction of a kind per client: imposing again keeps the open one.
            models.UniqueConstraint(fields=["client", "kind"], condition=models.Q(lifted_at__isnull=True),
                                    name="compliance_restriction_open_unique"),
            models.CheckConstraint(condition=models.Q(lifted_at__isnull=True) | ~models.Q(lift_reason=""),
                                   name="compliance_restriction_lift_has_reason"),
        ]
        indexes: ClassVar = [
            # The checks at deposits, withdrawals and logins read a client's open restrictions.
            models.Index(fields=["client"], condition=models.Q(lifted_at__isnull=True),
                         name="compliance_restriction_open"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.client_id}"

    def active_at(self, when: dt.datetime) -> bool:
        return self.lifted_at is None and (self.until is None or when < self.until)


# --- client risk score (issue 35, item 2) ---------------------------------------------------------------
# A brand's risk model is data: each factor's points and parameters, the band thresholds and the review
# period of each band. Saving it writes a new version (the old ones stay, each score names the version
# it was computed with). A client's scores are rows, never changed but for the mark that the periodic
# review they fell due for was raised: the newest is the client's risk, the rest its history.

class RiskBand(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class RiskModel(models.Model):
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    # {factor key: {"enabled": bool, ...that factor's parameters and points}} (compliance.risk.FACTORS)
    factors = models.JSONField(default=dict)
    medium_from = models.PositiveIntegerField(help_text=_("Points from which the risk is medium"))
    high_from = models.PositiveIntegerField(help_text=_("Points from which the risk is high"))
    review_months_low = models.PositiveIntegerField(default=36)
    review_months_medium = models.PositiveIntegerField(default=24)
    review_months_high = models.PositiveIntegerField(default=12)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")

    class Meta:
        constraints: ClassVar = [
            # Versions count up per brand; two saves racing for the same number: one fails.
            models.UniqueConstraint(fields=["brand", "version"], name="compliance_riskmodel_version_unique"),
            models.CheckConstraint(condition=models.Q(high_from__gt=models.F("medium_from")),
                                   name="compliance_riskmodel_bands_ordered"),
        ]

    def __str__(self) -> str:
        return f"risk model v{self.version} of brand {self.brand_id}"

    def review_months(self, band: str) -> int:
        months: dict[str, int] = {RiskBand.LOW: self.review_months_low, RiskBand.MEDIUM: self.review_months_medium,
                                  RiskBand.HIGH: self.review_months_high}
        return months.get(band, self.review_months_low)


class RiskScore(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+")
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    model = models.ForeignKey(RiskModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              help_text=_("Empty: the built-in defaults"))
    model_version = models.PositiveIntegerField(default=0)
    score = models.IntegerField()
    band = models.CharField(max_length=8, choices=RiskBand.choices)
    previous_band = models.CharField(max_length=8, choices=RiskBand.choices, blank=True)
    # [{"key", "label", "value", "points"}]: each factor's finding and what it added.
    factors = models.JSONField(default=list)
    trigger = models.CharField(max_length=80, help_text=_("The event or action that recomputed it"))
    computed_at = models.DateTimeField()
    computed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    review_due = models.DateField(help_text=_("The next periodic review of the client"))
    review_raised_at = models.DateTimeField(null=True, blank=True)
    edd_task = models.ForeignKey("crm.Task", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering: ClassVar = ["-computed_at", "-pk"]
        indexes: ClassVar = [
            # The client's current score and history, newest first.
            models.Index(fields=["client", "-computed_at", "-id"], name="compliance_risk_client_idx"),
            # The trail export of a brand over a period.
            models.Index(fields=["brand", "computed_at"], name="compliance_risk_brand_idx"),
            # The beat pass: reviews due and not yet raised.
            models.Index(fields=["review_due"], condition=models.Q(review_raised_at__isnull=True),
                         name="compliance_risk_review_due_idx"),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(condition=models.Q(band__in=["low", "medium", "high"]),
                                   name="compliance_risk_band_valid"),
        ]

    def __str__(self) -> str:
        return f"risk {self.band} ({self.score}) of client {self.client_id}"


# --- the compliance trail export (issue 35, item 5) ----------------------------------------------------

class TrailExport(models.Model):
    """One export of the compliance trail asked by an officer: its scope (a brand, or one client of it),
    its period, and the job that builds the ZIP."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    job = models.ForeignKey("crm.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    # Rows written per section, and the audit chain's status when it was built.
    counts = models.JSONField(default=dict, blank=True)
    chain_ok = models.BooleanField(null=True)
    chain_detail = models.TextField(blank=True)

    class Meta:
        ordering: ClassVar = ["-requested_at", "-pk"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="compliance_trail_period_ordered"),
        ]

    def __str__(self) -> str:
        return f"trail export {self.code}"

    @property
    def last_day(self) -> dt.date:
        return (self.end - dt.timedelta(days=1)).date()


# --- cases: alerts and confirmed screening hits grouped per client, worked by the officers ------------


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_REVIEW = "in_review", _("In review")
    PENDING_APPROVAL = "pending_approval", _("Waiting for a second officer")
    CLOSED = "closed", _("Closed")


class CasePriority(models.TextChoices):
    CRITICAL = "critical", _("Critical")
    HIGH = "high", _("High")
    NORMAL = "normal", _("Normal")
    LOW = "low", _("Low")


class CaseDecision(models.TextChoices):
    NO_ACTION = "no_action", _("Close with no action")
    RESTRICT = "restrict", _("Close and restrict the client")
    REPORT = "report", _("Report to the regulator")
    OFFBOARD = "offboard", _("Offboard: close the accounts and return the balance")


# Decisions that only take effect once a second, different officer approves them (four-eyes).
SECOND_OFFICER_DECISIONS = (CaseDecision.REPORT, CaseDecision.OFFBOARD)
UNCLOSED_CASE_STATUSES = (CaseStatus.OPEN, CaseStatus.IN_REVIEW, CaseStatus.PENDING_APPROVAL)


class Case(models.Model):
    """A client's compliance case: the alerts and confirmed screening hits about the client, worked by
    an officer to a decision. At most one case per client is not closed (a partial unique index);
    what arrives for a client whose case is closed opens a new one. The status moves only through
    compliance.cases (each move a CaseStep row and an audit row). Nothing of a case is shown to the
    client or the sales floor (tipping off): its events name the client in their data only."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    priority = models.CharField(max_length=10, choices=CasePriority.choices, default=CasePriority.NORMAL)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField(help_text=_("The SLA: by when a decision is due, from the priority"))
    # The officer's account of the facts, for the report and the record.
    narrative = models.TextField(blank=True)
    # The first officer's decision while a second officer's approval is needed.
    proposed_decision = models.CharField(max_length=12, choices=CaseDecision.choices, blank=True)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    proposed_reason = models.TextField(blank=True)
    decision = models.CharField(max_length=12, choices=CaseDecision.choices, blank=True)
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)
    # The suspicious-activity report: drafted here, filed by the officer in the regulator's own system.
    sar_drafted_at = models.DateTimeField(null=True, blank=True)
    sar_filed_on = models.DateField(null=True, blank=True)
    sar_reference = models.CharField(max_length=100, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["due_at", "pk"]
        constraints: ClassVar = [
            # One case a client at a time: alerts and hits arriving together attach to the same case.
            models.UniqueConstraint(fields=["client"], condition=~models.Q(status="closed"),
                                    name="compliance_case_one_open_per_client"),
            models.CheckConstraint(condition=models.Q(status__in=["open", "in_review", "pending_approval", "closed"]),
                                   name="compliance_case_status_valid"),
            # Four-eyes: the approving officer is never the one who proposed the decision.
            models.CheckConstraint(condition=models.Q(approved_by__isnull=True)
                                   | ~models.Q(approved_by=models.F("proposed_by")),
                                   name="compliance_case_second_officer_differs"),
            # A closed case carries its decision; an unclosed one none.
            models.CheckConstraint(condition=(models.Q(status="closed") & ~models.Q(decision="")
                                              & models.Q(closed_at__isnull=False))
                                   | (~models.Q(status="closed") & models.Q(decision="")),
                                   name="compliance_case_closed_has_decision"),
        ]
        indexes: ClassVar = [
            # The queue: unclosed cases by due date.
            models.Index(fields=["due_at"], condition=~models.Q(status="closed"), name="compliance_case_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"case {self.code}: client {self.client_id}"

    @property
    def is_closed(self) -> bool:
        return self.status == CaseStatus.CLOSED

    def overdue_at(self, when: dt.datetime) -> bool:
        return not self.is_closed and when > self.due_at


class CaseItemKind(models.TextChoices):
    AML_ALERT = "aml_alert", _("AML alert")
    SCREENING_HIT = "screening_hit", _("Confirmed screening hit")
    MONITORING_ALERT = "monitoring_alert", _("Monitoring alert escalated by a reviewer")


class CaseItem(models.Model):
    """What a case is about: an alert or a confirmed screening hit, by kind and the id it has in its
    own table (a generic reference, so that cases need not know the alert's model)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=20, choices=CaseItemKind.choices)
    ref_id = models.CharField(max_length=64)
    summary = models.TextField()
    score = models.IntegerField(null=True, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["added_at", "pk"]
        constraints: ClassVar = [
            # An alert or hit belongs to one case, once: an event delivered twice attaches it once.
            models.UniqueConstraint(fields=["kind", "ref_id"], name="compliance_case_item_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.ref_id}"


class CaseStep(models.Model):
    """Each move of a case, in order (opened, review started, decision proposed, approved, sent back,
    closed, reopened, assigned): who, when, from which status to which, and why. Never changed."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="steps")
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_status} -> {self.to_status}"


# A case's life (the diagram in compliance.cases): closing from pending approval is the second
# officer's approval only (route "approve"), and a closed case goes back to review only by reopening
# (route "reopen", within its days). Each move writes its CaseStep row.
CASE_STATES = StateMachine(
    name="compliance case", model="compliance.Case", states=CaseStatus, error=CaseTransitionRefused,
    transitions={
        CaseStatus.OPEN: frozenset({CaseStatus.IN_REVIEW}),
        CaseStatus.IN_REVIEW: frozenset({CaseStatus.PENDING_APPROVAL, CaseStatus.CLOSED}),
        CaseStatus.PENDING_APPROVAL: frozenset({CaseStatus.IN_REVIEW}),
        CaseStatus.CLOSED: frozenset(),
    },
    routes={"approve": {CaseStatus.PENDING_APPROVAL: frozenset({CaseStatus.CLOSED})},
            "reopen": {CaseStatus.CLOSED: frozenset({CaseStatus.IN_REVIEW})}},
    terminal=frozenset(),
    record=history_writer(CaseStep, owner="case", stamp=None),
    message=lambda old, new: gettext("A case that is %(from)s cannot become %(to)s.") % _labels(CaseStatus, old, new),
)


class CaseNote(models.Model):
    """An officer's note on a case; notes are added, never edited."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["at", "pk"]

    def __str__(self) -> str:
        return f"note {self.pk} on case {self.case_id}"


class CaseAttachment(models.Model):
    """A file added to a case (PNG, JPEG or PDF, checked by content), stored privately as KYC
    documents are (compliance.case_storage), named by a random name, never by the one given."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_name = models.CharField(max_length=80, unique=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.filename


# --- AML transaction monitoring: rules as data, their versions, and the alerts they raise ---------------
# A rule is a kind of pattern (compliance.aml.RULE_KINDS) for one brand and one client risk class; its
# parameters live in versions: an edit adds a version (never changes one), and an alert keeps the
# version that raised it, so that an officer reads the thresholds the alert was raised under.

class AmlRuleKind(models.TextChoices):
    LARGE_TRANSACTION = "large_transaction", _("Large single deposit or withdrawal")
    STRUCTURING = "structuring", _("Structuring: several deposits just under a threshold")
    RAPID_IN_OUT = "rapid_in_out", _("Rapid in and out: deposit withdrawn with little trading")
    HIGH_RISK_JURISDICTION = "high_risk_jurisdiction", _("Funds of a client in a high-risk jurisdiction")
    DORMANT_ACCOUNT = "dormant_account", _("Dormant account suddenly moving large amounts")
    THIRD_PARTY_FUNDING = "third_party_funding", _("Third-party funding: the payer is not the client, or pays "
                                                   "from another country")
    MANY_INSTRUMENTS = "many_instruments", _("Many payment instruments, or a payout to a destination just added")
    SHARED_INSTRUMENTS = "shared_instruments", _("Payment instruments, IPs or devices shared with other clients "
                                                 "or with their partner")
    OVER_DECLARED = "over_declared", _("Deposits out of line with the declared income and savings")
    PROVIDER_RISK = "provider_risk", _("Deposit whose money the payment provider scores as risky (crypto)")


class AmlRiskClass(models.TextChoices):
    ALL = "all", _("All clients")
    LOW = "low", _("Low risk")
    MEDIUM = "medium", _("Medium risk")
    HIGH = "high", _("High risk")


class AmlRule(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30, choices=AmlRuleKind.choices)
    risk_class = models.CharField(max_length=10, choices=AmlRiskClass.choices, default=AmlRiskClass.ALL)
    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering: ClassVar = ["brand_id", "kind", "risk_class"]
        constraints: ClassVar = [
            # One rule of a kind per brand and risk class: its changes are versions, not more rules.
            models.UniqueConstraint(fields=["brand", "kind", "risk_class"], name="compliance_amlrule_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class AmlRuleVersion(models.Model):
    """One set of parameters of a rule, in force from `effective_from` until the next version's.
    Rows are never changed: an edit is a new version."""

    rule = models.ForeignKey(AmlRule, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    parameters = models.JSONField()
    effective_from = models.DateTimeField()
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["rule_id", "-number"]
        constraints: ClassVar = [
            # Versions count up per rule; two edits racing for the same number: one fails, nothing half-stored.
            models.UniqueConstraint(fields=["rule", "number"], name="compliance_amlruleversion_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} v{self.number}"


class AmlAlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_CASE = "in_case", _("In a case")
    DISMISSED = "dismissed", _("Dismissed")


class AmlAlert(models.Model):
    """A pattern a rule version found in a client's money movements: the ledger transactions that make
    it (`transaction_ids`, linked on the alert's page), what they showed (`facts`) and a score 1-100.

    `fingerprint` is the hash of the transactions: the same facts never raise a rule's alert twice,
    whichever version, event or periodic pass finds them again (the unique constraint below)."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="+")
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(AmlRule, on_delete=models.PROTECT, related_name="alerts")
    rule_version = models.ForeignKey(AmlRuleVersion, on_delete=models.PROTECT, related_name="alerts")
    score = models.PositiveSmallIntegerField()
    fingerprint = models.CharField(max_length=64)
    transaction_ids = ArrayField(models.BigIntegerField())
    facts = models.JSONField(default=dict)
    summary = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=AmlAlertStatus.choices, default=AmlAlertStatus.OPEN)
    status_reason = models.TextField(blank=True)
    status_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    status_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-pk"]
        indexes: ClassVar = [
            # The alert queue: open alerts, newest first; a client's alerts (risk score, cases).
            models.Index(fields=["status", "-created_at"], name="compliance_amlalert_queue_idx"),
            models.Index(fields=["client", "created_at"], name="compliance_amlalert_client_idx"),
        ]
        constraints: ClassVar = [
            # Idempotency: the same facts raise one alert per rule, however often they are found.
            models.UniqueConstraint(fields=["rule", "client", "fingerprint"], name="compliance_amlalert_facts_once"),
            models.CheckConstraint(condition=models.Q(status__in=["open", "in_case", "dismissed"]),
                                   name="compliance_amlalert_status_valid"),
            models.CheckConstraint(condition=~models.Q(status="dismissed") | ~models.Q(status_reason=""),
                                   name="compliance_amlalert_dismissal_has_reason"),
            models.CheckConstraint(condition=models.Q(score__gte=1, score__lte=100),
                                   name="compliance_amlalert_score_range"),
        ]

    def __str__(self) -> str:
        return f"alert {self.code}: client {self.client_id} by {self.rule_id}"


# An alert is open until an officer dismisses it (with a reason) or it is taken into a case.
AML_ALERT_STATES = StateMachine(
    name="aml alert", model="compliance.AmlAlert", states=AmlAlertStatus, error=AmlAlertTransitionRefused,
    transitions={
        AmlAlertStatus.OPEN: frozenset({AmlAlertStatus.IN_CASE, AmlAlertStatus.DISMISSED}),
        AmlAlertStatus.IN_CASE: frozenset(),
        AmlAlertStatus.DISMISSED: frozenset(),
    },
    terminal=frozenset({AmlAlertStatus.IN_CASE, AmlAlertStatus.DISMISSED}),
    message=lambda old, new: gettext("An AML alert that is %(from)s cannot become %(to)s.")
    % _labels(AmlAlertStatus, old, new),
)


class AmlRun(models.Model):
    """Where the periodic pass got to: each pass evaluates the ledger rows recorded after the previous
    pass's `until` (the incremental window), once."""

    started_at = models.DateTimeField(auto_now_add=True)
    since = models.DateTimeField()
    until = models.DateTimeField()
    raised = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)

    class Meta:
        ordering: ClassVar = ["-until"]

    def __str__(self) -> str:
        return f"AML pass {self.since} - {self.until}"


# --- data-subject requests (issue 64): in a module of their own, loaded with the app's models ---------
from compliance.data_request_models import (  # noqa: E402, F401 (re-exported)
    DATA_REQUEST_STATES,
    DataRequestChannel,
    DataRequestKind,
    DataRequestStatus,
    DataRequestStep,
    DataSubjectRequest,
)

# --- the retention schedule and erasures done (issue 64): loaded with the app's models -----------------
from compliance.retention_models import (  # noqa: E402, F401 (re-exported)
    ClientErasure,
    RetentionKind,
    RetentionRule,
    RetentionRun,
)
