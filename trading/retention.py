"""The retention workspace's reads: the dormant and at-risk traders in a user's scope.

A trader is a client with at least one live (not demo, not archived) trading account. Per client:

- dormant: no trade on any live account for `days` days (an account that never traded counts from
  its opening), from ``last_trade_at``, which the deal sync keeps;
- equity drop: how far an account's equity now is below its highest equity of the last
  ``PEAK_DAYS`` days (AccountEquityDay, kept by the account state sync), the deepest of the
  client's accounts;
- margin call: an account whose margin level is under its server's margin-call level now.

Listed (one row per client): dormant or at risk, or one of the two; at risk means a drop of at least
`drop` percent or a margin call. Sorted by risk: margin calls first, then the deepest drops of at
least `drop` percent, then the longest without a trade. The list is one SQL query over the
per-trader read model (trading.summaries.RetentionSummary: these figures per client, kept by the
writers; filtered, sorted and paged in the database); a page's details take four more queries
whatever its length.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    DecimalField,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.lib.money import MoneyAmountField
from crm.models import Client, Task
from crm.permissions import client_scope_book, client_scope_brand_wide, user_can
from crm.selectors import next_open_tasks
from trading import summaries
from trading.models import (
    AccountEquityDay,
    BalanceKind,
    BalanceOperation,
    BalanceState,
    RetentionSummary,
    TradingAccount,
)

PEAK_DAYS = summaries.PEAK_DAYS
DORMANT_DAYS = (7, 14, 30, 60)
DEFAULT_DAYS = 30
DEFAULT_DROP = 20
SHOW = ("all", "dormant", "at_risk", "margin_call")
PERCENT = DecimalField(max_digits=12, decimal_places=4)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class RetentionFilters:
    show: str = "all"  # all (dormant or at risk), dormant, at_risk, margin_call
    days: int = DEFAULT_DAYS
    drop: int = DEFAULT_DROP  # percent
    brand_id: int | None = None


@dataclass(frozen=True)
class AccountRisk:
    """One live account of a listed client, with its recent equity peak."""

    account: TradingAccount
    peak: Decimal | None
    drop: Decimal  # percent below the peak, 0 when at or above it

    @property
    def in_margin_call(self) -> bool:
        return _below_margin_call(self.account)


@dataclass
class RetentionRow:
    client: Client
    last_trade_at: dt.datetime | None
    last_activity: dt.datetime
    margin_calls: int
    max_drop: Decimal
    idle_days: int
    dormant: bool  # no trade for the filter's days
    drop_alert: bool  # a drop of at least the filter's percent
    accounts: list[AccountRisk] = field(default_factory=list)
    last_deposit: BalanceOperation | None = None
    next_task: Task | None = None
    task_overdue: bool = False

    @property
    def worst(self) -> AccountRisk | None:
        """The account with the deepest drop (the lowest margin level among equals)."""
        if not self.accounts:
            return None
        return max(self.accounts, key=lambda a: (a.drop, -(a.account.margin_level or Decimal("1e9"))))

    @property
    def more_accounts(self) -> int:
        return max(0, len(self.accounts) - 1)

    @property
    def margin_call_accounts(self) -> list[AccountRisk]:
        return [a for a in self.accounts if a.in_margin_call]



def _below_margin_call(account: TradingAccount) -> bool:
    level = account.margin_level
    return bool(account.margin and account.margin > 0 and level is not None
                and level < account.server.margin_call_enter_level)


def _peak(since: dt.date) -> Subquery:
    return Subquery(AccountEquityDay.objects.filter(account_id=OuterRef("pk"), day__gte=since).order_by()
                    .values("account_id").annotate(high=Max("high")).values("high")[:1],
                    output_field=MoneyAmountField())


def _today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def retention_queryset(*, user: Any, filters: RetentionFilters) -> QuerySet[Any]:
    """One row per listed client (dicts: client_id, last_trade, last_activity, margin_calls,
    max_drop), sorted by risk; scoped to the clients `user` may see, in SQL.

    Read from the per-trader read model (trading.summaries: the same figures as grouping the
    client's live accounts, kept by the writers), so a view costs one row per trader in scope, not
    one per account and day. A brand-wide scope is the rows' own brand; a book is its desks' rows (the
    row's desk, kept with the client's) and its own and shared clients."""
    if not user_can(user, "trading.view_tradingaccount"):
        return RetentionSummary.objects.none().values("client_id")
    now = timezone.now()
    rows = RetentionSummary.objects.all()
    scope = client_scope_brand_wide(user)
    if scope is None:
        # A book: a desk manager's desks by the rows' desk, their own and shared clients by id.
        book = client_scope_book(user)
        rows = rows.filter(book.q()) if book is not None else rows.none()
    elif scope.brand_ids is not None:
        rows = rows.filter(brand_id__in=scope.brand_ids)
    if filters.brand_id is not None:
        rows = rows.filter(brand_id=filters.brand_id)
    drop = Decimal(filters.drop)
    dormant = Q(last_activity__lt=now - dt.timedelta(days=filters.days))
    at_risk = Q(max_drop__gte=drop) | Q(margin_calls__gt=0)
    rows = rows.filter({"dormant": dormant, "at_risk": at_risk, "margin_call": Q(margin_calls__gt=0)}.get(
        filters.show, dormant | at_risk))
    # (Not "in_margin_call": that is a property of TradingAccount, and django-stubs refuses an
    # annotation named like an attribute of the model.)
    return rows.order_by().annotate(
        last_trade=F("last_trade_at"),
        margin_call_first=Case(When(margin_calls__gt=0, then=Value(1)), default=Value(0), output_field=IntegerField()),
        risk_drop=Case(When(max_drop__gte=drop, then=F("max_drop")), default=None, output_field=PERCENT),
    ).values("client_id", "last_trade", "last_activity", "margin_calls", "max_drop").order_by(
        "-margin_call_first", F("risk_drop").desc(nulls_last=True), "last_activity", "client_id")


def retention_rows(*, rows: list[dict[str, Any]], filters: RetentionFilters) -> list[RetentionRow]:
    """The details of one page of `retention_queryset`: the clients, their live accounts with
    peaks, last deposits and next tasks. Four queries whatever the number of rows."""
    ids = [row["client_id"] for row in rows]
    if not ids:
        return []
    now = timezone.now()
    clients = Client.objects.select_related("brand", "owner").in_bulk(ids)
    accounts: dict[int, list[AccountRisk]] = {pk: [] for pk in ids}
    for account in (TradingAccount.objects.filter(client_id__in=ids, is_demo=False, is_archived=False)
                    .select_related("server").annotate(peak_high=_peak(_today() - dt.timedelta(days=PEAK_DAYS)))
                    .order_by("client_id", "server__name", "login")):
        peak = account.peak_high
        drop = (peak - account.equity) * HUNDRED / peak if peak and peak > account.equity else Decimal(0)
        accounts[account.client_id].append(AccountRisk(account=account, peak=peak, drop=drop))
    deposits = last_deposits(client_ids=ids)
    tasks = next_open_tasks(client_ids=ids)
    out = []
    for row in rows:
        pk = row["client_id"]
        idle = max(0, (now - row["last_activity"]).days)
        task = tasks.get(pk)
        out.append(RetentionRow(
            client=clients[pk], last_trade_at=row["last_trade"], last_activity=row["last_activity"],
            margin_calls=row["margin_calls"], max_drop=row["max_drop"] or Decimal(0), idle_days=idle,
            dormant=row["last_activity"] < now - dt.timedelta(days=filters.days),
            drop_alert=(row["max_drop"] or 0) >= filters.drop, accounts=accounts[pk], last_deposit=deposits.get(pk),
            next_task=task, task_overdue=bool(task and task.due_at and task.due_at < now)))
    return out


def last_deposits(*, client_ids: list[int]) -> dict[int, BalanceOperation]:
    """Each client's latest applied deposit (a positive balance operation) on a live account."""
    qs = (BalanceOperation.objects.filter(account__client_id__in=client_ids, account__is_demo=False,
                                          kind=BalanceKind.BALANCE, state=BalanceState.APPLIED, amount__gt=0)
          .annotate(client_id=F("account__client_id"), at=Coalesce("resolved_at", "created_at"))
          .order_by("account__client_id", "-at", "-id").distinct("account__client_id"))
    return {op.client_id: op for op in qs}
