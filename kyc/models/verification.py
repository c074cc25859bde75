"""Know-your-customer: each client's verification status and address, what they sent (submissions and
their documents), the automatic checks' report, the officers' decisions and each brand's policy.

The verification status is a guarded state machine (`KYC_STATES`, crm.lib.states, through
`KycProfile.status_set`): only the transitions in `TRANSITIONS` are allowed, each one leaves a
`KycStatusChange` row, and only kyc.services call it (they also emit the domain events). The files themselves live in private storage (kyc.storage),
named by a random uuid; a `Document` row holds their hash, type and size.
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

from crm.lib.fieldcrypt import (
    EncryptedJSONField,
    EncryptedTextField,
    KeyedHashField,
    update_fields_with_hashes,
)
from crm.lib.states import StateMachine, history_writer
from kyc.exceptions import KycTransitionRefused, SubmissionTransitionRefused
from plumbing.context import history_user


class KycStatus(models.TextChoices):
    UNVERIFIED = "unverified", _("Unverified")
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")


# The verification's life: sent, decided, and an approval runs out when a document does. A retryable
# rejection and an expiry go back to pending when the client sends documents again; a final
# rejection goes nowhere (KycProfile.status_set refuses it separately).
TRANSITIONS: dict[str, frozenset[str]] = {
    KycStatus.UNVERIFIED: frozenset({KycStatus.PENDING}),
    KycStatus.PENDING: frozenset({KycStatus.APPROVED, KycStatus.REJECTED}),
    KycStatus.REJECTED: frozenset({KycStatus.PENDING}),
    KycStatus.APPROVED: frozenset({KycStatus.EXPIRED}),
    KycStatus.EXPIRED: frozenset({KycStatus.PENDING}),
}

# None: a rejection may be retried and an approval runs out (a final rejection is the guard's).
TERMINAL: frozenset[str] = frozenset()

# An approval withdrawn so that an officer looks again: a verification vendor's later result says the
# approved documents are not good after all (kyc.vendor_services). Only that path may take it
# (`reopen=True`, the machine's "reopen" route); a client sending documents while approved is still
# refused.
REOPEN: dict[str, frozenset[str]] = {
    KycStatus.APPROVED: frozenset({KycStatus.PENDING}),
}

# The verification vendor that checks a brand's submissions when the policy names none.
BUILTIN_VENDOR = "builtin"


class Slot(models.TextChoices):
    IDENTITY = "identity", _("Identity")
    ADDRESS = "address", _("Proof of address")


class DocumentKind(models.TextChoices):
    PASSPORT = "passport", _("Passport")
    ID_CARD = "id_card", _("Identity card")
    DRIVING_LICENCE = "driving_licence", _("Driving licence")
    UTILITY_BILL = "utility_bill", _("Utility bill")
    BANK_STATEMENT = "bank_statement", _("Bank statement")


SLOT_OF_KIND: dict[str, str] = {
    DocumentKind.PASSPORT: Slot.IDENTITY, DocumentKind.ID_CARD: Slot.IDENTITY,
    DocumentKind.DRIVING_LICENCE: Slot.IDENTITY,
    DocumentKind.UTILITY_BILL: Slot.ADDRESS, DocumentKind.BANK_STATEMENT: Slot.ADDRESS,
}


class Side(models.TextChoices):
    NONE = "", _("Single page")
    FRONT = "front", _("Front")
    BACK = "back", _("Back")


class ExpiryHold(models.TextChoices):
    WITHDRAWALS = "withdrawals", _("Withdrawals")
    DEPOSITS = "deposits", _("Deposits")
    NEW_ACCOUNTS = "new_accounts", _("New trading accounts")


class KycPolicy(models.Model):
    """A brand's verification rules. A brand without a row gets the defaults of a new row."""

    brand = models.OneToOneField("crm.Brand", on_delete=models.CASCADE, related_name="kyc_policy")
    # ISO 3166-1 alpha-3, as the machine-readable zone prints them; empty: every country.
    allowed_issuing_countries = ArrayField(models.CharField(max_length=3), default=list, blank=True)
    poa_max_age_days = models.PositiveSmallIntegerField(default=90)
    expiry_warning_days = models.PositiveSmallIntegerField(default=30)
    review_sla_hours = models.PositiveSmallIntegerField(default=24)
    # ISO 3166-1 alpha-2 countries of residence whose clients need two officers' approval.
    high_risk_countries = ArrayField(models.CharField(max_length=2), default=list, blank=True)
    expiry_holds = ArrayField(models.CharField(max_length=20, choices=ExpiryHold.choices),
                              default=list, blank=True)
    # Who checks the documents (a code of kyc.vendors.VENDORS): the built-in checks or an external vendor.
    vendor = models.CharField(max_length=40, default=BUILTIN_VENDOR)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        verbose_name_plural = "KYC policies"
        permissions: ClassVar = [("manage_policy", "Can change a brand's KYC policy")]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(poa_max_age_days__gte=1, review_sla_hours__gte=1),
                                   name="kycpolicy_positive_periods"),
        ]

    def __str__(self) -> str:
        return f"KYC policy of {self.brand_id}"


