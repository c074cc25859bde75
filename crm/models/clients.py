from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.functions import Collate, Lower
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from crm.lib.fieldcrypt import (
    EncryptedDateField,
    EncryptedTextField,
    KeyedHashField,
    update_fields_with_hashes,
)
from plumbing.context import history_user


class Stage(models.TextChoices):
    LEAD = "lead", _("Lead")
    REGISTERED = "registered", _("Registered")
    VERIFIED = "verified", _("Verified")
    FUNDED = "funded", _("Funded")
    ACTIVE = "active", _("Active")
    DORMANT = "dormant", _("Dormant")
    CLOSED = "closed", _("Closed")


class Classification(models.TextChoices):
    """The client's regulatory classification (MiFID II): what protection the client gets, e.g. the
    retail leverage caps. Every client starts as retail; only a deliberate, audited decision
    (crm.services.client_classification_set) makes one professional or an eligible counterparty."""

    RETAIL = "retail", _("Retail")
    PROFESSIONAL = "professional", _("Professional")
    ELIGIBLE_COUNTERPARTY = "eligible_counterparty", _("Eligible counterparty")


class Reverse(Func):
    function = "REVERSE"
    arity = 1


class Client(models.Model):
    """One person, from first lead to active trader. Public URLs use `code`, never the id."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    # brand, owner and desk lead the composite indexes in Meta, which serve every lookup a
    # single-column index would: each index costs every new lead a write.
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="clients", db_index=False)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.LEAD)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    # Contact details are encrypted in their columns (crm.lib.fieldcrypt: AES-GCM under the key ring's
    # current column key, never a key from the database); the services validate them (an address, an
    # E.164 number) before they are written. They cannot be searched or sorted in SQL: exact lookups
    # (the search by a whole address or number, duplicates at intake, merge candidates, a call matched
    # to its caller) go through the keyed hashes below, of the email lower-cased and the phone in
    # E.164. Kept up to date by every save and bulk create (save adds them to update_fields).
    email = EncryptedTextField(blank=True, max_length=254)  # of the address; the column holds more
    phone = EncryptedTextField(blank=True, max_length=20, help_text=_("E.164, e.g. +442071838750"))
    email_hash = KeyedHashField(source="email", kind="email", db_default="")
    phone_hash = KeyedHashField(source="phone", kind="phone", db_default="")
    country = models.CharField(max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2"))
    # The client's nationality (ISO 3166-1 alpha-2): typed by staff or taken from the machine-readable
    # zone of the identity document KYC approved. Sanctions screening compares it with the lists'.
    nationality = models.CharField(_("nationality"), max_length=2, blank=True, db_default="",
                                   help_text=_("ISO 3166-1 alpha-2"))
    language = models.CharField(max_length=8, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    # Encrypted in its column too (a date in Python); compared and shown in Python only.
    date_of_birth = EncryptedDateField(null=True, blank=True)
    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="owned_clients", db_index=False
    )
    desk = models.ForeignKey("crm.Desk", on_delete=models.SET_NULL, null=True, blank=True, related_name="clients",
                             db_index=False)
    # attribution
    source = models.CharField(max_length=100, blank=True)
    campaign = models.CharField(max_length=100, blank=True)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    utm_term = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)
    referrer_code = models.CharField(max_length=64, blank=True)
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    stage_changed_at = models.DateTimeField(null=True, blank=True)
    # The database default covers rows written in bulk (the lead import, the demo data) too.
    classification = models.CharField(max_length=24, choices=Classification.choices, default=Classification.RETAIL,
                                      db_default=Classification.RETAIL)
    # Since when the client's identity verification stands; NULL: not verified (never, or expired,
    # withdrawn or rejected since). The one answer to "is this client verified?" for every app
    # (crm.selectors.client_verified); only the KYC app sets it, through client_verification_set.
    verified_at = models.DateTimeField(_("verified since"), null=True, blank=True)
    # History is read per client (by id) and by date; indexes on its other columns would only
    # slow every write down.
    history = HistoricalRecords(get_user=history_user, no_db_index=["code", "brand", "owner", "desk", "created_at"],
                                excluded_fields=["email_hash", "phone_hash"])

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions: ClassVar = [
            ("reveal_contact", "Can reveal a client's email and phone"),
            ("view_all_clients", "Can see every client of their brands"),
            ("assign_client", "Can assign and share clients"),
        ]
        indexes: ClassVar = [
            # Scoped list pages: an agent's book, a desk's clients, a brand's clients, newest first.
            # An agent's page and its capped count are read from the owner's index alone (its brand
            # carried in it for the scope's brand condition): an agent of 10,000 clients would
            # otherwise fetch 10,000 table pages per view to check their brands and sort them.
            models.Index(fields=["owner", "-created_at", "-id"], include=["brand"], name="client_owner_recent_idx"),
            models.Index(F("desk"), F("created_at").desc(), name="client_desk_recent_idx"),
            models.Index(F("brand"), F("stage"), F("created_at").desc(), name="client_brand_stage_idx"),
            # A desk manager's list filtered by stage and country: the desk arm of the scope's OR
            # becomes one index range instead of a quarter of the table.
            models.Index(fields=["desk", "stage", "country"], name="client_desk_stage_idx"),
            # Global search without pg_trgm: prefixes of names (emails and phones are encrypted:
            # found whole, by their keyed hashes).
            models.Index(OpClass(Lower("last_name"), name="text_pattern_ops"), name="client_last_name_idx"),
            models.Index(OpClass(Lower("first_name"), name="text_pattern_ops"), name="client_first_name_idx"),
            # Exact lookups by keyed hash, within a brand or across the caller's brands.
            models.Index(fields=["email_hash", "brand"], name="client_email_hash_idx", condition=~Q(email_hash="")),
            models.Index(fields=["phone_hash", "brand"], name="client_phone_hash_idx", condition=~Q(phone_hash="")),
            GinIndex(fields=["tags"], name="client_tags_gin"),
            # Sorting a large scope by name (desk managers, compliance) without a full sort.
            models.Index(fields=["last_name", "first_name", "id"], name="client_name_sort_idx"),
            # The search dropdown's order (crm.selectors.SEARCH_NAME_ORDER): a last-name prefix is
            # one range of it read in order, however many clients share the name.
            models.Index(Collate(Lower("last_name"), "C"), Collate(Lower("first_name"), "C"), F("id"),
                         name="client_name_search_idx"),
        ]
        constraints: ClassVar = [
            # What a contact key or a lead touch refers to (their foreign keys, leads 0010): the
            # client with its brand, so that each one's brand is its client's.
            models.UniqueConstraint(fields=["id", "brand"], name="client_id_brand_key"),
            models.CheckConstraint(condition=Q(country="") | Q(country__regex=r"^[A-Z]{2}$"),
                                   name="client_country_iso2"),
            models.CheckConstraint(condition=Q(nationality="") | Q(nationality__regex=r"^[A-Z]{2}$"),
                                   name="client_nationality_iso2"),
        ]

    def __str__(self) -> str:
        return self.full_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = update_fields_with_hashes(type(self), kwargs["update_fields"])
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ClientUserObjectPermission(UserObjectPermissionBase):
    """Direct-FK guardian grants: a client shared with one user beyond their scope."""

    content_object = models.ForeignKey(Client, on_delete=models.CASCADE)


class ClientGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Client, on_delete=models.CASCADE)


class Note(models.Model):
    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, related_name="+")
    body = models.TextField()
    is_pinned = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-is_pinned", "-created_at"]
        indexes: ClassVar = [models.Index(F("client"), F("created_at").desc(), name="note_client_recent_idx")]

    def __str__(self) -> str:
        return self.body[:60]


class Task(models.Model):
    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, null=True, blank=True, related_name="tasks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    assignee = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="tasks")
    created_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, related_name="+")
    due_at = models.DateTimeField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["done_at", "due_at", "id"]
        indexes: ClassVar = [
            # "My open tasks" and the reminder sweep only ever look at open tasks.
            models.Index(fields=["assignee", "due_at"], condition=Q(done_at__isnull=True), name="task_open_idx"),
            models.Index(fields=["remind_at"], condition=Q(done_at__isnull=True, reminded_at__isnull=True),
                         name="task_reminder_due_idx"),
            models.Index(F("client"), F("created_at").desc(), name="task_client_recent_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


class Notification(models.Model):
    """In-app notification for one staff user; the header polls for unread ones."""

    user = models.ForeignKey("crm.User", on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=50)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["user", "-created_at"], name="notification_user_recent_idx"),
            models.Index(fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread_idx"),
        ]

    def __str__(self) -> str:
        return self.title
