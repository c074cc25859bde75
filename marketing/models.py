"""Marketing's records: segments (a brand's named definition, versioned) and their snapshots (who
matched at a moment, under which version), which a campaign will name as whom it was sent to and why."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Segment(models.Model):
    """A brand's named group of clients, defined by facts (marketing.engine). Every change of the
    definition is a new version (SegmentVersion); `version` is the current one's number."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    definition = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["name"]
        constraints: ClassVar = [
            # A segment is chosen by name in a brand's campaigns: two of one name would be confused.
            models.UniqueConstraint(fields=["brand", "name"], name="marketing_segment_unique_name"),
        ]
        permissions: ClassVar = [("segment_on_risk_band", "Can segment clients on their risk band")]

    def __str__(self) -> str:
        return self.name


class SegmentVersion(models.Model):
    """A segment's definition as saved once: what a snapshot says it matched by."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    saved_at = models.DateTimeField(auto_now_add=True)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering: ClassVar = ["-number"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["segment", "number"], name="marketing_segmentversion_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} v{self.number}"


class SegmentSnapshot(models.Model):
    """Who matched a segment's version at `taken_at`, kept: the members as of that moment, whatever
    the clients' facts or the segment's definition later become."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="snapshots")
    version = models.ForeignKey(SegmentVersion, on_delete=models.PROTECT, related_name="snapshots")
    taken_at = models.DateTimeField()
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    member_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering: ClassVar = ["-taken_at", "-id"]

    def __str__(self) -> str:
        return f"{self.segment_id} at {self.taken_at:%Y-%m-%d %H:%M}"


class SegmentSnapshotMember(models.Model):
    snapshot = models.ForeignKey(SegmentSnapshot, on_delete=models.CASCADE, related_name="members")
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints: ClassVar = [
            # Also the index "was this client in that snapshot" reads.
            models.UniqueConstraint(fields=["snapshot", "client"], name="marketing_snapshotmember_once"),
        ]
        indexes: ClassVar = [
            # A client's snapshots (what they were sent, and why), and removing a client.
            models.Index(fields=["client"], name="marketing_snapmember_client"),
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_id}: {self.client_id}"
