"""Errors the core's services, selectors and access helpers raise (DomainError and Conflict are
defined in crm.lib.errors and imported from here).

Each carries a stable `code` (for the API's `{"code", "message", "fields"}` shape), a human
`message` (already translated into the active language) and, for bad input, `fields`: the
names of the offending inputs with their messages. `status_code` is the HTTP status a view or
the API answers with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.utils.translation import gettext

# The base lives below the core (crm.lib.errors) so that crm.lib's helpers raise this family too.
from crm.lib.errors import Conflict as Conflict
from crm.lib.errors import DomainError as DomainError
from crm.lib.states import TransitionRefused


class NotFound(DomainError):
    """The object does not exist, or the user may not see it: callers cannot tell which."""

    default_code = "not_found"
    status_code = 404

    def default_message(self) -> str:
        return gettext("Not found.")


class ValidationFailed(DomainError):
    """Bad input; `fields` names each offending input. Nothing has been written."""

    default_code = "invalid"
    status_code = 400

    def default_message(self) -> str:
        if len(self.fields) == 1:
            name = next(iter(self.fields))
            if name != "__all__":
                return gettext("Please correct the %(field)s field.") % {"field": name}
        return gettext("Please correct the errors below.")

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: Mapping[str, Iterable[str] | str] | None = None,
    ) -> None:
        # `fields` must be known before default_message() runs.
        self.fields = {}
        if fields:
            self.fields = {
                name: [str(msgs)] if isinstance(msgs, str) else [str(m) for m in msgs]
                for name, msgs in fields.items()
            }
        super().__init__(message, code=code, fields=fields)


class StageRefused(TransitionRefused):
    """A client's stage may not move this way (crm.models.stages): the message names the move and what
    would make it. Nothing has been written."""

    default_code = "stage_refused"

    def default_message(self) -> str:
        return gettext("This change of stage is not allowed.")


class EventDeliveryTransitionRefused(TransitionRefused):
    """An event delivery's status may not move this way (crm.models.events.EVENT_DELIVERY_STATES):
    one that succeeded is never run again. Nothing has been written."""

    default_code = "event_delivery_refused"


class JobTransitionRefused(TransitionRefused):
    """A background job's status may not move this way (crm.models.jobs.JOB_STATES): a finished
    job never runs or finishes again. Nothing has been written."""

    default_code = "job_refused"


class NotAllowed(DomainError):
    """The user can see the object but may not do this to it (or lacks the permission to act)."""

    default_code = "forbidden"
    status_code = 403

    def default_message(self) -> str:
        return gettext("You are not allowed to do this.")


class ExternalCallFailed(DomainError):
    """A call to an outside service (a verification vendor, a payment provider) failed. Whether it
    may have been applied follows two facts: `request_sent` (the request left) and `refused` (the
    service answered that it did nothing). Sent and not refused: the outcome is unknown and is
    found by looking the operation up by our reference, never by sending it again blindly."""

    default_code = "external_call_failed"
    status_code = 502

    def __init__(self, message: str | None = None, *, code: str | None = None, request_sent: bool = False,
                 refused: bool = False, status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.request_sent = request_sent
        self.refused = refused
        self.status = status

    @property
    def outcome_unknown(self) -> bool:
        """The request may have been applied: look it up before anything else."""
        return self.request_sent and not self.refused


class WebhookNotBelieved(DomainError):
    """A webhook we do not believe or cannot read: `reason` is bad_signature, stale or malformed
    (401 for the first two, which a sender must not retry unchanged). The code is the class's
    `code_prefix` and the reason."""

    code_prefix = "webhook_"
    status_code = 400

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message or reason, code=f"{self.code_prefix}{reason}")
        if reason in ("bad_signature", "stale"):
            self.status_code = 401


class FieldErrors:
    """Collects per-field messages so that a service reports every bad input at once."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(str(message))

    def __bool__(self) -> bool:
        return bool(self.fields)

    def __contains__(self, field: str) -> bool:
        return field in self.fields

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationFailed(fields=self.fields)
