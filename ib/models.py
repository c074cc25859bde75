"""Partners (introducing brokers and affiliates), their hierarchy, their tracking links and clicks,
and which partner each client belongs to over time.

Hierarchy
    `Partner.parent` is the direct parent; `Partner.path` the ids from the root down to the
    partner itself (a materialised path, bigint[] with a GIN index). A subtree is one query
    (`path @> ARRAY[id]`), an ancestor chain is one query (`id = ANY(path)`), depth is the path's
    length. Moving a partner re-paths its subtree in one UPDATE (ib.services.partner_move) and
    writes a `PartnerParentChange` row: the past is never rewritten, the engine reads the dated
    changes when it needs who was above whom at a time.

Attribution
    `ClientAttribution` rows are dated: [effective_from, effective_to) with effective_to NULL for
    the current one, at most one open row per client (a partial unique index). "Who was this
    client's partner at time T" is one indexed lookup (ib.selectors.partner_of_client_at), and
    the set-based form joins deals to the same ranges.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.fieldcrypt import EncryptedTextField, KeyedHashField, update_fields_with_hashes
from crm.lib.money import (
    CurrencyField,
    Money,
    MoneyAmountField,
    UnroundedAmountField,
    amount_format,
    money_fields,
)
from crm.lib.public_url import public_url
from crm.lib.states import StateMachine
from ib.exceptions import (
    ApplicationTransitionRefused,
    AttributionConflictTransitionRefused,
    CommissionRunTransitionRefused,
    DisputeTransitionRefused,
    InvitationTransitionRefused,
    PartnerTransitionRefused,
    PayoutTransitionRefused,
    PostbackTransitionRefused,
)
from plumbing.context import history_user


class PartnerKind(models.TextChoices):
    IB = "ib", _("Introducing broker")
    AFFILIATE = "affiliate", _("Affiliate")


class PartnerStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    REJECTED = "rejected", _("Rejected")
    CLOSED = "closed", _("Closed")


class PayoutSchedule(models.TextChoices):
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class JoinedVia(models.TextChoices):
    APPLICATION = "application", _("Application")
    INVITATION = "invitation", _("Invitation")
    STAFF = "staff", _("Added by staff")


class PartnerProgram(models.Model):
    """A brand's partner programme settings: how applications are taken and where links may lead."""

    brand = models.OneToOneField("crm.Brand", on_delete=models.CASCADE, related_name="partner_program")
    auto_approve = models.BooleanField(_("approve applications automatically"), default=False)
    # Host names a tracking link may send people to (a subdomain of one counts); relative URLs
    # (the CRM's own pages, such as the trader's room registration) are always allowed.
    landing_domains = ArrayField(models.CharField(max_length=253), default=list, blank=True,
                                 verbose_name=_("allowed landing domains"))
    append_utm = models.BooleanField(_("append utm_* parameters to landing URLs"), default=True)
    invitation_days = models.PositiveSmallIntegerField(_("invitations valid for (days)"), default=7)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user)

    def __str__(self) -> str:
        return f"partner programme of brand {self.brand_id}"


class AttributionModel(models.TextChoices):
    FIRST_TOUCH = "first_touch", _("First touch")
    LAST_TOUCH = "last_touch", _("Last touch")


class Precedence(models.TextChoices):
    LINK_OVER_CODE = "link_over_code", _("A link click over a referral code")
    CODE_OVER_LINK = "code_over_link", _("A referral code over a link click")


class AttributionPolicy(models.Model):
    """A brand's attribution rules: which touch wins, within how many days before registration."""

    brand = models.OneToOneField("crm.Brand", on_delete=models.CASCADE, related_name="attribution_policy")
    model = models.CharField(_("model"), max_length=12, choices=AttributionModel.choices,
                             default=AttributionModel.LAST_TOUCH)
    window_days = models.PositiveSmallIntegerField(_("window (days)"), default=30)
    precedence = models.CharField(_("precedence"), max_length=16, choices=Precedence.choices,
                                  default=Precedence.LINK_OVER_CODE)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user)

    def __str__(self) -> str:
        return f"{self.model}, {self.window_days} days, {self.precedence}"


