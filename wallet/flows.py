"""What finance would rather look at than read: money in and out per provider and day, and the
reconciliation breaks still open by age. Reads only; scoped to the clients the user may see."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy

from crm.lib.money import Money
from crm.permissions import client_queryset_for_user
from wallet.models import Deposit, DepositStatus, Withdrawal, WithdrawalState

MAX_DAYS = 92


@dataclass
class Series:
    label: str
    data: list[float]  # for the chart only; the table shows the exact amounts
    total: Money
    count: int


@dataclass
class Flows:
    currency: str
    currencies: list[str]
    days: list[dt.date]
    deposits: list[Series]
    withdrawals: list[Series]

    @property
    def deposits_total(self) -> Money:
        return sum((s.total for s in self.deposits), Money.zero(self.currency)).quantize()

    @property
    def withdrawals_total(self) -> Money:
        return sum((s.total for s in self.withdrawals), Money.zero(self.currency)).quantize()

    def chart(self) -> dict[str, Any]:
        return {"labels": [d.isoformat() for d in self.days], "currency": self.currency,
                "deposits": [{"label": s.label, "data": s.data} for s in self.deposits],
                "withdrawals": [{"label": s.label, "data": s.data} for s in self.withdrawals]}


def _series(rows: Any, days: list[dt.date], currency: str) -> list[Series]:
    by_provider: dict[str, dict[dt.date, tuple[Decimal, int]]] = defaultdict(dict)
    for row in rows:
        by_provider[row["provider__name"]][row["day"]] = (row["total"], row["n"])
    index = {day: n for n, day in enumerate(days)}
    out = []
    for name in sorted(by_provider):
        data = [0.0] * len(days)
        for day, (total, _n) in by_provider[name].items():
            if day in index:
                data[index[day]] = float(total)
        total = sum((t for t, _ in by_provider[name].values()), Decimal(0))
        out.append(Series(label=name, data=data, total=Money(total, currency).quantize(),
                          count=sum(n for _, n in by_provider[name].values())))
    return out


def money_flows(*, user: Any, days: int = 30, currency: str = "") -> Flows:
    """Credited deposits (by the provider's time of the payment: the credit's business time) and
    paid withdrawals (by the day they were paid) of the last `days` days, per provider, in one currency (the busiest when not given)."""
    days = max(1, min(days, MAX_DAYS))
    today = timezone.localdate()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=timezone.get_current_timezone())
    clients = client_queryset_for_user(user).values("id")
    deposits = Deposit.objects.filter(client_id__in=clients, status__in=[
        DepositStatus.SUCCEEDED, DepositStatus.PARTIALLY_REFUNDED, DepositStatus.REFUNDED, DepositStatus.CHARGED_BACK],
        credit_transaction__occurred_at__gte=start)
    withdrawals = Withdrawal.objects.filter(client_id__in=clients, state=WithdrawalState.PAID, completed_at__gte=start)
    counts: dict[str, int] = defaultdict(int)
    for qs in (deposits, withdrawals):
        for row in qs.order_by().values("currency").annotate(n=Count("id")):
            counts[row["currency"]] += row["n"]
    currencies = sorted(counts, key=lambda c: (-counts[c], c))
    if currency not in counts:
        currency = currencies[0] if currencies else "USD"
    day_list = [first + dt.timedelta(days=n) for n in range(days)]
    zone = timezone.get_current_timezone()
    dep_rows = (deposits.filter(currency=currency).order_by()
                .annotate(day=TruncDate("credit_transaction__occurred_at", tzinfo=zone))
                .values("provider__name", "day").annotate(total=Sum("amount"), n=Count("id")))
    wd_rows = (withdrawals.filter(currency=currency).order_by()
               .annotate(day=TruncDate("completed_at", tzinfo=zone))
               .values("provider__name", "day").annotate(total=Sum("amount"), n=Count("id")))
    return Flows(currency=currency, currencies=currencies, days=day_list,
                 deposits=_series(dep_rows, day_list, currency), withdrawals=_series(wd_rows, day_list, currency))


AGE_BUCKETS: tuple[tuple[int, int | None, Any], ...] = (
    (0, 2, gettext_lazy("up to 2 days")),
    (3, 7, gettext_lazy("3 to 7 days")),
    (8, 30, gettext_lazy("8 to 30 days")),
    (31, None, gettext_lazy("over 30 days")),
)


def open_breaks_by_age(*, user: Any) -> list[dict[str, Any]]:
    """Open reconciliation breaks by age (from the value date), for a user who may reconcile; empty
    for anyone else or when none is open."""
    from crm.permissions import user_can
    from wallet.models import ReconciliationBreak

    if not user_can(user, "wallet.reconcile"):
        return []
    today = timezone.localdate()
    buckets = {}
    for n, (low, high, _label) in enumerate(AGE_BUCKETS):
        age = Q(occurred_on__lte=today - dt.timedelta(days=low))
        if high is not None:
            age &= Q(occurred_on__gte=today - dt.timedelta(days=high))
        buckets[f"b{n}"] = Count("id", filter=age)
    counts = ReconciliationBreak.objects.filter(status="open").aggregate(**buckets)
    if not any(counts.values()):
        return []
    return [{"label": str(label), "count": counts[f"b{n}"]} for n, (_low, _high, label) in enumerate(AGE_BUCKETS)]
