"""Tickets: opened from every channel, answered, noted, assigned, moved, closed, reopened, rated,
merged and linked to their client; canned answers filled in for a ticket.

Every write is one atomic function: it checks its input (a bad field is named), locks the ticket,
writes its rows, its audit row and (for what the client or automation would notice) its event. A
ticket's status moves only through support.models.TICKET_STATES:

    new --staff answer--> pending_client --client writes--> open --staff answer--> pending_client ...
    new, open, pending_client, on_hold --resolve--> resolved --close (staff, or by time)--> closed
    any of the worked statuses --close--> closed
    resolved, closed --reopen (staff, the client writing, an email within its days)--> open
    anything but merged --merge into another ticket--> merged (its thread stays; the target continues)

Waiting for the client (and being resolved or closed) stops the resolution clock; going back to a
worked status restarts it with the paused business minutes added (support.sla_services, which also
computes the dues when a ticket opens and whose sweep warns, marks breaches and escalates).

The desk a new ticket lands in is the brand's active desk whose assignment rules name its category,
else the brand's first active desk; its assignee is the first of the desk's rules (in order) that
matches the ticket's language, category and (VIP rules) a client tagged "vip": a named agent, or the
client's owner when the owner may work the ticket.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotAllowed, ValidationFailed
from crm.lib.payloads import user_ref
from crm.models import Brand, Client
from crm.permissions import client_queryset_for_user, user_can
from support import attachments as files
from support import desk_cache, outbound, permissions, sla_services
from support.exceptions import DeskMissing, TicketRefused, TicketUnknown
from support.models import (
    PRIORITY_RANK,
    TICKET_STATES,
    AssignmentRule,
    CannedAnswer,
    MessageKind,
    SupportDesk,
    Ticket,
    TicketAttachment,
    TicketCategory,
    TicketChannel,
    TicketMessage,
    TicketPriority,
    TicketStatus,
    ticket_reference,
)

if TYPE_CHECKING:
    from crm.models import User

SUBJECT_MAX = 200
BODY_MAX = 50_000
VIP_TAG = "vip"
# Statuses staff may set by hand (resolved and closed have their own services; merged is merge's).
STAFF_STATUSES = (TicketStatus.OPEN, TicketStatus.PENDING_CLIENT, TicketStatus.ON_HOLD, TicketStatus.RESOLVED,
                  TicketStatus.CLOSED)

_WHOLE = ContextVar("support_services_whole_transaction", default=False)


@contextmanager
def within_whole_transaction() -> Iterator[None]:
    """For a caller that runs the ticket services inside its own transaction.atomic block and
    rolls that block back whole on any error (mail intake): the services marked ``_atomic`` join
    it without a savepoint of their own (two round trips each). An error inside one still undoes
    everything, since it leaves the caller's block too; a caller that catches an error of a service
    and carries on in the same transaction must not use this."""
    token = _WHOLE.set(True)
    try:
        yield
    finally:
        _WHOLE.reset(token)


def _atomic[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """transaction.atomic, without the savepoint inside ``within_whole_transaction``."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with transaction.atomic(savepoint=not _WHOLE.get()):
            return func(*args, **kwargs)

    return run
PLACEHOLDERS = ("first_name", "last_name", "reference", "agent_name", "brand")


# --- helpers ------------------------------------------------------------------------------------------

def _text(value: Any, *, field: str, required: bool = True, limit: int = BODY_MAX, message: str = "") -> str:
    text = str(value or "").strip()
    if "\x00" in text:
        raise ValidationFailed(fields={field: [gettext("This text contains a character that cannot be stored.")]})
    if required and not text:
        raise ValidationFailed(fields={field: [message or gettext("This field is required.")]})
    if len(text) > limit:
        raise ValidationFailed(fields={field: [gettext("At most %(n)s characters.") % {"n": limit}]})
    return text


def _choice(value: Any, choices: type[Any], *, field: str) -> str:
    text = str(value or "")
    if text not in choices.values:
        raise ValidationFailed(fields={field: [gettext("Choose one of the listed values.")]})
    return text


def _require_work(actor: Any, ticket: Ticket) -> None:
    """Staff may work a ticket they see with the permission to work tickets; seeing it is checked
    first (a ticket they do not see is missing for them)."""
    if not permissions.ticket_visible_to(actor, ticket):
        raise TicketUnknown(gettext("No such ticket."))
    if not user_can(actor, permissions.WORK_TICKET):
        raise NotAllowed(gettext("You are not allowed to work tickets."))


def _locked(ticket: Ticket) -> Ticket:
    return (Ticket.objects.select_for_update(of=("self",))
            .select_related("desk", "client", "assignee", "brand", "partner").get(pk=ticket.pk))


def _payload(ticket: Ticket, by: Any) -> dict[str, Any]:
    return {"ticket": ticket.reference, "subject": ticket.subject, "desk": ticket.desk.code,
            "category": ticket.category, "status": ticket.status, "priority": ticket.priority,
            "channel": ticket.channel, "client": str(ticket.client.code) if ticket.client is not None else None,
            "partner": str(ticket.partner.code) if ticket.partner is not None else None,
            "assignee": user_ref(ticket.assignee), "by": user_ref(by) if getattr(by, "pk", None) else None}


def _event(name: str, ticket: Ticket, *, by: Any) -> None:
    """The ticket's event: the client's (its timeline) when it has one, else the brand's."""
    emit(name, client=ticket.client, brand=ticket.brand_id, actor=by if getattr(by, "pk", None) else None,
         data=_payload(ticket, by))


