"""The support API: the tickets within the caller's reach with their threads, opening a ticket, writing
on it, and the desk's moves (status, assignee, priority), through support.services exactly as the
desk's pages and the trader's room do (the same checks, audit rows and events).

Scopes: `support:read` (lists and threads), `support:write` (opening a ticket, a message). An API key
sees its brand's tickets and stands on the requester's side (the broker's own app or site): the
tickets it opens and the messages it writes are the client's (channel `api`), it reads the public
thread only (never internal notes), and the desk's moves are a person's (**403** `staff_only`).
Staff sessions see and work what the desk shows them (support.permissions: the tickets of the
clients they see; a compliance-sensitive ticket's internal notes only for who works compliance
cases, never for a sales role), answer or note, and move tickets (support.change_ticket).

Opening and writing take the caller's idempotency `key`: repeating a key returns what the first
request made, and writes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field, StringConstraints

from crm.api import (
    ApiError,
    Body20k,
    Caller,
    Code,
    InputSchema,
    PageIn,
    Storable,
    Text16,
    Text40,
    Text500,
    Title200,
    caller_of,
    client_for,
    one_of,
    paginate,
    requires_scope,
    utc_text,
)
from crm.exceptions import NotFound, ValidationFailed
from crm.models import User
from crm.permissions import user_can
from support import desk_selectors, permissions, services
from support.exceptions import TicketUnknown
from support.models import (
    PUBLIC_MESSAGE_KINDS,
    TicketCategory,
    TicketChannel,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from support.models import Ticket as TicketModel

router = Router(tags=["support"])

# The caller's idempotency key: 1 to 100 characters (Text100 would take an empty one).
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=100), Storable]
STATUS_FILTERS = ["active", "all", *TicketStatus.values]
STAFF_REPLY_STATUSES = [
    TicketStatus.PENDING_CLIENT,
    TicketStatus.OPEN,
    TicketStatus.ON_HOLD,
    TicketStatus.RESOLVED,
]


# --- shapes -------------------------------------------------------------------------------------------


class AttachmentOut(Schema):
    code: UUID
    name: str
    size: int
    content_type: str


class MessageOut(Schema):
    id: int
    kind: str = Field(
        ...,
        description="client_reply, partner_reply, staff_reply, internal_note (staff only) "
        "or system (staff only)",
    )
    author: UUID | None = Field(
        None, description="The member of staff who wrote it; null for the requester's"
    )
    channel: str
    body: str
    created_at: str
    attachments: list[AttachmentOut]


class TicketOut(Schema):
    reference: str
    subject: str
    status: str = Field(..., description="new, open, pending_client, on_hold, resolved, closed or merged")
    priority: str = Field(..., description="low, normal, high or urgent")
    category: str
    channel: str
    brand: str
    desk: str = Field(..., description="The desk's code")
    client: UUID | None
    partner: UUID | None
    assignee: UUID | None
    language: str
    requester_name: str
    created_at: str
    last_message_at: str | None
    first_response_due: str | None
    first_response_at: str | None
    resolution_due: str | None
    resolved_at: str | None
    closed_at: str | None
    breached: bool = Field(
        ..., description="A due time was missed (marked by the SLA sweep or at the answer)"
    )
    is_compliance_matter: bool
    merged_into: str | None
    reopen_count: int
    rating: int | None


class TicketDetailOut(TicketOut):
    messages: list[MessageOut]
    notes_hidden: int = Field(
        ...,
        description="Internal notes the caller may not read (a compliance-sensitive "
        "ticket's, for anyone who does not work compliance cases)",
    )


class TicketPage(Schema):
    items: list[TicketOut]
    next_cursor: str | None


class TicketFilters(Schema):
    status: Text16 | None = Field(
        None, description="active (new, open, pending_client, on_hold), all, or one status; all by default"
    )
    priority: Text16 | None = None
    category: Text16 | None = None
    desk: Text40 | None = Field(None, description="A desk's code")
    assignee: Text40 | None = Field(
        None, description="A member of staff's code, `none` (the desk's queue) or, for staff sessions, `me`"
    )
    client: Code | None = None


class TicketIn(InputSchema):
    client: Code
    category: Text16 = Field(
        ..., description="account, deposit, withdrawal, trading, verification, technical, complaint or other"
    )
    subject: Title200
    body: Body20k
    priority: Text16 | None = Field(None, description="Staff sessions only; normal otherwise")
    key: IdempotencyKey = Field(
        ...,
        description="Your idempotency key: the same key returns the first ticket and opens no other",
    )


class MessageIn(InputSchema):
    body: Body20k
    internal: bool = Field(False, description="Staff sessions: an internal note instead of an answer")
    status: Text16 | None = Field(
        None,
        description="Staff answers: what the ticket waits for afterwards "
        "(pending_client by default, open, on_hold or resolved)",
    )
    key: IdempotencyKey = Field(
        ...,
        description="Your idempotency key: the same key returns the first message and writes no other",
    )


class TicketPatch(InputSchema):
    status: Text16 | None = Field(
        None,
        description="open, pending_client, on_hold, resolved or closed (a resolved "
        "or closed ticket set to open is reopened)",
    )
    assignee: Code | None = Field(
        None, description="A member of staff's code; null gives it back to the desk's queue"
    )
    priority: Text16 | None = None
    reason: Text500 = ""


# --- output -------------------------------------------------------------------------------------------


def _code(obj: Any) -> UUID | None:
    return obj.code if obj is not None else None


def ticket_out(ticket: TicketModel) -> dict[str, Any]:
    return {
        "reference": ticket.reference,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "channel": ticket.channel,
        "brand": ticket.brand.code,
        "desk": ticket.desk.code,
        "client": _code(ticket.client),
        "partner": _code(ticket.partner),
        "assignee": _code(ticket.assignee),
        "language": ticket.language,
        "requester_name": ticket.requester_name,
        "created_at": utc_text(ticket.created_at),
        "last_message_at": utc_text(ticket.last_message_at),
        "first_response_due": utc_text(ticket.first_response_due),
        "first_response_at": utc_text(ticket.first_response_at),
        "resolution_due": utc_text(ticket.resolution_due),
        "resolved_at": utc_text(ticket.resolved_at),
        "closed_at": utc_text(ticket.closed_at),
        "breached": ticket.breached,
        "is_compliance_matter": ticket.is_compliance_matter,
        "merged_into": ticket.merged_into.reference if ticket.merged_into is not None else None,
        "reopen_count": ticket.reopen_count,
        "rating": ticket.rating,
    }


def message_out(message: TicketMessage) -> dict[str, Any]:
    return {
        "id": message.pk,
        "kind": message.kind,
        "author": _code(message.author),
        "channel": message.channel,
        "body": message.body_text,
        "created_at": utc_text(message.created_at),
        "attachments": [
            {"code": a.code, "name": a.name, "size": a.size, "content_type": a.content_type}
            for a in message.attachments.all()
        ],
    }


def _thread(caller: Caller, ticket: TicketModel) -> tuple[list[TicketMessage], int]:
    """The messages the caller may read and how many internal notes are kept from them. A key reads
    the requester's view (support.selectors' public kinds); staff what the desk's page shows them."""
    if caller.api_key is not None:
        messages = [
            m
            for m in desk_selectors.ticket_thread(ticket=ticket, user=None).messages
            if m.kind in PUBLIC_MESSAGE_KINDS
        ]
        return messages, 0
    thread = desk_selectors.ticket_thread(ticket=ticket, user=caller.user)
    return thread.messages, thread.notes_hidden