class Partner(models.Model):
    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="partners")
    kind = models.CharField(_("kind"), max_length=10, choices=PartnerKind.choices, default=PartnerKind.IB)
    status = models.CharField(_("status"), max_length=10, choices=PartnerStatus.choices,
                              default=PartnerStatus.APPLIED)
    display_name = models.CharField(_("display name"), max_length=120)
    # Encrypted in its column (crm.lib.fieldcrypt; the services check it is an address before it is
    # written); found by its keyed hash (trimmed, lower-cased), which ib_public_partners publishes for
    # the self-dealing detector to compare with the clients' in SQL. The history keeps the encrypted
    # address and not the hash (nothing searches the history by address), as the client's does.
    contact_email = EncryptedTextField(_("contact email"), max_length=254)
    contact_email_hash = KeyedHashField(source="contact_email", kind="email", db_default="")
    country = models.CharField(_("country"), max_length=2, blank=True)
    payout_currency = CurrencyField(_("payout currency"), default="USD")
    schedule = models.CharField(_("payout schedule"), max_length=8, choices=PayoutSchedule.choices,
                                default=PayoutSchedule.MONTHLY)
    joined_via = models.CharField(max_length=12, choices=JoinedVia.choices, default=JoinedVia.APPLICATION)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    # The partner's own client record, if the partner trades with the brand too: payouts may go to
    # its wallet (then the client's withdrawal rules and finance's queue apply).
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="partner_profiles", verbose_name=_("linked client"))
    # Ids from the root down to this partner, itself included (see the module docstring).
    path = ArrayField(models.BigIntegerField(), default=list, editable=False)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(get_user=history_user, excluded_fields=["contact_email_hash"])

    class Meta:
        ordering: ClassVar = ["display_name", "id"]
        permissions: ClassVar = [("manage_partners", "Can approve, move and re-attribute partners and clients")]
        indexes: ClassVar = [
            # Subtrees: `path @> ARRAY[id]` (ib.selectors.partner_subtree).
            GinIndex(fields=["path"], name="ib_partner_path_gin"),
            models.Index(fields=["brand", "status"], name="ib_partner_brand_status"),
            # A partner by its whole contact email (an import, the demo's seed).
            models.Index(fields=["contact_email_hash", "brand"], name="ib_partner_email_hash"),
        ]
        constraints: ClassVar = [
            # A partner is its own path's last element once saved; never its own parent.
            models.CheckConstraint(condition=~Q(parent=models.F("id")), name="ib_partner_not_own_parent"),
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = update_fields_with_hashes(type(self), kwargs["update_fields"])
        super().save(*args, **kwargs)

    @property
    def depth(self) -> int:
        """0 for a top-level partner (a master IB), 1 for its sub-IBs, and so on."""
        return max(len(self.path) - 1, 0)


class PartnerLogin(models.Model):
    """How a partner signs in to the partner portal: separate from staff users and client logins."""

    partner = models.OneToOneField(Partner, on_delete=models.CASCADE, related_name="login")
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    # Encrypted in its column (crm.lib.fieldcrypt); found by its keyed hash (trimmed, lower-cased).
    email = EncryptedTextField(max_length=254)
    email_hash = KeyedHashField(source="email", kind="email", db_default="")
    password = models.CharField(max_length=256)  # a Django password hash, never the password
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            # One partner login per address and brand, whatever the letter case (the hash is of the
            # lower-cased address).
            models.UniqueConstraint(fields=("email_hash", "brand"), name="ib_partnerlogin_email_brand_uniq"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = update_fields_with_hashes(type(self), kwargs["update_fields"])
        super().save(*args, **kwargs)


class PartnerParentChange(models.Model):
    """A partner moved under another parent (or to the top): dated and kept for ever."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="parent_changes")
    old_parent = models.ForeignKey(Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    new_parent = models.ForeignKey(Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    effective_at = models.DateTimeField()
    actor = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar = ["-effective_at", "-id"]

    def __str__(self) -> str:
        return f"partner {self.partner_id}: {self.old_parent_id} -> {self.new_parent_id} from {self.effective_at}"


class InvitationStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    REVOKED = "revoked", _("Revoked")


class PartnerInvitation(models.Model):
    """An invitation to join as a partner (under `parent` for a sub-IB). The link carries a signed
    token naming this row; the row makes it single-use and revocable."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+")
    # Encrypted in its column; an open invitation to the same address is found by the keyed hash.
    email = EncryptedTextField(max_length=254)
    email_hash = KeyedHashField(source="email", kind="email", db_default="")
    kind = models.CharField(max_length=10, choices=PartnerKind.choices, default=PartnerKind.IB)
    parent = models.ForeignKey(Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="invitations")
    invited_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    invited_by_partner = models.ForeignKey(Partner, on_delete=models.SET_NULL, null=True, blank=True,
                                           related_name="+")
    status = models.CharField(max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.SENT)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    partner = models.OneToOneField(Partner, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The plan the new partner's clients earn under (None: a sub-partner takes its parent's).
    plan = models.ForeignKey("ib.CommissionPlan", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    def __str__(self) -> str:
        return f"invitation of {self.email}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = update_fields_with_hashes(type(self), kwargs["update_fields"])
        super().save(*args, **kwargs)


class MarketingMethod(models.TextChoices):
    WEBSITE = "website", _("Own website or blog (SEO)")
    SOCIAL = "social", _("Social media")
    PAID_ADS = "paid_ads", _("Paid advertising")
    EMAIL = "email", _("Email marketing")
    SIGNALS = "signals", _("Signals or trading community (Telegram, Discord)")
    EDUCATION = "education", _("Courses, webinars, seminars")
    VIDEO = "video", _("Video (YouTube, streaming)")
    OFFLINE = "offline", _("Offline: office, events, personal network")


class ApplicationStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class PartnerApplication(models.Model):
    """Someone's application to become a partner of a brand, from the public form: the IB manager
    approves it (a partner and its portal login are made, the plan chosen then) or rejects it with a
    reason. A rejected applicant may apply again: a new row, the old one kept."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=PartnerKind.choices, default=PartnerKind.IB)
    status = models.CharField(_("status"), max_length=10, choices=ApplicationStatus.choices,
                              default=ApplicationStatus.PENDING)
    company = models.CharField(_("company"), max_length=120)
    website = models.CharField(_("website"), max_length=200, blank=True)
    expected_clients = models.PositiveIntegerField(_("expected clients per month"))
    countries = ArrayField(models.CharField(max_length=2), default=list, verbose_name=_("countries"))
    marketing_methods = ArrayField(models.CharField(max_length=12, choices=MarketingMethod.choices), default=list,
                                   verbose_name=_("marketing methods"))
    marketing_note = models.TextField(_("how you will find clients"), blank=True)
    contact_name = models.CharField(_("contact name"), max_length=120)
    # Encrypted in their columns. The email is found by its keyed hash (one application waiting per
    # address, earlier applications from it); nothing looks an application up by its phone, so the
    # phone has no hash.
    contact_email = EncryptedTextField(_("contact email"), max_length=254)
    contact_email_hash = KeyedHashField(source="contact_email", kind="email", db_default="")
    contact_phone = EncryptedTextField(_("contact phone"), max_length=20)
    language = models.CharField(max_length=12, blank=True)
    agreed_at = models.DateTimeField()  # when the applicant accepted the partner agreement
    ip_hash = models.CharField(max_length=64, blank=True)  # keyed hash: never the address itself
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    partner = models.OneToOneField(Partner, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="application")

    class Meta:
        ordering: ClassVar = ["created_at", "id"]
        indexes: ClassVar = [models.Index(fields=["brand", "status", "created_at"], name="ib_application_queue")]
        constraints: ClassVar = [
            # One application waiting per address and brand, whatever the letter case (the hash is of
            # the lower-cased address): a second one is refused, not queued twice.
            models.UniqueConstraint(fields=("contact_email_hash", "brand"), condition=Q(status="pending"),
                                    name="ib_application_one_pending"),
        ]

    def __str__(self) -> str:
        return f"application of {self.company}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = update_fields_with_hashes(type(self), kwargs["update_fields"])
        super().save(*args, **kwargs)


class LinkKind(models.TextChoices):
    LINK = "link", _("Tracking link")
    CODE = "code", _("Referral code")


class TrackingLink(models.Model):
    """A partner's tracking link (/r/<code>/ → its landing URL) or referral code (typed in at
    registration). Codes are short, of a human-safe alphabet, and unique across brands."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="links")
    kind = models.CharField(max_length=4, choices=LinkKind.choices, default=LinkKind.LINK)
    code = models.CharField(max_length=16, unique=True)
    campaign = models.CharField(_("campaign"), max_length=100, blank=True)
    landing_url = models.CharField(_("landing URL"), max_length=500, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(kind="code") | ~Q(landing_url=""), name="ib_link_has_landing"),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def click_url(self) -> str:
        """The tracking link as partners share it and its QR code carries, on CRM_PUBLIC_URL (never
        on the Host of the page that shows it)."""
        return public_url(reverse("ib_click", args=[self.code]))


class Click(models.Model):
    """One visit of a tracking link; written by the public redirect with one statement."""

    code = models.UUIDField(unique=True, default=uuid.uuid4)  # the click id handed to the landing page
    link = models.ForeignKey(TrackingLink, on_delete=models.CASCADE, related_name="clicks", db_index=False)
    at = models.DateTimeField(default=timezone.now)
    ip_hash = models.CharField(max_length=64, blank=True)  # keyed hash: never the address itself
    user_agent = models.CharField(max_length=400, blank=True)
    referer = models.CharField(max_length=500, blank=True)
    country = models.CharField(max_length=2, blank=True)
    is_bot = models.BooleanField(default=False)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["link", "at"], name="ib_click_link_at")]

    def __str__(self) -> str:
        return str(self.code)


class AttributionSource(models.TextChoices):
    LINK = "link", _("Tracking link")
    CODE = "code", _("Referral code")
    MANUAL = "manual", _("Set by staff")
    IMPORT = "import", _("Import")


