"""Errors of the leads app that other code catches by type."""

from __future__ import annotations

from crm.exceptions import WebhookNotBelieved
from crm.lib.states import TransitionRefused


class LeadImportTransitionRefused(TransitionRefused):
    """A lead import's status may not move this way (leads.models.IMPORT_STATES): a finished import
    is not run again, only a failed or cancelled one started again. Nothing was written."""

    default_code = "lead_import_refused"


class TelephonyWebhookRefused(WebhookNotBelieved):
    """A telephony provider's webhook we do not believe or cannot read: `reason` is bad_signature,
    stale or malformed. For a malformed body, `fields` names each bad field, as the answer does."""

    code_prefix = "telephony_webhook_"

    def __init__(self, reason: str, message: str | None = None, *,
                 fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(reason, message)
        self.fields = fields or {}