def _audit(action: str, ticket: Ticket, *, actor: Any, before: Mapping[str, Any] | None = None,
           reason: str = "", **after: Any) -> None:
    audit_record(action=f"support.ticket_{action}", obj=ticket, object_id=ticket.reference, actor=actor,
                 brand=ticket.brand_id, reason=reason, before=dict(before or {}),
                 after={"status": ticket.status, **after})


def _move(ticket: Ticket, to: str, *, via: str | None = None, at: dt.datetime | None = None,
          also: Mapping[str, Any] | None = None) -> str:
    """Move the (locked) ticket to `to` along TICKET_STATES, with the SLA clock stopped or restarted
    for the move and the fields of `also`; refused before anything is written. Returns the status
    it left."""
    old = TICKET_STATES.check(ticket, to, via=via)
    now = at or timezone.now()
    changed = sla_services.ticket_sla_status_changed(ticket, old=old, new=to, at=now)
    TICKET_STATES.move(ticket, to, via=via, also=dict(also or {}), save=changed)
    # A clock stopped by this move after its due time, before the sweep saw it: breached now.
    sla_services.ticket_sla_stopped_late(ticket, at=now)
    return old


def _message(ticket: Ticket, *, kind: str, body: str, channel: str, author: Any = None, from_email: str = "",
             body_html: str = "", email_message_id: str | None = None, in_reply_to: str = "",
             attachments: Iterable[Any] = (), at: dt.datetime | None = None, touch: bool = True,
             idempotency_key: str | None = None) -> TicketMessage:
    """`touch` False: the caller has just saved the ticket with last_message_at = `at` (an opening).
    `idempotency_key`: an API caller's key (support.api), unique among messages."""
    skip = channel == TicketChannel.EMAIL
    taken, refused = files.attachments_check(attachments, skip_refused=skip)
    message = TicketMessage.objects.create(
        ticket=ticket, kind=kind, author=author if getattr(author, "pk", None) else None, from_email=from_email,
        body_text=body, body_html=body_html, channel=channel, email_message_id=email_message_id or None,
        in_reply_to=in_reply_to, idempotency_key=idempotency_key or None)
    for checked in taken:
        name = files.attachment_store(checked, scope=ticket.brand.code)
        TicketAttachment.objects.create(message=message, name=checked.name, size=len(checked.data),
                                        content_type=checked.content_type, sha256=checked.sha256, storage_name=name)
    if refused:
        lines = "\n".join(f"- {name}: {why}" for name, why in refused)
        TicketMessage.objects.create(ticket=ticket, kind=MessageKind.SYSTEM, channel=channel,
                                     body_text=gettext("Attachments not taken:") + "\n" + lines)
    if touch or ticket.last_message_at != at:
        ticket.last_message_at = at or timezone.now()
        ticket.save(update_fields=["last_message_at"])
    return message


# --- desks and assignment -----------------------------------------------------------------------------

def desk_for(*, brand: Brand | int, category: str) -> SupportDesk:
    """The desk a new ticket of `brand` about `category` lands in: the brand's active desk whose
    assignment rules name the category, else the brand's first active desk; DeskMissing if none."""
    brand_id = brand if isinstance(brand, int) else brand.pk
    desks = SupportDesk.objects.filter(brand_id=brand_id, active=True).order_by("pk")
    desk = desks.filter(assignment_rules__category=category).first() or desks.first()
    if desk is None:
        raise DeskMissing(gettext("No support desk takes this brand's tickets yet; ask an administrator to set "
                                  "one up."))
    return desk


def _rule_matches(rule: AssignmentRule, ticket: Ticket) -> bool:
    if rule.language and rule.language.lower() != (ticket.language or "").lower():
        return False
    if rule.category and rule.category != ticket.category:
        return False
    client = ticket.client
    return not (rule.vip_only and (client is None or VIP_TAG not in [t.lower() for t in client.tags or []]))


def assignee_for(ticket: Ticket) -> Any:
    """The first matching rule's assignee (support.models.AssignmentRule), or None (the desk's queue).
    A rule whose person may not work the ticket (left, another brand, not their client) is passed over."""
    from crm.models import User

    # The desk's rules are cached per process (support.desk_cache) without their assignees: each
    # person is read when their rule matches, so that whether they may work the ticket is current.
    for rule in desk_cache.desk_rules(ticket.desk_id):
        if not _rule_matches(rule, ticket):
            continue
        if rule.to_owner:
            owner = ticket.client.owner if ticket.client is not None else None
            if owner is not None and permissions.ticket_assignable(ticket=ticket, user=owner):
                return owner
            if rule.assignee_id is None:
                continue
        person = User.objects.filter(pk=rule.assignee_id).first() if rule.assignee_id is not None else None
        if person is not None and permissions.ticket_assignable(ticket=ticket, user=person):
            return person
    return None


def _next_reference() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('support_ticket_reference')")
        (number,) = cursor.fetchone()
    return ticket_reference(int(number))


# --- opening ------------------------------------------------------------------------------------------

