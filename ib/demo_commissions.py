"""The partner programme's demo commissions: what makes the demo partner portal show a month of
earnings (`manage.py ib_seed_demo_commissions`, which `make run` calls after `trading_demo_setup`
has opened the demo clients' trading accounts; `ib_seed_demo` calls it too, when accounts exist).

Everything goes through the services:
- instruments and their groups (fx, metals, indices) for the symbols the MT5 simulator trades;
- a commission plan with one version (a rebate per lot by group, split over three levels, so the
  master IB earns from its sub-IBs' clients too), assigned to every demo partner;
- historical trade deals of the attributed clients' accounts from the start of the previous month,
  stored through the sync's own idempotent upsert (trading.sync.deals_store). They are drawn from
  a random generator seeded by account and day, so seeding again stores nothing new for the days it
  covered already. They stop `reconcile_days` + 1 days ago: the nightly reconciliation re-reads only
  that window from the platform (which does not know these deals) and would mark newer ones deleted.
  Each day's trades net to zero profit, so the stored deals still sum to the platform balance;
- the previous month's commission run, settled and posted to the partners' payable accounts
  (ib.settlement), and the current month's run brought up to date (ib.commissions'
  `commission_run_refresh`, which beat then repeats every few minutes for the simulator's live deals);
- once last month is payable, a payout request from the first partner paid by bank (half of its
  payable balance), waiting in finance's partner payouts queue.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from crm.lib.money import Money
from ib import commissions as cs
from ib import settlement
from ib.models import (
    ClientAttribution,
    CommissionDispute,
    CommissionPlan,
    CommissionRun,
    Partner,
    PartnerPayout,
    PlanAssignment,
    RunKind,
)
from trading.adapters.base import Deal, DealEntry, DealKind, ServerClock, Side
from trading.models import TradingAccount
from trading.sync import deals_store

if TYPE_CHECKING:
    from crm.models import Brand
    from ib.demo_types import SeedResult

PLAN_NAME = "Demo IB rebate (3 levels)"
GROUPS = (  # (code, name, units per standard lot)
    ("fx", "Forex", "100000"),
    ("metals", "Metals", "100"),
    ("indices", "Indices", "1"),
)
INSTRUMENTS = (  # (symbol, group, contract size, profit currency): the simulator's specifications
    ("EURUSD", "fx", "100000", "USD"),
    ("GBPUSD", "fx", "100000", "USD"),
    ("AUDUSD", "fx", "100000", "USD"),
    ("USDCAD", "fx", "100000", "CAD"),
    ("USDCHF", "fx", "100000", "CHF"),
    ("USDJPY", "fx", "100000", "JPY"),
    ("XAUUSD", "metals", "100", "USD"),
    ("US500", "indices", "1", "USD"),
    ("US30", "indices", "1", "USD"),
)
# USD per lot for the client's own partner, its parent, and the parent's parent.
RULES = (
    {"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["6", "2", "1"]},
    {"code": "metals_rebate", "kind": "per_lot", "group": "metals", "level_rates": ["4", "1.5", "0.5"]},
    {"code": "indices_rebate", "kind": "per_lot", "group": "indices", "level_rates": ["1.5", "0.5", "0.25"]},
)
MIN_HOLD_SECONDS = 60
# Demo tickets live far above the simulator's own (deals from 1 000 001, orders from 5 000 001).
TICKET_BASE = 9_000_000_000_000
PRICES = {"EURUSD": "1.0850", "GBPUSD": "1.2700", "AUDUSD": "0.6600", "USDCAD": "1.3600", "USDCHF": "0.9000",
          "USDJPY": "151.00", "XAUUSD": "2350.00", "US500": "5200.00", "US30": "39000.0"}
VOLUMES = {"fx": ("0.10", "0.20", "0.50", "1.00", "2.00"), "metals": ("0.05", "0.10", "0.20", "0.50"),
           "indices": ("1.00", "2.00", "5.00")}
SEED = 20_261_001


def previous_period(now: dt.datetime) -> dt.date:
    return cs.period_before(now.astimezone(dt.UTC).date())


@transaction.atomic
def plan_seed(*, brand: Brand, partners: Sequence[Partner], now: dt.datetime) -> int:
    """Instruments, groups and the demo plan, assigned to `partners` (those without an assignment
    yet) from the start of the previous month. Returns how many partners were assigned now."""
    groups = {code: cs.instrument_group_save(actor=None, brand=brand, code=code, name=name, units_per_lot=units)
              for code, name, units in GROUPS}
    for symbol, group, size, currency in INSTRUMENTS:
        cs.instrument_save(actor=None, brand=brand, symbol=symbol, group=groups[group], contract_size=size,
                           profit_currency=currency)
    start, _end = cs.period_bounds(previous_period(now))
    plan = CommissionPlan.objects.filter(brand=brand, name=PLAN_NAME).first()
    if plan is None:
        plan = cs.plan_create(actor=None, brand=brand, name=PLAN_NAME, currency="USD")
        # The demo partners may invite a few sub-partners of their own from the portal.
        CommissionPlan.objects.filter(pk=plan.pk).update(max_sub_partners=5)
    if not plan.versions.exists():
        cs.plan_version_record(actor=None, plan=plan, effective_from=start, rules=list(RULES),
                               min_hold_seconds=MIN_HOLD_SECONDS, note="demo data", recorded_at=start)
    assigned = 0
    for partner in partners:
        if not PlanAssignment.objects.filter(partner=partner).exists():
            cs.plan_assign(actor=None, plan=plan, partner=partner, effective_from=start)
            assigned += 1
    return assigned


def _day_deals(account: TradingAccount, day: dt.date, clock: ServerClock) -> list[Deal]:
    """The round trips `account` made on `day`: the same ones on every call."""
    rng = random.Random(f"{SEED}:{account.server_id}:{account.login}:{day.isoformat()}")
    if day.weekday() >= 5 or rng.random() < 0.3:  # weekends closed, and not every trader trades daily
        return []
    trips = rng.randint(1, 3)
    profits = [Decimal(rng.randint(-8000, 9000)) / 100 for _ in range(trips - 1)]
    profits.append(-sum(profits, Decimal(0)))  # the day nets to zero: the balance stays the platform's
    deals = []
    for index, profit in enumerate(profits):
        symbol, group, _size, _ccy = rng.choice(INSTRUMENTS)
        volume = Decimal(rng.choice(VOLUMES[group]))
        opened = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(
            hours=rng.randint(7, 18), minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
        closed = opened + dt.timedelta(minutes=rng.randint(5, 300))
        ticket = TICKET_BASE + account.pk * 100_000 + (day.toordinal() % 1000) * 10 + 2 * index
        side = rng.choice((Side.BUY, Side.SELL))
        other = Side.SELL if side is Side.BUY else Side.BUY
        price = Decimal(PRICES[symbol])
        for offset, (when, deal_side, entry, amount) in enumerate(
                ((opened, side, DealEntry.IN, Decimal(0)), (closed, other, DealEntry.OUT, profit))):
            deals.append(Deal(
                deal_id=ticket + offset, login=account.login, time=when,
                platform_time_msc=clock.from_utc(when) * 1000, kind=DealKind.TRADE,
                action=0 if deal_side is Side.BUY else 1, entry=entry, side=deal_side, position_id=ticket,
                order_id=ticket + offset, symbol=symbol, volume=volume, price=price, profit=amount,
                commission=Decimal(0), swap=Decimal(0), fee=Decimal(0), comment="demo history", reason=0,
                market_bid=None, market_ask=None, raw={"_source": "demo_history"}))
    return deals


def history_seed(*, accounts: Sequence[TradingAccount], now: dt.datetime) -> int:
    """Store the accounts' demo trade history (see the module's docstring); how many deals were new."""
    start = previous_period(now)
    inserted = 0
    for account in accounts:
        server = account.server
        clock = ServerClock(offset_minutes=server.server_tz_offset_minutes, tz_name=server.server_tz)
        end = now.astimezone(dt.UTC).date() - dt.timedelta(days=server.reconcile_days + 1)
        deals: list[Deal] = []
        day = start
        while day < end:
            deals += _day_deals(account, day, clock)
            day += dt.timedelta(days=1)
        if deals:
            inserted += deals_store(server, deals).inserted
    return inserted


def runs_seed(*, brand: Brand, now: dt.datetime) -> int:
    """The previous month's run, settled and posted (once), and the current month's brought up to
    date. Their as-of is the moment they run (the deals just stored were first seen before it).
    Returns how many runs are new."""
    before = CommissionRun.objects.filter(brand=brand).count()
    previous = previous_period(now)
    if not CommissionRun.objects.filter(brand=brand, period=previous, kind=RunKind.REGULAR).exists():
        run = cs.commission_run(actor=None, brand=brand, period=previous)
        if settlement.run_can_settle(run):
            settlement.commission_run_settle_post(actor=None, run=run)
            payout_seed(brand=brand)
    cs.commission_run_refresh(brand=brand, period=now.astimezone(dt.UTC).date())
    dispute_seed(brand=brand)
    return CommissionRun.objects.filter(brand=brand).count() - before


def payout_seed(*, brand: Brand) -> PartnerPayout | None:
    """Once last month is payable: the first partner (by tree order) that is paid by bank asks for
    half of its payable balance, in whole units, so finance's partner payouts queue and the
    partner's Payouts page have a request waiting."""
    if PartnerPayout.objects.filter(brand=brand).exists():
        return None
    for partner in Partner.objects.filter(brand=brand, client__isnull=True).order_by("path"):
        for balance in settlement.payable_balances(partner):
            half = (balance.available.amount / 2).to_integral_value(rounding=ROUND_DOWN)
            if half > 0:
                return settlement.payout_request(partner=partner, amount=Money(half, balance.available.currency),
                                                 currency=balance.available.currency)
    return None


