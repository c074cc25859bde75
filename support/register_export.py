"""The complaints register of a month, for the file (PDF) and for the regulator's monthly form (CSV
and XLSX): each complaint received in the month (reference, dates, category, outcome, days to
resolve, amount paid) and the counts per category, outcome and time-to-resolve band, beside the
month's active clients (trading.selectors.active_client_count: clients with a live trade deal in
the month, the figure the form asks for).

A month is the calendar month in the installation's time zone (complaints.month_bounds); a
complaint belongs to the month it was registered in. "Days to resolve" counts calendar days from
registration to the final response (or to closing, for one withdrawn before a final response); a
complaint without either is open and has none. The files are built on request, small (a month's
complaints), and each download is recorded as an export of client data (crm.services).
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy

from crm.exceptions import NotAllowed
from crm.lib.money import money_round
from crm.lib.pdf import pdf_render
from crm.models import Brand
from crm.permissions import user_can, visible_brands
from plumbing.csvsafe import SafeCsvWriter, sheet_cell
from support.complaints import EXPORT_PERMISSION, complaint_queryset_for_user, firm_code, month_bounds
from support.models import Complaint, ComplaintCategory, ComplaintOutcome

FORMATS = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

# Time-to-resolve bands (calendar days, upper bound included): the form's columns.
BANDS: tuple[tuple[str, int | None], ...] = (("0-7", 7), ("8-15", 15), ("16-30", 30), ("31-60", 60), ("61+", None))
OPEN_BAND = "open"


def band_of(days: int | None) -> str:
    if days is None:
        return OPEN_BAND
    for code, upper in BANDS:
        if upper is None or days <= upper:
            return code
    return BANDS[-1][0]


def _band_label(code: str) -> str:
    if code == OPEN_BAND:
        return gettext("Not resolved yet")
    if code.endswith("+"):
        return gettext("More than %(n)s days") % {"n": int(code[:-1]) - 1}
    low, high = code.split("-")
    return gettext("%(low)s to %(high)s days") % {"low": low, "high": high}


@dataclass(frozen=True)
class RegisterRow:
    complaint: Complaint
    complainant: str
    days_to_resolve: int | None

    @property
    def resolved_at(self) -> dt.datetime | None:
        c = self.complaint
        return c.final_response_at or c.closed_at


@dataclass(frozen=True)
class Count:
    code: str
    label: str
    count: int


@dataclass
class RegisterMonth:
    brand: Brand
    firm_code: str
    period: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime
    rows: list[RegisterRow]
    active_clients: int
    by_category: list[Count] = field(default_factory=list)
    by_outcome: list[Count] = field(default_factory=list)
    by_band: list[Count] = field(default_factory=list)
    amounts_paid: dict[str, Decimal] = field(default_factory=dict)

    @property
    def received(self) -> int:
        return len(self.rows)

    @property
    def per_thousand_active(self) -> Decimal | None:
        """Complaints received per 1,000 active clients (None without active clients)."""
        if not self.active_clients:
            return None
        return (Decimal(self.received) * 1000 / self.active_clients).quantize(Decimal("0.01"))


def _days(complaint: Complaint) -> int | None:
    end = complaint.final_response_at or complaint.closed_at
    if end is None:
        return None
    return max(0, (end - complaint.registered_at).days)


def _complainant(complaint: Complaint) -> str:
    ticket = complaint.ticket
    if ticket.client is not None:
        return ticket.client.full_name
    if ticket.partner is not None:
        return str(ticket.partner)
    return ticket.requester_name or ticket.requester_email


def register_month(*, user: Any, brand: Brand, period: dt.date) -> RegisterMonth:
    """The register of `brand` for the month of `period`, as `user` may export it (needs
    "support.export_complaint" and the brand among those they see; NotAllowed otherwise)."""
    from trading.selectors import active_client_count

    if not user_can(user, EXPORT_PERMISSION) or not (
            user.is_administrator or user.all_brands or visible_brands(user).filter(pk=brand.pk).exists()):
        raise NotAllowed(gettext("You are not allowed to export the complaints register."))
    start, end = month_bounds(period)
    qs = (complaint_queryset_for_user(user).filter(brand=brand, registered_at__gte=start, registered_at__lt=end)
          .order_by("registered_at", "pk"))
    rows = [RegisterRow(complaint=c, complainant=_complainant(c), days_to_resolve=_days(c)) for c in qs]
    month = RegisterMonth(brand=brand, firm_code=firm_code(brand), period=period.replace(day=1), starts_at=start,
                          ends_at=end, rows=rows,
                          active_clients=active_client_count(brand_id=brand.pk, start=start, end=end))
    categories = Counter(r.complaint.category for r in rows)
    month.by_category = [Count(str(code), str(label), categories.get(code, 0))
                         for code, label in ComplaintCategory.choices]
    outcomes = Counter(r.complaint.outcome or OPEN_BAND for r in rows)
    month.by_outcome = [*(Count(str(code), str(label), outcomes.get(code, 0)) for code, label in ComplaintOutcome.choices),
                        Count(OPEN_BAND, gettext("No outcome yet"), outcomes.get(OPEN_BAND, 0))]
    bands = Counter(band_of(r.days_to_resolve) for r in rows)
    month.by_band = [Count(code, _band_label(code), bands.get(code, 0)) for code in (*(b for b, _ in BANDS), OPEN_BAND)]
    paid: dict[str, Decimal] = {}
    for r in rows:
        c = r.complaint
        if c.amount_paid:
            paid[c.currency] = paid.get(c.currency, Decimal(0)) + c.amount_paid
    month.amounts_paid = {currency: money_round(amount, currency) for currency, amount in sorted(paid.items())}
    return month


# --- the files --------------------------------------------------------------------------------------

def filename(month: RegisterMonth, extension: str) -> str:
    return f"complaints-register-{month.brand.code}-{month.period:%Y-%m}.{extension}"


def _header() -> list[str]:
    return [gettext("Reference"), gettext("Ticket"), gettext("Complainant"), gettext("Registered"),
            gettext("Acknowledged"), gettext("Final response"), gettext("Closed"), gettext("Category"),
            gettext("Status"), gettext("Outcome"), gettext("Days to resolve"), gettext("Amount paid"),
            gettext("Currency")]


def _day(value: dt.datetime | None, *, as_text: bool) -> Any:
    if value is None:
        return ""
    local = timezone.localtime(value)
    return local.strftime("%Y-%m-%d %H:%M") if as_text else local.replace(tzinfo=None)


def _complaint_cells(row: RegisterRow, *, as_text: bool) -> list[Any]:
    c = row.complaint
    return [c.reference, c.ticket.reference, row.complainant, _day(c.registered_at, as_text=as_text),
            _day(c.acknowledged_at, as_text=as_text), _day(c.final_response_at, as_text=as_text),
            _day(c.closed_at, as_text=as_text), c.get_category_display(), c.get_status_display(),
            c.get_outcome_display() if c.outcome else "",
            "" if row.days_to_resolve is None else row.days_to_resolve,
            money_round(c.amount_paid, c.currency) if c.amount_paid is not None else "", c.currency]


def _summary(month: RegisterMonth) -> Iterator[list[Any]]:
    yield [gettext("Brand"), month.brand.name]
    yield [gettext("Firm code"), month.firm_code]
    yield [gettext("Month"), f"{month.period:%Y-%m}"]
    yield [gettext("Active clients in the month"), month.active_clients]
    yield [gettext("Complaints received"), month.received]
    per = month.per_thousand_active
    yield [gettext("Complaints per 1,000 active clients"), per if per is not None else ""]
    for currency, amount in month.amounts_paid.items():
        yield [gettext("Amount paid (%(currency)s)") % {"currency": currency}, amount]
    for title, counts in ((gettext("By category"), month.by_category), (gettext("By outcome"), month.by_outcome),
                          (gettext("By time to resolve"), month.by_band)):
        yield []
        yield [title, gettext("Complaints")]
        for count in counts:
            yield [count.label, count.count]


def register_csv(month: RegisterMonth) -> tuple[str, bytes]:
    """One CSV: the summary and counts, a blank line, then a row per complaint."""
    stream = io.StringIO()
    writer = SafeCsvWriter(stream)
    writer.writerows(_summary(month))
    writer.writerow([])
    writer.writerow(_header())
    for row in month.rows:
        writer.writerow(_complaint_cells(row, as_text=True))
    return filename(month, "csv"), stream.getvalue().encode("utf-8-sig")


def register_xlsx(month: RegisterMonth) -> tuple[str, bytes]:
    """Two sheets: "Complaints" (a row each, real dates and numbers) and "Summary" (the counts)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=gettext("Complaints")[:31])
    sheet.append([sheet_cell(v) for v in _header()])
    for row in month.rows:
        sheet.append([sheet_cell(v) for v in _complaint_cells(row, as_text=False)])
    summary = book.create_sheet(title=gettext("Summary")[:31])
    for cells in _summary(month):
        summary.append([sheet_cell(v) for v in cells])
    stream = io.BytesIO()
    book.save(stream)
    return filename(month, "xlsx"), stream.getvalue()


def register_pdf(month: RegisterMonth) -> tuple[str, bytes]:
    return filename(month, "pdf"), pdf_render("support/register_pdf.html", {
        "month": month, "printed_at": timezone.now(),
        "title": pgettext_lazy("document title", "Complaints register")})


def register_file(month: RegisterMonth, fmt: str) -> tuple[str, bytes, str]:
    """(file name, bytes, content type) of the register in `fmt` (pdf, csv or xlsx)."""
    builders = {"pdf": register_pdf, "csv": register_csv, "xlsx": register_xlsx}
    name, body = builders[fmt](month)
    return name, body, FORMATS[fmt]