def ticket_detail_out(caller: Caller, ticket: TicketModel) -> dict[str, Any]:
    messages, hidden = _thread(caller, ticket)
    return {**ticket_out(ticket), "messages": [message_out(m) for m in messages], "notes_hidden": hidden}


# --- access -------------------------------------------------------------------------------------------


def _tickets(caller: Caller) -> QuerySet[TicketModel]:
    """The tickets within the caller's reach: the key's brand's, or what the desk shows the user."""
    if caller.api_key is None:
        if not user_can(caller.user, permissions.VIEW_TICKET):
            raise NotFound()  # no desk for them: the operation does not exist, as the pages
        qs = permissions.ticket_queryset_for_user(caller.user)
    else:
        qs = TicketModel.objects.filter(brand_id=caller.api_key.brand_id)
    return qs.select_related("brand", "desk", "client", "partner", "assignee", "merged_into")


def _ticket(caller: Caller, reference: str) -> TicketModel:
    found = _tickets(caller).filter(reference=str(reference).strip().upper()).first()
    if found is None:
        raise TicketUnknown(_("No such ticket."))
    return found


def _staff(caller: Caller) -> User:
    if caller.api_key is not None or caller.user is None:
        raise ApiError(403, "staff_only", _("The desk's moves are made by staff, signed in."))
    return caller.user


def _idempotency_key(caller: Caller, key: str) -> str:
    return f"api:{caller.ident}:{key}"


# --- reads --------------------------------------------------------------------------------------------


