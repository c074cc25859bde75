"""The month-end close per payment provider and currency: what the provider held for the
brokerage at the start of the month, what moved through it, what it holds at the end, and the
reconciliation breaks still open, signed off by finance and then locked.

Where the figures come from: the provider's clearing accounts in the currency (one per brand,
wallet.ledger.clearing_account_for). The clearing account is an asset (debit-normal), so every
figure here is shown the way an accountant reads it: what the provider owes the brokerage is
positive, a deposit adds to it, a withdrawal paid out or a chargeback takes from it.

Which month a movement belongs to: its business time (the transaction's `occurred_at`: the
provider's confirmation, the payout's time), in the brokerage's time zone. A month is closed with
what the ledger knew at that moment (legs recorded up to `closed_at`); news about a closed month
that arrives later never changes it: it is shown in the next month as "late entries for earlier
months". So the opening of a month is the closing of the month before (when that one is closed)
and every close ties: opening + movements = closing, and closing equals the clearing accounts'
balance over everything that happened before the month's end and was known at the close.

Months close in order: once a month is closed, the next close is the month after it. The first
close of a provider and currency may be any ended month; everything before it is its opening.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, pgettext_lazy

from crm.audit import audit_record
from crm.exceptions import NotFound, ValidationFailed
from crm.lib.money import Money, currency_normalise
from crm.lib.pdf import pdf_render
from plumbing.csvsafe import SafeCsvWriter, SafeXlsxWriter
from plumbing.sqlfiles import sql_text
from wallet.exceptions import MonthNotClosable
from wallet.models import AccountKind, LedgerAccount, MonthClose, PaymentProvider

logger = logging.getLogger(__name__)

CLOSE_PERMISSION = "wallet.close_month"
VIEW_PERMISSION = "wallet.view_monthclose"

# The report's lines, in order. `sign` turns the clearing accounts' signed sum (credit positive)
# into the accountant's reading (what the provider owes the brokerage, positive).
CATEGORIES: tuple[tuple[str, Any], ...] = (
    ("deposits", gettext_lazy("Deposits")),
    ("refunds", gettext_lazy("Refunds")),
    ("withdrawals", gettext_lazy("Withdrawals paid out")),
    ("chargebacks", gettext_lazy("Chargebacks")),
    ("other", gettext_lazy("Other movements and adjustments")),
    ("late", gettext_lazy("Late entries for earlier months")),
)

@dataclass(frozen=True)
class CloseLine:
    key: str
    label: Any
    amount: Money
    count: int


@dataclass
class CloseFigures:
    """One provider's month in one currency: closed (from the stored row) or as it stands now."""

    provider: PaymentProvider
    currency: str
    period: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime
    opening: Money
    lines: list[CloseLine]
    fees: Money  # fees charged to clients on this provider's movements (the brand's fee accounts)
    closing: Money
    open_breaks: int | None  # at the cutoff: the close's stored count; None only in a close stored without it
    cutoff: dt.datetime
    closed: MonthClose | None = None
    previous: MonthClose | None = None
    problems: list[str] = field(default_factory=list)  # why it cannot be closed now, if it cannot
    # The breaks of the month (and earlier ones) open now, counted live: for a closed month it may
    # differ from `open_breaks`, what was open at the close (a break found or resolved since).
    open_breaks_now: int | None = None
    now: dt.datetime | None = None  # when `open_breaks_now` was counted

    @property
    def movements(self) -> Money:
        return sum((line.amount for line in self.lines), Money.zero(self.currency))

    @property
    def ties(self) -> bool:
        return (self.opening + self.movements).quantize() == self.closing.quantize()

    def as_json(self) -> dict[str, Any]:
        return {"opening": self.opening.text(), "closing": self.closing.text(), "fees": self.fees.text(),
                "lines": {line.key: {"amount": line.amount.text(), "count": line.count} for line in self.lines},
                "open_breaks": self.open_breaks, "cutoff": self.cutoff.isoformat(),
                "previous": str(self.previous.code) if self.previous else None}


def month_start(value: dt.date) -> dt.date:
    return value.replace(day=1)


