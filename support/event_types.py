"""The events of support (see crm.events.catalogue): tickets opened, answered, replied to by the
client, breaching their SLA, closed, reopened and rated; complaints registered, acknowledged and closed.

A ticket's events are the client's (its timeline shows them) when the ticket has a client; a ticket
without one (an unknown sender's mail) writes them with its brand only. Their data never carries a
message's text nor an internal note: what the timeline shows is the ticket's reference, subject and
status; the thread is on the ticket's page, behind its permissions."""

from __future__ import annotations

from typing import TypedDict

from crm.events.catalogue import CodeText, DateTimeText, UserRef, declare


class TicketChanged(TypedDict):
    ticket: str  # the reference, "T001234"
    subject: str
    desk: str  # the desk's code
    category: str
    status: str
    priority: str
    channel: str
    client: CodeText | None  # None: a sender not linked to a client yet
    partner: CodeText | None
    assignee: UserRef | None
    by: UserRef | None  # None: the client, the partner, an email or the system


class TicketBreached(TypedDict):
    ticket: str
    subject: str
    desk: str
    priority: str
    client: CodeText | None
    target: str  # first_response, resolution
    due: DateTimeText
    assignee: UserRef | None


class TicketRated(TypedDict):
    ticket: str
    subject: str
    desk: str
    client: CodeText | None
    partner: CodeText | None
    rating: int  # 1 to 5
    assignee: UserRef | None


declare("support.ticket.opened", payload=TicketChanged,
        description="A ticket was opened (trader's room, partner portal, email, staff or API) and landed in "
                    "its desk's queue with its SLA clock running.")
declare("support.ticket.answered", payload=TicketChanged,
        description="Staff answered a ticket (the first answer stops the first-response clock).")
declare("support.ticket.client_replied", payload=TicketChanged,
        description="The client or partner wrote again on a ticket (trader's room, partner portal or email).")
declare("support.ticket.breached", payload=TicketBreached,
        description="A ticket missed its SLA (first response or resolution); the desk's manager is told.")
declare("support.ticket.closed", payload=TicketChanged,
        description="A ticket was closed (or resolved), by staff, by time or merged into another.")
declare("support.ticket.reopened", payload=TicketChanged,
        description="A resolved or closed ticket was reopened, by staff or by the client writing again.")
declare("support.ticket.rated", payload=TicketRated,
        description="The client or partner rated the answer to a ticket (1 to 5).")


class ComplaintChanged(TypedDict):
    complaint: str  # the register's reference, "<firm>-<year>-<seq>"
    ticket: str
    category: str
    status: str
    outcome: str | None
    client: CodeText | None
    acknowledge_due: DateTimeText
    response_due: DateTimeText
    by: UserRef | None


declare("support.complaint.registered", payload=ComplaintChanged,
        description="A complaint entered the register with its reference; acknowledgement is due in 5 working "
                    "days, the final response in 2 months.")
declare("support.complaint.acknowledged", payload=ComplaintChanged,
        description="A complaint's acknowledgement was sent to the complainant.")
declare("support.complaint.closed", payload=ComplaintChanged,
        description="A compliance officer closed a complaint with its outcome (and any amount paid).")
