"""A provider's dispute report: the chargebacks and retrieval requests a provider lists in a file (its
back office's CSV or XLSX export) instead of, or as well as, notifying them one by one. Each row opens
the deposit's dispute case through ``wallet.disputes.dispute_open``, exactly as a provider's webhook
does: the amount held on the client's wallet, the case in finance's queue, the events and the audit.

The whole file is checked first and nothing is written while one row is wrong: every problem is
named by its row and column. Importing the same report again changes nothing (a deposit has one
case, which a repeated row finds); a chargeback row for a deposit whose retrieval request was
imported before escalates that case. The columns (a header row, names in any case, the first name of
each list is the documented one):

- ``reference``: the provider's id of the disputed payment, or the CRM's merchant reference (the
  deposit's ``merchant_ref``). Also read from: transaction_id, payment_id, provider_ref, merchant_ref.
- ``kind``: chargeback, retrieval_request or pre_arbitration; also "first chargeback", "retrieval",
  "RFI", "request for information", "pre-arbitration", "second chargeback" in any case.
- ``amount`` and ``currency`` (optional, both or neither): what is disputed, at most what is left of
  the deposit; without them, all that is left of it.
- ``reason_code``, ``reason``, ``due_date`` (the provider's deadline, YYYY-MM-DD or an ISO time; a day
  means the end of that day UTC; without it, the CRM's default), ``case_id`` (the provider's
  reference of the dispute): optional.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.exceptions import ValidationFailed
from crm.lib.money import Money, MoneyError, money_parse
from plumbing.tables import TableUnreadable, cell_date_text, text_decode, xlsx_rows
from wallet.disputes import dispute_open
from wallet.models import Deposit, DepositStatus, Dispute, DisputeKind, PaymentProvider

MAX_ROWS = 20_000

COLUMNS: dict[str, tuple[str, ...]] = {
    "reference": ("reference", "transaction_id", "payment_id", "provider_ref", "merchant_ref"),
    "kind": ("kind", "type", "dispute_type"),
    "amount": ("amount", "disputed_amount"),
    "currency": ("currency",),
    "reason_code": ("reason_code",),
    "reason": ("reason", "reason_description"),
    "due_date": ("due_date", "deadline", "respond_by"),
    "case_id": ("case_id", "dispute_id", "case_number"),
}

KIND_WORDS: dict[str, str] = {
    "chargeback": DisputeKind.CHARGEBACK, "first chargeback": DisputeKind.CHARGEBACK,
    "first_chargeback": DisputeKind.CHARGEBACK, "cb": DisputeKind.CHARGEBACK,
    "retrieval_request": DisputeKind.RETRIEVAL_REQUEST, "retrieval request": DisputeKind.RETRIEVAL_REQUEST,
    "retrieval": DisputeKind.RETRIEVAL_REQUEST, "rfi": DisputeKind.RETRIEVAL_REQUEST,
    "request for information": DisputeKind.RETRIEVAL_REQUEST,
    "pre_arbitration": DisputeKind.PRE_ARBITRATION, "pre-arbitration": DisputeKind.PRE_ARBITRATION,
    "pre arbitration": DisputeKind.PRE_ARBITRATION, "second chargeback": DisputeKind.PRE_ARBITRATION,
}

CREDITED = (DepositStatus.SUCCEEDED, DepositStatus.PARTIALLY_REFUNDED)


@dataclass(frozen=True)
class ReportProblem:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return gettext("row %(row)d, column %(column)s: %(message)s") % {
            "row": self.row, "column": self.column, "message": self.message}


@dataclass
class ReportRow:
    row: int
    deposit: Deposit
    kind: str
    amount: Money | None
    reason_code: str
    reason: str
    due_at: dt.datetime | None
    case_id: str
    # What importing it does: "open" (a new case), "escalate" (a retrieval request becomes a
    # chargeback) or "known" (the case is there already: nothing changes).
    effect: str = "open"


@dataclass
class DisputeReport:
    provider: PaymentProvider
    rows: list[ReportRow] = field(default_factory=list)
    problems: list[ReportProblem] = field(default_factory=list)

    def count(self, effect: str) -> int:
        return sum(1 for r in self.rows if r.effect == effect)


def report_providers() -> QuerySet[PaymentProvider]:
    """The providers a report may come from, by name (the page's choice)."""
    return PaymentProvider.objects.order_by("name")


def report_provider(code: str) -> PaymentProvider | None:
    return PaymentProvider.objects.filter(code=code).first()


def _records(data: bytes, file_name: str) -> Iterator[tuple[int, list[str]]]:
    if file_name.lower().endswith(".xlsx") or data.startswith(b"PK\x03\x04"):
        for number, cells in xlsx_rows(data):
            yield number, ["" if c is None else str(cell_date_text(c)) for c in cells]
        return
    text = text_decode(data)
    dialect: Any = csv.excel
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        pass
    yield from enumerate(csv.reader(io.StringIO(text), dialect), start=1)


def _header(cells: list[str]) -> tuple[dict[str, int], list[ReportProblem]]:
    names = [c.strip().lower().replace(" ", "_") for c in cells]
    index: dict[str, int] = {}
    for name, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in names:
                index[name] = names.index(alias)
                break
    problems = [ReportProblem(1, name, gettext("The file has no %(column)s column.") % {"column": name})
                for name in ("reference", "kind") if name not in index]
    return index, problems


def _due(text: str) -> dt.datetime:
    value = text.strip()
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(gettext("'%(value)s' is not a date (YYYY-MM-DD) or an ISO time.") % {"value": value}) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _deposits(provider: PaymentProvider, references: set[str], user: Any) -> dict[str, Deposit]:
    """The provider's deposits by their provider reference and by their merchant reference (of the
    clients within `user`'s scope, when given: a brand's finance never reaches another's deposits)."""
    from crm.permissions import client_queryset_for_user

    found: dict[str, Deposit] = {}
    if not references:
        return found
    deposits = Deposit.objects.filter(provider=provider)
    if user is not None:
        deposits = deposits.filter(client_id__in=client_queryset_for_user(user).values("id"))
    for deposit in (deposits
                    .filter(Q(provider_ref__in=references) | Q(merchant_ref__in=references))
                    .select_related("client")):
        for ref in (deposit.provider_ref, deposit.merchant_ref):
            if ref in references:
                found.setdefault(ref, deposit)
    return found


def _table(data: bytes, file_name: str) -> tuple[dict[str, int], list[tuple[int, list[str]]], list[ReportProblem]]:
    """The column of each field, the data rows with their numbers, or the problem of the file as a whole."""
    def whole(message: str) -> tuple[dict[str, int], list[tuple[int, list[str]]], list[ReportProblem]]:
        return {}, [], [ReportProblem(1, "file", message)]

    try:
        records = [(n, cells) for n, cells in _records(data, file_name) if any(str(c).strip() for c in cells)]
    except (TableUnreadable, csv.Error) as exc:
        return whole(gettext("The file cannot be read: %(error)s") % {"error": exc})
    if not records:
        return whole(gettext("The file is empty."))
    index, problems = _header(records[0][1])
    if problems:
        return {}, [], problems
    body = records[1:]
    if not body:
        return whole(gettext("The file has a header and no rows."))
    if len(body) > MAX_ROWS:
        return whole(gettext("At most %(n)d rows in one report.") % {"n": MAX_ROWS})
    return index, body, []


@dataclass
class _Checker:
    report: DisputeReport
    index: dict[str, int]
    deposits: dict[str, Deposit]
    cases: dict[int, Dispute]
    seen: dict[int, int] = field(default_factory=dict)

    def cell(self, cells: list[str], name: str) -> str:
        at = self.index.get(name)
        return cells[at].strip() if at is not None and at < len(cells) else ""

    def deposit(self, number: int, reference: str, problem: Any) -> Deposit | None:
        deposit = self.deposits.get(reference)
        if not reference:
            problem("reference", gettext("Give the disputed payment's reference."))
        elif deposit is None:
            problem("reference", gettext("No deposit of %(provider)s has the reference '%(reference)s'.")
                    % {"provider": self.report.provider.name, "reference": reference})
        elif deposit.status not in CREDITED:
            problem("reference", gettext("The deposit '%(reference)s' was never credited (%(status)s): only a credited "
                                         "deposit can be disputed.") % {"reference": reference,
                                                                         "status": deposit.get_status_display()})
        elif deposit.pk in self.seen:
            problem("reference", gettext("The same payment as row %(row)d.") % {"row": self.seen[deposit.pk]})
        else:
            self.seen[deposit.pk] = number
            return deposit
        return None

    def money(self, cells: list[str], deposit: Deposit | None, problem: Any) -> Money | None:
        amount_text, currency_text = self.cell(cells, "amount"), self.cell(cells, "currency")
        if not (amount_text or currency_text):
            return None
        try:
            money = money_parse(amount_text, currency_text, typed=False)
        except MoneyError as error:
            problem(getattr(error, "field", "amount"), str(getattr(error, "message", error)))
            return None
        if deposit is not None:
            left = deposit.money - deposit.refunded_money
            if money.currency != deposit.currency:
                problem("currency", gettext("The deposit is in %(currency)s.") % {"currency": deposit.currency})
            elif money.amount > left.amount:
                problem("amount", gettext("More than is left of the deposit (%(left)s).") % {"left": left.amount})
        return money

    def row(self, number: int, cells: list[str]) -> None:
        problems = self.report.problems
        before = len(problems)

        def problem(column: str, message: str) -> None:
            problems.append(ReportProblem(number, column, message))

        deposit = self.deposit(number, self.cell(cells, "reference"), problem)
        kind_text = self.cell(cells, "kind")
        kind = KIND_WORDS.get(kind_text.lower())
        if kind is None:
            problem("kind", gettext("'%(value)s' is not a dispute kind: chargeback, retrieval_request or "
                                    "pre_arbitration.") % {"value": kind_text})
        money = self.money(cells, deposit, problem)
        due_at: dt.datetime | None = None
        if self.cell(cells, "due_date"):
            try:
                due_at = _due(self.cell(cells, "due_date"))
            except ValueError as error:
                problem("due_date", str(error))
        if len(problems) > before or deposit is None or kind is None:
            return
        case = self.cases.get(deposit.pk)
        effect = "open"
        if case is not None:
            effect = ("escalate" if case.kind == DisputeKind.RETRIEVAL_REQUEST and kind != DisputeKind.RETRIEVAL_REQUEST
                      and case.is_open else "known")
        self.report.rows.append(ReportRow(
            row=number, deposit=deposit, kind=kind, amount=money, reason_code=self.cell(cells, "reason_code")[:40],
            reason=self.cell(cells, "reason")[:300], due_at=due_at, case_id=self.cell(cells, "case_id")[:200],
            effect=effect))


def dispute_report_check(*, provider: PaymentProvider, data: bytes, file_name: str = "",
                         user: Any = None) -> DisputeReport:
    """Read and check every row of the report; nothing is written. Problems name row and column. With
    `user`, only the deposits of clients within their scope are found."""
    report = DisputeReport(provider=provider)
    index, body, problems = _table(data, file_name)
    if problems:
        report.problems.extend(problems)
        return report
    column = index["reference"]
    references = {cells[column].strip() for _n, cells in body if column < len(cells)} - {""}
    deposits = _deposits(provider, references, user)
    cases = {d.deposit_id: d for d in Dispute.objects.filter(deposit__in=[d.pk for d in deposits.values()])}
    checker = _Checker(report=report, index=index, deposits=deposits, cases=cases)
    for number, cells in body:
        checker.row(number, cells)
    return report


@transaction.atomic
def dispute_report_import(*, provider: PaymentProvider, data: bytes, actor: Any, file_name: str = "",
                          user: Any = None) -> DisputeReport:
    """Check the report, then open (or escalate) a case for each row, all or nothing. ValidationFailed
    listing the problems (the `file` field) when a row is wrong; then nothing is written. `user`:
    as for dispute_report_check (the page passes the finance officer; the command, nobody)."""
    report = dispute_report_check(provider=provider, data=data, file_name=file_name, user=user)
    if report.problems:
        raise ValidationFailed(gettext("The report has %(n)d problems; nothing was imported.")
                               % {"n": len(report.problems)}, fields={"file": [str(p) for p in report.problems]})
    for row in report.rows:
        if row.effect == "known":
            continue
        dispute_open(deposit=row.deposit, kind=row.kind, reason_code=row.reason_code, reason=row.reason,
                     due_at=row.due_at, actor=actor, amount=row.amount, provider_ref=row.case_id)
    audit_record(actor=actor, action="wallet.dispute_report_imported", obj=provider, after=_summary(report, file_name))
    return report


def _summary(report: DisputeReport, file_name: str) -> dict[str, Any]:
    return {"file": file_name[:200], "rows": len(report.rows), "opened": report.count("open"),
            "escalated": report.count("escalate"), "known": report.count("known"), "at": timezone.now().isoformat()}


__all__ = ["COLUMNS", "DisputeReport", "ReportProblem", "ReportRow", "dispute_report_check", "dispute_report_import",
           "report_provider", "report_providers"]