@router.get(
    "/support/tickets", response=TicketPage, url_name="api_support_ticket_list", summary="List tickets"
)
@requires_scope("support:read")
def ticket_list(request: HttpRequest, filters: Query[TicketFilters], page: Query[PageIn]) -> dict[str, Any]:
    """Tickets within your reach, newest first. Filters: `status` (`active`, `all` or one status),
    `priority`, `category`, `desk` (its code), `assignee` (a staff code, `none`, or `me` for a staff
    session) and `client` (its code). A value not among the choices is **422** naming the filter."""
    caller = caller_of(request)
    qs = _tickets(caller)
    status = one_of(filters.status, STATUS_FILTERS, "status")
    if status == "active":
        qs = qs.filter(
            status__in=[
                TicketStatus.NEW,
                TicketStatus.OPEN,
                TicketStatus.PENDING_CLIENT,
                TicketStatus.ON_HOLD,
            ]
        )
    elif status and status != "all":
        qs = qs.filter(status=status)
    if priority := one_of(filters.priority, list(TicketPriority.values), "priority"):
        qs = qs.filter(priority=priority)
    if category := one_of(filters.category, list(TicketCategory.values), "category"):
        qs = qs.filter(category=category)
    if filters.desk:
        qs = qs.filter(desk__code=filters.desk)
    if filters.assignee:
        qs = _assignee_filter(caller, qs, filters.assignee)
    if filters.client is not None:
        qs = qs.filter(client__code=filters.client)
    result = paginate(qs, page)
    return {"items": [ticket_out(t) for t in result.items], "next_cursor": result.next_cursor}


def _assignee_filter(caller: Caller, qs: QuerySet[TicketModel], value: str) -> QuerySet[TicketModel]:
    if value == "none":
        return qs.filter(assignee__isnull=True)
    if value == "me" and caller.user is not None:
        return qs.filter(assignee_id=caller.user.pk)
    try:
        code = UUID(value)
    except ValueError:
        code = None
    if code is None or str(code) != value.lower():
        raise ValidationFailed(fields={"assignee": [_("Give a member of staff's code, none or me.")]})
    return qs.filter(assignee__code=code)


@router.get(
    "/support/tickets/{reference}",
    response=TicketDetailOut,
    url_name="api_support_ticket_detail",
    summary="A ticket and its thread",
)
@requires_scope("support:read")
def ticket_get(request: HttpRequest, reference: str) -> dict[str, Any]:
    """The ticket with the messages you may read, oldest first: for an API key the thread with the
    requester (no internal notes); for staff what the desk's page shows them (a compliance-sensitive
    ticket's internal notes only for who works compliance cases, counted in `notes_hidden` for the
    others). A ticket outside your reach is **404**."""
    caller = caller_of(request)
    return ticket_detail_out(caller, _ticket(caller, reference))


# --- writes -------------------------------------------------------------------------------------------


@router.post(
    "/support/tickets",
    response={200: TicketDetailOut, 201: TicketDetailOut},
    url_name="api_support_ticket_open",
    summary="Open a ticket",
)
@requires_scope("support:write")
def ticket_open(request: HttpRequest, payload: TicketIn) -> Status[dict[str, Any]]:
    """Open a ticket for a client within your reach (**422** naming `client` otherwise) with its first
    message: it lands in the brand's desk for the category, is given by the desk's rules and its SLA
    clock starts (event `support.ticket.opened`). A staff session writes on the client's behalf and
    needs support.change_ticket (**403** otherwise). Repeating a `key` returns the first ticket (200)."""
    caller = caller_of(request)
    _tickets(caller)  # staff without the desk: 404, as the pages
    key = _idempotency_key(caller, payload.key)
    if (existing := TicketModel.objects.filter(idempotency_key=key).first()) is not None:
        return Status(200, ticket_detail_out(caller, _ticket(caller, existing.reference)))
    try:
        client = client_for(caller, payload.client)
    except NotFound:
        raise ValidationFailed(
            fields={"client": [_("No client with this code is within your reach.")]}
        ) from None
    if payload.priority is not None and caller.api_key is not None:
        raise ValidationFailed(
            fields={"priority": [_("The desk sets the priority of a ticket opened by an API key.")]}
        )
    try:
        with transaction.atomic():
            ticket = services.ticket_open(
                brand=client.brand,
                category=payload.category,
                subject=payload.subject,
                body=payload.body,
                channel=TicketChannel.API,
                client=client,
                priority=payload.priority,
                actor=caller.user,
                idempotency_key=key,
            )
    except IntegrityError:  # the same key, sent twice at once: the other request's ticket
        existing = TicketModel.objects.filter(idempotency_key=key).first()
        if existing is None:
            raise
        return Status(200, ticket_detail_out(caller, _ticket(caller, existing.reference)))
    return Status(201, ticket_detail_out(caller, _ticket(caller, ticket.reference)))