class ClientAttribution(models.Model):
    """`client` belonged to `partner` from `effective_from` until `effective_to` (NULL: still)."""

    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="partner_attributions",
                               db_index=False)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="attributions")
    source = models.CharField(max_length=8, choices=AttributionSource.choices)
    link = models.ForeignKey(TrackingLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    click = models.ForeignKey(Click, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                              db_index=False)
    touched_at = models.DateTimeField()
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the attribution, and its end, became known (a run "as of T" sees what was known by T; a
    # migration's dated re-attribution recorded months later). NULL: known since effective_from,
    # resp. since effective_to (what every attribution made in this CRM is).
    recorded_at = models.DateTimeField(null=True, blank=True)
    ended_recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-effective_from", "-id"]
        indexes: ClassVar = [
            # "The partner of client C at T": the client's rows by start.
            models.Index(fields=["client", "effective_from"], name="ib_attr_client_from"),
        ]
        constraints: ClassVar = [
            # One current partner per client at most.
            models.UniqueConstraint(fields=["client"], condition=Q(effective_to__isnull=True),
                                    name="ib_attr_one_open_per_client"),
            models.CheckConstraint(condition=Q(effective_to__isnull=True) | Q(effective_to__gt=models.F("effective_from")),
                                   name="ib_attr_range_forward"),
        ]

    def __str__(self) -> str:
        return f"client {self.client_id} -> partner {self.partner_id} from {self.effective_from}"


class ConflictStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class AttributionConflict(models.Model):
    """Two or more partners claim one client: held for the IB manager, who picks one."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+")
    # Each claim: {"partner": id, "source": ..., "at": iso, "link": id|None, "click": id|None}.
    claims = models.JSONField(default=list)
    suggested = models.ForeignKey(Partner, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=ConflictStatus.choices, default=ConflictStatus.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    chosen = models.ForeignKey(Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering: ClassVar = ["created_at", "id"]
        constraints: ClassVar = [
            # One open conflict per client: new claims join it instead of opening another.
            models.UniqueConstraint(fields=["client"], condition=Q(status="open"), name="ib_conflict_one_open"),
        ]

    def __str__(self) -> str:
        return f"conflict over client {self.client_id}"


# --- commission plans and the commission engine ---------------------------------------------------
#
# Instruments: the engine turns a deal's volume (lots as the platform counts them) into rebate lots
# with the instrument's contract size and its group's standard lot (units_per_lot). Plans are
# versioned twice: by the date from which a version applies (effective_from) and by when it was
# recorded (recorded_at), so a run "as of T" sees only versions recorded by T (a correction recorded
# later changes the past only in runs made after it). Rules are typed rows: the engine reads them
# with SQL joins. Facts the engine reads besides deals (deposits, chargebacks) are rows here that
# the wallet feeds through its events (ib.handlers) and the migration import writes directly.

DEC = {"max_digits": 28, "decimal_places": 10}


class InstrumentGroup(models.Model):
    """A group of symbols priced alike by plans (forex majors, metals, indices)."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+")
    code = models.CharField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=120, blank=True)
    # Units in one standard (rebate) lot: 100 000 for forex, 100 for gold in ounces, and so on.
    units_per_lot = models.DecimalField(_("units per standard lot"), max_digits=20, decimal_places=6,
                                        default=Decimal("100000"))
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["brand", "code"], name="ib_instrgroup_code_uniq"),
            models.CheckConstraint(condition=Q(units_per_lot__gt=0), name="ib_instrgroup_units_positive"),
        ]

    def __str__(self) -> str:
        return self.code


