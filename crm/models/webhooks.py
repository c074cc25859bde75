"""The inbox row every app that takes webhooks keeps (crm.lib.webhooks receives them)."""

from __future__ import annotations

from django.db import models


class ReceivedWebhook(models.Model):
    """One notification an outside system sent, kept raw with what we made of it.

    An app's inbox model adds its ``outcome`` (its choices, "accepted" among them), the columns
    naming the sender and what the notification is about, and the partial unique constraint
    ``crm.lib.webhooks.accepted_once`` that makes a repeated notification change nothing."""

    event_id = models.CharField(max_length=200, blank=True)  # the sender's id of it: copies share it
    headers = models.JSONField(default=dict)  # the sender's own headers and the content type only
    body = models.TextField(blank=True)  # what no text column holds (NUL) shown as U+FFFD
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    signature_ok = models.BooleanField(default=False)
    detail = models.CharField(max_length=300, blank=True)  # why it was refused, or a note on it

    class Meta:
        abstract = True
        ordering = ["-received_at", "-id"]
