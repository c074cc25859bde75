"""A partner's commission statement for one month, as a PDF: what the partner downloads from the
partner portal and the IB manager from the partner's page, built by one function from the same
selectors both pages show (ib.selectors.partner_lines: the lines of the period's latest finished
regular run) and the run's totals (ib.models.CommissionTotal: the payable rounded once, half to
even, the carry, the cap, what was settled and the difference still due). Nothing is summed or
rounded differently here than on the pages: the groups are sums of unrounded lines, shown rounded
for reading; the figure that is paid is the run's total."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext

from crm.exceptions import ValidationFailed
from crm.lib.money import money_round
from crm.lib.pdf import pdf_render
from crm.models import Client
from ib import selectors
from ib.models import CommissionRun, CommissionSettlement, CommissionTotal, Partner, RunKind, RunStatus
from trading.selectors import account_logins


@dataclass(frozen=True)
class StatementGroup:
    """The partner's lines of one client account (or client, for CPA and chargebacks) under one rule."""

    client_name: str
    account_login: int | None
    source_kind: str
    rule_code: str
    level: int
    lines: int
    basis: Decimal  # lots for per-lot rules, revenue for revenue share, the count of CPA events
    amount: Decimal  # the sum of the unrounded lines
    currency: str


@dataclass(frozen=True)
class StatementTotal:
    currency: str
    gross: Decimal
    carry_in: Decimal
    capped: Decimal
    payable: Decimal
    carry_out: Decimal
    settled: Decimal
    delta: Decimal


@dataclass(frozen=True)
class PartnerStatement:
    partner: Partner
    period: dt.date
    run: CommissionRun | None
    settled: bool  # the run's totals were settled for this partner: its lines are payable
    groups: list[StatementGroup]
    totals: list[StatementTotal]

    @property
    def filename(self) -> str:
        return f"commission-statement-{self.partner.code}-{self.period:%Y-%m}.pdf"


def statement_month(text: str) -> dt.date:
    """The month asked for as 'YYYY-MM' (the first day of it); a bad or future month is named."""
    try:
        year, month = (int(part) for part in (text or "").strip().split("-"))
        period = dt.date(year, month, 1)
    except ValueError:
        raise ValidationFailed(fields={"period": [gettext("Give the month as YYYY-MM.")]}) from None
    if period > timezone.now().date().replace(day=1):
        raise ValidationFailed(fields={"period": [gettext("That month has not started yet.")]})
    return period


def _period_run(partner: Partner, period: dt.date) -> CommissionRun | None:
    """The run whose lines count for the period (its latest finished regular run)."""
    return (CommissionRun.objects.filter(brand_id=partner.brand_id, period=period, kind=RunKind.REGULAR,
                                         status=RunStatus.DONE).order_by("-number").first())


def partner_statement(partner: Partner, period: dt.date) -> PartnerStatement:
    """The partner's statement for the month starting `period`."""
    run = _period_run(partner, period)
    rows = list(selectors.partner_lines(partner).filter(run__period=period).order_by()
                .values("account_id", "client_id", "source_kind", "rule_code", "level", "currency")
                .annotate(n=Count("id"), basis=Sum("basis"), amount=Sum("amount"))
                .order_by("client_id", "account_id", "source_kind", "rule_code", "level"))
    logins = account_logins(r["account_id"] for r in rows if r["account_id"])
    clients = Client.objects.only("first_name", "last_name").in_bulk({r["client_id"] for r in rows if r["client_id"]})
    groups = []
    for r in rows:
        client = clients.get(r["client_id"]) if r["client_id"] else None
        groups.append(StatementGroup(
            client_name=selectors.mask_name(client.first_name, client.last_name) if client else "",
            account_login=logins.get(r["account_id"]) if r["account_id"] else None, source_kind=r["source_kind"], rule_code=r["rule_code"],
            level=r["level"], lines=r["n"], basis=r["basis"], amount=r["amount"], currency=r["currency"]))
    totals = []
    if run is not None:
        for t in CommissionTotal.objects.filter(run=run, partner=partner).order_by("currency"):
            totals.append(StatementTotal(t.currency, t.gross, t.carry_in, t.capped, money_round(t.payable, t.currency),
                                         t.carry_out, money_round(t.settled, t.currency),
                                         money_round(t.delta, t.currency)))
    settled = run is not None and CommissionSettlement.objects.filter(run=run, partner=partner).exists()
    return PartnerStatement(partner=partner, period=period, run=run, settled=settled, groups=groups, totals=totals)


def partner_statement_pdf(statement: PartnerStatement) -> bytes:
    labels: dict[str, Any] = {"deal": gettext("Trades"), "cpa": gettext("Qualified client (CPA)"),
                              "chargeback": gettext("Chargeback clawback")}
    rows = [{"g": g, "source": labels.get(g.source_kind, g.source_kind),
             "amount": money_round(g.amount, g.currency)} for g in statement.groups]
    return pdf_render("ib/statement_pdf.html", {"s": statement, "rows": rows, "printed_at": timezone.now()})
