"""The reporting hub's read models and report schedules.

The dashboards never scan deals or ledger rows on a page view: they read `DailyFigure` and
`DailyTrader`, kept up by the domain-event handlers (reports.handlers: money events, as they arrive),
by the refresh of the days whose deals the sync touched (reports.readmodel.deals_refresh, every
minute by beat) and rebuilt nightly (reports.readmodel.rebuild); a rebuild gives the same rows as
the incremental path (tests/reports/test_readmodel.py).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class DailyFigure(models.Model):
    """One figure of one UTC day, brand, desk (0: none) and currency ('' for what has none: lots,
    counts), by one dimension (provider, country, campaign, agent, symbol, platform, method) and
    its key. Amounts of different currencies are different rows: nothing here is summed across
    currencies."""

    day = models.DateField()
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+", db_index=False)
    desk_id = models.BigIntegerField(default=0)  # the client's desk when counted; 0 for none
    currency = models.CharField(max_length=12, blank=True)
    metric = models.CharField(max_length=24)
    dimension = models.CharField(max_length=16)
    key = models.CharField(max_length=100, blank=True)
    amount = models.DecimalField(max_digits=28, decimal_places=8, default=0)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            # The handlers' upsert adds to this one row; a rebuild replaces it.
            models.UniqueConstraint(fields=["brand", "day", "metric", "dimension", "desk_id", "currency", "key"],
                                    name="reports_dailyfigure_one_row"),
        ]
        indexes: ClassVar = [models.Index(fields=["metric", "day"], name="reports_figure_metric_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.metric}/{self.dimension}={self.key} {self.amount} {self.currency}"


class DailyTrader(models.Model):
    """A client who made a trade deal on a UTC day (active traders over any period: distinct
    clients over these rows, one per client and day, far fewer than deals)."""

    day = models.DateField()
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+", db_index=False)
    desk_id = models.BigIntegerField(default=0)
    client_id = models.BigIntegerField()

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["brand", "day", "client_id"],
                                                         name="reports_dailytrader_one_row")]

    def __str__(self) -> str:
        return f"{self.day} client {self.client_id}"


# Clients per bitmap row of TraderBitmap: a client's bit is `client_id % TRADER_CHUNK` of the row of
# chunk `client_id // TRADER_CHUNK` (1 KiB of bits: stored inline, uncompressed, and cheap to OR).
TRADER_CHUNK = 8192
# The desk_id of a TraderBitmap row holding every desk of its brand (the OR of the brand's desk rows
# of the day, written beside them): a reader of all desks ORs a sixth of the rows.
ALL_DESKS = -1


class BitStringField(models.Field[Any, Any]):
    """A fixed-length PostgreSQL bit string (`bit(n)`), read and written only by SQL (bit_or,
    bit_count, set_bit): Python never holds one."""

    def __init__(self, *args: Any, length: int = TRADER_CHUNK, **kwargs: Any) -> None:
        self.length = length
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.length != TRADER_CHUNK:
            kwargs["length"] = self.length
        return name, path, args, kwargs

    def db_type(self, connection: Any) -> str:
        return f"bit({self.length})"


class TraderBitmap(models.Model):
    """The clients who made a trade deal on a UTC day, brand and desk, as bits: one row per chunk
    of TRADER_CHUNK client ids. Active traders over any period are then one bit_or per chunk over the
    period's rows and a bit_count: exact (a client trading on many days, or under two desks, is one
    bit) and as cheap at a million clients as at a thousand, where distinct client ids over
    DailyTrader's rows grow with clients x days. Written beside DailyTrader by the same refresh and
    rebuild (reports.readmodel), with a row per brand, day and chunk for all its desks (ALL_DESKS)."""

    day = models.DateField()
    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+", db_index=False)
    desk_id = models.BigIntegerField(default=0)
    chunk = models.IntegerField()
    bits = BitStringField()

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["brand", "day", "desk_id", "chunk"],
                                                         name="reports_traderbitmap_one_row")]
        indexes: ClassVar = [models.Index(fields=["day"], name="reports_traderbitmap_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} traders of chunk {self.chunk}"


class FloatingFigure(models.Model):
    """The clients' open positions as the trading sync last polled them, summed per brand, desk,
    account currency, book of the group ('a', 'b', '': not stated) and symbol: floating P/L is a
    figure of now, not of a day. Replaced whole by each refresh (reports.readmodel.floating_refresh,
    every minute by beat)."""

    brand = models.ForeignKey("crm.Brand", on_delete=models.CASCADE, related_name="+", db_index=False)
    desk_id = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=12)
    book = models.CharField(max_length=1, blank=True)
    symbol = models.CharField(max_length=32)
    profit = models.DecimalField(max_digits=28, decimal_places=8)
    swap = models.DecimalField(max_digits=28, decimal_places=8)
    positions = models.BigIntegerField()
    lots = models.DecimalField(max_digits=28, decimal_places=8)
    at = models.DateTimeField()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["brand", "desk_id", "currency", "book", "symbol"],
                                    name="reports_floating_one_row"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.book} {self.profit} {self.currency}"


class AppliedEvent(models.Model):
    """A money event already counted in DailyFigure (by its handler or by a rebuild): the one
    that comes second skips it, so an event is never counted twice."""

    event_id = models.BigIntegerField(primary_key=True)

    def __str__(self) -> str:
        return f"event {self.event_id}"


class ReadModelMark(models.Model):
    """How far a refresh has read (the deals' updated_at watermark)."""

    name = models.CharField(max_length=40, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at}"


class Frequency(models.TextChoices):
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly (Mondays)")
    MONTHLY = "monthly", _("Monthly (the 1st)")


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"
    PDF = "pdf", "PDF"


class ReportSchedule(models.Model):
    """A report sent by email to staff on a schedule, built with its owner's scope."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    report = models.CharField(_("report"), max_length=40)
    params = models.JSONField(default=dict, blank=True)
    frequency = models.CharField(_("frequency"), max_length=8, choices=Frequency.choices)
    export_format = models.CharField(_("format"), max_length=4, choices=ExportFormat.choices,
                                     default=ExportFormat.PDF)
    recipients = models.JSONField(default=list)  # staff emails
    owner = models.ForeignKey("crm.User", on_delete=models.CASCADE, related_name="+")
    is_active = models.BooleanField(default=True)
    last_sent_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["report", "id"]

    def __str__(self) -> str:
        return f"{self.report} {self.frequency}"


class DeliveryStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class ReportDelivery(models.Model):
    """One sending of a scheduled report: when, to whom, which file, and how it went."""

    schedule = models.ForeignKey(ReportSchedule, on_delete=models.CASCADE, related_name="deliveries")
    period_start = models.DateField()
    period_end = models.DateField()
    at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices)
    recipients = models.JSONField(default=list)
    filename = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering: ClassVar = ["-at", "-id"]
        constraints: ClassVar = [
            # A schedule sends a period once, even when beat's task runs twice.
            models.UniqueConstraint(fields=["schedule", "period_start", "period_end"],
                                    condition=Q(status="sent"), name="reports_delivery_once_per_period"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} {self.period_start}–{self.period_end} {self.status}"