@_atomic
def ticket_open_with_message(*, brand: Brand, category: str, subject: str, body: str, channel: str,
                             client: Client | None = None, partner: Any = None, requester_email: str = "",
                             requester_name: str = "", language: str = "", priority: str | None = None,
                             attachments: Iterable[Any] = (), actor: User | None = None,
                             desk: SupportDesk | None = None, body_html: str = "",
                             email_message_id: str | None = None, is_compliance_matter: bool = False,
                             idempotency_key: str | None = None) -> tuple[Ticket, TicketMessage]:
    """Open a ticket with its first message (the requester's, or staff's on their behalf) and its
    attachments (the KYC upload checks; refused files are named on "attachments", or, for mail,
    noted on the ticket). It lands in `desk` or the brand's desk for the category, is given by the
    desk's rules, and its SLA clock starts. Emits support.ticket.opened (on the client's timeline)."""
    category = _choice(category, TicketCategory, field="category")
    channel = _choice(channel, TicketChannel, field="channel")
    priority = _choice(priority or TicketPriority.NORMAL, TicketPriority, field="priority")
    subject = _text(subject, field="subject", limit=SUBJECT_MAX, message=gettext("Say in a few words what it is about."))
    body = _text(body, field="body", message=gettext("Write your message."))
    if client is not None and client.brand_id != brand.pk:
        raise ValidationFailed(fields={"client": [gettext("This client is of another brand.")]})
    if partner is not None and partner.brand_id != brand.pk:
        raise ValidationFailed(fields={"partner": [gettext("This partner is of another brand.")]})
    staff = actor if getattr(actor, "pk", None) else None
    if staff is not None:
        if not user_can(staff, permissions.WORK_TICKET):
            raise NotAllowed(gettext("You are not allowed to work tickets."))
        if client is not None and not client_queryset_for_user(staff).filter(pk=client.pk).exists():
            raise ValidationFailed(fields={"client": [gettext("Choose a client you can see.")]})
    if desk is None:
        desk = desk_for(brand=brand, category=category)
    elif desk.brand_id != brand.pk:
        raise ValidationFailed(fields={"desk": [gettext("This desk is of another brand.")]})
    email = (requester_email or (client.email if client is not None else "") or "").strip()[:254]
    name = (requester_name or (client.full_name if client is not None else "") or "").strip()[:200]
    now = timezone.now()
    ticket = Ticket(reference=_next_reference(), brand=brand, desk=desk, category=category, subject=subject,
                    priority=priority, channel=channel, client=client, partner=partner, requester_email=email,
                    requester_name=name, language=(language or (client.language if client else "")
                                                   or brand.default_language)[:8].lower(),
                    created_at=now, last_message_at=now, is_compliance_matter=bool(is_compliance_matter),
                    idempotency_key=idempotency_key or None)
    # The desk's dues (business minutes of its calendar), computed before the first save.
    sla_services.ticket_sla_apply(ticket)
    ticket.assignee = assignee_for(ticket)
    ticket.save()
    kind = MessageKind.PARTNER_REPLY if channel == TicketChannel.PARTNER_PORTAL else MessageKind.CLIENT_REPLY
    if staff is not None and channel == TicketChannel.STAFF:
        kind = MessageKind.STAFF_REPLY
    message = _message(ticket, kind=kind, body=body, channel=channel, author=staff, from_email=email,
                       body_html=body_html, email_message_id=email_message_id, attachments=attachments, at=now,
                       touch=False)
    _audit("opened", ticket, actor=staff, desk=desk.code, category=category, channel=channel,
           assignee=str(ticket.assignee.code) if ticket.assignee else "",
           client=str(client.code) if client else "")
    _event("support.ticket.opened", ticket, by=staff)
    return ticket, message


def _ticket_only[**P](func: Callable[P, tuple[Ticket, TicketMessage]]) -> Callable[P, Ticket]:
    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> Ticket:
        return func(*args, **kwargs)[0]

    return run


# The same, returning the ticket alone (its opening message is its first).
ticket_open = _ticket_only(ticket_open_with_message)


# --- the thread ---------------------------------------------------------------------------------------

@transaction.atomic
def ticket_reply_staff(*, ticket: Ticket, actor: User, body: str, attachments: Iterable[Any] = (),
                       status: str = TicketStatus.PENDING_CLIENT, canned: CannedAnswer | None = None,
                       idempotency_key: str | None = None) -> TicketMessage:
    """Staff answer the requester. The first answer stops the first-response clock; the ticket then
    waits for the client (or moves to `status`: open, on hold, resolved). An unassigned ticket
    becomes the answerer's. Emits support.ticket.answered."""
    body = _text(body, field="body", message=gettext("Write the answer."))
    if status not in (TicketStatus.PENDING_CLIENT, TicketStatus.OPEN, TicketStatus.ON_HOLD, TicketStatus.RESOLVED):
        raise ValidationFailed(fields={"status": [gettext("Choose what the ticket waits for after the answer.")]})
    _require_work(actor, ticket)
    ticket = _locked(ticket)
    if ticket.status in (TicketStatus.MERGED, TicketStatus.CLOSED):
        raise TicketRefused(gettext("This ticket is %(status)s: reopen it to answer.")
                            % {"status": ticket.get_status_display().lower()})
    now = timezone.now()
    message = _message(ticket, kind=MessageKind.STAFF_REPLY, body=body, channel=TicketChannel.STAFF, author=actor,
                       attachments=attachments, at=now, idempotency_key=idempotency_key)
    also: dict[str, Any] = {}
    if ticket.first_response_at is None:
        also["first_response_at"] = now
    if ticket.assignee_id is None:
        also["assignee"] = actor
    if status == TicketStatus.RESOLVED:
        also["resolved_at"] = now
    before = ticket.status
    if before != status or via_reopen(ticket, status):
        _move(ticket, status, via="reopen" if via_reopen(ticket, status) else None, at=now, also=also)
    elif also:
        for name, value in also.items():
            setattr(ticket, name, value)
        ticket.save(update_fields=list(also))
        sla_services.ticket_sla_stopped_late(ticket, at=now)  # the first answer, given late
    _audit("answered", ticket, actor=actor, before={"status": before}, message=message.pk,
           canned=canned.pk if canned is not None else None)
    _event("support.ticket.answered", ticket, by=actor)
    if status == TicketStatus.RESOLVED and before != TicketStatus.RESOLVED:
        _event("support.ticket.closed", ticket, by=actor)
    # Mailed to the requester after commit, with our Message-ID (their reply threads by it).
    outbound.answer_mail(ticket=ticket, message=message, actor=actor)
    return message