class KycProfile(models.Model):
    """One client's verification status and address of residence (what the proof of address is
    compared with). Created with the client's first KYC write."""

    client = models.OneToOneField("crm.Client", on_delete=models.CASCADE, related_name="kyc_profile")
    status = models.CharField(max_length=12, choices=KycStatus.choices, default=KycStatus.UNVERIFIED)
    # False after a final rejection: the client may not send documents again.
    can_resubmit = models.BooleanField(default=True)
    level = models.CharField(max_length=20, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # The day the approval runs out (the identity document's expiry); the daily job expires it then.
    expires_on = models.DateField(null=True, blank=True)
    # The street, its second line and the city are encrypted in their columns (crm.lib.fieldcrypt),
    # here and in the history; the postcode and country stay in clear (an area, not a home: what the
    # shared-address evidence shows). Two clients at one address are found by the first line's keyed
    # hash (squeezed as address_line_key does) with the postcode and country.
    address_line1 = EncryptedTextField(max_length=200, blank=True)
    address_line2 = EncryptedTextField(max_length=200, blank=True)
    city = EncryptedTextField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True)
    address_hash = KeyedHashField(source="address_line1", kind="address", db_default="")
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user, excluded_fields=["updated_at", "address_hash"])

    class Meta:
        indexes: ClassVar = [
            # The daily expiry job: approved verifications by the day they run out.
            models.Index(fields=["expires_on"], name="kycprofile_expiry_idx",
                         condition=Q(status="approved")),
            # The clients at one address (kyc.selectors.clients_sharing_address).
            models.Index(fields=["address_hash"], name="kycprofile_address_hash_idx", condition=~Q(address_hash="")),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(country="") | Q(country__regex=r"^[A-Z]{2}$"),
                                   name="kycprofile_country_iso2"),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in KycStatus]),
                                   name="kycprofile_status_valid"),
        ]

    def __str__(self) -> str:
        return f"KYC of client {self.client_id}: {self.status}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = update_fields_with_hashes(type(self), kwargs["update_fields"])
        super().save(*args, **kwargs)

    @property
    def address_text(self) -> str:
        return ", ".join(p for p in (self.address_line1, self.address_line2, self.city, self.postcode,
                                     self.country) if p)

    def transition_refusal(self, new: str, *, reopen: bool = False) -> str | None:
        """Why the status may not move to `new`, or None (the text is for the service's error).
        `reopen`: the move may also be one of REOPEN (an approval withdrawn for review)."""
        via = REOPEN_ROUTE if reopen else None
        if not KYC_STATES.allows(self.status, new, via=via):
            return f"{self.status} → {new}"
        if not KYC_STATES.allows(self.status, new, via=via, obj=self):
            return f"{self.status} (final) → {new}"
        return None

    def status_set(self, new: str, *, actor: Any, reason: str = "", submission: Submission | None = None,
                   reopen: bool = False, at: Any = None) -> KycStatusChange:
        """Move to `new` through KYC_STATES and record the change; KycTransitionRefused (naming both
        statuses, nothing written) for a move outside TRANSITIONS (and REOPEN with `reopen`) or from
        a final rejection. Only kyc.services call this (they audit and emit the event in the same
        transaction); the caller's changes to the fields saved with the status are saved too. `at`:
        when the move happened (a migration's history; default now)."""
        now = at or timezone.now()
        change: KycStatusChange = KYC_STATES.move(
            self, new, via=REOPEN_ROUTE if reopen else None, also={"status_changed_at": now},
            save=("can_resubmit", "level", "verified_at", "expires_on", "updated_at"),
            at=now, actor=actor, reason=reason[:500], submission=submission)
        return change

    status_set.alters_data = True  # type: ignore[attr-defined]  # Django's mark for templates, unknown to typeshed


