"""Errors of the support services (tickets, desks, complaints, inbound mail), with a code and a
message for staff, the client or the partner."""

from __future__ import annotations

from crm.exceptions import NotFound
from crm.lib.errors import DomainError
from crm.lib.states import TransitionRefused


class TicketRefused(DomainError):
    """Something a ticket's state does not allow now (a reply to a merged ticket, a rating of an
    open one, a merge into itself)."""

    default_code = "ticket_refused"
    status_code = 409


class TicketTransitionRefused(TicketRefused, TransitionRefused):
    """A ticket's status may not move this way (support.models.TICKET_STATES)."""

    default_code = "ticket_refused"


class TicketUnknown(NotFound):
    """No such ticket, or one the caller may not see: the two look the same."""

    default_code = "ticket_unknown"


class DeskMissing(DomainError):
    """No active support desk serves the brand: a ticket has nowhere to go."""

    default_code = "desk_missing"
    status_code = 409


class ComplaintRefused(DomainError):
    """Something a complaint's state does not allow now."""

    default_code = "complaint_refused"
    status_code = 409


class ComplaintTransitionRefused(ComplaintRefused, TransitionRefused):
    """A complaint's status may not move this way (support.models.COMPLAINT_STATES)."""

    default_code = "complaint_refused"


class MailRefused(DomainError):
    """An inbound message that is not taken (too large, malformed, a loop): nothing of it was stored
    but its InboundEmail row saying why."""

    default_code = "mail_refused"