def via_reopen(ticket: Ticket, status: str) -> bool:
    """Whether moving `ticket` to `status` is a reopening (from resolved or closed back to work)."""
    return ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) and status not in (
        TicketStatus.RESOLVED, TicketStatus.CLOSED)


@_atomic
def ticket_note(*, ticket: Ticket, body: str, actor: User | None, idempotency_key: str | None = None) -> TicketMessage:
    """An internal note on the ticket: staff see it, the requester never does. A note on a
    compliance-sensitive ticket is read only by who sees compliance's reasons
    (support.permissions.sees_compliance_reasons). `actor` None: the system's note (mail intake)."""
    body = _text(body, field="body", message=gettext("Write the note."))
    if actor is not None:
        _require_work(actor, ticket)
    ticket = _locked(ticket)
    if ticket.status == TicketStatus.MERGED:
        raise TicketRefused(gettext("This ticket was merged into %(target)s: write there.")
                            % {"target": ticket.merged_into.reference if ticket.merged_into else ""})
    message = TicketMessage.objects.create(ticket=ticket, kind=MessageKind.INTERNAL_NOTE, author=actor, body_text=body,
                                           channel=TicketChannel.STAFF, idempotency_key=idempotency_key or None)
    _audit("noted", ticket, actor=actor, message=message.pk)
    return message


def _requester_reply(ticket: Ticket, *, kind: str, body: str, channel: str, from_email: str, body_html: str,
                     email_message_id: str | None, in_reply_to: str, attachments: Iterable[Any],
                     idempotency_key: str | None = None) -> TicketMessage:
    body = _text(body, field="body", message=gettext("Write your message."))
    ticket = _locked(ticket)
    if ticket.status == TicketStatus.MERGED:
        raise TicketRefused(gettext("This ticket was merged into %(target)s: write there.")
                            % {"target": ticket.merged_into.reference if ticket.merged_into else ""})
    if ticket.status == TicketStatus.CLOSED and channel != TicketChannel.EMAIL:
        raise TicketRefused(gettext("This ticket is closed: open a new one."))
    now = timezone.now()
    message = _message(ticket, kind=kind, body=body, channel=channel, from_email=from_email, body_html=body_html,
                       email_message_id=email_message_id, in_reply_to=in_reply_to, attachments=attachments, at=now,
                       idempotency_key=idempotency_key)
    before = ticket.status
    reopened = False
    if before in (TicketStatus.PENDING_CLIENT, TicketStatus.ON_HOLD):
        _move(ticket, TicketStatus.OPEN, at=now)
    elif before in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        _move(ticket, TicketStatus.OPEN, via="reopen", at=now,
              also={"reopen_count": ticket.reopen_count + 1, "resolved_at": None, "closed_at": None})
        reopened = True
    _audit("client_replied", ticket, actor=None, before={"status": before}, message=message.pk, channel=channel)
    if reopened:
        _event("support.ticket.reopened", ticket, by=None)
    _event("support.ticket.client_replied", ticket, by=None)
    return message


@_atomic
def ticket_reply_client(*, ticket: Ticket, body: str, client: Client | None = None,
                        channel: str = TicketChannel.PORTAL, from_email: str = "", body_html: str = "",
                        email_message_id: str | None = None, in_reply_to: str = "",
                        attachments: Iterable[Any] = (), idempotency_key: str | None = None) -> TicketMessage:
    """The client (trader's room) or an email sender writes on their ticket. A ticket waiting for
    them goes back to open; a resolved one reopens (an email to a closed one too: mail intake decides
    before whether it is within its days). Emits support.ticket.client_replied."""
    channel = _choice(channel, TicketChannel, field="channel")
    if client is not None and ticket.client_id != client.pk:
        raise TicketUnknown(gettext("No such ticket."))
    return _requester_reply(ticket, kind=MessageKind.CLIENT_REPLY, body=body, channel=channel,
                            from_email=from_email or (client.email if client is not None else ""),
                            body_html=body_html, email_message_id=email_message_id, in_reply_to=in_reply_to,
                            attachments=attachments, idempotency_key=idempotency_key)


@transaction.atomic
def ticket_reply_partner(*, ticket: Ticket, partner: Any, body: str, attachments: Iterable[Any] = ()) -> TicketMessage:
    """The partner writes on their ticket from the partner portal (as ticket_reply_client)."""
    if ticket.partner_id is None or ticket.partner_id != partner.pk:
        raise TicketUnknown(gettext("No such ticket."))
    return _requester_reply(ticket, kind=MessageKind.PARTNER_REPLY, body=body, channel=TicketChannel.PARTNER_PORTAL,
                            from_email=ticket.requester_email, body_html="", email_message_id=None, in_reply_to="",
                            attachments=attachments)


# --- work on the ticket -------------------------------------------------------------------------------

@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee: User | None, actor: User) -> Ticket:
    """Give the ticket to someone who may work it and sees it (support.permissions.ticket_assignable),
    or back to the desk's queue (None)."""
    _require_work(actor, ticket)
    if assignee is not None and not permissions.ticket_assignable(ticket=ticket, user=assignee):
        raise ValidationFailed(fields={"assignee": [gettext("Choose someone who works this brand's tickets and sees "
                                                            "its client.")]})
    ticket = _locked(ticket)
    previous = ticket.assignee
    if (previous.pk if previous else None) == (assignee.pk if assignee else None):
        return ticket
    ticket.assignee = assignee
    ticket.save(update_fields=["assignee"])
    _audit("assigned", ticket, actor=actor, before={"assignee": str(previous.code) if previous else ""},
           assignee=str(assignee.code) if assignee else "")
    return ticket


