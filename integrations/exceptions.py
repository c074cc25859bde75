"""Errors the integrations services raise (crm.exceptions.DomainError: a code, a human message, fields)."""

from __future__ import annotations

from crm.lib.states import TransitionRefused


class WebhookDeliveryTransitionRefused(TransitionRefused):
    """An outbound webhook delivery's status may not move this way
    (integrations.models.WEBHOOK_DELIVERY_STATES): the message names both statuses; nothing was written."""

    default_code = "webhook_delivery_refused"
