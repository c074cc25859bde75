"""The support demo: a desk per demo brand (business hours in its own time zone, a holiday, SLA
policies for every priority), canned answers in English and in the brand's other language,
assignment rules, the demo support agent, and tickets across the brands and statuses, one of them
past its first-response SLA (breached by the sweep, as in production), and the complaints register: a
client's withdrawal complaint acknowledged and running, a fees complaint answered, refunded and
closed by a compliance officer. Everything is written
through support.services and support.complaints; only the breached ticket's opening time is moved into the past, as the
demo's seed backdates what "happened" before. Idempotent: a brand that has a support desk is left
as it is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.models import Brand, Client, RoleCode, User
from crm.services import user_create
from support import complaints, services, sla_services
from support.models import Complaint, SupportDesk, Ticket, TicketMessage

AGENT_EMAIL = "sam.okafor@demo-broker.example"
AGENT_PASSWORD = "harbour-ticket-5830"  # noqa: S105 - a published demo login
AGENT_NAME = "Sam Okafor"

WEEKDAYS = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
# Per brand code: the desk's name, zone, hours, a holiday, and the brand's second language.
DESKS: dict[str, dict[str, Any]] = {
    "atlas": {"name": "Atlas Support", "time_zone": "Asia/Nicosia", "hours": WEEKDAYS, "second": "ar",
              "holiday": (12, 25, "Christmas Day")},
    "nova": {"name": "Nova Support", "time_zone": "Europe/Berlin",
             "hours": {**WEEKDAYS, "sat": [["10:00", "14:00"]]}, "second": "de",
             "holiday": (12, 26, "Zweiter Weihnachtstag")},
}
POLICIES = {"urgent": (15, 240), "high": (60, 480), "normal": (240, 1440), "low": (480, 2880)}
CANNED: dict[str, list[tuple[str, str, str | None]]] = {
    "en": [("Withdrawal received", "Dear {first_name},\n\nthank you for writing to {brand}. Your withdrawal is with "
            "our payments team; we will update {reference} as soon as it is paid.\n\nKind regards,\n{agent_name}",
            "withdrawal"),
           ("Documents needed", "Dear {first_name},\n\nto finish your verification we need a proof of address "
            "issued in the last 3 months. Please upload it in the trader's room.\n\n{agent_name}, {brand}",
            "documents"),
           ("Resolved", "Dear {first_name} {last_name},\n\nwe consider {reference} resolved. Reply to this message "
            "if anything is still open.\n\n{agent_name}", None)],
    "de": [("Auszahlung erhalten", "Hallo {first_name},\n\nvielen Dank für Ihre Nachricht an {brand}. Ihre "
            "Auszahlung liegt bei unserem Zahlungsteam; wir melden uns unter {reference}, sobald sie "
            "ausgezahlt ist.\n\nMit freundlichen Grüßen\n{agent_name}", "withdrawal")],
    "ar": [("تم استلام طلب السحب", "عزيزي {first_name}،\n\nشكرًا لتواصلك مع {brand}. طلب السحب لدى فريق المدفوعات، "
            "وسنحدّث {reference} فور الدفع.\n\n{agent_name}", "withdrawal")],
}
# (category, subject, body, priority): the requests the demo clients make.
REQUESTS = (
    ("withdrawal", "My withdrawal has not arrived", "I asked for 500 USD five days ago and nothing has arrived yet.",
     "high"),
    ("documents", "Which proof of address do you accept?", "Is a mobile phone bill fine as a proof of address?",
     "normal"),
    ("platform", "Cannot log in to MT5", "The terminal says invalid account since this morning.", "urgent"),
    ("deposit", "Card deposit declined", "My card was declined twice although it has funds.", "normal"),
    ("trading", "Swap charged on a swap-free account", "I was charged a swap overnight on EURUSD.", "normal"),
    ("account", "Change my email address", "I would like to use my new email address for the account.", "low"),
)


@dataclass
class SupportDemo:
    created: bool = False
    desks: list[SupportDesk] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)
    complaints: list[Complaint] = field(default_factory=list)
    agent: Any = None


def _agent(admin: User, brands: list[Brand]) -> User:
    existing = User.objects.filter(email=AGENT_EMAIL).first()
    if existing is not None:
        return existing
    return user_create(actor=admin, email=AGENT_EMAIL, full_name=AGENT_NAME, role_code=RoleCode.SUPPORT_AGENT,
                       password=AGENT_PASSWORD, brands=brands, timezone="Asia/Nicosia")


def _desk(admin: User, brand: Brand, spec: dict[str, Any], agent: User) -> SupportDesk:
    manager = User.objects.filter(is_active=True, role__code=RoleCode.DESK_MANAGER, brands=brand).order_by("pk").first()
    desk = services.desk_save(actor=admin, brand=brand, name=spec["name"], code="support",
                              time_zone=spec["time_zone"], business_hours=spec["hours"], manager=manager,
                              support_address=f"support@{brand.code}.demo-broker.example")
    year = timezone.now().year
    for offset in (0, 1):
        month, day, name = spec["holiday"]
        services.desk_holiday_add(actor=admin, desk=desk, day=dt.date(year + offset, month, day), name=name)
    for priority, (first, resolution) in POLICIES.items():
        services.sla_policy_save(actor=admin, desk=desk, priority=priority, first_response_minutes=first,
                                 resolution_minutes=resolution)
    for language in ("en", spec["second"]):
        for title, body, category in CANNED[language]:
            services.canned_answer_save(actor=admin, brand=brand, language=language, title=title, body=body,
                                        category=category)
    services.assignment_rule_save(actor=admin, desk=desk, order=10, vip_only=True, to_owner=True, assignee=agent)
    services.assignment_rule_save(actor=admin, desk=desk, order=20, category="withdrawal", assignee=agent)
    return desk


def _tickets(brand: Brand, agent: User) -> list[Ticket]:
    clients = list(Client.objects.filter(brand=brand).exclude(email_hash="").order_by("pk")[:len(REQUESTS)])
    made: list[Ticket] = []
    for client, (category, subject, body, priority) in zip(clients, REQUESTS, strict=False):
        made.append(services.ticket_open(brand=brand, category=category, subject=subject, body=body, channel="portal",
                                         client=client, priority=priority, actor=None))
    if not made:
        return made
    canned = services.canned_answers_for(made[0])
    # Answered with a canned answer, waiting for the client.
    if canned:
        services.ticket_reply_staff(ticket=made[0], actor=agent,
                                    body=services.canned_answer_render(answer=canned[0], ticket=made[0], agent=agent))
    if len(made) > 1:  # answered, the client wrote back: open again
        services.ticket_reply_staff(ticket=made[1], actor=agent, body="A utility bill or a bank statement, yes.")
        services.ticket_reply_client(ticket=made[1], client=made[1].client, body="Thanks, I will upload it tonight.")
    if len(made) > 3:  # resolved and rated
        services.ticket_reply_staff(ticket=made[3], actor=agent, status="resolved",
                                    body="Your bank had blocked the payment; it goes through now.")
        services.ticket_rate(ticket=made[3], rating=5, comment="Quick and clear, thank you.")
    if len(made) > 4:  # on hold, with an internal note
        services.ticket_note(ticket=made[4], actor=agent, body="Asked the dealing desk to check the swap group.")
        services.ticket_set_status(ticket=made[4], status="on_hold", actor=agent, reason="waiting for dealing")
    if len(made) > 5:  # closed
        services.ticket_reply_staff(ticket=made[5], actor=agent, body="Done: your new address is in place.")
        services.ticket_close(ticket=made[5], actor=agent)
    # An email from someone who is not a client (yet): waits to be linked.
    made.append(services.ticket_open(brand=brand, category="other", subject="Do you accept clients from Canada?",
                                     body="Hello, I live in Ontario. Can I open an account?", channel="email",
                                     requester_email=f"prospect@{brand.code}-mail.example",
                                     requester_name="Jordan Lee", actor=None))
    return made


def _breach(ticket: Ticket) -> None:
    """Move the ticket's opening two working days back (as the seed backdates the past) and let the
    sweep find it past its first-response due time."""
    opened = timezone.now() - dt.timedelta(days=4)
    Ticket.objects.filter(pk=ticket.pk).update(created_at=opened)
    # Its opening message moves with it: the thread must not read as written days after the ticket.
    TicketMessage.objects.filter(ticket=ticket).update(created_at=opened)
    ticket.refresh_from_db()
    changed = sla_services.ticket_sla_apply(ticket)
    if changed:
        ticket.save(update_fields=changed)


def _complaints(brand: Brand, tickets: list[Ticket], agent: User) -> list[Complaint]:
    """The register's demo: a client's complaint about a withdrawal, filed in the trader's room and
    acknowledged (its 2-month clock running); and the swap ticket marked a complaint by the agent,
    answered (partially upheld, an amount refunded) and closed by a compliance officer."""
    made: list[Complaint] = []
    withdrawal = next((t for t in tickets if t.category == "withdrawal" and t.client is not None), None)
    client = withdrawal.client if withdrawal is not None else None
    if client is not None:
        made.append(complaints.complaint_file(
            brand=brand, category="withdrawals", subject="My withdrawal is two weeks late",
            body="I asked for my withdrawal two weeks ago and it has still not arrived. I want it paid now.",
            channel="portal", language=client.language or "en", requester_email=client.email,
            requester_name=client.full_name, client=client))
    swap = Ticket.objects.filter(pk__in=[t.pk for t in tickets], status="on_hold").order_by("pk").first()
    officer = (User.objects.filter(is_active=True, role__code=RoleCode.COMPLIANCE, brands=brand).order_by("pk").first()
               or User.objects.filter(is_active=True, role__code=RoleCode.ADMIN).order_by("pk").first())
    if swap is not None:
        complaint = complaints.complaint_register(ticket=swap, category="fees_charges", actor=agent)
        complaint = complaints.complaint_final_response(
            complaint=complaint, actor=agent, outcome="partially_upheld", amount_paid="12.40", currency="USD",
            response="The swap-free flag was missing on your account for three nights; we have refunded the "
                     "swaps charged and set the flag again.")
        if officer is not None:
            complaint = complaints.complaint_close(complaint=complaint, actor=officer)
        made.append(complaint)
    return made


def support_seed_demo(*, admin: User) -> SupportDemo:
    """Load the support demo for the demo brands (see the module docstring)."""
    result = SupportDemo()
    brands = list(Brand.objects.filter(code__in=list(DESKS)).order_by("code"))
    if not brands:
        return result
    with transaction.atomic():
        result.agent = _agent(admin, brands)
        for brand in brands:
            if SupportDesk.objects.filter(brand=brand).exists():
                continue
            result.created = True
            result.desks.append(_desk(admin, brand, DESKS[brand.code], result.agent))
            tickets = _tickets(brand, result.agent)
            result.tickets += tickets
            if len(tickets) > 2:
                _breach(tickets[2])  # the MT5 login: urgent, never answered
            result.complaints += _complaints(brand, tickets, result.agent)
    if result.created:
        sla_services.sla_sweep()
    return result