@transaction.atomic
def ticket_set_priority(*, ticket: Ticket, priority: str, actor: User) -> Ticket:
    """Change the ticket's priority; its SLA dues follow the desk's policy for the new one (a clock
    already answered or breached keeps its due time)."""
    priority = _choice(priority, TicketPriority, field="priority")
    _require_work(actor, ticket)
    ticket = _locked(ticket)
    before = ticket.priority
    if before == priority:
        return ticket
    ticket.priority = priority
    changed = sla_services.ticket_sla_apply(ticket)
    ticket.save(update_fields=["priority", *changed])
    _audit("priority_changed", ticket, actor=actor, before={"priority": before}, priority=priority)
    return ticket


@transaction.atomic
def ticket_set_status(*, ticket: Ticket, status: str, actor: User, reason: str = "") -> Ticket:
    """Move the ticket by hand (open, waiting for the client, on hold, resolved, closed; a resolved or
    closed ticket back to open is a reopening: ticket_reopen). Refused moves name both statuses."""
    status = _choice(status, TicketStatus, field="status")
    if status not in STAFF_STATUSES:
        raise ValidationFailed(fields={"status": [gettext("Choose one of the listed values.")]})
    if status == TicketStatus.CLOSED:
        return ticket_close(ticket=ticket, actor=actor, reason=reason)
    _require_work(actor, ticket)
    if via_reopen(ticket, status):
        return ticket_reopen(ticket=ticket, actor=actor, reason=reason, status=status)
    ticket = _locked(ticket)
    now = timezone.now()
    also: dict[str, Any] = {"resolved_at": now} if status == TicketStatus.RESOLVED else {}
    before = _move(ticket, status, at=now, also=also)
    _audit("status_changed", ticket, actor=actor, before={"status": before}, reason=reason)
    if status == TicketStatus.RESOLVED:
        _event("support.ticket.closed", ticket, by=actor)
    return ticket


@transaction.atomic
def ticket_close(*, ticket: Ticket, actor: User | None, reason: str = "") -> Ticket:
    """Close the ticket (staff; `actor` None: closed by time after being resolved). Emits
    support.ticket.closed."""
    if actor is not None:
        _require_work(actor, ticket)
    ticket = _locked(ticket)
    now = timezone.now()
    before = _move(ticket, TicketStatus.CLOSED, at=now,
                   also={"closed_at": now, "resolved_at": ticket.resolved_at or now})
    _audit("closed", ticket, actor=actor, before={"status": before}, reason=_text(reason, field="reason",
                                                                                 required=False, limit=2000))
    _event("support.ticket.closed", ticket, by=actor)
    return ticket


@transaction.atomic
def ticket_reopen(*, ticket: Ticket, actor: User | None, reason: str = "", status: str = TicketStatus.OPEN) -> Ticket:
    """Reopen a resolved or closed ticket (staff, or `actor` None: the system, on the requester's
    mail). Counts towards the desk's reopen rate. Emits support.ticket.reopened."""
    if actor is not None:
        _require_work(actor, ticket)
    ticket = _locked(ticket)
    if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        raise TicketRefused(gettext("Only a resolved or closed ticket can be reopened."), fields={
            "status": [gettext("Only a resolved or closed ticket can be reopened.")]})
    now = timezone.now()
    before = _move(ticket, TicketStatus.OPEN, via="reopen", at=now,
                   also={"reopen_count": ticket.reopen_count + 1, "resolved_at": None, "closed_at": None})
    if status != TicketStatus.OPEN:
        _move(ticket, status, at=now)
    _audit("reopened", ticket, actor=actor, before={"status": before}, reason=str(reason or "")[:2000])
    _event("support.ticket.reopened", ticket, by=actor)
    return ticket


@transaction.atomic
def ticket_rate(*, ticket: Ticket, rating: int, comment: str = "", actor: User | None = None) -> Ticket:
    """The requester rates the answer (1 to 5, with a comment) once the ticket is resolved or closed;
    a second rating replaces the first. Emits support.ticket.rated."""
    try:
        value = int(rating)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 5:
        raise ValidationFailed(fields={"rating": [gettext("Give 1 to 5 stars.")]})
    comment = _text(comment, field="comment", required=False, limit=2000)
    ticket = _locked(ticket)
    if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        raise TicketRefused(gettext("A ticket can be rated once it is answered and resolved."),
                            fields={"rating": [gettext("A ticket can be rated once it is answered and resolved.")]})
    before = ticket.rating
    ticket.rating, ticket.rating_comment, ticket.rated_at = value, comment, timezone.now()
    ticket.save(update_fields=["rating", "rating_comment", "rated_at"])
    _audit("rated", ticket, actor=actor, before={"rating": before}, rating=value)
    emit("support.ticket.rated", client=ticket.client, brand=ticket.brand_id, actor=None, data={
        "ticket": ticket.reference, "subject": ticket.subject, "desk": ticket.desk.code,
        "client": str(ticket.client.code) if ticket.client is not None else None,
        "partner": str(ticket.partner.code) if ticket.partner is not None else None, "rating": value,
        "assignee": user_ref(ticket.assignee)})
    return ticket


