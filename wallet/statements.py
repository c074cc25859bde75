"""A client's wallet statement for a period, in one currency: the opening balance, every movement
with the balance after it, the closing balance, as a PDF the client downloads from the trader's
room and finance from the client's Wallet tab. Read from the ledger's legs (wallet.ledger
statement_lines), by the moment the ledger recorded them, so a statement printed twice for a past
period is the same statement."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from crm.exceptions import ValidationFailed
from crm.lib.dates import date_range_parse
from crm.lib.money import Money, currency_normalise
from crm.lib.pdf import pdf_render
from crm.lib.validation import InvalidValue
from wallet.ledger import StatementLine, statement_lines
from wallet.models import AccountKind, LedgerAccount

MAX_DAYS = 366
KIND_LABELS: dict[str, Any] = {
    "deposit": gettext_lazy("Deposit"),
    "deposit_refund": gettext_lazy("Refund"),
    "withdrawal": gettext_lazy("Withdrawal"),
    "chargeback": gettext_lazy("Chargeback"),
    "chargeback_fee": gettext_lazy("Chargeback fee"),
    "reversal": gettext_lazy("Reversal"),
    "conversion": gettext_lazy("Currency conversion"),
    "transfer": gettext_lazy("Transfer"),
    "ib_payout": gettext_lazy("Partner payout"),
}


@dataclass(frozen=True)
class Statement:
    client: Any
    currency: str
    start: dt.date
    end: dt.date
    opening: Money
    lines: list[StatementLine]
    closing: Money

    @property
    def money_in(self) -> Money:
        return sum((x.amount for x in self.lines if x.amount.amount > 0), Money.zero(self.currency)).quantize()

    @property
    def money_out(self) -> Money:
        return sum((x.amount for x in self.lines if x.amount.amount < 0), Money.zero(self.currency)).quantize()

    @property
    def filename(self) -> str:
        return f"statement-{self.client.code}-{self.currency}-{self.start:%Y%m%d}-{self.end:%Y%m%d}.pdf"


def kind_label(kind: str) -> str:
    label = KIND_LABELS.get(kind) or KIND_LABELS.get(kind.split("_", 1)[0])
    return str(label) if label else kind.replace("_", " ")


def statement_period(start_text: str, end_text: str) -> tuple[dt.date, dt.date]:
    """The period asked for ('YYYY-MM-DD' each; empty: this month to today), checked by the one date
    range reader (crm.lib.dates): a date out of range (9999-12-31) is named, never an overflow."""
    today = timezone.localdate()
    try:
        start, end = date_range_parse(start_text, end_text, default_start=today.replace(day=1), default_end=today)
    except InvalidValue as error:
        raise ValidationFailed(fields={error.field: [error.message]}) from None
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed(fields={"to": [gettext("A statement covers at most a year.")]})
    return start, end


def statement_build(*, client: Any, currency: str, start: dt.date, end: dt.date) -> Statement:
    """The client's wallet statement in `currency` from the start of `start` to the end of `end`
    (the brokerage's time zone). A currency without a wallet gives an empty statement at zero."""
    currency = currency_normalise(currency)
    zone = timezone.get_default_timezone()
    since = dt.datetime.combine(start, dt.time(), tzinfo=zone)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=zone) - dt.timedelta(microseconds=1)
    account = LedgerAccount.objects.filter(kind=AccountKind.CLIENT_WALLET, client=client, currency=currency).first()
    if account is None:
        zero = Money.zero(currency)
        return Statement(client=client, currency=currency, start=start, end=end, opening=zero, lines=[], closing=zero)
    opening, lines = statement_lines(account, start=since, end=until)
    closing = lines[-1].running_balance if lines else opening
    return Statement(client=client, currency=currency, start=start, end=end, opening=opening.quantize(),
                     lines=lines, closing=closing.quantize())


def statement_pdf(statement: Statement) -> bytes:
    rows = [{"at": line.recorded_at, "kind": kind_label(line.transaction.kind), "amount": line.amount.quantize(),
             "balance": line.running_balance.quantize(), "reference": str(line.transaction.code)[:8]}
            for line in statement.lines]
    return pdf_render("wallet/statement_pdf.html", {"s": statement, "rows": rows, "printed_at": timezone.now()})
