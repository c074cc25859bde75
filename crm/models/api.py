from __future__ import annotations

from typing import ClassVar

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from plumbing.context import history_user


class ApiKey(models.Model):
    """A machine credential, scoped to one brand and a list of permissions. Only its hash is kept."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=40), default=list)
    created_by = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(get_user=history_user, excluded_fields=["last_used_at"])

    class Meta:
        ordering = ["-created_at"]
        indexes: ClassVar = [
            models.Index(fields=["key_hash"], condition=Q(revoked_at__isnull=True), name="apikey_active_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