class Instrument(models.Model):
    """A platform symbol: its group and contract size (units per platform lot)."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+")
    symbol = models.CharField(_("symbol"), max_length=32)
    group = models.ForeignKey(InstrumentGroup, on_delete=models.PROTECT, related_name="instruments")
    contract_size = models.DecimalField(_("contract size"), max_digits=20, decimal_places=6)
    # The currency a spread is worth in (the quote currency of a forex pair).
    profit_currency = CurrencyField(_("profit currency"), default="USD")
    # Units in one standard (rebate) lot of this symbol, when it differs from its group's (a group
    # holding gold of 100 oz and silver of 5 000 oz a lot); NULL: the group's.
    units_per_lot = models.DecimalField(_("units per standard lot"), max_digits=20, decimal_places=6, null=True,
                                        blank=True)
    # The broker's spread markup per standard lot, in the profit currency: a spread share's basis
    # for deals whose platform reported no bid and ask (an MT5 deal report has none); NULL: none.
    markup_per_lot = models.DecimalField(_("markup per lot"), max_digits=20, decimal_places=8, null=True, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["brand", "symbol"], name="ib_instrument_symbol_uniq"),
            models.CheckConstraint(condition=Q(contract_size__gt=0), name="ib_instrument_contract_positive"),
        ]

    def __str__(self) -> str:
        return self.symbol


class FxRate(models.Model):
    """One unit of `base` is worth `rate` units of `quote` on `day` (the engine uses the source's
    own day, or the latest day before it when that day has none)."""

    base = CurrencyField("base")
    quote = CurrencyField("quote")
    day = models.DateField()
    rate = models.DecimalField(max_digits=24, decimal_places=10)
    source = models.CharField(max_length=40, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["base", "quote", "day"], name="ib_fxrate_pair_day_uniq"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="ib_fxrate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.base}/{self.quote} {self.day}: {self.rate}"


class CommissionPlan(models.Model):
    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    currency = CurrencyField(_("currency"), default="USD")
    # How many direct sub-partners a partner on this plan may invite from the portal (its children
    # and its invitations still open count); NULL: no limit, 0: none.
    max_sub_partners = models.PositiveIntegerField(_("sub-partners a partner may invite"), null=True, blank=True,
                                                   default=0)
    created_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        permissions: ClassVar = [("run_commissions", "Can run, recalculate and settle commission runs")]
        constraints: ClassVar = [models.UniqueConstraint(fields=["brand", "name"], name="ib_plan_name_uniq")]

    def __str__(self) -> str:
        return self.name


class SplitMode(models.TextChoices):
    LEVELS = "levels", _("A rate per level")
    PASS_UP = "pass_up", _("Pass a percentage up")
    # Each partner earns its own plan's rate minus the highest rate below it in the chain.
    DIFFERENTIAL = "differential", _("Differential: own rate minus the highest below")


class PassUpBase(models.TextChoices):
    OUT_OF = "out_of", _("Out of the child's amount")
    ON_TOP = "on_top", _("On top of the child's amount")


class HedgeMode(models.TextChoices):
    LATER_UNPAID = "later_unpaid", _("Neither leg of the later-opened position earns")
    BOTH = "both", _("Both legs earn")
    NET = "net", _("Only the volume not offset earns")


class PlanVersion(models.Model):
    """The plan's terms from `effective_from` on, as recorded at `recorded_at`. Of the versions
    recorded by a run's as-of time, the one with the latest effective_from not after the source's
    time applies (the latest recorded among equal effective_from: a correction)."""

    plan = models.ForeignKey(CommissionPlan, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    effective_from = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    # A position held less than this earns no per-lot rebate and no spread share (scalping).
    min_hold_seconds = models.PositiveIntegerField(default=0)
    split_mode = models.CharField(max_length=12, choices=SplitMode.choices, default=SplitMode.LEVELS)
    # pass_up: each partner keeps (100 - p)% of what reaches it and passes p% up; the top keeps the rest.
    pass_up_percent = models.DecimalField(max_digits=9, decimal_places=6, default=Decimal("0"))
    # pass_up on_top: the client's partner earns the whole rate, and each level above p% of the level
    # below's amount on top of it (out_of: the levels share the rate, as above).
    pass_up_base = models.CharField(max_length=8, choices=PassUpBase.choices, default=PassUpBase.OUT_OF)
    # pass_up as a chain, instead of one percentage for every level: the k-th percentage is what
    # level k - 1 passes to level k (out_of: of what reaches it; on_top: of its amount, on top);
    # past the chain's end nothing more goes up. Empty: pass_up_percent at every level.
    pass_up_percents = ArrayField(models.DecimalField(max_digits=9, decimal_places=6), default=list, blank=True)
    # Of two opposite positions on one account and symbol open together, what earns per-lot and spread.
    hedge_mode = models.CharField(max_length=12, choices=HedgeMode.choices, default=HedgeMode.LATER_UNPAID)
    # Per partner, client and period, in the plan's currency: at most this is earned from one client.
    client_cap = MoneyAmountField(null=True, blank=True)
    # Per partner and period, in the plan's currency: at most `period_cap` is earned (NULL: no cap);
    # a total under `period_minimum` is not paid but carried to the next period.
    period_cap = MoneyAmountField(null=True, blank=True)
    period_minimum = MoneyAmountField(null=True, blank=True)
    # A draft is seen only by what-if runs that name it: never paid.
    is_draft = models.BooleanField(default=False)
    note = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["plan", "number"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["plan", "number"], name="ib_planversion_number_uniq"),
            models.CheckConstraint(condition=Q(pass_up_percent__gte=0) & Q(pass_up_percent__lt=100),
                                   name="ib_planversion_pass_up_range"),
            models.CheckConstraint(condition=(Q(period_cap__isnull=True) | Q(period_cap__gte=0))
                                   & (Q(period_minimum__isnull=True) | Q(period_minimum__gte=0)),
                                   name="ib_planversion_cap_minimum_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} v{self.number}"


class RuleKind(models.TextChoices):
    PER_LOT = "per_lot", _("Rebate per lot")
    REVSHARE = "revshare", _("Revenue share")
    CPA = "cpa", _("CPA")


class RevshareBasis(models.TextChoices):
    SPREAD = "spread", _("Spread")
    COMMISSION = "commission", _("Commission")
    NET_LOSS = "net_loss", _("Client net loss")


class CpaAnchor(models.TextChoices):
    FIRST_DEPOSIT = "first_deposit", _("From the first deposit")
    REGISTRATION = "registration", _("From the registration")


class ClawbackScope(models.TextChoices):
    ANY_DEPOSIT = "any", _("A chargeback of any deposit")
    QUALIFYING = "qualifying", _("A chargeback of the qualifying deposit only")


class PlanRule(models.Model):
    """One rule of a plan version. `level_rates[k]` is what level k earns (0 the client's own
    partner, 1 its parent, ...): an amount per lot (per_lot), a percentage of the revenue
    (revshare) or an amount (cpa), in `currency` for amounts. With the version's pass-up split,
    `rate` is the whole and the levels share it. Tiers (per_lot and revshare rules) scale every
    level's rate by a factor reached by the client's own partner over the `tier_window_days` days
    up to the source (inclusive): its clients' closed lots ([{"min_lots": "500", "factor": "1.2"},
    ...]) or its active client accounts, those with a closing deal ([{"min_clients": "10", ...}]);
    below the first step the factor is 1. The window moves with every source: a partner climbs
    as volume builds and falls back as old deals leave the window."""

    version = models.ForeignKey(PlanVersion, on_delete=models.CASCADE, related_name="rules")
    code = models.CharField(max_length=40)  # stable across versions: the line's rule name
    kind = models.CharField(max_length=10, choices=RuleKind.choices)
    instrument_group = models.ForeignKey(InstrumentGroup, on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="+")
    account_type = models.CharField(max_length=40, blank=True)
    basis = models.CharField(max_length=12, choices=RevshareBasis.choices, blank=True)
    currency = CurrencyField(blank=True)  # of per-lot and CPA amounts; blank: the plan's
    rate = models.DecimalField(max_digits=28, decimal_places=10, default=Decimal("0"))
    level_rates = ArrayField(models.DecimalField(max_digits=28, decimal_places=10), default=list, blank=True)
    carry_negative = models.BooleanField(default=True)  # revshare: a negative period is carried over
    # A negative period's total is shown and settled as negative: the partner owes it (not carried).
    negative_owed = models.BooleanField(default=False)
    # net_loss: which of the deal's costs count besides its profit (each: the client paid it).
    net_with_commission = models.BooleanField(default=True)
    net_with_swap = models.BooleanField(default=True)
    net_with_fee = models.BooleanField(default=True)
    # per_lot and spread: this rule's own minimum holding time (NULL: the version's).
    min_hold_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Per partner and period, in the plan's currency: at most this is earned under this rule.
    period_cap = MoneyAmountField(null=True, blank=True)
    cpa_min_deposit = MoneyAmountField(null=True, blank=True)  # in the rule's currency
    cpa_min_lots = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    cpa_within_days = models.PositiveIntegerField(null=True, blank=True)
    cpa_require_kyc = models.BooleanField(default=False)
    cpa_countries = ArrayField(models.CharField(max_length=2), default=list, blank=True)
    clawback_on_chargeback = models.BooleanField(default=True)
    # The qualification window (cpa_within_days) starts at the first deposit or at the registration;
    # with cpa_kyc_within_window the KYC approval must fall inside it too.
    cpa_window_from = models.CharField(max_length=14, choices=CpaAnchor.choices, default=CpaAnchor.FIRST_DEPOSIT)
    cpa_kyc_within_window = models.BooleanField(default=False)
    clawback_scope = models.CharField(max_length=10, choices=ClawbackScope.choices, default=ClawbackScope.ANY_DEPOSIT)
    tiers = models.JSONField(default=list, blank=True)
    tier_window_days = models.PositiveIntegerField(default=30)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["version", "code"], name="ib_planrule_code_uniq"),
            models.CheckConstraint(condition=Q(cpa_min_deposit__isnull=True) | Q(cpa_min_deposit__gte=0),
                                   name="ib_planrule_cpa_min_deposit_not_negative"),
        ]

    def __str__(self) -> str:
        return self.code


class PlanAssignment(models.Model):
    """`plan` applies to `partner`'s clients (or, as a personal override, to one trading account)
    over [effective_from, effective_to). The account's own assignment wins over its partner's."""

    plan = models.ForeignKey(CommissionPlan, on_delete=models.PROTECT, related_name="assignments")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="plan_assignments")
    account = models.ForeignKey("trading.TradingAccount", on_delete=models.CASCADE, null=True, blank=True,
                                related_name="+")
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(condition=(Q(partner__isnull=True) & Q(account__isnull=False))
                                   | (Q(partner__isnull=False) & Q(account__isnull=True)),
                                   name="ib_assignment_one_target"),
            models.CheckConstraint(condition=Q(effective_to__isnull=True) | Q(effective_to__gt=models.F("effective_from")),
                                   name="ib_assignment_range_forward"),
        ]

    def __str__(self) -> str:
        return f"plan {self.plan_id} -> {self.partner_id or self.account_id}"


class ClientDeposit(models.Model):
    """A confirmed deposit of a client (CPA qualification), in its own currency. Fed by the wallet's
    deposit events (ib.handlers) and by the migration import; one row per reference."""

    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+")
    amount, currency = money_fields()
    at = models.DateTimeField()
    reference = models.CharField(max_length=100, unique=True)
    source = models.CharField(max_length=10, default="wallet")  # wallet, import
    # When it became known (a migration's history); NULL: since `at`.
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["client", "at"], name="ib_deposit_client_at")]

    def __str__(self) -> str:
        return self.reference


class ClientChargeback(models.Model):
    """A chargeback or refund of a client's deposit, in the deposit's currency: claws CPA back in
    the period of `at`. Fed by the wallet's refund and chargeback events (ib.handlers)."""

    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+")
    amount, currency = money_fields()
    at = models.DateTimeField()
    reference = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, default="chargeback")  # chargeback, refund
    # The reference of the deposit it reverses (a ClientDeposit's); blank when unknown.
    deposit_reference = models.CharField(max_length=100, blank=True)
    # When it became known (a chargeback dated in March, learnt of in April); NULL: since `at`.
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["at"], name="ib_chargeback_at")]

    def __str__(self) -> str:
        return self.reference