def _next_month(period: dt.date) -> dt.date:
    return (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _previous_month(period: dt.date) -> dt.date:
    return (period - dt.timedelta(days=1)).replace(day=1)


def month_bounds(period: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The month's first instant and the next month's, in the brokerage's time zone."""
    zone = timezone.get_default_timezone()
    start = dt.datetime.combine(period, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(_next_month(period), dt.time(), tzinfo=zone)
    return start, end


def period_parse(text: str) -> dt.date:
    """'2026-10' as the month's first day; a clear error otherwise."""
    try:
        year, month = text.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError(text)
        return dt.date(int(year), int(month), 1)
    except ValueError:
        raise ValidationFailed(fields={"period": [gettext("Give the month as YYYY-MM, for example 2026-10.")]}) from None


def clearing_account_ids(provider: PaymentProvider, currency: str) -> list[int]:
    return list(LedgerAccount.objects.filter(kind=AccountKind.PSP_CLEARING, owner_ref=provider.code,
                                             currency=currency).values_list("pk", flat=True))


def close_currencies(provider: PaymentProvider) -> list[str]:
    """The currencies the provider has moved money in (it has a clearing account in them)."""
    return sorted(set(LedgerAccount.objects.filter(kind=AccountKind.PSP_CLEARING, owner_ref=provider.code)
                      .values_list("currency", flat=True)))


def last_closed(provider: PaymentProvider, currency: str) -> MonthClose | None:
    return MonthClose.objects.filter(provider=provider, currency=currency).order_by("-period").first()


def open_breaks_count(provider: PaymentProvider, currency: str, *, until: dt.datetime, month_end: dt.datetime) -> int:
    """Reconciliation breaks of this provider and currency about movements dated up to the month's
    end (the month's and earlier ones: what its figures may still be wrong by) still open at `until`.
    Breaks of later months are not the month's."""
    from wallet.reconciliation import open_breaks_summary

    return sum(row.count for row in open_breaks_summary(as_of=until.date(), occurred_before=month_end.date())
               if row.provider == provider.code and row.currency == currency)


def _sums(params: dict[str, Any]) -> tuple[dict[str, tuple[Decimal, int]], Decimal]:
    """Per category: the clearing legs' signed sum and the number of transactions; and the fees
    charged to clients in the same transactions."""
    with connection.cursor() as cursor:
        cursor.execute(sql_text("wallet", "close/sums"), params)
        sums = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
        cursor.execute(sql_text("wallet", "close/fees"), {**params, "fees_kind": AccountKind.FEES})
        fees = cursor.fetchone()[0]
    return sums, fees


def _balance_before(accounts: list[int], *, end: dt.datetime, cutoff: dt.datetime) -> Decimal:
    with connection.cursor() as cursor:
        cursor.execute(sql_text("wallet", "close/balance_before"), {"accounts": accounts, "cutoff": cutoff, "end": end})
        total: Decimal = cursor.fetchone()[0]
    return total


def month_figures(*, provider: PaymentProvider, currency: str, period: dt.date,
                  now: dt.datetime | None = None) -> CloseFigures:
    """The month's report: the stored one when the month is closed, else as the ledger stands now
    (with the reasons it cannot be closed yet in `problems`)."""
    currency = currency_normalise(currency)
    period = month_start(period)
    now = now or timezone.now()
    start, end = month_bounds(period)
    stored = MonthClose.objects.filter(provider=provider, currency=currency, period=period).first()
    if stored is not None:
        figures = _from_stored(stored)
        figures.open_breaks_now = open_breaks_count(provider, currency, until=now, month_end=end)
        figures.now = now
        return figures
    accounts = clearing_account_ids(provider, currency)
    previous = MonthClose.objects.filter(provider=provider, currency=currency, period__lt=period).order_by("-period").first()
    problems: list[str] = []
    if end > now:
        problems.append(gettext("The month has not ended yet."))
    if previous is not None and previous.period != _previous_month(period):
        problems.append(gettext("Close %(month)s first: months close in order.")
                        % {"month": f"{_next_month(previous.period):%Y-%m}"})
    if MonthClose.objects.filter(provider=provider, currency=currency, period__gt=period).exists():
        problems.append(gettext("A later month is closed already."))
    chained = previous is not None and previous.period == _previous_month(period)
    previous_cutoff = previous.closed_at if chained and previous is not None else now
    if chained and previous is not None:
        opening = previous.closing_money
    else:
        opening = -Money(_balance_before(accounts, end=start, cutoff=now), currency)
    params = {"accounts": accounts, "cutoff": now, "start": start, "end": end, "previous_cutoff": previous_cutoff,
              "currency": currency}
    sums, fees = _sums(params)
    lines = [CloseLine(key, label, -Money(sums.get(key, (Decimal(0), 0))[0], currency).quantize(),
                       sums.get(key, (Decimal(0), 0))[1]) for key, label in CATEGORIES]
    closing = -Money(_balance_before(accounts, end=end, cutoff=now), currency)
    open_now = open_breaks_count(provider, currency, until=now, month_end=end)
    figures = CloseFigures(provider=provider, currency=currency, period=period, starts_at=start, ends_at=end,
                           opening=opening.quantize(), lines=lines, fees=Money(fees, currency).quantize(),
                           closing=closing.quantize(), open_breaks=open_now, open_breaks_now=open_now, now=now,
                           cutoff=now, previous=previous if chained else None, problems=problems)
    if not figures.ties:
        # Only a broken chain (a closed month whose figures no longer match the ledger) gets here.
        logger.error("month close does not tie", extra={"provider": provider.code, "currency": currency,
                                                       "period": f"{period:%Y-%m}"})
        problems.append(gettext("The opening and the movements do not add up to the closing: tell the administrator."))
    return figures


def _from_stored(row: MonthClose) -> CloseFigures:
    data = row.figures
    lines = [CloseLine(key, label, Money(Decimal(data["lines"].get(key, {}).get("amount", "0")), row.currency),
                       int(data["lines"].get(key, {}).get("count", 0))) for key, label in CATEGORIES]
    previous = MonthClose.objects.filter(code=data["previous"]).first() if data.get("previous") else None
    return CloseFigures(provider=row.provider, currency=row.currency, period=row.period, starts_at=row.starts_at,
                        ends_at=row.ends_at, opening=row.opening_money, lines=lines,
                        fees=Money(Decimal(data.get("fees", "0")), row.currency), closing=row.closing_money,
                        open_breaks=row.open_breaks if data.get("open_breaks") is not None else None,
                        cutoff=row.closed_at, closed=row, previous=previous)


def month_close(*, actor: Any, provider: PaymentProvider, currency: str, period: dt.date, note: str = "") -> MonthClose:
    """Close the month: the figures as the ledger stands, the PDF printed now, stored and locked.
    Refused (MonthNotClosable, naming why) for a month not ended, out of order, or closed already."""
    from wallet.reconciliation import providers_for_user

    if not providers_for_user(actor).filter(pk=provider.pk).exists():
        # Finance limited to brands closes only providers serving none but their brands.
        raise NotFound(gettext("No such provider."))
    currency = currency_normalise(currency)
    period = month_start(period)
    with transaction.atomic():
        # One close at a time per provider and currency: the order rule reads the other closes.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"wallet.close:{provider.pk}:{currency}"])
        if MonthClose.objects.filter(provider=provider, currency=currency, period=period).exists():
            raise MonthNotClosable(gettext("%(month)s is closed already for %(provider)s in %(currency)s.")
                                   % {"month": f"{period:%Y-%m}", "provider": provider.name, "currency": currency})
        figures = month_figures(provider=provider, currency=currency, period=period)
        if figures.problems:
            raise MonthNotClosable(" ".join(figures.problems))
        pdf = close_pdf(figures, closed_by=actor)
        try:
            row = MonthClose.objects.create(
                provider=provider, currency=currency, period=period, starts_at=figures.starts_at,
                ends_at=figures.ends_at, opening=figures.opening.amount, closing=figures.closing.amount,
                figures=figures.as_json(), open_breaks=figures.open_breaks or 0, pdf=pdf,
                pdf_sha256=hashlib.sha256(pdf).hexdigest(), closed_at=figures.cutoff, closed_by=actor, note=note)
        except IntegrityError:
            raise MonthNotClosable(gettext("%(month)s is closed already.") % {"month": f"{period:%Y-%m}"}) from None
        audit_record(action="wallet.month_closed", obj=row, actor=actor, reason=note,
                     after={"provider": provider.code, **figures.as_json(), "pdf_sha256": row.pdf_sha256})
    return row


# --- what finance downloads --------------------------------------------------------------------------

def _rows(figures: CloseFigures) -> Iterator[tuple[Any, ...]]:
    """The report as rows (label, amount, count) for CSV and XLSX."""
    yield (gettext("Provider"), figures.provider.name, "")
    yield (gettext("Currency"), figures.currency, "")
    yield (gettext("Month"), f"{figures.period:%Y-%m}", "")
    yield (gettext("Status"), gettext("Closed") if figures.closed else gettext("Draft: not closed"), "")
    yield ("", "", "")
    yield (gettext("Line"), gettext("Amount"), gettext("Transactions"))
    yield (gettext("Opening"), figures.opening.amount, "")
    for line in figures.lines:
        yield (str(line.label), line.amount.amount, line.count)
    yield (gettext("Closing"), figures.closing.amount, "")
    yield (gettext("Fees charged to clients"), figures.fees.amount, "")
    if figures.closed is not None:
        yield (gettext("Open breaks at the close"), "" if figures.open_breaks is None else figures.open_breaks, "")
    yield (gettext("Open breaks now") if figures.closed is not None else gettext("Open breaks"),
           "" if figures.open_breaks_now is None else figures.open_breaks_now, "")
    if figures.closed is not None:
        yield (gettext("Closed at"), figures.closed.closed_at, "")
        yield (gettext("Closed by"), str(figures.closed.closed_by), "")


def _filename(figures: CloseFigures, extension: str) -> str:
    return f"close-{figures.provider.code}-{figures.currency}-{figures.period:%Y-%m}.{extension}"


def close_csv(figures: CloseFigures) -> tuple[str, bytes]:
    stream = io.StringIO()
    SafeCsvWriter(stream).writerows(_rows(figures))
    return _filename(figures, "csv"), stream.getvalue().encode("utf-8-sig")


def close_xlsx(figures: CloseFigures) -> tuple[str, bytes]:
    writer = SafeXlsxWriter(sheet=f"{figures.period:%Y-%m}")
    writer.writerows(_rows(figures))
    stream = io.BytesIO()
    writer.save(stream)
    return _filename(figures, "xlsx"), stream.getvalue()


def _letterhead(provider: PaymentProvider) -> str:
    """Whose report it is: the brand the provider serves, or the installation's name for a provider
    shared by brands (its close covers all of them)."""
    from crm.models import Brand
    from wallet.reconciliation import provider_brand

    brand_id = provider_brand(provider)
    name = Brand.objects.filter(pk=brand_id).values_list("name", flat=True).first() if brand_id else None
    return name or settings.CRM_SITE_NAME


def breaks_url(figures: CloseFigures) -> str:
    """The breaks queue showing the breaks `open_breaks_now` counts: open, of this provider and
    currency, dated up to the month's last day."""
    from urllib.parse import urlencode

    from django.urls import reverse

    last_day = timezone.localtime(figures.ends_at).date() - dt.timedelta(days=1)
    return reverse("wallet_recon_breaks") + "?" + urlencode({
        "provider": figures.provider.code, "currency": figures.currency, "until": last_day.isoformat()})


def close_pdf(figures: CloseFigures, *, closed_by: Any = None) -> bytes:
    """The report as a PDF printed now: at the close (`closed_by`: who closes it), a draft, or a
    closed month reprinted, with the breaks open at the close (stored) beside those open now."""
    from crm.lib.public_url import public_url

    return pdf_render("wallet/close/report_pdf.html", {
        "figures": figures, "closed_by": closed_by, "printed_at": timezone.now(),
        "letterhead": _letterhead(figures.provider), "breaks_url": public_url(breaks_url(figures)),
        "title": pgettext_lazy("document title", "Month-end close")})


def close_pdf_download(figures: CloseFigures) -> tuple[str, bytes]:
    """The PDF signed off at the close (the stored bytes, whose SHA-256 the close keeps), or a
    draft printed now. The signed-off PDF counts the breaks open at the close; `close_pdf_now`
    prints its figures again beside the breaks open now."""
    if figures.closed is not None:
        return _filename(figures, "pdf"), bytes(figures.closed.pdf)
    return _filename(figures, "pdf").replace("close-", "draft-close-"), close_pdf(figures)


def close_pdf_now(figures: CloseFigures) -> tuple[str, bytes]:
    """The report printed now: a closed month's signed-off figures with the breaks open at the
    close (stored) and those open now (counted live), or a draft."""
    if figures.closed is None:
        return close_pdf_download(figures)
    day = timezone.localdate().isoformat()
    return _filename(figures, "pdf").replace(".pdf", f"-as-of-{day}.pdf"), close_pdf(figures)
