"""A labelled set for the trading- and partner-abuse detectors: synthetic trader and partner histories
built through the services (trader's-room registrations from an IP with a browser, KYC addresses, wallet
postings, deals through the sync's upsert, partners and attributions), with abuse injected of each kind
at two intensities among benign traders and benign confounders:

* families at one address on their home network (not multi-accounting);
* a café's IP that many unrelated people, some of them one partner's clients, sign up from (no links,
  no ring);
* scalpers: many short trades winning about half the time, catching the usual move (not arbitrage);
* ordinary partners with steady volume (no spike), and partners whose clients trade short but honestly.

`labelled_run(size=..., seed=...)` builds the set in a brand of its own, runs every detector for its
day and returns per kind the injected subjects, the subjects found, precision and recall. Used by
`manage.py monitoring_abuse_labelled` (JSON lines) and its test."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.test import override_settings

from crm.lib.money import Money
from plumbing.context import ActorContext, acting

KINDS = ("multi_accounting", "hedging", "latency_arbitrage", "bonus_abuse", "self_dealing", "client_ring",
         "commission_farming", "volume_spike")
ACCOUNT_TYPES = {"standard": {"label": "Standard", "group": "real\\standard", "leverages": [100], "currency": "USD"}}
PASSWORD = "Labelled-set-2026!"  # noqa: S105 - synthetic clients' password


@dataclass
class KindScore:
    kind: str
    injected: set[int] = field(default_factory=set)
    found: set[int] = field(default_factory=set)

    @property
    def precision(self) -> float:
        return len(self.found & self.injected) / len(self.found) if self.found else 1.0

    @property
    def recall(self) -> float:
        return len(self.found & self.injected) / len(self.injected) if self.injected else 1.0


def position_deals(login: int, ids: Iterator[int], *, opened: dt.datetime, hold: float, side: str = "buy",
                   volume: str = "1", profit: str = "0", symbol: str = "EURUSD") -> list[Any]:
    """The two platform deals of one position on account `login`, as the sync reads them: opened at
    `opened`, closed `hold` seconds later with `profit`; position and deal ids drawn from `ids`."""
    from trading.adapters.base import Deal, DealEntry, DealKind, Side

    pos = next(ids)
    closing = "sell" if side == "buy" else "buy"
    return [Deal(deal_id=next(ids), login=login, time=time, platform_time_msc=int(time.timestamp() * 1000),
                 kind=DealKind.TRADE, action=0 if s == "buy" else 1, entry=DealEntry(entry), side=Side(s),
                 position_id=pos, order_id=0, symbol=symbol, volume=Decimal(volume), price=Decimal("1.1"),
                 profit=Decimal(amount), commission=Decimal(0), swap=Decimal(0), fee=Decimal(0), comment="", reason=0,
                 market_bid=None, market_ask=None, raw={})
            for time, entry, s, amount in ((opened, "in", side, "0"),
                                           (opened + dt.timedelta(seconds=hold), "out", closing, profit))]


def bonus_deal(login: int, deal_id: int, *, at: dt.datetime, amount: str) -> Any:
    """A bonus the platform credited to account `login`, as the sync reads it."""
    from trading.adapters.base import Deal, DealEntry, DealKind

    return Deal(deal_id=deal_id, login=login, time=at, platform_time_msc=int(at.timestamp() * 1000),
                kind=DealKind.BONUS, action=6, entry=DealEntry.NONE, side=None, position_id=0, order_id=0, symbol="",
                volume=Decimal(0), price=Decimal(0), profit=Decimal(amount), commission=Decimal(0), swap=Decimal(0),
                fee=Decimal(0), comment="bonus", reason=0, market_bid=None, market_ask=None, raw={})


class Builder:
    """The synthetic brand and the service calls that fill it."""

    def __init__(self, *, seed: int) -> None:
        from crm.services import brand_create
        from trading.services import platform_server_save

        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        self.brand = brand_create(actor=None, code=f"labelled-{uuid.uuid4().hex[:10]}", name="Labelled abuse set")
        self.server = platform_server_save(actor=None, manager_password="x-secret-1", brand=self.brand,  # noqa: S106
                                           name="Labelled MT5", kind="mt5_web", is_active=True, host="127.0.0.1",
                                           port=1, manager_login=1000, account_types=ACCOUNT_TYPES)
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.day = (self.now - dt.timedelta(days=1)).date()  # yesterday: the volume spikes' day
        self.day_start = dt.datetime.combine(self.day, dt.time(), tzinfo=dt.UTC)
        self.deals: list[Any] = []
        self._ids = itertools.count(50_000_000 + seed * 1_000_000)
        self._n = itertools.count(1)
        self.ips = itertools.count(1)

    def ip(self) -> str:
        n = next(self.ips)
        return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"

    def person(self, *, ip: str | None = None, ua: str | None = None, referrer: str = "") -> Any:
        from portal.services import portal_register

        n = next(self._n)
        ip = ip or self.ip()
        ua = ua or f"Mozilla/5.0 (synthetic device {uuid.uuid4().hex[:10]})"
        with acting(ActorContext(ip=ip, user_agent=ua, source="web")):
            reg = portal_register(brand=self.brand, language="en", first_name=f"Synth{n}", last_name="Trader",
                                  email=f"synth{n}-{uuid.uuid4().hex[:6]}@labelled.example",
                                  phone=f"+49152{n:08d}", country="DE", date_of_birth=dt.date(1985, 1, 1),
                                  password=PASSWORD, accept_terms=True, accept_privacy=True,
                                  attribution={"referrer_code": referrer} if referrer else None, ip=ip, user_agent=ua)
        assert reg.login is not None
        return reg.login.client

    def address(self, client: Any, line: str) -> None:
        from kyc.services import kyc_profile_save

        kyc_profile_save(client=client, actor=None, address_line1=line, city="Berlin", postcode="10115", country="DE")

    def account(self, client: Any) -> Any:
        from trading.services import trading_account_register

        return trading_account_register(actor=None, client=client, server=self.server, login=next(self._ids),
                                        account_type="standard")

    def position(self, acc: Any, *, opened: dt.datetime, hold: float, side: str = "buy", volume: str = "1",
                 profit: str = "0", symbol: str = "EURUSD") -> None:
        self.deals += position_deals(acc.login, self._ids, opened=opened, hold=hold, side=side, volume=volume,
                                     profit=profit, symbol=symbol)

    def bonus(self, acc: Any, *, at: dt.datetime, amount: str) -> None:
        self.deals.append(bonus_deal(acc.login, next(self._ids), at=at, amount=amount))

    def money(self, client: Any, kind: str, amount: str, at: dt.datetime) -> None:
        from wallet.services import Leg, clearing_account_for, ledger_post, wallet_account_for

        wallet = wallet_account_for(client=client, currency="USD")
        clearing = clearing_account_for(provider="labelled", currency="USD", brand=self.brand.pk)
        value = Money(amount, "USD")
        legs = [Leg(clearing, -value), Leg(wallet, value)] if kind == "deposit" else [Leg(wallet, -value),
                                                                                        Leg(clearing, value)]
        ledger_post(key=f"labelled:{uuid.uuid4()}", kind=kind, legs=legs, occurred_at=at,
                    meta={"method": "ewallet", "provider": "labelled"}, ref_kind=kind, ref_code=str(uuid.uuid4()))

    def partner(self, name: str) -> tuple[Any, str]:
        from ib.services import partner_create, tracking_link_create

        p = partner_create(actor=None, brand=self.brand, display_name=f"{name} {next(self._n)}",
                           email=f"partner{next(self._n)}-{uuid.uuid4().hex[:6]}@labelled.example")
        return p, tracking_link_create(partner=p, kind="code").code

    def attributed_since(self, partner: Any, days: int) -> Any:
        from ib.services import Touch, attribution_apply

        client = self.person()
        at = self.now - dt.timedelta(days=days)
        attribution_apply(client=client, touches=[Touch(partner.pk, "manual", at)], at=at)
        return client

    def ordinary_trading(self, acc: Any, *, trades: int = 6) -> None:
        for _ in range(trades):
            opened = self.day_start - dt.timedelta(hours=self.rng.randint(1, 120))
            self.position(acc, opened=opened, hold=self.rng.randint(600, 20_000), side=self.rng.choice(["buy", "sell"]),
                          volume=str(self.rng.choice([0.1, 0.5, 1, 2])), profit=str(self.rng.randint(-80, 80)),
                          symbol=self.rng.choice(["EURUSD", "GBPUSD", "XAUUSD"]))

    def short_trades(self, acc: Any, *, n: int, win_share: float, win: int, loss: int, hold: int) -> None:
        start = self.day_start - dt.timedelta(days=3)
        for i in range(n):
            won = self.rng.random() < win_share
            self.position(acc, opened=start + dt.timedelta(minutes=9 * i + self.rng.randint(0, 5)), hold=hold,
                          profit=str(win if won else -loss))


def build(b: Builder, *, size: int) -> dict[str, set[int]]:  # noqa: C901, PLR0912, PLR0915 - one scenario list
    """Fill the brand: `size` benign traders and the confounders, and two cases of each kind (a low and a
    high intensity). Returns {kind: the subjects injected}."""
    from crm.events import dispatch_pending

    truth: dict[str, set[int]] = {k: set() for k in KINDS}
    rng = b.rng
    # Benign traders, some short-trading honestly: they set each symbol's typical short move.
    for _ in range(size):
        acc = b.account(b.person())
        b.ordinary_trading(acc)
        if rng.random() < 0.3:
            b.short_trades(acc, n=8, win_share=0.5, win=10, loss=9, hold=rng.randint(20, 110))
    # Confounders: families at one address on one home network, different devices.
    for f in range(max(size // 10, 2)):
        home = b.ip()
        for member in range(rng.choice([2, 3])):
            client = b.person(ip=home)
            b.address(client, f"{f + 1} Family Street")
            b.ordinary_trading(b.account(client))
            assert member >= 0
    # ... a café's IP with many unrelated people (some of them one honest partner's clients).
    cafe_partner, cafe_code = b.partner("Cafe-area partner")
    cafe = b.ip()
    for i in range(12):
        client = b.person(ip=cafe, referrer=cafe_code if i < 3 else "")
        b.ordinary_trading(b.account(client), trades=2)
    # ... scalpers: many short trades, half won, usual move.
    for _ in range(3):
        b.short_trades(b.account(b.person()), n=45, win_share=0.5, win=11, loss=10, hold=rng.randint(15, 90))
    # ... steady partners.
    steady, _ = b.partner("Steady partner")
    steady_acc = b.account(b.attributed_since(steady, 60))
    for back in range(1, 29):
        b.position(steady_acc, opened=b.day_start - dt.timedelta(days=back, hours=-9), hold=3600,
                   volume=str(rng.choice([8, 10, 12])))
    b.position(steady_acc, opened=b.day_start + dt.timedelta(hours=9), hold=3600, volume="14")

    # Multi-accounting: 2 and 4 accounts, one browser on one network.
    for group in (2, 4):
        ip, ua = b.ip(), f"synthetic multi {uuid.uuid4().hex[:8]}"
        for _ in range(group):
            client = b.person(ip=ip, ua=ua)
            truth["multi_accounting"].add(client.pk)
            b.ordinary_trading(b.account(client), trades=2)
    # Hedging across linked accounts: 3 and 8 opposite pairs.
    for pairs in (3, 8):
        ip, ua = b.ip(), f"synthetic hedger {uuid.uuid4().hex[:8]}"
        x, y = b.person(ip=ip, ua=ua), b.person(ip=ip, ua=ua)
        truth["hedging"] |= {x.pk, y.pk}
        truth["multi_accounting"] |= {x.pk, y.pk}
        ax, ay = b.account(x), b.account(y)
        for i in range(pairs):
            t = b.day_start - dt.timedelta(days=2, hours=-i)
            b.position(ax, opened=t, hold=5400, side="buy", volume="3", profit="120")
            b.position(ay, opened=t + dt.timedelta(seconds=rng.randint(1, 90)), hold=5300, side="sell", volume="3",
                       profit="-110")
    # Latency arbitrage: 22 trades, 82 % won at 3x the move; 40 trades, 95 % won at 6x.
    for n, share, win in ((22, 0.82, 30), (40, 0.95, 60)):
        client = b.person()
        truth["latency_arbitrage"].add(client.pk)
        b.short_trades(b.account(client), n=n, win_share=share, win=win, loss=8, hold=rng.randint(5, 30))
    # Bonus abuse: 2 and 4 deposit-bonus-withdrawal cycles.
    for cycles in (2, 4):
        client = b.person()
        truth["bonus_abuse"].add(client.pk)
        acc = b.account(client)
        for k in range(cycles):
            t = b.day_start - dt.timedelta(days=60 - 12 * k)
            b.money(client, "deposit", "1000", t)
            b.bonus(acc, at=t + dt.timedelta(hours=2), amount="500")
            b.money(client, "withdrawal", "980", t + dt.timedelta(days=3))
    # ... and a benign bonus taker who trades it (one cycle, then lots).
    honest = b.person()
    honest_acc = b.account(honest)
    t = b.day_start - dt.timedelta(days=20)
    b.money(honest, "deposit", "1000", t)
    b.bonus(honest_acc, at=t + dt.timedelta(hours=1), amount="300")
    for i in range(6):
        b.position(honest_acc, opened=t + dt.timedelta(hours=3 + i), hold=3600, volume="1", profit="15")
    b.money(honest, "withdrawal", "900", t + dt.timedelta(days=5))
    # Self-dealing: a partner trading through 1 and 3 aliases on its own device and network.
    from ib.settlement import partner_settlement_set

    for aliases in (1, 3):
        p, code = b.partner("Self-dealer")
        truth["self_dealing"].add(p.pk)
        ip, ua = b.ip(), f"synthetic partner laptop {uuid.uuid4().hex[:8]}"
        own = b.person(ip=ip, ua=ua)
        partner_settlement_set(actor=None, partner=p, schedule="monthly", client=own)
        truth["multi_accounting"].add(own.pk)
        for _ in range(aliases):
            alias = b.person(ip=ip, ua=ua, referrer=code)
            truth["multi_accounting"].add(alias.pk)
            b.ordinary_trading(b.account(alias), trades=3)
        for _ in range(3):  # honest clients too
            b.ordinary_trading(b.account(b.person(referrer=code)), trades=2)
    # Client rings: 4 and 8 of a partner's clients from one IP.
    for ring in (4, 8):
        p, code = b.partner("Ring")
        truth["client_ring"].add(p.pk)
        ip = b.ip()
        for _ in range(ring):
            b.ordinary_trading(b.account(b.person(ip=ip, referrer=code)), trades=1)
    # Commission farming: 5 and 15 mirrored pairs between two referred clients; and a churner.
    for pairs in (5, 15):
        p, code = b.partner("Farm")
        truth["commission_farming"].add(p.pk)
        ax, ay = b.account(b.person(referrer=code)), b.account(b.person(referrer=code))
        for i in range(pairs):
            t = b.day_start - dt.timedelta(days=1, hours=-i % 20, minutes=-i)
            b.position(ax, opened=t, hold=400, side="buy", volume="5")
            b.position(ay, opened=t + dt.timedelta(seconds=rng.randint(1, 40)), hold=390, side="sell", volume="5")
    # Volume spikes: 5x and 20x the partner's own baseline of about 2.5 lots a day.
    for times in (5, 20):
        p, _ = b.partner("Spike")
        truth["volume_spike"].add(p.pk)
        acc = b.account(b.attributed_since(p, 60))
        for back in range(1, 29):
            b.position(acc, opened=b.day_start - dt.timedelta(days=back, hours=-10), hold=1800,
                       volume=str(rng.choice([2, 2.5, 3])))
        b.position(acc, opened=b.day_start + dt.timedelta(hours=11), hold=1800, volume=str(2.5 * times))

    from trading.sync import deals_store

    deals_store(b.server, b.deals)
    dispatch_pending()
    assert cafe_partner.pk and steady.pk
    return truth


def labelled_run(*, size: int = 40, seed: int = 7) -> list[KindScore]:
    """Build the set (a brand of its own) and score every detector on it, per kind."""
    from monitoring.abuse_detectors import detectors

    with override_settings(PORTAL_REGISTER_RATE_LIMIT="100000/h",
                           PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        builder = Builder(seed=seed)
        truth = build(builder, size=size)
    scores = []
    today = builder.now.date()
    for kind, detector in detectors().items():
        # The histories end now: the sign-ins are today's. Volume is judged on yesterday, a whole day
        # with its 28 days before (the nightly run's day).
        day = builder.day if kind == "volume_spike" else today
        found = {f.subject_id for f in detector(day=day, brand_id=builder.brand.pk)}
        scores.append(KindScore(kind=kind, injected=truth[kind], found=found))
    return scores
