"""The retention schedule (issue 64, section 2) and the erasures done: what of clients' data is kept how
long, each daily run's report, and each client erased with what stays and until when. Loaded by
compliance.models; written only through compliance.retention and compliance.erasure."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class RetentionKind(models.TextChoices):
    LEADS_NEVER_CONVERTED = "leads_never_converted", _("Leads never converted")
    KYC_REJECTED = "kyc_rejected", _("KYC documents of rejected applicants")
    CLOSED_TICKETS = "closed_tickets", _("Closed support tickets")
    MARKETING_CONSENTS = "marketing_consents", _("Marketing consent records")


class RetentionRule(models.Model):
    """How long one kind of data is kept, for one brand or (brand empty) for every brand without its own
    rule. Without any row the schedule's defaults apply (compliance.retention.DEFAULT_RULES)."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=32, choices=RetentionKind.choices)
    keep_days = models.PositiveIntegerField()
    basis = models.CharField(max_length=300)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering: ClassVar = ["kind", "brand_id"]
        constraints: ClassVar = [
            # One rule per brand and kind, and one for every brand (NULL brand counted as one value).
            models.UniqueConstraint(fields=["brand", "kind"], nulls_distinct=False, name="retention_rule_unique"),
            models.CheckConstraint(condition=Q(keep_days__gte=1), name="retention_rule_keep_days_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.keep_days} days"


class RetentionRun(models.Model):
    """One run of the schedule (daily by beat, or started by an officer): as of when, and per kind what
    was found past its time and removed or anonymised (`results`: kind -> {"found": n, "removed": n})."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    as_of = models.DateTimeField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    results = models.JSONField(default=dict, blank=True)
    removed = models.PositiveIntegerField(default=0)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering: ClassVar = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Retention run {self.as_of:%Y-%m-%d}"


class ClientErasure(models.Model):
    """A client erased (compliance.erasure_apply): when, by whom (none: the retention schedule), for which
    request, what was changed (counts) and what was kept under a hold with its end date (`held`: kind ->
    ISO date or "" for no end). No personal data: the client row is anonymised already."""

    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="+")
    erased_at = models.DateTimeField()
    erased_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    request_code = models.CharField(max_length=36, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    held = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering: ClassVar = ["-erased_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["client", "-erased_at"], name="client_erasure_client_idx")]

    def __str__(self) -> str:
        return f"Erasure of client {self.client_id}"