DISPUTE_MESSAGE = ("The client traded more than this on the platform that day: I expected the rebate on the "
                   "full volume. Please check the lots.")


def dispute_seed(*, brand: Brand) -> CommissionDispute | None:
    """Once: the partner with the portal login questions its latest rebate line of last month, so
    the IB manager's dispute queue has one waiting and the partner's Questions page shows it."""
    from ib import disputes, selectors

    if CommissionDispute.objects.filter(brand=brand).exists():
        return None
    partner = Partner.objects.filter(brand=brand, login__isnull=False).order_by("path").first()
    if partner is None:
        return None
    line = next((x for x in selectors.partner_lines(partner).filter(source_kind="deal")[:200]
                 if getattr(x, "is_payable", False)), None)
    if line is None:
        return None
    return disputes.dispute_open(partner=partner, line_key=line.key, message=DISPUTE_MESSAGE)


def attributed_accounts(partners: Sequence[Partner]) -> list[TradingAccount]:
    """The trading accounts (live, on the partners' brand) of the clients attributed to `partners`."""
    clients = ClientAttribution.objects.filter(partner__in=partners).values("client_id")
    return list(TradingAccount.objects.filter(client_id__in=clients, is_demo=False)
                .select_related("server").order_by("pk"))


def seed_commissions(*, brand: Brand, partners: Sequence[Partner], result: SeedResult,
                     now: dt.datetime | None = None) -> str:
    """The demo commissions of `partners` (idempotent); counts what was new into `result`. Without
    trading accounts for their clients yet, only the plan is set up, and the returned note says so
    (empty otherwise)."""
    now = now or timezone.now()
    result.counts["plan assignments"] = plan_seed(brand=brand, partners=partners, now=now)
    accounts = attributed_accounts(partners)
    if not accounts:
        return "no trading accounts for the attributed clients yet: run trading_demo_setup"
    result.counts["historical deals"] = history_seed(accounts=accounts, now=now)
    result.counts["commission runs"] = runs_seed(brand=brand, now=now)
    return ""
