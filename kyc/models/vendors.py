"""What verification vendors sent us: every webhook delivery, kept raw with what we made of it."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class VendorEventOutcome(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    DUPLICATE = "duplicate", _("Duplicate (already received)")
    REFUSED_BAD_SIGNATURE = "refused_bad_signature", _("Refused: bad signature")
    REFUSED_STALE = "refused_stale", _("Refused: stale timestamp")
    REFUSED_MALFORMED = "refused_malformed", _("Refused: malformed")
    UNKNOWN_REFERENCE = "unknown_reference", _("Refused: unknown reference")
    UNKNOWN_VENDOR = "unknown_vendor", _("Refused: unknown vendor")


class VendorEvent(models.Model):
    """One webhook delivery from a verification vendor (kyc.webhooks). Accepted ones are unique per
    vendor and event id: that is how a repeated delivery changes nothing, however many copies
    arrive at once (the copies are kept too, as duplicates)."""

    vendor = models.CharField(max_length=40)  # as in the URL, also for an unknown vendor
    event_id = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=60, blank=True)
    reference = models.CharField(max_length=100, blank=True)  # the vendor's reference of the applicant
    submission = models.ForeignKey("kyc.Submission", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="vendor_events")
    headers = models.JSONField(default=dict)  # the vendor's own headers and the content type only
    body = models.TextField(blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    signature_ok = models.BooleanField(default=False)
    outcome = models.CharField(max_length=30, choices=VendorEventOutcome.choices)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints: ClassVar = [
            # Twenty simultaneous copies of one notification store one accepted row; the others fail
            # this index and are stored as duplicates.
            models.UniqueConstraint(fields=["vendor", "event_id"], condition=Q(outcome="accepted"),
                                    name="kyc_vendor_event_accepted_once"),
        ]
        indexes: ClassVar = [models.Index(fields=["vendor", "reference"], name="kyc_vendor_event_ref_idx")]

    def __str__(self) -> str:
        return f"{self.vendor} {self.event_id} {self.outcome}"
