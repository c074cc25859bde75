"""Who may see and work which tickets, and fetch-and-authorise in one call.

Scope (applied in SQL, never by filtering rows in Python):
- nobody without "support.view_ticket" sees a ticket;
- administrators see every ticket;
- everyone else sees the tickets of their brands (all brands with `all_brands`) whose client they
  may see (crm.permissions.client_queryset_for_user: a sales agent their book, a desk manager their
  desks' clients as the client's row says now (crm.permissions.client_scope_book, asked per ticket),
  a support agent or an officer every client of their brands), the tickets given to
  them, and, if they see every client of their brands ("crm.view_all_clients") or manage a support
  desk, the tickets without a client (an unknown sender's mail, a partner's request) of their brands.

A ticket outside the scope is "not found" (TicketUnknown): missing and forbidden look the same.

A ticket marked is_compliance_matter touches a compliance matter (a restriction, a case): its
internal notes and the compliance reasons in them are shown only to those who work compliance cases
(`sees_compliance_reasons`); the sales floor sees the thread with the client and nothing else.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext

from crm.models import Client, RoleCode
from crm.permissions import client_queryset_for_user, client_scope_book, user_can, visible_brands
from support.exceptions import TicketUnknown
from support.models import Complaint, SupportDesk, Ticket

VIEW_TICKET = "support.view_ticket"
WORK_TICKET = "support.change_ticket"
MANAGE_DESK = "support.manage_desk"
VIEW_COMPLAINT = "support.view_complaint"
WORK_COMPLAINT = "support.change_complaint"
CLOSE_COMPLAINT = "support.close_complaint"
EXPORT_COMPLAINT = "support.export_complaint"
# Who reads a compliance-sensitive ticket's internal notes: who works compliance cases.
COMPLIANCE_REASONS = "compliance.view_case"
# The roles that sell: never shown compliance's reasons, whatever else they are granted.
SALES_ROLES: tuple[str, ...] = (RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT, RoleCode.DESK_MANAGER)


def _active(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def ticket_queryset_for_user(user: Any) -> QuerySet[Ticket]:
    """Every ticket `user` may see, as one SQL-scoped queryset (see the module docstring)."""
    qs = Ticket.objects.all()
    if not _active(user) or not user_can(user, VIEW_TICKET):
        return qs.none()
    if user.is_administrator:
        return qs
    if not user.all_brands:
        qs = qs.filter(brand_id__in=visible_brands(user).values("pk"))
    book = client_scope_book(user)
    if book is not None and book.desk_ids:
        # A desk manager: whether each ticket's client is theirs (its brand, and one of their desks or
        # their own or shared), asked of that client's row as the queue walks the tickets in due
        # order, not the list of every client of their desks (tens of thousands of ids, read before
        # the first row). The second bound on the client's id changes nothing but keeps PostgreSQL
        # from turning the EXISTS back into that list (it does so for plain equalities only).
        visible = Q(Exists(Client.objects.filter(book.q(client="pk"), pk=OuterRef("client_id"),
                                                 pk__lte=OuterRef("client_id"))))
    else:
        visible = Q(client_id__in=client_queryset_for_user(user).values("pk"))
    visible |= Q(assignee_id=user.pk)
    if user_can(user, "crm.view_all_clients") or SupportDesk.objects.filter(manager_id=user.pk).exists():
        visible |= Q(client__isnull=True)
    return qs.filter(visible)


def ticket_get_for_user(user: Any, reference: str, *, for_update: bool = False) -> Ticket:
    """The ticket `reference` if `user` may see it; TicketUnknown otherwise (missing or not theirs)."""
    qs = ticket_queryset_for_user(user).select_related("desk", "client", "assignee", "brand", "partner")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    ticket = qs.filter(reference=str(reference or "").strip().upper()).first()
    if ticket is None:
        raise TicketUnknown(gettext("No such ticket."))
    return ticket


def ticket_visible_to(user: Any, ticket: Ticket) -> bool:
    return ticket_queryset_for_user(user).filter(pk=ticket.pk).exists()


def ticket_workable_by(user: Any, ticket: Ticket) -> bool:
    """Whether `user` may answer, note, assign and move `ticket` (seeing it, and working tickets)."""
    return user_can(user, WORK_TICKET) and ticket_visible_to(user, ticket)


def ticket_assignable(*, ticket: Ticket, user: Any) -> bool:
    """Whether `user` can be given `ticket`: works tickets and would see it once it is theirs (its
    brand, and its client unless the ticket has none)."""
    if not _active(user) or not user_can(user, WORK_TICKET):
        return False
    if user.is_administrator:
        return True
    if not user.all_brands and not visible_brands(user).filter(pk=ticket.brand_id).exists():
        return False
    return ticket.client_id is None or client_queryset_for_user(user).filter(pk=ticket.client_id).exists()


def sees_compliance_reasons(user: Any, ticket: Ticket | None = None) -> bool:
    """Whether `user` may read a compliance-sensitive ticket's internal notes (an ordinary ticket's
    notes are for everyone who sees the ticket). Sales roles never do."""
    if ticket is not None and not ticket.is_compliance_matter:
        return True
    if _active(user) and getattr(user, "role_code", None) in SALES_ROLES and not user.is_superuser:
        return False
    return user_can(user, COMPLIANCE_REASONS)


def desk_queryset_for_user(user: Any) -> QuerySet[SupportDesk]:
    """The support desks of the user's brands (all of them for administrators)."""
    qs = SupportDesk.objects.all()
    if not _active(user):
        return qs.none()
    if user.is_administrator or user.all_brands:
        return qs
    return qs.filter(brand_id__in=visible_brands(user).values("pk"))


def complaint_queryset_for_user(user: Any) -> QuerySet[Complaint]:
    """The complaints of the tickets `user` sees, for those who may read the register."""
    if not user_can(user, VIEW_COMPLAINT):
        return Complaint.objects.none()
    return Complaint.objects.filter(ticket__in=ticket_queryset_for_user(user).values("pk"))
