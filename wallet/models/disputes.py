"""Payment disputes: a provider's retrieval request or chargeback on a confirmed deposit, worked by
finance as a case with a deadline, evidence and an outcome (wallet.disputes has the services).

    open --gather--> evidence_gathering --represent--> represented --won--> won
    open | evidence_gathering --represent--> represented --lost--> lost
    open | evidence_gathering --accept--> accepted (lost without a fight)
    open | evidence_gathering | represented --won / lost (the provider's word)--> won | lost

A retrieval request escalated by the chargeback that follows it stays the same dispute (its kind
becomes chargeback, and a represented one goes back to evidence gathering through the "escalate"
route). The table is ``DISPUTE_STATES`` (crm.lib.states); each move leaves a ``DisputeStep`` row.
Only wallet.disputes writes these tables.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.money import CurrencyField, Money, MoneyAmountField, amount_format
from crm.lib.states import StateMachine, history_writer
from wallet.exceptions import DisputeRefused


class DisputeKind(models.TextChoices):
    RETRIEVAL_REQUEST = "retrieval_request", _("Retrieval request")
    CHARGEBACK = "chargeback", _("Chargeback")
    PRE_ARBITRATION = "pre_arbitration", _("Pre-arbitration")


class DisputeStatus(models.TextChoices):
    OPEN = "open", _("Open")
    EVIDENCE_GATHERING = "evidence_gathering", _("Gathering evidence")
    REPRESENTED = "represented", _("Represented")
    ACCEPTED = "accepted", _("Accepted")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


D = DisputeStatus
DISPUTE_TRANSITIONS: dict[str, frozenset[str]] = {
    D.OPEN: frozenset({D.EVIDENCE_GATHERING, D.REPRESENTED, D.ACCEPTED, D.WON, D.LOST}),
    D.EVIDENCE_GATHERING: frozenset({D.REPRESENTED, D.ACCEPTED, D.WON, D.LOST}),
    D.REPRESENTED: frozenset({D.WON, D.LOST}),
    D.ACCEPTED: frozenset(),
    D.WON: frozenset(),
    D.LOST: frozenset(),
}
DISPUTE_TERMINAL = frozenset({D.ACCEPTED, D.WON, D.LOST})
OPEN_DISPUTE_STATUSES = frozenset({D.OPEN, D.EVIDENCE_GATHERING, D.REPRESENTED})


class Dispute(models.Model):
    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    deposit = models.ForeignKey("wallet.Deposit", on_delete=models.PROTECT, related_name="disputes")
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="+")
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    provider = models.ForeignKey("wallet.PaymentProvider", on_delete=models.PROTECT, related_name="+")
    method = models.CharField(_("method"), max_length=20)  # the deposit's, kept for the ratio per method
    kind = models.CharField(_("kind"), max_length=20, choices=DisputeKind.choices)
    status = models.CharField(_("status"), max_length=20, choices=DisputeStatus.choices, default=DisputeStatus.OPEN)
    reason_code = models.CharField(_("reason code"), max_length=40, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    provider_ref = models.CharField(_("provider's reference"), max_length=200, blank=True)
    amount = MoneyAmountField(_("amount"))
    currency = CurrencyField(_("currency"))
    due_at = models.DateTimeField(_("provider's deadline"))
    received_at = models.DateTimeField(_("received"))
    # The money set aside on the client's wallet while the chargeback is open (none for a retrieval request).
    hold = models.ForeignKey("wallet.LedgerHold", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    represented_at = models.DateTimeField(_("represented"), null=True, blank=True)
    represented_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="+")
    representment_note = models.TextField(_("representment"), blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    outcome_note = models.CharField(_("outcome"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["due_at", "id"]
        permissions: ClassVar = [("manage_dispute", "Can work payment disputes (evidence, representment, outcome)")]
        constraints: ClassVar = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="dispute_amount_positive"),
            # One case per deposit: a chargeback after a retrieval request escalates the same case.
            models.UniqueConstraint(fields=["deposit"], name="dispute_one_per_deposit"),
        ]
        indexes: ClassVar = [
            # The queue: the open cases by deadline.
            models.Index(fields=["due_at"], name="dispute_open_due_idx",
                         condition=Q(status__in=["open", "evidence_gathering", "represented"])),
            models.Index(fields=["provider", "received_at"], name="dispute_provider_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {amount_format(self.amount, self.currency)} ({self.status})"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency).quantize()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_DISPUTE_STATUSES


class DisputeStep(models.Model):
    """Append-only: each move of a dispute (and each piece of evidence added), with who, when and why."""

    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="steps")
    action = models.CharField(max_length=40)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_status} → {self.to_status}"


class DisputeEvidence(models.Model):
    """A file finance attached to a dispute, kept in the private store (wallet.disputes), never changed."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="evidence")
    title = models.CharField(_("title"), max_length=200)
    storage_name = models.CharField(max_length=80)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["added_at", "id"]

    def __str__(self) -> str:
        return self.title


def _refused(old: str, new: str) -> str:
    return gettext("A dispute that is %(now)s cannot become %(to)s.") % {
        "now": DisputeStatus(old).label, "to": DisputeStatus(new).label}


DISPUTE_STATES = StateMachine(
    name="dispute", model="wallet.Dispute", states=DisputeStatus, transitions=DISPUTE_TRANSITIONS,
    terminal=DISPUTE_TERMINAL, routes={"escalate": {D.REPRESENTED: frozenset({D.EVIDENCE_GATHERING})}},
    record=history_writer(DisputeStep, owner="dispute", stamp=None),
    error=DisputeRefused, message=_refused,
)
