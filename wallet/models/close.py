"""The month-end close of one payment provider in one currency: the figures finance signed off
(opening, deposits, refunds, withdrawals, chargebacks, fees, other movements, closing, open
breaks), the PDF printed at that moment, who closed it and when. A row exists only once the month
is closed, and the database refuses to change or delete it (migration 0009_month_close): a closed
month is locked. Only wallet.close writes this table."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.lib.money import CurrencyField, Money, MoneyAmountField


class MonthClose(models.Model):
    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    provider = models.ForeignKey("wallet.PaymentProvider", on_delete=models.PROTECT, related_name="month_closes")
    currency = CurrencyField(_("currency"))
    period = models.DateField(_("month"), help_text=_("The first day of the month closed."))
    # The month's bounds in the brokerage's time zone, as instants; movements belong to a month by
    # their business time (the transaction's occurred_at) and were known by `closed_at`.
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    opening = MoneyAmountField(_("opening"))
    closing = MoneyAmountField(_("closing"))
    # Every line of the report as decimal text and counts (wallet.close.CloseFigures.as_json).
    figures = models.JSONField()
    open_breaks = models.PositiveIntegerField(_("open breaks"))
    pdf = models.BinaryField()
    pdf_sha256 = models.CharField(max_length=64)
    closed_at = models.DateTimeField(_("closed at"))
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering: ClassVar = ["-period", "provider__name", "currency"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["provider", "currency", "period"], name="monthclose_one_per_month"),
            models.CheckConstraint(condition=Q(period__day=1), name="monthclose_period_first_day"),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="monthclose_bounds_ordered"),
        ]
        permissions: ClassVar = [("close_month", "Close a month of a payment provider")]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.currency} {self.period:%Y-%m}"

    @property
    def opening_money(self) -> Money:
        return Money(self.opening, self.currency).quantize()

    @property
    def closing_money(self) -> Money:
        return Money(self.closing, self.currency).quantize()
