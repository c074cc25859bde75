"""The complaints register: a ticket becomes a complaint with a reference of the register, is
acknowledged within 5 working days and answered within 2 months, and a compliance officer closes it.

A complaint enters the register from a ticket: a member of staff marks a ticket as a complaint, or
a client files one from the trader's room (a ticket of category "complaint" opened with it). Its
reference is "<firm code>-<year>-<5-digit number>" (support.models.complaint_reference): the number
comes from the brand's ComplaintSequence row of the year, locked while it is taken, so two
registrations at once never share a number, and a number once given is never given again (a
complaint withdrawn, or its row deleted by hand, leaves a gap, as a register must).

The state machine is support.models.COMPLAINT_STATES; each move writes its audit row and, for
registration, acknowledgement and closing, its event (support.complaint.*):

    registered --acknowledge (mail to the client, dated)--> acknowledged
    acknowledged --final response (text, outcome, any amount paid)--> final_response
    final_response --close (a compliance officer)--> closed
    registered, acknowledged --close as withdrawn (a compliance officer)--> closed

Registration acknowledges at once by default (the acknowledgement is the brand's email template
"support_complaint_ack" in the client's language, and a line in the ticket's thread, which is what a
partner or an unknown sender reads): `acknowledged_at` is when it was queued. The acknowledgement is
due at the end of the 5th working day of the ticket's desk after the day of registration
(support.sla.BusinessCalendar.add_working_days: the desk's zone, business days and holidays); the
final response at the same local time 2 calendar months after registration (the last day of the
month when that month is shorter: 31 December -> 28 or 29 February).

The firm code is the brand's entry in settings.SUPPORT_FIRM_CODES ({"brand-code": "CIF123"}), else
the brand's code in capitals.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import formats, timezone, translation
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import NotAllowed, NotFound, ValidationFailed
from crm.lib.money import Money
from crm.lib.payloads import user_ref
from crm.lib.validation import InvalidValue
from crm.models import Brand, Event
from crm.permissions import user_can
from support import permissions
from support.exceptions import ComplaintRefused
from support.letters import ACK_TEMPLATE, FINAL_TEMPLATE, TEMPLATES
from support.models import (
    COMPLAINT_STATES,
    Complaint,
    ComplaintCategory,
    ComplaintOutcome,
    ComplaintSequence,
    ComplaintStatus,
    MessageKind,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketMessage,
    TicketStatus,
    complaint_reference,
)
from support.sla_services import calendar_for_desk

if TYPE_CHECKING:
    from crm.models import User

VIEW_PERMISSION = permissions.VIEW_COMPLAINT
WORK_PERMISSION = permissions.WORK_TICKET  # mark a ticket as a complaint, acknowledge it
RESPOND_PERMISSION = permissions.WORK_COMPLAINT  # write the final response
CLOSE_PERMISSION = permissions.CLOSE_COMPLAINT  # compliance officers (and administrators)
EXPORT_PERMISSION = permissions.EXPORT_COMPLAINT

ACKNOWLEDGE_WORKING_DAYS = 5
RESPONSE_MONTHS = 2
TEXT_MAX = 20_000

# The register's category a ticket's category suggests (the staff's form starts from it).
CATEGORY_FOR_TICKET: Mapping[str, str] = {
    TicketCategory.WITHDRAWAL: ComplaintCategory.WITHDRAWALS,
    TicketCategory.DEPOSIT: ComplaintCategory.DEPOSITS,
    TicketCategory.TRADING: ComplaintCategory.EXECUTION_SLIPPAGE,
    TicketCategory.PLATFORM: ComplaintCategory.PLATFORM,
    TicketCategory.DOCUMENTS: ComplaintCategory.ACCOUNT_OPENING_KYC,
    TicketCategory.ACCOUNT: ComplaintCategory.ACCOUNT_OPENING_KYC,
    TicketCategory.TECHNICAL: ComplaintCategory.PLATFORM,
}

OPEN_STATUSES = (ComplaintStatus.REGISTERED, ComplaintStatus.ACKNOWLEDGED, ComplaintStatus.FINAL_RESPONSE)



# --- the rules of the register --------------------------------------------------------------------

def firm_code(brand: Brand) -> str:
    """The firm's code in the brand's complaint references (see the module's docstring)."""
    codes: Mapping[str, str] = getattr(settings, "SUPPORT_FIRM_CODES", None) or {}
    return (codes.get(brand.code) or brand.code).strip().upper()


def add_months(instant: dt.datetime, months: int, *, zone: dt.tzinfo) -> dt.datetime:
    """The same wall-clock time in `zone` `months` calendar months after `instant` (the month's last
    day when it has no such day), in UTC."""
    local = instant.astimezone(zone)
    month0 = local.month - 1 + months
    year, month = local.year + month0 // 12, month0 % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(dt.UTC)


def _zone(ticket: Ticket) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(ticket.desk.time_zone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return dt.UTC


def complaint_dues(ticket: Ticket, registered_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(acknowledgement due, final response due) of a complaint on `ticket` registered at `registered_at`."""
    return (calendar_for_desk(ticket.desk).add_working_days(registered_at, ACKNOWLEDGE_WORKING_DAYS),
            add_months(registered_at, RESPONSE_MONTHS, zone=_zone(ticket)))


@dataclass(frozen=True)
class Clock:
    """Where a complaint stands against its two deadlines, for its page and the register list."""

    registered_at: dt.datetime
    acknowledge_due: dt.datetime
    acknowledged_at: dt.datetime | None
    response_due: dt.datetime
    final_response_at: dt.datetime | None
    now: dt.datetime

    @property
    def acknowledge_overdue(self) -> bool:
        return self.acknowledged_at is None and self.now > self.acknowledge_due

    @property
    def acknowledged_late(self) -> bool:
        return self.acknowledged_at is not None and self.acknowledged_at > self.acknowledge_due

    @property
    def response_overdue(self) -> bool:
        return self.final_response_at is None and self.now > self.response_due

    @property
    def answered_late(self) -> bool:
        return self.final_response_at is not None and self.final_response_at > self.response_due

    @property
    def overdue(self) -> bool:
        return self.acknowledge_overdue or self.response_overdue

    @property
    def days_left(self) -> int | None:
        """Whole days to the final response's due time (negative: days past it); None once answered."""
        if self.final_response_at is not None:
            return None
        return (self.response_due - self.now).days

    @property
    def days_overdue(self) -> int:
        """Whole days past the final response's due time without one (0 when not overdue)."""
        if not self.response_overdue:
            return 0
        return (self.now - self.response_due).days

    @property
    def elapsed_percent(self) -> int:
        """How much of the 2 months has run (0 to 100) at the final response or now, for the page's bar."""
        total = (self.response_due - self.registered_at).total_seconds()
        used = ((self.final_response_at or self.now) - self.registered_at).total_seconds()
        return max(0, min(100, round(100 * used / total))) if total > 0 else 100


def complaint_clock(complaint: Complaint, *, now: dt.datetime | None = None) -> Clock:
    return Clock(registered_at=complaint.registered_at, acknowledge_due=complaint.acknowledge_due, acknowledged_at=complaint.acknowledged_at,
                 response_due=complaint.response_due, final_response_at=complaint.final_response_at,
                 now=now or timezone.now())


# --- reads ------------------------------------------------------------------------------------------

def complaint_queryset_for_user(user: Any) -> QuerySet[Complaint]:
    """The complaints `user` may see: holders of "support.view_complaint", those of the tickets they
    see (support.permissions); nobody else sees any."""
    return permissions.complaint_queryset_for_user(user).select_related(
        "brand", "ticket", "ticket__client", "ticket__partner", "ticket__desk", "closed_by")


def complaint_get_for_user(user: Any, reference: str, *, for_update: bool = False) -> Complaint:
    """The complaint of `reference` if `user` may see it; NotFound otherwise (missing and forbidden
    look the same)."""
    qs = complaint_queryset_for_user(user)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    found = qs.filter(reference=str(reference or "")[:40]).first()
    if found is None:
        raise NotFound()
    return found


def overdue_q(now: dt.datetime) -> Q:
    """Complaints past a deadline they have not met: not acknowledged by its due time, or without a
    final response by its due time (closed ones are done)."""
    return ~Q(status=ComplaintStatus.CLOSED) & (
        Q(acknowledged_at__isnull=True, acknowledge_due__lt=now)
        | Q(final_response_at__isnull=True, response_due__lt=now))


def month_bounds(period: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The month of `period` as [start, end) instants in the installation's time zone."""
    zone = timezone.get_default_timezone()
    start = dt.datetime(period.year, period.month, 1, tzinfo=zone)
    following = dt.datetime(period.year + period.month // 12, period.month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(dt.UTC), following.astimezone(dt.UTC)


MONTH_RE = re.compile(r"(?P<year>(19|2[0-9])[0-9]{2})-(?P<month>[0-9]{2})")


def month_parse(text: str, *, field: str = "month") -> dt.date:
    """"2026-11" as the first day of that month; InvalidValue naming `field` otherwise."""
    found = MONTH_RE.fullmatch((text or "").strip())
    if found is None or not 1 <= int(found["month"]) <= 12:
        raise InvalidValue(field, gettext("Give a month as YYYY-MM, e.g. 2026-11."))
    return dt.date(int(found["year"]), int(found["month"]), 1)


def complaint_list(*, user: Any, month: dt.date | None = None, category: str = "", status: str = "",
                   overdue: bool = False, brand: Brand | None = None,
                   now: dt.datetime | None = None) -> QuerySet[Complaint]:
    """The register as `user` sees it, newest first, filtered by the month of registration, the
    category, the status and whether a deadline is missed."""
    qs = complaint_queryset_for_user(user)
    if month is not None:
        start, end = month_bounds(month)
        qs = qs.filter(registered_at__gte=start, registered_at__lt=end)
    if category:
        qs = qs.filter(category=category)
    if status:
        qs = qs.filter(status=status)
    if overdue:
        qs = qs.filter(overdue_q(now or timezone.now()))
    if brand is not None:
        qs = qs.filter(brand=brand)
    return qs.order_by("-registered_at", "-pk")


def complaint_for_ticket(ticket: Ticket) -> Complaint | None:
    return Complaint.objects.filter(ticket=ticket).first()


# --- helpers of the writes ---------------------------------------------------------------------------

def _require(actor: Any, perm: str, message: str) -> None:
    if actor is not None and not user_can(actor, perm):
        raise NotAllowed(message)


def _text(value: Any, *, field: str, message: str) -> str:
    text = str(value or "").strip()
    if "\x00" in text:
        raise ValidationFailed(fields={field: [gettext("This text contains a character that cannot be stored.")]})
    if not text:
        raise ValidationFailed(fields={field: [message]})
    if len(text) > TEXT_MAX:
        raise ValidationFailed(fields={field: [gettext("At most %(n)s characters.") % {"n": TEXT_MAX}]})
    return text


def _choice(value: Any, choices: type[Any], *, field: str, message: str) -> str:
    text = str(value or "")
    if text not in choices.values:
        raise ValidationFailed(fields={field: [message]})
    return text


def _locked(complaint: Complaint) -> Complaint:
    return (Complaint.objects.select_for_update(of=("self",))
            .select_related("ticket", "ticket__client", "ticket__client__brand", "ticket__desk", "brand")
            .get(pk=complaint.pk))


def _next_number(brand: Brand, year: int) -> int:
    """The brand's next complaint number of `year`: its sequence row, created if missing (a
    concurrent creator's row is kept), locked until the caller's transaction ends."""
    ComplaintSequence.objects.bulk_create([ComplaintSequence(brand=brand, year=year, last=0)], ignore_conflicts=True)
    row = ComplaintSequence.objects.select_for_update().get(brand=brand, year=year)
    row.last += 1
    row.save(update_fields=["last"])
    return row.last


def _payload(complaint: Complaint, actor: Any) -> dict[str, Any]:
    client = complaint.ticket.client
    return {"complaint": complaint.reference, "ticket": complaint.ticket.reference, "category": complaint.category,
            "status": complaint.status, "outcome": complaint.outcome,
            "client": str(client.code) if client is not None else None,
            "acknowledge_due": complaint.acknowledge_due.isoformat(),
            "response_due": complaint.response_due.isoformat(), "by": user_ref(actor)}


def _emit(name: str, complaint: Complaint, actor: Any) -> None:
    emit(name, client=complaint.ticket.client, brand=complaint.brand_id, actor=actor,
         data=_payload(complaint, actor))


def _language(ticket: Ticket) -> str:
    client = ticket.client
    code = (client.language if client is not None and client.language else ticket.language) or "en"
    return code.split("-", 1)[0]


def _day_text(instant: dt.datetime, ticket: Ticket) -> str:
    """A day as the complainant reads it: in the desk's zone, in their language."""
    with translation.override(_language(ticket)):
        return formats.date_format(instant.astimezone(_zone(ticket)), "j F Y")


def _ensure_templates(brand: Brand, key: str, language: str) -> None:
    """Give the brand the complaint template `key` in `language` (when the catalogues translate it)
    and in English, where it lacks them (administrators may reword them; a brand that has one keeps
    its words)."""
    from emails.selectors import SOURCE_LANGUAGE, template_translated
    from emails.services import email_template_save, email_templates_for_brand

    had = {t.language for t in email_templates_for_brand(brand=brand) if t.key == key}
    for code in dict.fromkeys((language, SOURCE_LANGUAGE)):
        values = template_translated(TEMPLATES[key], code)
        if values is not None and code not in had:
            email_template_save(actor=None, brand=brand, key=key, language=code, subject=values["subject"],
                                body=values["body"], description=values["description"])


def _mail(complaint: Complaint, key: str, data: dict[str, Any], actor: Any) -> bool:
    """Queue the brand's email `key` to the complainant when the ticket has a client with an address;
    False when there is nobody to mail (the thread's line is what they read)."""
    from emails.services import email_send_templated

    client = complaint.ticket.client
    if client is None or not client.email:
        return False
    _ensure_templates(client.brand, key, (client.language or "en").lower())
    event = Event(name=f"support.email.{key}", client=client, data=dict(data), occurred_at=timezone.now())
    result = email_send_templated(template_key=key, client=client, actor=actor, event=event)
    return result.email is not None


def _thread_line(complaint: Complaint, text: str, actor: Any) -> TicketMessage:
    """What the complainant reads in the ticket's thread (the trader's room, the partner portal)."""
    now = timezone.now()
    message = TicketMessage.objects.create(ticket=complaint.ticket, kind=MessageKind.STAFF_REPLY,
                                           author=actor if getattr(actor, "pk", None) else None,
                                           body_text=text, channel=TicketChannel.STAFF)
    Ticket.objects.filter(pk=complaint.ticket_id).update(last_message_at=now)
    return message


# --- the writes -------------------------------------------------------------------------------------

@transaction.atomic
def complaint_register(*, ticket: Ticket, category: str, actor: User | None, acknowledge: bool = True) -> Complaint:
    """Enter `ticket` in the complaints register under `category` (ComplaintCategory) with the next
    reference of its brand's year, and (with `acknowledge`) acknowledge it at once.

    `actor` is the member of staff marking the ticket (needs "support.change_ticket"), or None when
    the client files it themselves (the trader's room's page, which checked the ticket is theirs).
    Refused (ComplaintRefused) for a ticket already in the register or merged into another; the
    category is checked by name ("category")."""
    _require(actor, WORK_PERMISSION, gettext("You are not allowed to register complaints."))
    category = _choice(category, ComplaintCategory, field="category", message=gettext("Choose the complaint's category."))
    ticket = (Ticket.objects.select_for_update(of=("self",)).select_related("brand", "desk", "client", "client__brand")
              .get(pk=ticket.pk))
    existing = complaint_for_ticket(ticket)
    if existing is not None:
        raise ComplaintRefused(gettext("This ticket is already the complaint %(reference)s.")
                               % {"reference": existing.reference})
    if ticket.status == TicketStatus.MERGED:
        raise ComplaintRefused(gettext("A merged ticket cannot become a complaint: register the ticket it was "
                                       "merged into."))
    now = timezone.now()
    year = now.astimezone(_zone(ticket)).year
    reference = complaint_reference(firm_code(ticket.brand), year, _next_number(ticket.brand, year))
    acknowledge_due, response_due = complaint_dues(ticket, now)
    complaint = Complaint.objects.create(ticket=ticket, reference=reference, brand=ticket.brand, category=category,
                                         status=ComplaintStatus.REGISTERED, registered_at=now,
                                         acknowledge_due=acknowledge_due, response_due=response_due)
    audit_record(action="support.complaint_registered", obj=complaint, actor=actor, brand=ticket.brand,
                 after={"reference": reference, "ticket": ticket.reference, "category": category,
                        "acknowledge_due": acknowledge_due.isoformat(), "response_due": response_due.isoformat()})
    _emit("support.complaint.registered", complaint, actor)
    if acknowledge:
        complaint = complaint_acknowledge(complaint=complaint, actor=actor)
    return complaint


@transaction.atomic
def complaint_acknowledge(*, complaint: Complaint, actor: User | None) -> Complaint:
    """Send the acknowledgement (the brand's "support_complaint_ack" email in the client's language,
    and its line in the ticket's thread) and date it. Only a registered complaint is acknowledged."""
    _require(actor, WORK_PERMISSION, gettext("You are not allowed to acknowledge complaints."))
    complaint = _locked(complaint)
    ticket = complaint.ticket
    COMPLAINT_STATES.check(complaint, ComplaintStatus.ACKNOWLEDGED)
    data = {"reference": complaint.reference, "ticket": ticket.reference,
            "registered_on": _day_text(complaint.registered_at, ticket),
            "response_due": _day_text(complaint.response_due, ticket)}
    mailed = _mail(complaint, ACK_TEMPLATE, data, actor)
    with translation.override(_language(ticket)):
        line = gettext("We have registered your complaint on %(registered_on)s under the reference %(reference)s. "
                       "We will send you our final response by %(response_due)s.") % data
    _thread_line(complaint, line, actor)
    now = timezone.now()
    COMPLAINT_STATES.move(complaint, ComplaintStatus.ACKNOWLEDGED, also={"acknowledged_at": now}, save=[])
    audit_record(action="support.complaint_acknowledged", obj=complaint, actor=actor, brand=complaint.brand,
                 after={"reference": complaint.reference, "acknowledged_at": now.isoformat(), "emailed": mailed,
                        "late": now > complaint.acknowledge_due})
    _emit("support.complaint.acknowledged", complaint, actor)
    return complaint


def _amount(amount: Any, currency: Any) -> Money | None:
    """The amount paid as money (None for nothing paid); refused by name: "amount_paid", "currency"."""
    if amount in (None, "") and not currency:
        return None
    if amount in (None, ""):
        raise ValidationFailed(fields={"amount_paid": [gettext("Enter the amount paid, or leave the currency empty.")]})
    if not currency:
        raise ValidationFailed(fields={"currency": [gettext("Choose the currency of the amount paid.")]})
    try:
        money = Money.exact(amount if isinstance(amount, Decimal) else str(amount), str(currency).strip().upper(),
                            field="amount_paid")
    except InvalidValue as error:
        field = "currency" if error.field == "currency" else "amount_paid"
        raise ValidationFailed(fields={field: [error.message]}) from None
    if money.amount < 0:
        raise ValidationFailed(fields={"amount_paid": [gettext("The amount paid cannot be negative.")]})
    return money


@transaction.atomic
def complaint_final_response(*, complaint: Complaint, response: str, outcome: str, actor: User | None,
                             amount_paid: Any = None, currency: Any = "") -> Complaint:
    """Record and send the final response: its text, the outcome (upheld, partially upheld,
    rejected) and any amount paid (a Decimal with its currency). The client gets the brand's
    "support_complaint_final" email and its line in the thread. Only an acknowledged complaint."""
    _require(actor, RESPOND_PERMISSION, gettext("You are not allowed to answer complaints."))
    complaint = _locked(complaint)
    COMPLAINT_STATES.check(complaint, ComplaintStatus.FINAL_RESPONSE)
    text = _text(response, field="final_response", message=gettext("Write the final response."))
    if outcome == ComplaintOutcome.WITHDRAWN:
        raise ValidationFailed(fields={"outcome": [gettext("A withdrawn complaint is closed as withdrawn, without a "
                                                           "final response.")]})
    outcome = _choice(outcome, ComplaintOutcome, field="outcome", message=gettext("Choose the outcome."))
    money = _amount(amount_paid, currency)
    if money is not None and money.amount > 0 and outcome == ComplaintOutcome.REJECTED:
        raise ValidationFailed(fields={"amount_paid": [gettext("A rejected complaint pays nothing: choose upheld or "
                                                               "partially upheld, or leave the amount empty.")]})
    ticket = complaint.ticket
    amount_text = ""
    if money is not None and money.amount > 0:
        from crm.lib.money import money_format

        with translation.override(_language(ticket)):
            amount_text = money_format(money)
    mailed = _mail(complaint, FINAL_TEMPLATE, {"reference": complaint.reference, "ticket": ticket.reference,
                                               "response": text, "amount": amount_text}, actor)
    _thread_line(complaint, text + (f"\n\n{amount_text}" if amount_text else ""), actor)
    now = timezone.now()
    COMPLAINT_STATES.move(complaint, ComplaintStatus.FINAL_RESPONSE, save=[], also={
        "final_response_at": now, "final_response": text, "outcome": outcome,
        "amount_paid": money.amount if money is not None else None,
        "currency": money.currency if money is not None else ""})
    audit_record(action="support.complaint_final_response", obj=complaint, actor=actor, brand=complaint.brand,
                 after={"reference": complaint.reference, "outcome": outcome, "emailed": mailed,
                        "amount_paid": str(money.amount) if money is not None else None,
                        "currency": money.currency if money is not None else "",
                        "late": now > complaint.response_due})
    return complaint


@transaction.atomic
def complaint_close(*, complaint: Complaint, actor: User, outcome: str = "") -> Complaint:
    """Close a complaint: a compliance officer ("support.close_complaint") after its final response
    (its outcome stands), or as withdrawn by the complainant before one (`outcome` "withdrawn")."""
    if actor is None or not user_can(actor, CLOSE_PERMISSION):
        raise NotAllowed(gettext("Only a compliance officer may close a complaint."))
    complaint = _locked(complaint)
    COMPLAINT_STATES.check(complaint, ComplaintStatus.CLOSED)
    if complaint.status == ComplaintStatus.FINAL_RESPONSE:
        if outcome and outcome != complaint.outcome:
            raise ValidationFailed(fields={"outcome": [gettext("The outcome is the final response's; it cannot "
                                                               "change at closing.")]})
        outcome = str(complaint.outcome)
    elif outcome != ComplaintOutcome.WITHDRAWN:
        raise ComplaintRefused(gettext("Send the final response first; before it, a complaint closes only as "
                                       "withdrawn by the complainant."), fields={"outcome": [
                                           gettext("Before the final response, only “withdrawn” closes it.")]})
    now = timezone.now()
    COMPLAINT_STATES.move(complaint, ComplaintStatus.CLOSED, save=[], also={
        "outcome": outcome, "closed_by": actor, "closed_at": now})
    audit_record(action="support.complaint_closed", obj=complaint, actor=actor, brand=complaint.brand,
                 after={"reference": complaint.reference, "outcome": outcome, "closed_at": now.isoformat()})
    _emit("support.complaint.closed", complaint, actor)
    return complaint


@transaction.atomic
def complaint_file(*, brand: Brand, category: str, subject: str, body: str, channel: str, language: str,
                   requester_email: str, requester_name: str, client: Any = None, partner: Any = None,
                   attachments: Any = ()) -> Complaint:
    """A complaint filed by its complainant (the trader's room, the partner portal): a ticket of
    category "complaint" opened with their message and files, registered under `category` and
    acknowledged, in one transaction (a refused file or field leaves neither)."""
    from support.services import ticket_open

    category = _choice(category, ComplaintCategory, field="category", message=gettext("Choose what your complaint "
                                                                                      "is about."))
    ticket = ticket_open(brand=brand, category=TicketCategory.COMPLAINT, subject=subject, body=body, channel=channel,
                         client=client, partner=partner, requester_email=requester_email,
                         requester_name=requester_name, language=language, attachments=attachments, actor=None)
    return complaint_register(ticket=ticket, category=category, actor=None)

