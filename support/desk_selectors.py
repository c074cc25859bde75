"""Reads of the staff desk's pages: the queue (scoped by support.permissions, filtered, soonest SLA
due first), a ticket's thread as its reader may see it, a client's tickets for the profile's section,
and the desks' setup."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, Exists, F, Prefetch, Q, QuerySet, When

from support import permissions
from support.models import (
    ACTIVE_TICKET_STATUSES,
    AssignmentRule,
    CannedAnswer,
    DeskHoliday,
    MessageKind,
    SLAPolicy,
    SupportDesk,
    Ticket,
    TicketAttachment,
    TicketCategory,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)

QUEUE_PAGE_SIZE = 50
PROFILE_LIMIT = 50


def _breached(now: dt.datetime) -> Q:
    """Breached, or past a due time the sweep has not marked yet."""
    return (Q(first_response_breached_at__isnull=False) | Q(resolution_breached_at__isnull=False)
            | Q(first_response_at__isnull=True, first_response_due__lt=now)
            | Q(status__in=["new", "open", "on_hold"], resolution_due__lt=now))


def ticket_queue(*, user: Any, now: dt.datetime, desk: SupportDesk | None = None, category: str = "",
                 status: str = "active", priority: str = "", assignee: str = "", breached: bool = False) -> QuerySet[Ticket]:
    """The tickets `user` sees, filtered, the one whose SLA is due soonest first (the first response
    until it is given, then the resolution); tickets without a due time last."""
    qs = permissions.ticket_queryset_for_user(user).select_related("desk", "client", "assignee")
    if desk is not None:
        qs = qs.filter(desk=desk)
    if category:
        qs = qs.filter(category=category)
    if status == "active":
        qs = qs.filter(status__in=ACTIVE_TICKET_STATUSES)
    elif status and status != "all":
        qs = qs.filter(status=status)
    if priority:
        qs = qs.filter(priority=priority)
    if assignee == "me":
        qs = qs.filter(assignee_id=user.pk)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee:
        qs = qs.filter(assignee__code=assignee)
    if breached:
        qs = qs.filter(_breached(now))
    due = Case(When(first_response_at__isnull=True, then=F("first_response_due")), default=F("resolution_due"))
    return qs.annotate(next_due=due).order_by(F("next_due").asc(nulls_last=True), "created_at", "pk")


def queue_page(qs: QuerySet[Ticket], page: int) -> tuple[list[Ticket], bool]:
    """One page of the queue and whether there is a next one (no count of a million rows)."""
    start = (max(page, 1) - 1) * QUEUE_PAGE_SIZE
    rows = list(qs[start:start + QUEUE_PAGE_SIZE + 1])
    return rows[:QUEUE_PAGE_SIZE], len(rows) > QUEUE_PAGE_SIZE


@dataclass(frozen=True)
class QueueRow:
    """A ticket of the queue page with what its row shows, worked out once per page: the labels of
    its category, status and priority in the reader's language and its page's address. (Django's
    get_FOO_display hashes every lazy label of the field on each call: three calls a row were a
    third of the page's rendering; reversing the ticket's URL per row another tenth.)"""

    ticket: Ticket
    url: str
    category: str
    status: str
    priority: str


def queue_rows(tickets: list[Ticket]) -> list[QueueRow]:
    from django.urls import reverse

    categories = {value: str(label) for value, label in TicketCategory.choices}
    statuses = {value: str(label) for value, label in TicketStatus.choices}
    priorities = {value: str(label) for value, label in TicketPriority.choices}
    # One reverse for the page: a reference is letters and digits, so it is put in as it is.
    marker = "T0000000"
    pattern = reverse("support_ticket", args=[marker])
    return [QueueRow(ticket=t, url=pattern.replace(marker, t.reference), category=categories.get(t.category, t.category),
                     status=statuses.get(t.status, t.status), priority=priorities.get(t.priority, t.priority))
            for t in tickets]


@dataclass
class Thread:
    ticket: Ticket
    messages: list[TicketMessage]
    notes_hidden: int  # internal notes of a compliance-sensitive ticket the reader may not read


def ticket_thread(*, ticket: Ticket, user: Any) -> Thread:
    """The ticket's messages in order with their attachments; a compliance-sensitive ticket's
    internal notes only for who sees compliance's reasons (the others are counted, not shown)."""
    qs = (TicketMessage.objects.filter(ticket=ticket).select_related("author")
          .prefetch_related(Prefetch("attachments", queryset=TicketAttachment.objects.order_by("pk"))))
    messages = list(qs.order_by("created_at", "pk"))
    if permissions.sees_compliance_reasons(user, ticket):
        return Thread(ticket, messages, 0)
    shown = [m for m in messages if m.kind != MessageKind.INTERNAL_NOTE]
    return Thread(ticket, shown, len(messages) - len(shown))


