"""Reads of the integrations that other apps (the demo) use."""

from __future__ import annotations

from crm.models import ApiKey
from integrations.models import WebhookSubscriber


def subscriber_named(*, api_key: ApiKey, name: str) -> WebhookSubscriber | None:
    """The API key's subscriber of that name, if it has one."""
    return WebhookSubscriber.objects.filter(api_key=api_key, name=name).first()
