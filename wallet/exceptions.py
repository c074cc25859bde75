"""Errors of the wallet's payment providers, with a stable code and a message staff can act on.

Whether a failed call may have been applied follows the trading adapters' rule: ``request_sent``
(the request left) and not ``refused`` (the provider said it did nothing) means the outcome is
unknown and is resolved by looking the operation up (``fetch_status`` by the merchant reference),
never by sending it again blindly.
"""

from __future__ import annotations

from django.utils.translation import gettext

from crm.exceptions import DomainError, NotFound, ValidationFailed


class ProviderError(DomainError):
    """A payment provider call failed."""

    default_code = "provider_failed"
    status_code = 502

    def __init__(self, message: str | None = None, *, code: str | None = None, request_sent: bool = False,
                 refused: bool = False, status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.request_sent = request_sent
        self.refused = refused
        self.status = status

    def default_message(self) -> str:
        return gettext("The payment provider did not accept the request.")

    @property
    def outcome_unknown(self) -> bool:
        """The request may have been applied: look it up before anything else."""
        return self.request_sent and not self.refused


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or turned the request away for now (5xx, 429)."""

    default_code = "provider_unavailable"

    def default_message(self) -> str:
        return gettext("The payment provider is not available; try again later.")


class ProviderTimeout(ProviderError):
    """No answer in time; with ``request_sent`` the provider may have applied the request."""

    default_code = "provider_timeout"

    def default_message(self) -> str:
        return gettext("The payment provider did not answer in time.")


class ProviderRejected(ProviderError):
    """The provider answered that it refuses the request (bad input, not allowed); nothing applied."""

    default_code = "provider_rejected"
    status_code = 400

    def __init__(self, message: str | None = None, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code, request_sent=True, refused=True, status=status)


class ProviderProtocolError(ProviderError):
    """The answer did not have the documented shape (the request may have been applied)."""

    default_code = "provider_protocol"


class ProviderUnsupported(ProviderError):
    """This provider cannot do this at all (a bank wire has no hosted refund)."""

    default_code = "provider_unsupported"
    status_code = 400

    def default_message(self) -> str:
        return gettext("This payment provider does not support that operation.")


class ProviderNotConfigured(NotFound):
    """No enabled provider with that code (or its adapter kind is unknown)."""

    default_code = "provider_not_configured"


class WebhookRefused(DomainError):
    """A webhook we do not believe: ``reason`` is bad_signature, stale or malformed."""

    default_code = "webhook_refused"
    status_code = 400

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message or reason, code=f"webhook_{reason}")
        if reason in ("bad_signature", "stale"):
            self.status_code = 401


class SettlementParseError(ValidationFailed):
    """A settlement file line that cannot be read: the message names the row and the column."""

    default_code = "settlement_unreadable"

    def __init__(self, message: str, *, row: int | None = None, column: str = "") -> None:
        self.row = row
        self.column = column
        super().__init__(message, fields={column or "file": message})


class MethodNotAvailable(ValidationFailed):
    """No payment method rule allows this brand, country, currency, direction and amount."""

    default_code = "method_not_available"
