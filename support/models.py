"""Support: desks with their business hours, holidays and SLA policies; tickets from every channel
with their messages and attachments; canned answers and assignment rules; the complaints register;
and the inbound mailboxes with a row per message received.

A ticket's status and a complaint's status move only through their machines below (crm.lib.states):
the services in support.services and support.complaints make every move, with its audit row and its
event. Times are stored in UTC; an SLA's minutes are business minutes of the ticket's desk (its time
zone, hours and holidays: support.sla)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, When
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.crypto import FieldCipher
from crm.lib.money import CurrencyField
from crm.lib.states import StateMachine
from plumbing.context import history_user
from support.exceptions import ComplaintTransitionRefused, TicketTransitionRefused

# The mailboxes' IMAP passwords and webhook secrets, encrypted as the payment providers' are.
CIPHER = FieldCipher(salt=b"brokerage-crm/support.mailboxes", info=b"support mailbox secrets v1",
                     what="support mailbox credentials")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def default_business_hours() -> dict[str, list[list[str]]]:
    """Monday to Friday, 09:00 to 18:00 (the desk's time zone)."""
    return {day: ([["09:00", "18:00"]] if day not in ("sat", "sun") else []) for day in WEEKDAYS}


def _labels(states: type[models.TextChoices], old: str, new: str) -> dict[str, str]:
    return {"from": str(states(old).label).lower(), "to": str(states(new).label).lower()}


# --- desks -------------------------------------------------------------------------------------------

class SupportDesk(models.Model):
    """A brand's support team: where its tickets land, on whose calendar their SLAs run, and the
    address its mail arrives at and is answered from."""

    code = models.SlugField(_("code"), max_length=40)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC",
                                 help_text=_("IANA name, e.g. Asia/Nicosia: the business hours are in it"))
    # {"mon": [["09:00", "18:00"]], ..., "sun": []}: the opening intervals of each weekday.
    business_hours = models.JSONField(_("business hours"), default=default_business_hours)
    manager = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+", verbose_name=_("manager"),
                                help_text=_("Told when a ticket breaches its SLA"))
    support_address = models.EmailField(_("support address"), unique=True, null=True, blank=True,
                                        help_text=_("The brand's support address: mail to it becomes tickets"))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["brand_id", "name"]
        permissions: ClassVar = [("manage_desk", "Manage support desks, SLA policies, canned answers and rules")]
        constraints: ClassVar = [
            # The code names the desk in URLs and demo data, within its brand.
            models.UniqueConstraint(fields=["brand", "code"], name="support_desk_code_per_brand"),
        ]

    def __str__(self) -> str:
        return self.name