class RunKind(models.TextChoices):
    REGULAR = "regular", _("Run")
    WHAT_IF = "what_if", _("What if")


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class CommissionRun(models.Model):
    """One computation of a brand's period from what was known at `as_of`. Regular runs are
    numbered per period (a recalculation is the next number); what-if runs are never settled."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    period = models.DateField()  # the period's first day (a month)
    as_of = models.DateTimeField()
    number = models.PositiveIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=8, choices=RunKind.choices, default=RunKind.REGULAR)
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.RUNNING)
    incremental_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    what_if = models.JSONField(default=dict, blank=True)  # the plan changes a what-if run assumed
    actor = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # A run started from the IB manager's pages is computed by this job (crm.jobs); None: computed inline.
    job = models.ForeignKey("crm.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # When the run was settled (also a run without totals: nothing to pay, but settled all the same).
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-period", "-number", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["brand", "period", "number"], condition=Q(kind="regular"),
                                    name="ib_run_number_uniq"),
        ]

    def __str__(self) -> str:
        return f"run {self.period:%Y-%m} #{self.number}"


class CommissionBatch(models.Model):
    """The stored form of commission lines: the sources of one run that share one key (kind, the
    client's own partner and its chain, rule, plan version, day, basis currency, FX rate), with one
    element per source in each array. The engine writes a month as a few thousand of these rather
    than one row per (source, beneficiary, rule): that is what makes tens of millions of lines
    fit in a minute. `CommissionShare` is each beneficiary's level of a batch; the view
    `ib_commissionline` (`CommissionLine`) shows one row per (source, beneficiary, rule).

    A source is in one batch per run and rule (its key follows from it), and a batch is unique per
    key: a re-run of one computation cannot double a line. Written only by ib.engine."""

    # No database foreign keys (see CommissionLine before: the engine writes in bulk, runs are never deleted).
    run = models.ForeignKey(CommissionRun, on_delete=models.DO_NOTHING, related_name="batches", db_index=False,
                            db_constraint=False)
    source_kind = models.CharField(max_length=12)  # deal, cpa, chargeback
    partner = models.ForeignKey(Partner, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                                related_name="+")  # the client's own partner (the chain's last)
    chain = ArrayField(models.BigIntegerField())  # the partner path (root first) at the sources' time
    rule_code = models.CharField(max_length=40)
    rule = models.ForeignKey(PlanRule, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                             related_name="+")
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.DO_NOTHING, db_constraint=False,
                                     db_index=False, related_name="+")
    day = models.DateField()  # the UTC day of the sources' business time: lines are listed and recomputed by it
    # The day whose FX rate converts the sources: their own, but a chargeback's is its qualification's
    # (a clawback takes back what was paid).
    fx_day = models.DateField()
    basis_currency = CurrencyField("basis currency", blank=True)
    currency = CurrencyField()  # the plan's
    # NULL only inside a computation that then stops: no rate for the pair and day (ib.engine).
    fx_rate = models.DecimalField(max_digits=38, decimal_places=16, null=True)
    unit = models.DecimalField(max_digits=8, decimal_places=4)  # 1 per lot, 0.01 for a percentage
    # The sources, one element each, in the order of their time.
    source_ids = ArrayField(models.BigIntegerField())  # trading_deal.id, the client's id, ib_clientchargeback.id
    times = ArrayField(models.DateTimeField())
    bases = ArrayField(models.DecimalField(max_digits=38, decimal_places=16))  # lots, revenue or +-1 (CPA)
    account_ids = ArrayField(models.BigIntegerField(null=True))
    client_ids = ArrayField(models.BigIntegerField(null=True))
    # A tiered rule: per source, the direct partner's figure over the window, the step it reached and
    # that step's factor (NULL arrays: the rule has no tiers).
    tier_values = ArrayField(models.DecimalField(max_digits=28, decimal_places=10, null=True), null=True)
    tier_mins = ArrayField(models.DecimalField(max_digits=28, decimal_places=10, null=True), null=True)
    tier_factors = ArrayField(models.DecimalField(max_digits=28, decimal_places=10, null=True), null=True)
    # The sum of the bases, each times its tier factor: a share's amount is this x its rate x unit x FX.
    weighted_basis = models.DecimalField(max_digits=48, decimal_places=20)
    # Lines converted from the one-row-per-line table: the share's rate already holds the tier factor.
    factor_in_rate = models.BooleanField(default=False)

    class Meta:
        constraints: ClassVar = [
            # Lines converted from the one-row-per-line table are a batch each (factor_in_rate).
            models.UniqueConstraint(fields=["run", "source_kind", "partner", "rule", "day", "fx_day", "basis_currency"],
                                    condition=Q(factor_in_rate=False), name="ib_batch_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.source_kind} {self.rule_code} {self.day} ({len(self.source_ids)})"


class CommissionShare(models.Model):
    """One beneficiary's level of a batch: its rate (the level's, before a tier factor) and the sum
    of its lines there, unrounded, so that totals and earnings are sums of shares, not of lines.
    A line's id is its share's id x 2^24 + the source's place (1-based) in the batch."""

    batch = models.ForeignKey(CommissionBatch, on_delete=models.DO_NOTHING, db_constraint=False, related_name="shares")
    run = models.ForeignKey(CommissionRun, on_delete=models.DO_NOTHING, db_constraint=False, related_name="shares")
    beneficiary = models.ForeignKey(Partner, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    level = models.SmallIntegerField()
    rate = models.DecimalField(max_digits=38, decimal_places=16)
    amount = UnroundedAmountField()  # the sum of the level's lines
    lines = models.PositiveIntegerField()
    currency = CurrencyField()
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.DO_NOTHING, db_constraint=False,
                                     db_index=False, related_name="+")

    def __str__(self) -> str:
        return f"{self.beneficiary_id} L{self.level}: {amount_format(self.amount, self.currency)}"


LINE_ID_SHIFT = 2 ** 24  # a line's id: share id x LINE_ID_SHIFT + the source's place in its batch