@router.post(
    "/support/tickets/{reference}/messages",
    response={200: MessageOut, 201: MessageOut},
    url_name="api_support_ticket_message",
    summary="Write on a ticket",
)
@requires_scope("support:write")
def ticket_message(request: HttpRequest, reference: str, payload: MessageIn) -> Status[dict[str, Any]]:
    """A staff session answers the requester (the first answer stops the first-response clock; the
    ticket then waits for `status`, pending_client by default; event `support.ticket.answered`, and
    the answer is mailed) or, with `internal: true`, writes an internal note; it needs
    support.change_ticket (**403** otherwise). An API key writes the requester's message (a ticket
    waiting for the client goes back to open, a resolved one reopens; event
    `support.ticket.client_replied`); `internal` and `status` are the desk's (**422** naming them).
    A merged or closed ticket is **409** `ticket_refused`. Repeating a `key` returns the first
    message (200)."""
    caller = caller_of(request)
    ticket = _ticket(caller, reference)
    key = _idempotency_key(caller, payload.key)
    if (existing := _message_by_key(ticket, key)) is not None:
        return Status(200, message_out(existing))
    if caller.api_key is not None and (payload.internal or payload.status is not None):
        name = "internal" if payload.internal else "status"
        raise ValidationFailed(
            fields={name: [_("Only staff, signed in, write internal notes and set the status.")]}
        )
    if payload.internal and payload.status is not None:
        raise ValidationFailed(fields={"status": [_("An internal note leaves the status as it is.")]})
    status = one_of(payload.status, STAFF_REPLY_STATUSES, "status") or TicketStatus.PENDING_CLIENT
    try:
        with transaction.atomic():
            if caller.api_key is not None:
                message = services.ticket_reply_client(
                    ticket=ticket, body=payload.body, channel=TicketChannel.API, idempotency_key=key
                )
            elif payload.internal:
                message = services.ticket_note(
                    ticket=ticket, body=payload.body, actor=_staff(caller), idempotency_key=key
                )
            else:
                message = services.ticket_reply_staff(
                    ticket=ticket, body=payload.body, actor=_staff(caller), status=status, idempotency_key=key
                )
    except IntegrityError:
        existing = _message_by_key(ticket, key)
        if existing is None:
            raise
        return Status(200, message_out(existing))
    return Status(201, message_out(message))


def _message_by_key(ticket: TicketModel, key: str) -> TicketMessage | None:
    """The message this key wrote, on this ticket (a key reused on another ticket finds nothing here
    and is refused by the unique key: 409)."""
    found = TicketMessage.objects.filter(idempotency_key=key).select_related("author").first()
    if found is not None and found.ticket_id != ticket.pk:
        raise ApiError(
            409,
            "idempotency_key_reused",
            _("This key was used for a message on another ticket."),
            fields={"key": [_("This key was used for a message on another ticket.")]},
        )
    return found


@router.patch(
    "/support/tickets/{reference}",
    response=TicketOut,
    url_name="api_support_ticket_update",
    summary="Move a ticket: status, assignee, priority",
)
@requires_scope("support:write")
def ticket_update(request: HttpRequest, reference: str, payload: TicketPatch) -> dict[str, Any]:
    """Change the fields sent, all or nothing, through the desk's services: `status` along the
    ticket's lifecycle (a refused move is **409** `ticket_refused` naming both statuses; resolved
    emits `support.ticket.closed`, a reopening `support.ticket.reopened`), `assignee` (someone who
    works this brand's tickets and sees its client, **422** naming `assignee` otherwise; null: the
    desk's queue), `priority` (the SLA dues follow). Setting what the ticket already has changes
    nothing. Staff only (**403** `staff_only` for an API key), with support.change_ticket."""
    caller = caller_of(request)
    user = _staff(caller)
    ticket = _ticket(caller, reference)
    given = payload.model_fields_set
    status = one_of(payload.status, list(services.STAFF_STATUSES), "status") if "status" in given else None
    priority = (
        one_of(payload.priority, list(TicketPriority.values), "priority") if "priority" in given else None
    )
    if "status" in given and status is None:
        raise ValidationFailed(
            fields={
                "status": [_("Choose one of: %(choices)s.") % {"choices": ", ".join(services.STAFF_STATUSES)}]
            }
        )
    if "priority" in given and priority is None:
        raise ValidationFailed(
            fields={
                "priority": [_("Choose one of: %(choices)s.") % {"choices": ", ".join(TicketPriority.values)}]
            }
        )
    assignee: User | None = None
    if "assignee" in given and payload.assignee is not None:
        assignee = User.objects.filter(code=payload.assignee).first()
        if assignee is None:
            raise ValidationFailed(fields={"assignee": [_("No member of staff has this code.")]})
    with transaction.atomic():
        if "assignee" in given:
            ticket = services.ticket_assign(ticket=ticket, assignee=assignee, actor=user)
        if priority is not None:
            ticket = services.ticket_set_priority(ticket=ticket, priority=priority, actor=user)
        if status is not None and status != ticket.status:
            ticket = services.ticket_set_status(
                ticket=ticket, status=status, actor=user, reason=payload.reason
            )
    return ticket_out(_ticket(caller, ticket.reference))


__all__ = ["router", "ticket_detail_out", "ticket_out"]