class KycStatusChange(models.Model):
    """One move of a client's verification status (the history, as rows)."""

    profile = models.ForeignKey(KycProfile, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=12, choices=KycStatus.choices)
    to_status = models.CharField(max_length=12, choices=KycStatus.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    submission = models.ForeignKey("kyc.Submission", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


REOPEN_ROUTE = "reopen"


def _may_leave(profile: KycProfile, old: str, new: str) -> bool:
    """A final rejection (no resubmission allowed) does not go back to pending."""
    return not (old == KycStatus.REJECTED and new == KycStatus.PENDING and not profile.can_resubmit)


def _refused(old: str, new: str) -> str:
    return gettext("The verification cannot move from %(old)s to %(new)s.") % {
        "old": KycStatus(old).label, "new": KycStatus(new).label}


KYC_STATES = StateMachine(
    name="verification", model="kyc.KycProfile", states=KycStatus, transitions=TRANSITIONS, terminal=TERMINAL,
    routes={REOPEN_ROUTE: REOPEN}, guard=_may_leave,
    record=history_writer(KycStatusChange, owner="profile"),
    error=KycTransitionRefused, message=_refused,
)


class SubmissionStatus(models.TextChoices):
    CHECKING = "checking", _("Being checked")
    REVIEW = "review", _("Waiting for review")
    INFO_REQUESTED = "info_requested", _("More information requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


OPEN_SUBMISSION = (SubmissionStatus.CHECKING, SubmissionStatus.REVIEW)


class Submission(models.Model):
    """One set of documents a client sent, the automatic checks' report on it and its outcome."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="kyc_submissions")
    # The client's brand, copied: the queue is scoped and ordered by brand and due time in one index.
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+", db_index=False)
    status = models.CharField(max_length=16, choices=SubmissionStatus.choices, default=SubmissionStatus.CHECKING)
    submitted_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()  # submitted_at + the brand's review SLA
    decided_at = models.DateTimeField(null=True, blank=True)
    resubmission_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    high_risk = models.BooleanField(default=False)
    # The automatic checks: Report.as_dict(), its decision and the names of the checks that did not pass.
    # Encrypted in their columns (crm.lib.fieldcrypt): the report's facts and the vendor's result carry
    # the identity document's number, the name, date of birth and nationality read from it.
    report: Any = EncryptedJSONField(null=True, blank=True)  # a dict (JSON), stored encrypted
    auto_decision = models.CharField(max_length=10, blank=True)
    problems = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    # The identity document's number (upper-case letters and digits), encrypted; found again (the same
    # document sent by another client) by its keyed hash.
    document_number = EncryptedTextField(blank=True)
    document_number_hash = KeyedHashField(source="document_number", kind="document")
    claimed_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    claimed_at = models.DateTimeField(null=True, blank=True)
    first_approval_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True,
                                          related_name="+")
    first_approved_at = models.DateTimeField(null=True, blank=True)
    reviewer = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.TextField(blank=True)  # the rejection's reason or the information asked for
    client_hints = models.JSONField(default=list, blank=True)
    # Who checks it (the brand's vendor when it was sent) and, for an external vendor, its reference,
    # the sequence number of the last result applied (an older one arriving late changes nothing),
    # the start attempts, when the poller looks next (start again, or fetch a result whose webhook
    # did not come), the vendor's latest reason and its raw result.
    vendor = models.CharField(max_length=40, default=BUILTIN_VENDOR)
    vendor_ref = models.CharField(max_length=100, blank=True)
    vendor_sequence = models.PositiveIntegerField(default=0)
    vendor_attempts = models.PositiveSmallIntegerField(default=0)
    vendor_next_at = models.DateTimeField(null=True, blank=True)
    vendor_reason = models.CharField(max_length=500, blank=True)
    vendor_result: Any = EncryptedJSONField(null=True, blank=True)  # a dict (JSON), stored encrypted

    class Meta:
        ordering = ["-submitted_at", "-id"]
        permissions: ClassVar = [
            ("review_submission", "Can review KYC submissions (claim, approve, reject, ask for information)"),
            ("view_documents", "Can open clients' KYC documents"),
            ("approve_high_risk", "Can give the second approval of a high-risk client's verification"),
        ]
        indexes: ClassVar = [
            # The review queue: what waits, by SLA, per brand (and across brands for all-brand staff).
            models.Index(fields=["brand", "due_at", "id"], name="kycsub_queue_brand_idx",
                         condition=Q(status="review")),
            models.Index(fields=["due_at", "id"], name="kycsub_queue_idx", condition=Q(status="review")),
            models.Index(F("client"), F("submitted_at").desc(), name="kycsub_client_recent_idx"),
            # The queue's figures: decisions over a period.
            models.Index(fields=["brand", "decided_at"], name="kycsub_decided_idx",
                         condition=Q(decided_at__isnull=False)),
            # The same document number used by another client.
            models.Index(fields=["document_number_hash"], name="kycsub_docnumber_hash_idx",
                         condition=~Q(document_number_hash="")),
            # The vendor poller: external checks still open, by when they are due a look.
            models.Index(fields=["vendor_next_at"], name="kycsub_vendor_due_idx",
                         condition=Q(status="checking") & ~Q(vendor="builtin")),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(status__in=[s.value for s in SubmissionStatus]),
                                   name="kycsub_status_valid"),
            # Four eyes: the second approval is never the first approver's.
            models.CheckConstraint(condition=Q(first_approval_by__isnull=True) | Q(reviewer__isnull=True)
                                   | ~Q(reviewer=F("first_approval_by")), name="kycsub_four_eyes"),
            # A vendor's webhook names its reference: it finds exactly one submission.
            models.UniqueConstraint(fields=["vendor", "vendor_ref"], condition=~Q(vendor_ref=""),
                                    name="kycsub_vendor_ref_unique"),
        ]

    def __str__(self) -> str:
        return f"KYC submission {self.code}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_SUBMISSION


def _submission_refused(old: str, new: str) -> str:
    return gettext("A submission that is %(from)s cannot become %(to)s.") % {
        "from": str(SubmissionStatus(old).label).lower(), "to": str(SubmissionStatus(new).label).lower()}


# Checking until the automatic checks (or the vendor) decide: approved, rejected, or queued for review;
# an officer decides a reviewed one: approved, rejected or more information requested (the client's
# next documents are a new submission, so that is an end). Only a vendor's later result reopens a
# decision (the route): an approval it withdraws, a retryable rejection it clears, back to review.
SUBMISSION_STATES = StateMachine(
    name="kyc submission", model="kyc.Submission", states=SubmissionStatus,
    transitions={
        SubmissionStatus.CHECKING: frozenset({SubmissionStatus.REVIEW, SubmissionStatus.APPROVED,
                                              SubmissionStatus.REJECTED}),
        SubmissionStatus.REVIEW: frozenset({SubmissionStatus.APPROVED, SubmissionStatus.REJECTED,
                                            SubmissionStatus.INFO_REQUESTED}),
        SubmissionStatus.APPROVED: frozenset(),
        SubmissionStatus.REJECTED: frozenset(),
        SubmissionStatus.INFO_REQUESTED: frozenset(),
    },
    routes={REOPEN_ROUTE: {SubmissionStatus.APPROVED: frozenset({SubmissionStatus.REVIEW}),
                           SubmissionStatus.REJECTED: frozenset({SubmissionStatus.REVIEW})}},
    terminal=frozenset({SubmissionStatus.INFO_REQUESTED}),
    error=SubmissionTransitionRefused, message=_submission_refused,
)


class Document(models.Model):
    """One uploaded file. Its bytes are in private storage under `storage_name` (a random uuid with
    the extension of its content type); the name the client gave it is kept for display only."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="documents")
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+", db_index=False)
    slot = models.CharField(max_length=10, choices=Slot.choices)
    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    side = models.CharField(max_length=5, choices=Side.choices, blank=True)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    pages = models.PositiveSmallIntegerField(default=1)
    sha256 = models.CharField(max_length=64)
    storage_name = models.CharField(max_length=60, unique=True)
    original_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_on = models.DateField(null=True, blank=True)
    expiry_warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["submission_id", "slot", "id"]
        indexes: ClassVar = [
            models.Index(fields=["sha256"], name="kycdoc_sha256_idx"),  # the same file from two clients
            models.Index(fields=["client", "created_at"], name="kycdoc_client_idx"),
            models.Index(fields=["expires_on"], name="kycdoc_expiry_idx",
                         condition=Q(expires_on__isnull=False, expiry_warned_at__isnull=True)),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(content_type__in=["image/png", "image/jpeg", "application/pdf"]),
                                   name="kycdoc_content_type"),
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="kycdoc_sha256_hex"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.side} of submission {self.submission_id}".replace("  ", " ")

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def label(self) -> str:
        side = f" ({Side(self.side).label})" if self.side else ""
        return f"{DocumentKind(self.kind).label}{side}"


class DecisionAction(models.TextChoices):
    AUTO_APPROVE = "auto_approve", _("Approved by the automatic checks")
    AUTO_REJECT = "auto_reject", _("Rejected by the automatic checks")
    QUEUED = "queued", _("Sent to review")
    FIRST_APPROVAL = "first_approval", _("First approval (four eyes)")
    APPROVE = "approve", _("Approved")
    REJECT = "reject", _("Rejected")
    REQUEST_INFO = "request_info", _("More information requested")
    CLAIM = "claim", _("Claimed")
    ASSIGN = "assign", _("Assigned")
    RELEASE = "release", _("Released")
    VENDOR_SENT = "vendor_sent", _("Sent to the verification vendor")
    VENDOR_REOPENED = "vendor_reopened", _("Reopened: the vendor changed its result")
    VENDOR_UPDATE = "vendor_update", _("The vendor changed its result")


class KycDecision(models.Model):
    """Every step taken on a submission, with who took it and the evidence it was taken on."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="decisions")
    action = models.CharField(max_length=20, choices=DecisionAction.choices)
    officer = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on {self.submission_id}"
