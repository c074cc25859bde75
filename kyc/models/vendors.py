"""What verification vendors sent us: every webhook delivery, kept raw with what we made of it."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.lib.webhooks import accepted_once
from crm.models import ReceivedWebhook


class VendorEventOutcome(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    DUPLICATE = "duplicate", _("Duplicate (already received)")
    REFUSED_BAD_SIGNATURE = "refused_bad_signature", _("Refused: bad signature")
    REFUSED_STALE = "refused_stale", _("Refused: stale timestamp")
    REFUSED_MALFORMED = "refused_malformed", _("Refused: malformed")
    UNKNOWN_REFERENCE = "unknown_reference", _("Refused: unknown reference")
    UNKNOWN_VENDOR = "unknown_vendor", _("Refused: unknown vendor")


class VendorEvent(ReceivedWebhook):
    """One webhook delivery from a verification vendor (kyc.webhooks). Accepted ones are unique per
    vendor and event id: that is how a repeated delivery changes nothing, however many copies
    arrive at once (the copies are kept too, as duplicates)."""

    vendor = models.CharField(max_length=40)  # as in the URL, also for an unknown vendor
    kind = models.CharField(max_length=60, blank=True)
    reference = models.CharField(max_length=100, blank=True)  # the vendor's reference of the applicant
    submission = models.ForeignKey("kyc.Submission", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="vendor_events")
    outcome = models.CharField(max_length=30, choices=VendorEventOutcome.choices)

    class Meta(ReceivedWebhook.Meta):
        constraints: ClassVar = [accepted_once("vendor", name="kyc_vendor_event_accepted_once")]
        indexes: ClassVar = [models.Index(fields=["vendor", "reference"], name="kyc_vendor_event_ref_idx")]

    def __str__(self) -> str:
        return f"{self.vendor} {self.event_id} {self.outcome}"