class DeskHoliday(models.Model):
    """A day the desk is closed: no business minutes run on it."""

    desk = models.ForeignKey(SupportDesk, on_delete=models.CASCADE, related_name="holidays")
    day = models.DateField(_("day"))
    name = models.CharField(_("name"), max_length=120)

    class Meta:
        ordering: ClassVar = ["desk_id", "day"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["desk", "day"], name="support_holiday_once_per_desk_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.name}"


class TicketPriority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_RANK: dict[str, int] = {TicketPriority.LOW: 0, TicketPriority.NORMAL: 1, TicketPriority.HIGH: 2,
                                 TicketPriority.URGENT: 3}


class SLAPolicy(models.Model):
    """A desk's targets for one priority, in business minutes of the desk's calendar."""

    desk = models.ForeignKey(SupportDesk, on_delete=models.CASCADE, related_name="sla_policies")
    priority = models.CharField(_("priority"), max_length=10, choices=TicketPriority.choices)
    first_response_minutes = models.PositiveIntegerField(_("first response (business minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution (business minutes)"))
    warn_before_minutes = models.PositiveIntegerField(_("warn before the breach (business minutes)"), default=30)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["desk_id", "priority"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["desk", "priority"], name="support_sla_once_per_desk_priority"),
            # A first response after the resolution it is part of makes no target.
            models.CheckConstraint(condition=Q(first_response_minutes__gt=0)
                                   & Q(resolution_minutes__gte=F("first_response_minutes")),
                                   name="support_sla_minutes_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.desk_id}/{self.priority}"


# --- tickets -----------------------------------------------------------------------------------------

class TicketCategory(models.TextChoices):
    ACCOUNT = "account", _("Account")
    DEPOSIT = "deposit", _("Deposit")
    WITHDRAWAL = "withdrawal", _("Withdrawal")
    TRADING = "trading", _("Trading")
    PLATFORM = "platform", _("Trading platform")
    DOCUMENTS = "documents", _("Documents (verification)")
    PARTNERSHIP = "partnership", _("Partnership")
    TECHNICAL = "technical", _("Technical")
    COMPLAINT = "complaint", _("Complaint")
    OTHER = "other", _("Other")


class TicketStatus(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    PENDING_CLIENT = "pending_client", _("Waiting for the client")
    ON_HOLD = "on_hold", _("On hold")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")
    MERGED = "merged", _("Merged")


# Statuses a ticket is worked in (the queue's default); resolved, closed and merged are done.
ACTIVE_TICKET_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING_CLIENT, TicketStatus.ON_HOLD)


class TicketChannel(models.TextChoices):
    PORTAL = "portal", _("Trader's room")
    PARTNER_PORTAL = "partner_portal", _("Partner portal")
    EMAIL = "email", _("Email")
    STAFF = "staff", _("Staff")
    API = "api", _("API")


class Ticket(models.Model):
    """A request from a client, a partner or an email sender, worked by a desk to its resolution.

    `reference` ("T" and at least six digits, from the sequence support_ticket_reference) is what the
    client sees and what mail subjects carry ("[T001234]"). The SLA dues are computed from the desk's
    policy for the priority (support.sla_services): `first_response_due` stops at the first staff
    reply, `resolution_due` pauses while the ticket waits for the client (`paused_at`, the minutes
    paused so far in `paused_minutes`). A ticket marked `is_compliance_matter` touches a compliance
    matter: its internal notes are for compliance officers and administrators only."""

    reference = models.CharField(_("reference"), max_length=16, unique=True, editable=False)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    desk = models.ForeignKey(SupportDesk, on_delete=models.PROTECT, related_name="tickets")
    category = models.CharField(_("category"), max_length=16, choices=TicketCategory.choices)
    subject = models.CharField(_("subject"), max_length=200)
    status = models.CharField(_("status"), max_length=16, choices=TicketStatus.choices, default=TicketStatus.NEW)
    priority = models.CharField(_("priority"), max_length=10, choices=TicketPriority.choices,
                                default=TicketPriority.NORMAL)
    channel = models.CharField(_("channel"), max_length=16, choices=TicketChannel.choices)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    partner = models.ForeignKey("ib.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    requester_email = models.EmailField(_("requester's email"), blank=True)
    requester_name = models.CharField(_("requester's name"), max_length=200, blank=True)
    language = models.CharField(_("language"), max_length=8, default="en")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("assignee"))
    created_at = models.DateTimeField(_("opened"), db_index=False)
    # The SLA (UTC): computed by support.sla_services from the desk's policy and calendar.
    first_response_due = models.DateTimeField(null=True, blank=True)
    resolution_due = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    first_response_warned_at = models.DateTimeField(null=True, blank=True)
    resolution_warned_at = models.DateTimeField(null=True, blank=True)
    first_response_breached_at = models.DateTimeField(null=True, blank=True)
    resolution_breached_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    # Waiting for the client pauses the resolution clock: since when, and the business minutes paused so far.
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_minutes = models.PositiveIntegerField(default=0)
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    rating_comment = models.TextField(_("rating comment"), blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged")
    reopen_count = models.PositiveIntegerField(default=0)
    is_compliance_matter = models.BooleanField(_("touches a compliance matter"), default=False)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # The API caller's idempotency key ("api:<caller>:<key>"): the same key opens no second ticket.
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True, editable=False)

    class Meta:
        ordering: ClassVar = ["-created_at", "-pk"]
        indexes: ClassVar = [
            # The queue page: a brand's tickets of some statuses by priority, soonest due first.
            models.Index(fields=["brand", "status", "priority", "first_response_due"], name="support_ticket_queue"),
            # "My tickets": an agent's open work.
            models.Index(fields=["assignee", "status"], name="support_ticket_assignee"),
            # The client's profile section and the trader's room list.
            models.Index(fields=["client", "created_at"], name="support_ticket_client"),
            models.Index(fields=["partner", "created_at"], name="support_ticket_partner",
                         condition=Q(partner__isnull=False)),
            # A desk's work by age (KPIs, the desk filter).
            models.Index(fields=["desk", "status", "created_at"], name="support_ticket_desk"),
            # The queue's default order over the tickets being worked (support.desk_selectors.ticket_queue:
            # the SLA due next, then age), walked in order and filtered by the user's scope, so that a page
            # of 50 never sorts every ticket a desk sees (benchmarks/support_desk.py, 1,000,000 tickets).
            models.Index(Case(When(first_response_at__isnull=True, then=F("first_response_due")),
                              default=F("resolution_due")), F("created_at"), F("id"),
                         name="support_ticket_queue_due",
                         condition=Q(status__in=["new", "open", "pending_client", "on_hold"])),
            # The same order within one priority, for the queue filtered by priority: an agent's urgent
            # tickets are one in twenty of their book's, which the order above walked twenty times as
            # far for (about 23,000 tickets at 1,000,000 instead of 2,000).
            models.Index(F("priority"), Case(When(first_response_at__isnull=True, then=F("first_response_due")),
                                             default=F("resolution_due")), F("created_at"), F("id"),
                         name="support_ticket_queue_prio",
                         condition=Q(status__in=["new", "open", "pending_client", "on_hold"])),
            # The SLA sweep (support.sla_services) reads only the clocks still running, by due time: the
            # first responses not given nor breached, the resolutions of tickets worked and not breached
            # (1,000,000 tickets: each of its four reads a few milliseconds instead of one to two seconds).
            models.Index(fields=["first_response_due"], name="support_ticket_fr_running",
                         condition=Q(status__in=["new", "open", "pending_client", "on_hold"],
                                     first_response_at__isnull=True, first_response_breached_at__isnull=True)),
            models.Index(fields=["resolution_due"], name="support_ticket_res_running",
                         condition=Q(status__in=["new", "open", "on_hold"], resolution_breached_at__isnull=True)),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                                   name="support_ticket_rating_1_to_5"),
            # A merged ticket names the one it went into, and only a merged ticket does; never itself.
            models.CheckConstraint(condition=Q(status="merged", merged_into__isnull=False)
                                   | (~Q(status="merged") & Q(merged_into__isnull=True)),
                                   name="support_ticket_merged_names_target"),
            models.CheckConstraint(condition=~Q(merged_into=F("pk")), name="support_ticket_not_merged_into_itself"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def is_done(self) -> bool:
        return self.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.MERGED)

    @property
    def breached(self) -> bool:
        return self.first_response_breached_at is not None or self.resolution_breached_at is not None


# A ticket's life: worked (new, open, waiting for the client, on hold) until resolved; a resolved
# ticket closes (by staff, or by time) or goes back to open when the client writes again (route
# "reopen", which also reopens a closed one); merging ends a ticket in another (route "merge" from any
# state but merged).
TICKET_STATES = StateMachine(
    name="support ticket", model="support.Ticket", states=TicketStatus, error=TicketTransitionRefused,
    transitions={
        TicketStatus.NEW: frozenset({TicketStatus.OPEN, TicketStatus.PENDING_CLIENT, TicketStatus.ON_HOLD,
                                     TicketStatus.RESOLVED, TicketStatus.CLOSED}),
        TicketStatus.OPEN: frozenset({TicketStatus.PENDING_CLIENT, TicketStatus.ON_HOLD, TicketStatus.RESOLVED,
                                      TicketStatus.CLOSED}),
        TicketStatus.PENDING_CLIENT: frozenset({TicketStatus.OPEN, TicketStatus.ON_HOLD, TicketStatus.RESOLVED,
                                                TicketStatus.CLOSED}),
        TicketStatus.ON_HOLD: frozenset({TicketStatus.OPEN, TicketStatus.PENDING_CLIENT, TicketStatus.RESOLVED,
                                         TicketStatus.CLOSED}),
        TicketStatus.RESOLVED: frozenset({TicketStatus.CLOSED}),
        TicketStatus.CLOSED: frozenset(),
        TicketStatus.MERGED: frozenset(),
    },
    routes={
        "reopen": {TicketStatus.RESOLVED: frozenset({TicketStatus.OPEN}),
                   TicketStatus.CLOSED: frozenset({TicketStatus.OPEN})},
        "merge": {status: frozenset({TicketStatus.MERGED}) for status in TicketStatus.values
                  if status != TicketStatus.MERGED},
    },
    terminal=frozenset({TicketStatus.MERGED}),
    error_field="status",
    message=lambda old, new: gettext("A ticket that is %(from)s cannot become %(to)s.")
    % _labels(TicketStatus, old, new),
)


class MessageKind(models.TextChoices):
    CLIENT_REPLY = "client_reply", _("Client's message")
    PARTNER_REPLY = "partner_reply", _("Partner's message")
    STAFF_REPLY = "staff_reply", _("Answer")
    INTERNAL_NOTE = "internal_note", _("Internal note")
    SYSTEM = "system", _("System")


# What the client (or partner) sees of a thread: never internal notes nor system lines.
PUBLIC_MESSAGE_KINDS = (MessageKind.CLIENT_REPLY, MessageKind.PARTNER_REPLY, MessageKind.STAFF_REPLY)


class TicketMessage(models.Model):
    """One message of a ticket's thread; added, never edited. `body_html` is sanitised HTML (an
    email's, support.mail) or empty; the pages show `body_text` unless there is sanitised HTML."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=16, choices=MessageKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+")
    from_email = models.EmailField(blank=True)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    channel = models.CharField(max_length=16, choices=TicketChannel.choices)
    # The email's Message-ID (ours for staff replies sent by mail, the sender's for mail received):
    # the threading key of later replies.
    email_message_id = models.CharField(max_length=998, unique=True, null=True, blank=True)
    in_reply_to = models.TextField(blank=True)
    # The API caller's idempotency key ("api:<caller>:<key>"): the same key writes no second message.
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["created_at", "pk"]
        indexes: ClassVar = [models.Index(fields=["ticket", "created_at"], name="support_message_thread")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.ticket_id}"

    @property
    def is_public(self) -> bool:
        return self.kind in PUBLIC_MESSAGE_KINDS


class TicketAttachment(models.Model):
    """A file of a message, stored privately (crm.lib.private_files) under a random name as KYC
    documents are, after the same checks; never named by the name it came with."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    message = models.ForeignKey(TicketMessage, on_delete=models.CASCADE, related_name="attachments")
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    storage_name = models.CharField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.name


class CannedAnswer(models.Model):
    """A prepared answer of a brand in one language; its placeholders ({first_name}, {last_name},
    {reference}, {agent_name}, {brand}) are filled from the ticket and its client when it is used."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    language = models.CharField(_("language"), max_length=8)
    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("body"))
    category = models.CharField(_("category"), max_length=16, choices=TicketCategory.choices, null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["brand_id", "language", "title"]
        constraints: ClassVar = [
            # The picker lists them by title: one of a title per brand and language.
            models.UniqueConstraint(fields=["brand", "language", "title"], name="support_canned_title_once"),
        ]

    def __str__(self) -> str:
        return self.title


class AssignmentRule(models.Model):
    """Who gets a new ticket of a desk: the rules in `order`, the first that matches wins. A rule
    matches on the ticket's language (blank: any), its category (blank: any) and, with `vip_only`,
    a client tagged "vip"; it gives the ticket to `assignee` or, with `to_owner`, to the client's
    owner (when the client has one who may work tickets)."""

    desk = models.ForeignKey(SupportDesk, on_delete=models.CASCADE, related_name="assignment_rules")
    order = models.PositiveIntegerField(_("order"), default=100)
    language = models.CharField(_("language"), max_length=8, blank=True)
    vip_only = models.BooleanField(_("VIP clients only"), default=False)
    category = models.CharField(_("category"), max_length=16, choices=TicketCategory.choices, blank=True)
    to_owner = models.BooleanField(_("to the client's owner"), default=False)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("assignee"))
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["desk_id", "order", "pk"]
        constraints: ClassVar = [
            # A rule gives the ticket to someone: a named person, or the client's owner.
            models.CheckConstraint(condition=Q(to_owner=True) | Q(assignee__isnull=False),
                                   name="support_rule_names_an_assignee"),
        ]

    def __str__(self) -> str:
        return f"rule {self.order} of desk {self.desk_id}"


# --- complaints --------------------------------------------------------------------------------------

class ComplaintCategory(models.TextChoices):
    WITHDRAWALS = "withdrawals", _("Withdrawals")
    DEPOSITS = "deposits", _("Deposits")
    EXECUTION_SLIPPAGE = "execution_slippage", _("Execution and slippage")
    PLATFORM = "platform", _("Trading platform")
    ACCOUNT_OPENING_KYC = "account_opening_kyc", _("Account opening and verification")
    FEES_CHARGES = "fees_charges", _("Fees and charges")
    MARKETING_ADVICE = "marketing_advice", _("Marketing and advice")
    CUSTOMER_SERVICE = "customer_service", _("Customer service")
    OTHER = "other", _("Other")


class ComplaintStatus(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    FINAL_RESPONSE = "final_response", _("Final response sent")
    CLOSED = "closed", _("Closed")


class ComplaintOutcome(models.TextChoices):
    UPHELD = "upheld", _("Upheld")
    PARTIALLY_UPHELD = "partially_upheld", _("Partially upheld")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn by the complainant")


class Complaint(models.Model):
    """A complaint in the register, on its ticket. `reference` is "<firm code>-<year>-<5 digits>"
    (ComplaintSequence: numbered under a row lock, never reused); the acknowledgement is due in 5
    working days of the desk, the final response in 2 calendar months of registration; a compliance
    officer closes it with its outcome and any amount paid."""

    ticket = models.OneToOneField(Ticket, on_delete=models.PROTECT, related_name="complaint")
    reference = models.CharField(_("reference"), max_length=40, unique=True, editable=False)
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    category = models.CharField(_("category"), max_length=24, choices=ComplaintCategory.choices)
    status = models.CharField(_("status"), max_length=16, choices=ComplaintStatus.choices,
                              default=ComplaintStatus.REGISTERED)
    registered_at = models.DateTimeField(_("registered"))
    acknowledge_due = models.DateTimeField(_("acknowledgement due"))
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    response_due = models.DateTimeField(_("final response due"))
    final_response_at = models.DateTimeField(_("final response sent"), null=True, blank=True)
    final_response = models.TextField(_("final response"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=ComplaintOutcome.choices, null=True, blank=True)
    amount_paid = models.DecimalField(_("amount paid"), max_digits=20, decimal_places=8, null=True, blank=True)
    currency = CurrencyField(_("currency"), blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering: ClassVar = ["-registered_at", "-pk"]
        permissions: ClassVar = [("close_complaint", "Close complaints (compliance)"),
                                 ("export_complaint", "Export the complaints register")]
        indexes: ClassVar = [
            # The month's register export: a brand's complaints by registration.
            models.Index(fields=["brand", "registered_at"], name="support_complaint_register"),
        ]
        constraints: ClassVar = [
            # An amount paid is money: it has its currency.
            models.CheckConstraint(condition=Q(amount_paid__isnull=True) | ~Q(currency=""),
                                   name="support_complaint_amount_has_currency"),
            # A closed complaint has its outcome.
            models.CheckConstraint(condition=~Q(status="closed") | Q(outcome__isnull=False),
                                   name="support_complaint_closed_has_outcome"),
        ]

    def __str__(self) -> str:
        return self.reference


# A complaint's life: acknowledged, answered, closed by a compliance officer; withdrawn (closed with
# that outcome) at any point before.
COMPLAINT_STATES = StateMachine(
    name="support complaint", model="support.Complaint", states=ComplaintStatus, error=ComplaintTransitionRefused,
    transitions={
        ComplaintStatus.REGISTERED: frozenset({ComplaintStatus.ACKNOWLEDGED, ComplaintStatus.CLOSED}),
        ComplaintStatus.ACKNOWLEDGED: frozenset({ComplaintStatus.FINAL_RESPONSE, ComplaintStatus.CLOSED}),
        ComplaintStatus.FINAL_RESPONSE: frozenset({ComplaintStatus.CLOSED}),
        ComplaintStatus.CLOSED: frozenset(),
    },
    terminal=frozenset({ComplaintStatus.CLOSED}),
    error_field="status",
    message=lambda old, new: gettext("A complaint that is %(from)s cannot become %(to)s.")
    % _labels(ComplaintStatus, old, new),
)


class ComplaintSequence(models.Model):
    """The last complaint number of a brand's year; locked (select_for_update) to number the next,
    so that a number is never given twice nor reused."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["brand", "year"], name="support_complaint_sequence_per_brand_year"),
        ]

    def __str__(self) -> str:
        return f"{self.brand_id}/{self.year}: {self.last}"


# --- inbound mail ------------------------------------------------------------------------------------

class MailboxKind(models.TextChoices):
    WEBHOOK = "webhook", _("Inbound-mail webhook")
    IMAP = "imap", _("IMAP polling")


class InboundMailbox(models.Model):
    """Where a desk's mail comes from: a provider's inbound webhook (signed with the secret) or an
    IMAP mailbox polled for new messages (from `last_uid`). Secrets are encrypted (CIPHER)."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    desk = models.ForeignKey(SupportDesk, on_delete=models.PROTECT, related_name="mailboxes")
    kind = models.CharField(_("kind"), max_length=10, choices=MailboxKind.choices)
    imap_host = models.CharField(_("IMAP host"), max_length=200, blank=True)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_username = models.CharField(_("IMAP user"), max_length=200, blank=True)
    imap_password_encrypted = models.TextField(blank=True, editable=False)
    folder = models.CharField(_("folder"), max_length=200, default="INBOX")
    last_uid = models.PositiveBigIntegerField(default=0)
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    active = models.BooleanField(_("active"), default=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["desk_id", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} mailbox of desk {self.desk_id}"

    def set_secrets(self, *, imap_password: str | None = None, webhook_secret: str | None = None) -> None:
        if imap_password is not None:
            self.imap_password_encrypted = CIPHER.encrypt(imap_password) if imap_password else ""
        if webhook_secret is not None:
            self.webhook_secret_encrypted = CIPHER.encrypt(webhook_secret) if webhook_secret else ""

    set_secrets.alters_data = True  # type: ignore[attr-defined]  # Django's mark for templates, unknown to typeshed

    def imap_password(self) -> str:
        return CIPHER.decrypt(self.imap_password_encrypted) if self.imap_password_encrypted else ""

    def webhook_secret(self) -> str:
        return CIPHER.decrypt(self.webhook_secret_encrypted) if self.webhook_secret_encrypted else ""


class InboundOutcome(models.TextChoices):
    TICKET_CREATED = "ticket_created", _("Opened a ticket")
    THREADED = "threaded", _("Added to its ticket")
    REOPENED = "reopened", _("Reopened its ticket")
    NEW_AFTER_CLOSED = "new_after_closed", _("Opened a new ticket (its ticket closed long ago)")
    AUTO_REPLY_IGNORED = "auto_reply_ignored", _("Automatic reply: ignored")
    LOOP_IGNORED = "loop_ignored", _("Mail loop: ignored")
    TOO_LARGE = "too_large", _("Too large: refused")
    REJECTED = "rejected", _("Refused")


class InboundEmail(models.Model):
    """One message received by a mailbox and what became of it. `message_id` is unique: a message
    delivered twice (a webhook retried, a poll repeated) is taken once."""

    mailbox = models.ForeignKey(InboundMailbox, on_delete=models.PROTECT, related_name="emails")
    message_id = models.CharField(max_length=998, unique=True)
    received_at = models.DateTimeField()
    from_email = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    size = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=20, choices=InboundOutcome.choices)
    reason = models.TextField(blank=True)
    ticket = models.ForeignKey(Ticket, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The message it became (named ticket_message: `message_id` is the email's Message-ID).
    ticket_message = models.ForeignKey(TicketMessage, on_delete=models.SET_NULL, null=True, blank=True,
                                       related_name="+")

    class Meta:
        ordering: ClassVar = ["-received_at", "-pk"]
        indexes: ClassVar = [models.Index(fields=["mailbox", "received_at"], name="support_inbound_by_mailbox")]

    def __str__(self) -> str:
        return self.message_id


def ticket_reference(number: int) -> str:
    """The reference of the ticket numbered `number`: "T" and at least six digits."""
    return f"T{number:06d}"


def complaint_reference(firm_code: str, year: int, number: int) -> str:
    return f"{firm_code.upper()}-{year}-{number:05d}"