@transaction.atomic
def ticket_merge(*, ticket: Ticket, into: Ticket, actor: User) -> Ticket:
    """Merge `ticket` into `into` (the same brand and requester's client; neither merged): a line on
    each thread names the other, `ticket` ends merged and `into` continues. Emits
    support.ticket.closed for the merged one."""
    _require_work(actor, ticket)
    _require_work(actor, into)
    if ticket.pk == into.pk:
        raise ValidationFailed(fields={"into": [gettext("Choose another ticket to merge into.")]})
    first, second = sorted([ticket.pk, into.pk])
    locked = {t.pk: t for t in Ticket.objects.select_for_update(of=("self",)).select_related(
        "desk", "client", "assignee", "brand", "partner").filter(pk__in=[first, second]).order_by("pk")}
    ticket, into = locked[ticket.pk], locked[into.pk]
    if into.status == TicketStatus.MERGED:
        raise ValidationFailed(fields={"into": [gettext("That ticket was merged itself: choose the one it went "
                                                        "into.")]})
    if into.brand_id != ticket.brand_id:
        raise ValidationFailed(fields={"into": [gettext("Choose a ticket of the same brand.")]})
    if ticket.client_id and into.client_id and ticket.client_id != into.client_id:
        raise ValidationFailed(fields={"into": [gettext("Choose a ticket of the same client.")]})
    now = timezone.now()
    before = _move(ticket, TicketStatus.MERGED, via="merge", at=now, also={"merged_into": into, "closed_at": now})
    TicketMessage.objects.create(ticket=ticket, kind=MessageKind.SYSTEM, channel=TicketChannel.STAFF, author=actor,
                                 body_text=gettext("Merged into %(ref)s.") % {"ref": into.reference})
    TicketMessage.objects.create(ticket=into, kind=MessageKind.SYSTEM, channel=TicketChannel.STAFF, author=actor,
                                 body_text=gettext("%(ref)s was merged into this ticket.") % {"ref": ticket.reference})
    if into.client_id is None and ticket.client_id is not None:
        into.client = ticket.client
        into.save(update_fields=["client"])
    if PRIORITY_RANK[ticket.priority] > PRIORITY_RANK[into.priority]:
        into.priority = ticket.priority
        into.save(update_fields=["priority", *sla_services.ticket_sla_apply(into)])
    _audit("merged", ticket, actor=actor, before={"status": before}, into=into.reference)
    _audit("merge_received", into, actor=actor, merged=ticket.reference)
    _event("support.ticket.closed", ticket, by=actor)
    return into


@transaction.atomic
def ticket_link_client(*, ticket: Ticket, client: Client, actor: User) -> Ticket:
    """Link a ticket without a client (an unknown sender's mail) to the client it is from: one the
    actor sees, of the ticket's brand. Its events from now on are on the client's timeline."""
    _require_work(actor, ticket)
    if not client_queryset_for_user(actor).filter(pk=client.pk).exists():
        raise ValidationFailed(fields={"client": [gettext("Choose a client you can see.")]})
    ticket = _locked(ticket)
    if ticket.client_id is not None:
        raise ValidationFailed(fields={"client": [gettext("This ticket already has its client.")]})
    if client.brand_id != ticket.brand_id:
        raise ValidationFailed(fields={"client": [gettext("Choose a client of the ticket's brand.")]})
    ticket.client = client
    ticket.save(update_fields=["client"])
    TicketMessage.objects.create(ticket=ticket, kind=MessageKind.SYSTEM, channel=TicketChannel.STAFF, author=actor,
                                 body_text=gettext("Linked to the client %(name)s.") % {"name": client.full_name})
    _audit("client_linked", ticket, actor=actor, client=str(client.code))
    return ticket


@transaction.atomic
def ticket_mark_sensitive(*, ticket: Ticket, sensitive: bool, actor: User) -> Ticket:
    """Mark (or unmark) the ticket as touching a compliance matter: its internal notes are then read
    only by who sees compliance's reasons. Only they may change it."""
    _require_work(actor, ticket)
    if not user_can(actor, permissions.COMPLIANCE_REASONS):
        raise NotAllowed(gettext("Only compliance officers mark tickets as compliance matters."))
    ticket = _locked(ticket)
    before = ticket.is_compliance_matter
    ticket.is_compliance_matter = bool(sensitive)
    ticket.save(update_fields=["is_compliance_matter"])
    _audit("sensitivity_changed", ticket, actor=actor, before={"is_compliance_matter": before},
           is_compliance_matter=bool(sensitive))
    return ticket


# --- canned answers -----------------------------------------------------------------------------------

class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def canned_answer_facts(ticket: Ticket, *, agent: Any = None) -> dict[str, str]:
    """The values of a canned answer's placeholders for `ticket` (the client's, else the requester's)."""
    client = ticket.client
    if client is not None:
        first, last = client.first_name, client.last_name
    else:
        first, _, last = (ticket.requester_name or "").partition(" ")
    agent_name = (getattr(agent, "full_name", "") or getattr(agent, "email", "")) if agent is not None else ""
    return {"first_name": first, "last_name": last, "reference": ticket.reference, "agent_name": agent_name,
            "brand": ticket.brand.name}


