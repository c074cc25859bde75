"""The trader's room: a client's own login (never a staff User) and the consents they give."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.fieldcrypt import EncryptedTextField, KeyedHashField, update_fields_with_hashes
from plumbing.context import history_user


class ClientLogin(models.Model):
    """How one client signs in to the trader's room of their brand. The password is hashed with
    Django's hashers; the TOTP secret is encrypted at rest (portal.totp); recovery codes are kept as
    hashes only; the email address is encrypted in its column (crm.lib.fieldcrypt) and found, whatever
    its case, by its keyed hash. Never a staff account: request.user stays anonymous in a portal
    session."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    client = models.OneToOneField("crm.Client", on_delete=models.CASCADE, related_name="portal_login")
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    email = EncryptedTextField(max_length=254)
    email_hash = KeyedHashField(source="email", kind="email", db_default="")
    password = models.CharField(max_length=200)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    totp_secret = models.TextField(blank=True)  # a FieldCipher token, "" when never set up
    totp_confirmed = models.BooleanField(default=False)
    totp_last_step = models.BigIntegerField(default=0)  # a code is accepted once
    recovery_codes = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    last_login = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            # One login per address and brand, whatever its case (the hash is of the lower-cased
            # address): the address is how they sign in.
            models.UniqueConstraint(fields=["email_hash", "brand"], name="portal_login_brand_email_uniq"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = update_fields_with_hashes(type(self), kwargs["update_fields"])
        super().save(*args, **kwargs)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def is_locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > timezone.now()


class ConsentKind(models.TextChoices):
    TERMS = "terms", _("Terms and conditions")
    PRIVACY = "privacy", _("Privacy policy")
    MARKETING = "marketing", _("Marketing messages")


class ConsentDocument(models.Model):
    """One published version of a brand's terms, privacy policy or marketing consent text, in one
    language. The current version of a kind is the latest published one."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=ConsentKind.choices)
    version = models.CharField(max_length=32)
    language = models.CharField(max_length=8)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.URLField(blank=True)
    published_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand", "kind", "-published_at"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["brand", "kind", "version", "language"], name="portal_consent_doc_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.version})"


class ConsentRecord(models.Model):
    """A client accepted or withdrew a consent: a row per decision, never updated."""

    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="consent_records")
    document = models.ForeignKey(ConsentDocument, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=16, choices=ConsentKind.choices)
    version = models.CharField(max_length=32, blank=True)
    accepted = models.BooleanField()
    at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes: ClassVar = [models.Index(fields=["client", "kind", "-at"], name="portal_consent_client_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.version} {'accepted' if self.accepted else 'withdrawn'}"


class AccountChoice(models.Model):
    """The live account type the client asked for before (or while) being verified: the first live
    account opens with it on approval (portal.services.portal_first_live_account_open); without one,
    or when the type is no longer offered, the brand's default offer."""

    client = models.OneToOneField("crm.Client", on_delete=models.CASCADE, related_name="+")
    server = models.ForeignKey("trading.PlatformServer", on_delete=models.CASCADE, related_name="+")
    account_type = models.CharField(max_length=64)
    chosen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.server_id}:{self.account_type}"


class AccountRequest(models.Model):
    """One "open an account" form the client sent, by the token the form carried: a second submit of
    the same form finds it and opens nothing more. Written in the transaction that records the
    account, so a platform failure leaves no row (and the client may send the form again)."""

    token = models.UUIDField(unique=True)
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey("trading.TradingAccount", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.token)


class PortalSession(models.Model):
    """A signed-in trader's-room session, for the client's list of their sessions: written on
    sign-in, its last-seen time moved at most once a minute, removed on sign-out (this one, or from
    another session's list) and when it is found idle past SESSION_IDLE_TIMEOUT. The session key is
    never shown or put in a URL: the list names sessions by `code`."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    login = models.ForeignKey(ClientLogin, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=64, unique=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    signed_in_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at", "-id"]

    def __str__(self) -> str:
        return f"{self.login_id} {self.signed_in_at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """Something that happened to the client, for the trader's room's notifications page: one per
    domain event (the event delivery may run a handler twice). The text is made when shown, in the
    page's language (portal.notifications), from `kind` and `data`."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+")
    # No constraint in the database: the event outbox (crm.Event) is partitioned by month (the cascade is the ORM's).
    event = models.OneToOneField("crm.Event", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    kind = models.CharField(max_length=80)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes: ClassVar = [
            # The header's unread count on every page: only the unread rows.
            models.Index(fields=["client"], condition=models.Q(read_at__isnull=True), name="portal_notif_unread_idx"),
            models.Index(fields=["client", "-created_at"], name="portal_notif_client_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.client_id}"