def ticket_attachment_for_user(*, user: Any, reference: str, code: Any) -> TicketAttachment | None:
    """An attachment of a ticket `user` sees (of a note they may read), else None."""
    ticket = permissions.ticket_get_for_user(user, reference)
    row = TicketAttachment.objects.select_related("message").filter(message__ticket=ticket, code=code).first()
    if row is None:
        return None
    if row.message.kind == MessageKind.INTERNAL_NOTE and not permissions.sees_compliance_reasons(user, ticket):
        return None
    return row


def merge_targets(*, ticket: Ticket, user: Any) -> list[Ticket]:
    """Tickets `ticket` may be merged into: the same brand (and client, when it has one), not merged."""
    qs = permissions.ticket_queryset_for_user(user).filter(brand_id=ticket.brand_id).exclude(pk=ticket.pk).exclude(
        status=TicketStatus.MERGED)
    if ticket.client_id is not None:
        qs = qs.filter(Q(client_id=ticket.client_id) | Q(client__isnull=True))
    return list(qs.order_by("-created_at")[:50])


def client_tickets(*, client: Any, user: Any) -> list[Ticket]:
    """The client's tickets `user` sees, newest first, for the profile's Tickets section."""
    return list(permissions.ticket_queryset_for_user(user).filter(client=client).select_related("desk", "assignee")
                .order_by("-created_at", "-pk")[:PROFILE_LIMIT])


def desks_for(user: Any) -> list[SupportDesk]:
    return list(permissions.desk_queryset_for_user(user).select_related("brand", "manager").order_by("brand__name",
                                                                                                    "name"))


def desk_for_user(user: Any, pk: int) -> SupportDesk | None:
    return permissions.desk_queryset_for_user(user).select_related("brand", "manager").filter(pk=pk).first()


@dataclass
class DeskSetup:
    desk: SupportDesk
    holidays: list[DeskHoliday]
    policies: list[SLAPolicy]
    rules: list[AssignmentRule]


def desk_setup(desk: SupportDesk) -> DeskSetup:
    return DeskSetup(desk, list(DeskHoliday.objects.filter(desk=desk).order_by("day")),
                     list(SLAPolicy.objects.filter(desk=desk).order_by("priority")),
                     list(AssignmentRule.objects.filter(desk=desk).select_related("assignee").order_by("order", "pk")))


def rule_for(desk: SupportDesk, pk: int) -> AssignmentRule | None:
    return AssignmentRule.objects.filter(desk=desk, pk=pk).first()


def canned_answers_of(user: Any) -> list[CannedAnswer]:
    brands = permissions.desk_queryset_for_user(user).values("brand_id")
    return list(CannedAnswer.objects.filter(brand_id__in=brands).select_related("brand")
                .order_by("brand__name", "language", "title"))


def canned_answer_for(user: Any, pk: int) -> CannedAnswer | None:
    brands = permissions.desk_queryset_for_user(user).values("brand_id")
    return CannedAnswer.objects.filter(brand_id__in=brands, pk=pk).select_related("brand").first()


def queue_agents(user: Any) -> list[Any]:
    """The agents whose tickets a manager may pick in the queue's assignee filter (the dashboard's
    support KPIs link each agent's row there): for an administrator or a support desk's manager, the
    active staff who work tickets of the brands of the desks they see, by name; nobody for anyone else
    (who filter by themselves or nobody, as their KPI shows only their own row). The queue stays
    within the user's scope whoever is picked."""
    from crm.permissions import staff_of_brand

    if not getattr(user, "is_authenticated", False):
        return []
    # One query: the staff of the desks' brands, and for anyone but an administrator only if they
    # manage a support desk.
    brands = permissions.desk_queryset_for_user(user).order_by().values("brand_id")
    if not user.is_administrator:
        brands = brands.filter(Exists(SupportDesk.objects.filter(manager_id=user.pk)))
    people = staff_of_brand(brands, permission=permissions.WORK_TICKET)
    return sorted(people, key=lambda u: (u.full_name or u.email).lower())[:500]


def ticket_workers(ticket: Ticket) -> list[Any]:
    """Who the ticket may be given to: active staff of its brand who may work it, by name."""
    from crm.permissions import staff_of_brand

    staff = sorted(staff_of_brand(ticket.brand_id, permission=permissions.WORK_TICKET),
                   key=lambda u: (u.full_name or u.email).lower())
    return [u for u in staff[:200] if permissions.ticket_assignable(ticket=ticket, user=u)]