def canned_answer_render(*, answer: CannedAnswer, ticket: Ticket, agent: Any = None) -> str:
    """The answer's body with its placeholders filled from the ticket and its client; an unknown
    placeholder is left as written, a brace not part of one too."""
    if answer.brand_id != ticket.brand_id:
        raise ValidationFailed(fields={"canned": [gettext("This answer is of another brand.")]})
    facts = _Blank(canned_answer_facts(ticket, agent=agent))
    out = []
    for literal, field, spec, conversion in string.Formatter().parse(answer.body):
        out.append(literal)
        if field is None:
            continue
        if field in PLACEHOLDERS and not spec and not conversion:
            out.append(facts[field])
        else:
            out.append("{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return "".join(out)


def canned_answers_for(ticket: Ticket) -> list[CannedAnswer]:
    """The active canned answers of the ticket's brand in its language (and its category's first),
    else in the brand's language."""
    qs = CannedAnswer.objects.filter(brand_id=ticket.brand_id, active=True)
    found = list(qs.filter(language=ticket.language))
    if not found:
        found = list(qs.filter(language=ticket.brand.default_language))
    return sorted(found, key=lambda a: (a.category != ticket.category, a.title.lower()))


_SAFE_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _check_placeholders(body: str) -> None:
    unknown = sorted({m for m in _SAFE_PLACEHOLDER.findall(body) if m not in PLACEHOLDERS})
    if unknown:
        raise ValidationFailed(fields={"body": [gettext("Unknown placeholders: %(names)s. Use %(known)s.") % {
            "names": ", ".join("{" + n + "}" for n in unknown),
            "known": ", ".join("{" + n + "}" for n in PLACEHOLDERS)}]})


# --- desks, SLA policies, canned answers, assignment rules (support.manage_desk) ----------------------

def _require_manage(actor: Any, brand_id: int) -> None:
    if not user_can(actor, permissions.MANAGE_DESK):
        raise NotAllowed(gettext("You are not allowed to set up support desks."))
    if not actor.is_administrator and not actor.all_brands and not actor.brands.filter(pk=brand_id).exists():
        raise NotAllowed(gettext("You do not work for this brand."))


def _config_audit(action: str, obj: Any, *, actor: Any, brand_id: int, before: Mapping[str, Any] | None,
                  after: Mapping[str, Any]) -> None:
    audit_record(action=f"support.{action}", obj=obj, actor=actor, brand=brand_id, before=dict(before or {}),
                 after=dict(after))


@transaction.atomic
def desk_save(*, actor: Any, brand: Brand, name: str, code: str, time_zone: str,
              business_hours: Mapping[str, Any], manager: Any = None, support_address: str = "",
              active: bool = True, desk: SupportDesk | None = None) -> SupportDesk:
    """Create or change a desk: its calendar is checked (support.sla: a known IANA zone, hours that do
    not overlap, some hours in the week), its code is unique in the brand, its address in the CRM."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from crm.lib.validation import InvalidValue
    from support.sla import parse_business_hours

    _require_manage(actor, brand.pk)
    name = _text(name, field="name", limit=120)
    code = _text(code, field="code", limit=40).lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", code):
        raise ValidationFailed(fields={"code": [gettext("Use lower-case letters, digits, - and _.")]})
    try:
        ZoneInfo(str(time_zone or ""))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(fields={"time_zone": [gettext("Give an IANA time zone, e.g. Asia/Nicosia.")]}) from None
    try:
        parse_business_hours(business_hours)
    except InvalidValue as error:
        raise ValidationFailed(fields={error.field: [error.message]}) from None
    address = str(support_address or "").strip().lower() or None
    if manager is not None and not user_can(manager, permissions.WORK_TICKET):
        raise ValidationFailed(fields={"manager": [gettext("Choose someone who works tickets.")]})
    clash = SupportDesk.objects.exclude(pk=desk.pk) if desk is not None else SupportDesk.objects.all()
    if clash.filter(brand_id=brand.pk, code=code).exists():
        raise ValidationFailed(fields={"code": [gettext("Another desk of this brand has this code.")]})
    if address and clash.filter(support_address=address).exists():
        raise ValidationFailed(fields={"support_address": [gettext("Another desk receives this address.")]})
    before = None
    if desk is None:
        desk = SupportDesk(brand=brand)
    else:
        if desk.brand_id != brand.pk:
            raise ValidationFailed(fields={"brand": [gettext("A desk stays with its brand.")]})
        before = {"name": desk.name, "code": desk.code, "time_zone": desk.time_zone,
                  "business_hours": desk.business_hours, "support_address": desk.support_address or "",
                  "active": desk.active}
    desk.name, desk.code, desk.time_zone, desk.business_hours = name, code, str(time_zone), dict(business_hours)
    desk.manager, desk.support_address, desk.active = manager, address, bool(active)
    desk.save()
    _config_audit("desk_saved", desk, actor=actor, brand_id=brand.pk, before=before, after={
        "name": name, "code": code, "time_zone": desk.time_zone, "business_hours": desk.business_hours,
        "support_address": address or "", "active": desk.active})
    return desk


@transaction.atomic
def desk_holiday_add(*, actor: Any, desk: SupportDesk, day: dt.date, name: str) -> Any:
    """A day the desk is closed (no business minutes run on it)."""
    from support.models import DeskHoliday

    _require_manage(actor, desk.brand_id)
    name = _text(name, field="name", limit=120)
    if not isinstance(day, dt.date):
        raise ValidationFailed(fields={"day": [gettext("Give a date.")]})
    if DeskHoliday.objects.filter(desk=desk, day=day).exists():
        raise ValidationFailed(fields={"day": [gettext("This day is already a holiday of the desk.")]})
    holiday = DeskHoliday.objects.create(desk=desk, day=day, name=name)
    _config_audit("holiday_added", desk, actor=actor, brand_id=desk.brand_id, before=None,
                  after={"day": day.isoformat(), "name": name})
    return holiday


@transaction.atomic
def desk_holiday_remove(*, actor: Any, desk: SupportDesk, day: dt.date) -> None:
    from support.models import DeskHoliday

    _require_manage(actor, desk.brand_id)
    deleted, _ = DeskHoliday.objects.filter(desk=desk, day=day).delete()
    if deleted:
        _config_audit("holiday_removed", desk, actor=actor, brand_id=desk.brand_id, before={"day": day.isoformat()},
                      after={})


@transaction.atomic
def sla_policy_save(*, actor: Any, desk: SupportDesk, priority: str, first_response_minutes: int,
                    resolution_minutes: int, warn_before_minutes: int = 30) -> Any:
    """Set the desk's targets for a priority, in business minutes (the first response within the
    resolution). Tickets opened from now on get them; open tickets keep their dues."""
    from support.models import SLAPolicy

    _require_manage(actor, desk.brand_id)
    priority = _choice(priority, TicketPriority, field="priority")
    values = {}
    for field, value in (("first_response_minutes", first_response_minutes),
                         ("resolution_minutes", resolution_minutes), ("warn_before_minutes", warn_before_minutes)):
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = -1
        if number < (0 if field == "warn_before_minutes" else 1) or number > 525_600:
            raise ValidationFailed(fields={field: [gettext("Give a whole number of minutes.")]})
        values[field] = number
    if values["resolution_minutes"] < values["first_response_minutes"]:
        raise ValidationFailed(fields={"resolution_minutes": [gettext("The resolution cannot come before the first "
                                                                      "response.")]})
    existing = SLAPolicy.objects.filter(desk=desk, priority=priority).first()
    before = None if existing is None else {k: getattr(existing, k) for k in values}
    policy, _ = SLAPolicy.objects.update_or_create(desk=desk, priority=priority, defaults=values)
    _config_audit("sla_policy_saved", desk, actor=actor, brand_id=desk.brand_id, before=before,
                  after={"priority": priority, **values})
    return policy


@transaction.atomic
def canned_answer_save(*, actor: Any, brand: Brand, language: str, title: str, body: str, category: str | None = None,
                       active: bool = True, answer: CannedAnswer | None = None) -> CannedAnswer:
    """Create or change a canned answer of a brand in a language; its placeholders must be known
    ({first_name}, {last_name}, {reference}, {agent_name}, {brand})."""
    _require_manage(actor, brand.pk)
    language = _text(language, field="language", limit=8).lower()
    title = _text(title, field="title", limit=120)
    body = _text(body, field="body", limit=BODY_MAX)
    _check_placeholders(body)
    if category:
        category = _choice(category, TicketCategory, field="category")
    clash = CannedAnswer.objects.filter(brand=brand, language=language, title=title)
    if answer is not None:
        clash = clash.exclude(pk=answer.pk)
    if clash.exists():
        raise ValidationFailed(fields={"title": [gettext("Another answer in this language has this title.")]})
    before = None
    if answer is None:
        answer = CannedAnswer(brand=brand)
    else:
        before = {"language": answer.language, "title": answer.title, "body": answer.body,
                  "category": answer.category or "", "active": answer.active}
    answer.language, answer.title, answer.body = language, title, body
    answer.category, answer.active = category or None, bool(active)
    answer.save()
    _config_audit("canned_answer_saved", answer, actor=actor, brand_id=brand.pk, before=before, after={
        "language": language, "title": title, "body": body, "category": category or "", "active": answer.active})
    return answer


@transaction.atomic
def assignment_rule_save(*, actor: Any, desk: SupportDesk, order: int = 100, language: str = "",
                         vip_only: bool = False, category: str = "", to_owner: bool = False, assignee: Any = None,
                         rule: AssignmentRule | None = None) -> AssignmentRule:
    """Create or change one of the desk's assignment rules (first match wins, by `order`)."""
    _require_manage(actor, desk.brand_id)
    if category:
        category = _choice(category, TicketCategory, field="category")
    if not to_owner and assignee is None:
        raise ValidationFailed(fields={"assignee": [gettext("Choose who gets the tickets, or give them to the "
                                                            "client's owner.")]})
    if assignee is not None and not user_can(assignee, permissions.WORK_TICKET):
        raise ValidationFailed(fields={"assignee": [gettext("Choose someone who works tickets.")]})
    try:
        order = int(order)
    except (TypeError, ValueError):
        raise ValidationFailed(fields={"order": [gettext("Give a whole number.")]}) from None
    before = None
    if rule is None:
        rule = AssignmentRule(desk=desk)
    else:
        before = {"order": rule.order, "language": rule.language, "vip_only": rule.vip_only,
                  "category": rule.category, "to_owner": rule.to_owner,
                  "assignee": str(rule.assignee.code) if rule.assignee else ""}
    rule.order, rule.language, rule.vip_only, rule.category = max(order, 0), (language or "").strip().lower()[:8], \
        bool(vip_only), category or ""
    rule.to_owner, rule.assignee = bool(to_owner), assignee
    rule.save()
    _config_audit("assignment_rule_saved", desk, actor=actor, brand_id=desk.brand_id, before=before, after={
        "order": rule.order, "language": rule.language, "vip_only": rule.vip_only, "category": rule.category,
        "to_owner": rule.to_owner, "assignee": str(assignee.code) if assignee else ""})
    return rule


@transaction.atomic
def assignment_rule_delete(*, actor: Any, rule: AssignmentRule) -> None:
    desk = rule.desk
    _require_manage(actor, desk.brand_id)
    rule_id = rule.pk
    rule.delete()
    _config_audit("assignment_rule_deleted", desk, actor=actor, brand_id=desk.brand_id, before={"rule": rule_id},
                  after={})