class CommissionLine(models.Model):
    """One amount earned by one partner from one source under one rule, never rounded, with
    everything needed to trace it: a row of the view `ib_commissionline` over the batches and their
    shares (read-only; ib.engine writes batches). Filter a line by id with `line_pk_q`: the view
    finds it through its share."""

    run = models.ForeignKey(CommissionRun, on_delete=models.DO_NOTHING, related_name="lines", db_constraint=False)
    share = models.ForeignKey(CommissionShare, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    ordinal = models.IntegerField()  # the source's place in the batch, from 1
    source_kind = models.CharField(max_length=12)  # deal, cpa, chargeback
    source_id = models.BigIntegerField()  # trading_deal.id, the client's id, ib_clientchargeback.id
    beneficiary = models.ForeignKey(Partner, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    rule_code = models.CharField(max_length=40)
    rule = models.ForeignKey(PlanRule, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+")
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.DO_NOTHING, db_constraint=False, null=True,
                                     related_name="+")
    level = models.SmallIntegerField()
    chain = ArrayField(models.BigIntegerField())  # the partner path (root first) at the source's time
    client_id = models.BigIntegerField(null=True)
    account_id = models.BigIntegerField(null=True)
    business_time = models.DateTimeField()
    basis = models.DecimalField(max_digits=38, decimal_places=16)  # lots, revenue or 1 (CPA)
    basis_currency = CurrencyField("basis currency", blank=True)
    rate = models.DecimalField(max_digits=38, decimal_places=16)
    fx_rate = models.DecimalField(max_digits=38, decimal_places=16)
    amount = UnroundedAmountField()  # basis x rate x fx, unrounded
    currency = CurrencyField()
    # A tiered rule: the direct partner's figure over the window at the source's time (lots or
    # active clients), the step it reached and that step's factor (already in `rate`).
    tier_value = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    tier_min = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    tier_factor = models.DecimalField(max_digits=28, decimal_places=10, null=True, blank=True)
    batch_day = models.DateField()  # its batch's day: a filter on it reads that day's batches only

    class Meta:
        managed = False
        db_table = "ib_commissionline"

    def __str__(self) -> str:
        return f"{self.source_kind} {self.source_id} -> {self.beneficiary_id}: {amount_format(self.amount, self.currency)}"

    @property
    def key(self) -> str:
        """The line's stable name (see `line_key`): the same in every run that computes it."""
        return line_key(source_kind=self.source_kind, source_id=self.source_id, beneficiary_id=self.beneficiary_id,
                        rule_code=self.rule_code)


# A line's id (share id x LINE_ID_SHIFT + place) names it in one run only: a recalculation or an
# increment writes it again under another. Links and disputes name a line by its key instead,
# derived from what makes the line: its source (kind and id), its beneficiary and its rule's code,
# which a recalculation keeps. The rule's code (free text) enters as a short digest, so the key is
# a URL path segment; a key is looked up in the run in force (ib.selectors.partner_line_by_key).
LINE_KEY_RE = re.compile(r"(deal|cpa|chargeback)-([1-9][0-9]{0,18})-([1-9][0-9]{0,18})-([0-9a-f]{10})")
_BIGINT_MAX = 2 ** 63 - 1


def rule_digest(rule_code: str) -> str:
    return hashlib.blake2s(rule_code.encode(), digest_size=5).hexdigest()


def line_key(*, source_kind: str, source_id: int, beneficiary_id: int, rule_code: str) -> str:
    """"deal-<deal id>-<partner id>-<rule digest>": the same for as long as the line's source,
    beneficiary and rule are."""
    return f"{source_kind}-{source_id}-{beneficiary_id}-{rule_digest(rule_code)}"


@dataclass(frozen=True)
class LineKey:
    source_kind: str
    source_id: int
    beneficiary_id: int
    rule_digest: str


def line_key_parse(text: str) -> LineKey | None:
    """The parts of a line key, or None for anything that is not one (a 404, never an error)."""
    found = LINE_KEY_RE.fullmatch(text or "")
    if found is None:
        return None
    kind, source, beneficiary, digest = found.groups()
    if int(source) > _BIGINT_MAX or int(beneficiary) > _BIGINT_MAX:
        return None
    return LineKey(source_kind=kind, source_id=int(source), beneficiary_id=int(beneficiary), rule_digest=digest)


def line_pk_q(pk: int, prefix: str = "") -> Q:
    """The filter for the line `pk` (on CommissionLine, or through `prefix`): by its share, so the
    view reads one batch instead of every line."""
    share_id, ordinal = divmod(int(pk), LINE_ID_SHIFT)
    return Q(**{f"{prefix}share_id": share_id, f"{prefix}ordinal": ordinal})


class CommissionTotal(models.Model):
    """A partner's total of a run, rounded once (half to even) to the currency's minor unit, with
    its difference from what was already settled for the period."""

    run = models.ForeignKey(CommissionRun, on_delete=models.CASCADE, related_name="totals")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    currency = CurrencyField()
    gross = UnroundedAmountField()  # sum of the lines
    carry_in = UnroundedAmountField(default=Decimal("0"))
    capped = UnroundedAmountField(default=Decimal("0"))  # cut by the cap (<= 0)
    payable = MoneyAmountField()  # rounded once
    carry_out = UnroundedAmountField(default=Decimal("0"))
    settled = MoneyAmountField(default=Decimal("0"))
    delta = MoneyAmountField(default=Decimal("0"))
    lines = models.PositiveIntegerField(default=0)
    # The latest plan version among the lines (its cap and minimum applied): an increment corrects
    # the total from the lines it removes and adds without reading the others again.
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.DO_NOTHING, db_constraint=False, null=True,
                                     blank=True, related_name="+")

    class Meta:
        ordering: ClassVar = ["partner_id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["run", "partner", "currency"], name="ib_total_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.payable} {self.currency}"


class CommissionSettlement(models.Model):
    """What was settled for a partner's period: each settlement of a run adds the difference
    between its payable and what earlier settlements of the period added up to. ib.settlement posts
    each row to the partner's IB payable account in the wallet's ledger once and sets `posted_at`
    (the beat task posts any row still without it)."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="settlements")
    period = models.DateField()
    currency = CurrencyField()
    run = models.ForeignKey(CommissionRun, on_delete=models.PROTECT, related_name="settlements")
    amount = MoneyAmountField()  # the difference paid (or clawed back)
    payable = MoneyAmountField()  # the run's payable it settles to
    settled_at = models.DateTimeField(default=timezone.now)
    posted_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering: ClassVar = ["period", "partner_id", "settled_at", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["run", "partner", "currency"], name="ib_settlement_once_per_run"),
        ]
        indexes: ClassVar = [models.Index(fields=["partner", "period"], name="ib_settlement_partner_period")]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.period}: {amount_format(self.amount, self.currency)}"


class LegacyCommissionTotal(models.Model):
    """What the old CRM paid a partner for a period, as a migration import states it: the figure a
    backtest of that period compares the engine's total with (ib.selectors.backtest_report). A
    re-import with another amount changes it (history kept)."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="legacy_totals")
    period = models.DateField()  # the period's first day
    amount, currency = money_fields()
    note = models.CharField(max_length=200, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["period", "partner_id", "currency"]
        constraints: ClassVar = [
            # One figure per partner, period and currency: a re-import finds it.
            models.UniqueConstraint(fields=["partner", "period", "currency"], name="ib_legacy_total_once"),
        ]
        indexes: ClassVar = [models.Index(fields=["brand", "period"], name="ib_legacy_total_period")]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.period}: {amount_format(self.amount, self.currency)} (old CRM)"


# --- CPA qualification and postbacks --------------------------------------------------------------


class ClientQualification(models.Model):
    """The first time a client qualified for a CPA rule, as a regular commission run found it (the
    run that wrote the client's first CPA line). One row per client, written once: later runs
    (recalculations, increments) never re-announce it, so `ib.client_qualified` is emitted once."""

    client = models.OneToOneField("crm.Client", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    rule_code = models.CharField(max_length=40)
    qualified_at = models.DateTimeField()
    run = models.ForeignKey(CommissionRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"client {self.client_id} qualified for {self.partner_id} at {self.qualified_at}"


class PostbackEvent(models.TextChoices):
    """What a partner can be told about; the value is the `event` field of the postback's body."""

    REGISTRATION = "registration", _("Registration")
    KYC_APPROVED = "kyc_approved", _("KYC approved")
    FIRST_DEPOSIT = "first_deposit", _("First deposit")
    QUALIFICATION = "qualification", _("CPA qualification")


class Postback(models.Model):
    """Where and how a partner's server is told about its clients (ib.postbacks). The signing
    secret is stored encrypted (ib.postbacks.CIPHER) and shown to staff once, when it is made."""

    partner = models.OneToOneField(Partner, on_delete=models.CASCADE, related_name="postback")
    url = models.CharField(_("URL"), max_length=500)
    secret = models.TextField(editable=False)  # a Fernet token, never the secret itself
    events = ArrayField(models.CharField(max_length=20, choices=PostbackEvent.choices), default=list, blank=True,
                        verbose_name=_("events"))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    secret_changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"postback of partner {self.partner_id}"


class PostbackStatus(models.TextChoices):
    PENDING = "pending", _("Pending")  # to be sent at next_attempt_at (first try or a retry)
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")  # the partner's server refused it (4xx): not retried by itself
    DEAD = "dead", _("Dead")  # every attempt failed: not retried by itself


class PostbackDelivery(models.Model):
    """One notification of one event to one partner, with its attempts' outcome (the delivery log).
    The body is built once, when the row is written; each attempt signs it afresh."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="postback_deliveries")
    event_name = models.CharField(max_length=20, choices=PostbackEvent.choices)
    event_uuid = models.UUIDField()  # the domain event's uuid: the idempotency key the partner receives
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=PostbackStatus.choices, default=PostbackStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)  # the last HTTP status, if any
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            # One delivery per partner and event, however often the event is handed over.
            models.UniqueConstraint(fields=["partner", "event_uuid"], name="ib_postback_once_per_event"),
        ]
        indexes: ClassVar = [
            # The beat sweep: pending deliveries whose time has come (a small, hot subset).
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="ib_postback_due"),
            # The delivery log of one partner, newest first.
            models.Index(F("partner"), F("created_at").desc(), name="ib_postback_partner_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} -> partner {self.partner_id}: {self.status}"

class PayoutDestination(models.TextChoices):
    CLIENT_WALLET = "client_wallet", _("The linked client's wallet")
    BANK = "bank", _("Paid by finance")


class PayoutState(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    PAID = "paid", _("Paid")
    REJECTED = "rejected", _("Rejected")


class PartnerPayout(models.Model):
    """A partner's request to be paid out of its IB payable balance (wallet ledger account of kind
    ib_payable, owner_ref = the partner's code). To the linked client's wallet it is paid at once;
    otherwise the amount is held on the payable account until finance pays (the hold is captured)
    or rejects (the hold is released). See ib.settlement."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="payouts")
    currency = CurrencyField()
    amount = MoneyAmountField()
    destination = models.CharField(max_length=14, choices=PayoutDestination.choices)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    state = models.CharField(max_length=10, choices=PayoutState.choices, default=PayoutState.REQUESTED)
    hold = models.ForeignKey("wallet.LedgerHold", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    transaction = models.ForeignKey("wallet.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering: ClassVar = ["-requested_at", "-id"]
        permissions: ClassVar = [("decide_payout", "Can pay or reject partner payout requests")]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ib_payout_amount_positive"),
            # A wallet payout names the client it credited.
            models.CheckConstraint(condition=~Q(destination="client_wallet") | Q(client__isnull=False),
                                   name="ib_payout_wallet_has_client"),
        ]
        indexes: ClassVar = [
            # Finance's list: the open requests, oldest first.
            models.Index(fields=["state", "requested_at"], condition=Q(state="requested"), name="ib_payout_open"),
        ]

    def __str__(self) -> str:
        return f"payout {self.code}: {amount_format(self.amount, self.currency)}"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency).quantize()


class PartnerBanner(models.Model):
    """A creative the brand gives its partners to place on their sites: the partner portal shows each
    active one with an embed snippet that links through the partner's own tracking link. The image is
    served without a login (it is shown on other sites), by its code."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    image = models.FileField(upload_to="ib/banners/%Y/%m/")
    extension = models.CharField(max_length=5)  # png, jpg, gif or webp: what the image really is
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    language = models.CharField(_("language"), max_length=10, blank=True)  # blank: any language
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.width}×{self.height})"


class DisputeState(models.TextChoices):
    OPEN = "open", _("Open")
    UPHELD = "upheld", _("Upheld")
    REJECTED = "rejected", _("Rejected")


class CommissionDispute(models.Model):
    """A partner's question about one commission line, and the IB manager's one answer. The line is
    named by its key (source, rule) and the run it was in: an increment may write the line again
    under another id, and a recalculation supersedes the run, so the line in force is found by its
    key (`line_key`; ib.disputes.dispute_current_line). What the partner saw is kept on the row."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="disputes")
    run = models.ForeignKey(CommissionRun, on_delete=models.PROTECT, related_name="+")
    line_id = models.BigIntegerField()  # the line as the partner opened it
    source_kind = models.CharField(max_length=12)
    source_id = models.BigIntegerField()
    rule_code = models.CharField(max_length=40)
    amount = UnroundedAmountField()  # the line's amount when opened
    currency = CurrencyField()
    message = models.TextField()
    state = models.CharField(max_length=10, choices=DisputeState.choices, default=DisputeState.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    answer = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering: ClassVar = ["opened_at", "id"]
        constraints: ClassVar = [
            # One open question per line of a partner: a second one joins the first.
            models.UniqueConstraint(fields=["partner", "source_kind", "source_id", "rule_code"],
                                    condition=Q(state="open"), name="ib_dispute_one_open"),
            models.CheckConstraint(condition=Q(state="open") | (Q(decided_at__isnull=False) & ~Q(answer="")),
                                   name="ib_dispute_decided_has_answer"),
        ]
        indexes: ClassVar = [
            # The IB manager's queue: the open disputes, oldest first.
            models.Index(fields=["opened_at"], condition=Q(state="open"), name="ib_dispute_open"),
        ]

    def __str__(self) -> str:
        return f"dispute {self.code}: {self.source_kind} {self.source_id} {self.rule_code}"

    @property
    def line_key(self) -> str:
        """The key of the questioned line (ib.models.line_key), in whichever run holds it now."""
        return line_key(source_kind=self.source_kind, source_id=self.source_id, beneficiary_id=self.partner_id,
                        rule_code=self.rule_code)


# --- lifecycles (crm.lib.states) ----------------------------------------------------------------------

def _labels(states: type[models.TextChoices], old: str, new: str) -> dict[str, str]:
    return {"from": str(states(old).label).lower(), "to": str(states(new).label).lower()}


# A partner who applied is approved (active) or rejected by the IB manager; an active partner may be
# suspended and reinstated; closing ends it.
PARTNER_STATES = StateMachine(
    name="partner", model="ib.Partner", states=PartnerStatus, error=PartnerTransitionRefused,
    transitions={
        PartnerStatus.APPLIED: frozenset({PartnerStatus.ACTIVE, PartnerStatus.REJECTED}),
        PartnerStatus.ACTIVE: frozenset({PartnerStatus.SUSPENDED, PartnerStatus.CLOSED}),
        PartnerStatus.SUSPENDED: frozenset({PartnerStatus.ACTIVE, PartnerStatus.CLOSED}),
        PartnerStatus.REJECTED: frozenset(),
        PartnerStatus.CLOSED: frozenset(),
    },
    terminal=frozenset({PartnerStatus.REJECTED, PartnerStatus.CLOSED}),
    message=lambda old, new: gettext("A partner that is %(from)s cannot become %(to)s.")
    % _labels(PartnerStatus, old, new),
)

# An application from the public form is decided once (a rejected applicant applies again: a new row).
APPLICATION_STATES = StateMachine(
    name="partner application", model="ib.PartnerApplication", states=ApplicationStatus,
    error=ApplicationTransitionRefused,
    transitions={
        ApplicationStatus.PENDING: frozenset({ApplicationStatus.APPROVED, ApplicationStatus.REJECTED}),
        ApplicationStatus.APPROVED: frozenset(),
        ApplicationStatus.REJECTED: frozenset(),
    },
    terminal=frozenset({ApplicationStatus.APPROVED, ApplicationStatus.REJECTED}),
    message=lambda old, new: gettext("This application was decided already (%(from)s): it cannot be %(to)s.")
    % _labels(ApplicationStatus, old, new),
)

# A payout request is paid (at once to the partner's client wallet, or by finance from the bank) or
# rejected by finance, once.
PAYOUT_STATES = StateMachine(
    name="partner payout", model="ib.PartnerPayout", states=PayoutState, state_field="state",
    error=PayoutTransitionRefused,
    transitions={
        PayoutState.REQUESTED: frozenset({PayoutState.PAID, PayoutState.REJECTED}),
        PayoutState.PAID: frozenset(),
        PayoutState.REJECTED: frozenset(),
    },
    terminal=frozenset({PayoutState.PAID, PayoutState.REJECTED}),
    message=lambda old, new: gettext("This payout was decided already (%(from)s): it cannot become %(to)s.")
    % _labels(PayoutState, old, new),
)

# A partner's question about a commission line gets one answer: upheld or rejected.
DISPUTE_STATES = StateMachine(
    name="commission dispute", model="ib.CommissionDispute", states=DisputeState, state_field="state",
    error=DisputeTransitionRefused,
    transitions={
        DisputeState.OPEN: frozenset({DisputeState.UPHELD, DisputeState.REJECTED}),
        DisputeState.UPHELD: frozenset(),
        DisputeState.REJECTED: frozenset(),
    },
    terminal=frozenset({DisputeState.UPHELD, DisputeState.REJECTED}),
    message=lambda old, new: gettext("This dispute was answered already (%(from)s): it cannot become %(to)s.")
    % _labels(DisputeState, old, new),
)


# An invitation is used once (accepted) or withdrawn; an expired one stays sent and is refused by its date.
INVITATION_STATES = StateMachine(
    name="partner invitation", model="ib.PartnerInvitation", states=InvitationStatus,
    error=InvitationTransitionRefused,
    transitions={
        InvitationStatus.SENT: frozenset({InvitationStatus.ACCEPTED, InvitationStatus.REVOKED}),
        InvitationStatus.ACCEPTED: frozenset(),
        InvitationStatus.REVOKED: frozenset(),
    },
    terminal=frozenset({InvitationStatus.ACCEPTED, InvitationStatus.REVOKED}),
    message=lambda old, new: gettext("An invitation that is %(from)s cannot become %(to)s: it has already been used.")
    % _labels(InvitationStatus, old, new),
)

# A client claimed by several partners waits (open) until the IB manager chooses one, once.
ATTRIBUTION_CONFLICT_STATES = StateMachine(
    name="attribution conflict", model="ib.AttributionConflict", states=ConflictStatus,
    error=AttributionConflictTransitionRefused,
    transitions={ConflictStatus.OPEN: frozenset({ConflictStatus.RESOLVED}), ConflictStatus.RESOLVED: frozenset()},
    terminal=frozenset({ConflictStatus.RESOLVED}),
    message=lambda old, new: gettext("A conflict that is %(from)s cannot become %(to)s: it has already been resolved.")
    % _labels(ConflictStatus, old, new),
)


# A run is computed in one transaction (ib.commissions._run_finish): running until it is done, or
# failed with the reason when its job stops (ib.commissions.run_fail, set-based: `WHERE status =
# ANY(RUN_STATES.sources(FAILED))`, so that a run done meanwhile stays done). A recalculation is a new run.
RUN_STATES = StateMachine(
    name="commission run", model="ib.CommissionRun", states=RunStatus, error=CommissionRunTransitionRefused,
    transitions={RunStatus.RUNNING: frozenset({RunStatus.DONE, RunStatus.FAILED}),
                 RunStatus.DONE: frozenset(), RunStatus.FAILED: frozenset()},
    terminal=frozenset({RunStatus.DONE, RunStatus.FAILED}),
    message=lambda old, new: gettext("A commission run that is %(from)s cannot become %(to)s: it has finished.")
    % _labels(RunStatus, old, new),
)

# A delivery is pending until an attempt succeeds, is refused by the partner's server (failed) or has
# used every attempt (dead); an attempt that may be tried again leaves it pending (no move: its next
# time changes, ib.postbacks._record). Only an IB manager sends a failed or dead one again (route "retry",
# ib.postbacks.delivery_retry); a delivered one is final.
POSTBACK_STATES = StateMachine(
    name="postback delivery", model="ib.PostbackDelivery", states=PostbackStatus,
    error=PostbackTransitionRefused,
    transitions={
        PostbackStatus.PENDING: frozenset({PostbackStatus.SUCCEEDED, PostbackStatus.FAILED, PostbackStatus.DEAD}),
        PostbackStatus.SUCCEEDED: frozenset(),
        PostbackStatus.FAILED: frozenset(),
        PostbackStatus.DEAD: frozenset(),
    },
    routes={"retry": {PostbackStatus.FAILED: frozenset({PostbackStatus.PENDING}),
                      PostbackStatus.DEAD: frozenset({PostbackStatus.PENDING})}},
    terminal=frozenset({PostbackStatus.SUCCEEDED}),
    message=lambda old, new: gettext("A postback that is %(from)s cannot become %(to)s: only a failed or dead one "
                                     "is sent again, and a delivered one never.") % _labels(PostbackStatus, old, new),
)
