"""A brokerage at scale, for measuring pages: `manage.py scale_seed --clients N --deals M --events K
[--ledger L]`.

What it writes: two brands, their desks (one per 100,000 clients a brand has, at least two), desk
managers, sales and retention agents, a dealer and an administrator (through the services, as
staff are made); then, in batches of clients, each batch one transaction:
- clients across the funnel's stages, each owned by an agent of a desk of its brand;
- live trading accounts for funded, active and dormant clients (a fifth of them two), demo accounts
  for some others, with their last known money (some below the margin call), a recent equity peak
  (AccountEquityDay) and the deposit that funded them (an applied BalanceOperation);
- `deals` platform deals over the live accounts (a few accounts trade most), opening and closing
  pairs of one position, the last of them at the account's last trade; open positions on active
  accounts (the dealer's exposure);
- the money in the ledger: per funded client a wallet and per live account its mirror, a deposit
  (the brand's PSP clearing account to the wallet) and a transfer (wallet to the account's mirror),
  each a balanced ledger transaction; with `ledger` given, further deposits (their fee to the
  brand), transfers and withdrawals up to that many transactions in all; the deposits' and
  withdrawals' events (wallet.deposit_succeeded, wallet.first_deposit, wallet.withdrawal_paid: the
  reporting hub's money figures); the balance rows equal to the sum of the legs;
- `events` timeline events (a few clients have long timelines), a quarter as many access events
  (profile views, reveals), and an open task for a third of the traders.

Why COPY into several apps' tables from here: it is a load generator for an empty database (it
refuses one that has clients), made to write a million clients and a hundred million deals within
the hour, which no service that writes one client, posting or deal at a time can do. The rows are
those the services would write; the database's own rules still hold over them: constraints run as
for any INSERT, and the ledger's rules (balanced legs, at least two legs per transaction, wallets
never below zero, balances equal to their legs) are checked over every row by `ledger_verify` at
the end (the command fails if it finds a problem). The ledger's per-row balance triggers are paused
while the rows go in (wallet.ledger.ledger_balance_checks_paused: each leg would queue a check of
its own, run at its batch's commit, a third of the whole load's time at ten million postings) and
on again before that check, which also fails on a trigger left off. It writes no audit rows besides
those of the services that make the staff, so the audit chain stays whole. It leaves out what the
pages measured do not read: model history rows of the generated clients and accounts, lead
contact keys, KYC submissions, monitoring's activity partitions, and the wallet's deposit and
withdrawal records behind the ledger's postings and their events (the events name a deposit or
withdrawal code no row holds).

The plain indexes and the foreign keys of the big tables are dropped while the rows go in, and made
again at the end: each index built once, each foreign key checked over every row by one join
(demo.copying.secondary_indexes_dropped).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from plumbing.sqlfiles import sql_text

BATCH_CLIENTS = 20_000
CLIENTS_PER_DESK = 100_000
SALES_PER_DESK = 8
RETENTION_PER_DESK = 2
CURRENCY = "USD"
PSP = "scale-psp"
DAY = 86_400

STAGES = (("lead", 35), ("registered", 20), ("verified", 10), ("funded", 10), ("active", 15), ("dormant", 7),
          ("closed", 3))
TRADER_STAGES = frozenset({"funded", "active", "dormant"})
VERIFIED_STAGES = frozenset({"verified", "funded", "active", "dormant"})
COUNTRIES = ("GB", "GB", "GB", "DE", "DE", "AE", "AE", "SA", "ZA", "AU", "IT", "ES", "FR", "PL", "NG", "KE", "EG",
             "BR", "MX", "MY")
LANGUAGES = {"GB": "en", "DE": "de", "AE": "ar", "SA": "ar", "ZA": "en", "AU": "en", "IT": "it", "ES": "es", "FR": "fr",
             "PL": "pl", "NG": "en", "KE": "en", "EG": "ar", "BR": "pt", "MX": "es", "MY": "en"}
FIRST = ("Oliver", "Amelia", "Mohammed", "Fatima", "Lukas", "Giulia", "Thabo", "Sofia", "James", "Layla", "Mateo",
         "Anna", "Chinedu", "Wei", "Pierre", "Zofia", "Omar", "Emily", "Rafael", "Noura", "Hannah", "Yusuf", "Marta",
         "Kwame", "Elena", "Tariq", "Chloe", "Ivan", "Aisha", "Daniel")
LAST = ("Smith", "Khalil", "Muller", "Rossi", "Nkosi", "Garcia", "Jones", "Haddad", "Dubois", "Nowak", "Okafor",
        "Tan", "Silva", "Taylor", "Al-Harbi", "Schmidt", "Brown", "Costa", "Lim", "Walker", "Moreau", "Mensah",
        "Fischer", "Romano", "Kowalski", "Ibrahim", "Santos", "Wilson", "Hassan", "Becker", "Ferrari", "Adeyemi")
SOURCES = ("google", "google", "facebook", "affiliate", "organic", "ib", "referral", "webinar")
SYMBOLS = (("EURUSD", Decimal("1.08")), ("GBPUSD", Decimal("1.27")), ("USDJPY", Decimal("151.2")),
           ("XAUUSD", Decimal("2350")), ("US30", Decimal("39000")), ("BTCUSD", Decimal("64000")),
           ("AUDUSD", Decimal("0.66")), ("USDCAD", Decimal("1.36")), ("NAS100", Decimal("18000")),
           ("GER40", Decimal("18200")), ("USOIL", Decimal("81.5")), ("EURGBP", Decimal("0.85")))
TIMELINE_EVENTS = ("client.updated", "note.added", "task.created", "task.completed", "call.logged",
                   "client.stage_changed", "email.sent", "client.assigned")
VOLUMES = [Decimal(v) for v in ("0.01", "0.05", "0.10", "0.20", "0.50", "1.00", "2.00")]
PROFITS = [Decimal(p) for p in range(-300, 301, 7)]
# What a client pays in at once (the movements after the first deposit, demo.scale._write_moves).
DEPOSITS = [Decimal(d) for d in ("50", "100", "100", "200", "250", "300", "500", "500", "1000", "1500", "2500", "5000",
                                 "10000")]
# The report's line for the deposits', withdrawals' and first deposits' events.
MONEY_EVENTS_LABEL = "money events"
ACCESS_KINDS = ("view", "view", "view", "view", "reveal_email", "reveal_phone", "search")


class ScaleRefused(Exception):
    """The database is not one scale_seed may fill."""


@dataclass
class ScaleResult:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True)
class Staff:
    brand_id: int
    desk_id: int
    owners: tuple[int, ...]


@dataclass
class _Account:
    id: int
    client_id: int
    brand_id: int
    server_id: int
    login: int
    demo: bool
    opened_at: dt.datetime
    stage: str
    deposit: Decimal = Decimal(0)
    deals: int = 0
    first_trade: dt.datetime | None = None
    last_trade: dt.datetime | None = None
    positions: int = 0


class _Clock:
    """Seconds spent per table, for the rows/s report."""

    def __init__(self, result: ScaleResult) -> None:
        self.result = result

    def write(self, label: str, fn: Callable[[], int]) -> None:
        start = time.perf_counter()
        n = fn()
        self.result.seconds[label] = self.result.seconds.get(label, 0.0) + time.perf_counter() - start
        self.result.rows[label] = self.result.rows.get(label, 0) + n


def _money(amount: Decimal, factor: float = 1.0) -> Decimal:
    """`amount` scaled by a random factor, in cents (the factor is a random draw, never money)."""
    return (amount * Decimal(str(round(factor, 6)))).quantize(Decimal("0.01"))


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _spread(total: int, weights: list[float]) -> list[int]:
    """`total` split in proportion to `weights` (whole numbers that add up to `total`)."""
    if not weights or total <= 0:
        return [0] * len(weights)
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    out = [int(s) for s in shares]
    rest = total - sum(out)
    for i in sorted(range(len(shares)), key=lambda i: out[i] - shares[i])[:rest]:
        out[i] += 1
    return out


def _quota(total: int, done: int, count: int, whole: int) -> int:
    """What of `total` falls to the items done..done+count of `whole` (exact over all batches)."""
    return total * (done + count) // whole - total * done // whole


# --- staff ----------------------------------------------------------------------------------------

def _staff(*, clients: int) -> tuple[list[Staff], dict[int, tuple[int, int]], dict[int, int]]:
    """Brands, desks and staff through the services; (desks with their agents, the PSP clearing
    account and the fee account of each brand, and its platform server)."""
    from crm.roles import roles_sync
    from crm.services import brand_create, user_create
    from crm.staff_services import desk_create, desk_update
    from trading.services import platform_server_save
    from wallet.ledger import clearing_account_for, system_account_for
    from wallet.models.ledger import AccountKind

    roles_sync()
    admin = user_create(actor=None, email="admin@scale.example", full_name="Scale Admin", role_code="admin",
                        all_brands=True)
    desks: list[Staff] = []
    clearing: dict[int, tuple[int, int]] = {}
    servers: dict[int, int] = {}
    per_brand = max(2, math.ceil(clients / 2 / CLIENTS_PER_DESK))
    for code, name in (("scale-atlas", "Atlas Scale"), ("scale-nova", "Nova Scale")):
        brand = brand_create(actor=admin, code=code, name=name)
        user_create(actor=admin, email=f"dealer.{code}@scale.example", full_name=f"Dealer {name}",
                    role_code="dealer", brands=[brand])
        server = platform_server_save(
            actor=admin, manager_password="scale-not-a-server", brand=brand, name=f"{name} MT5 Live",  # noqa: S106
            host="mt5.scale.invalid", manager_login=1000, sync_enabled=False,
            account_types={"standard": {"group": "real\\standard", "leverages": [100, 200]}})
        servers[brand.pk] = server.pk
        clearing[brand.pk] = (clearing_account_for(provider=PSP, currency=CURRENCY, brand=brand).pk,
                              system_account_for(kind=AccountKind.FEES, currency=CURRENCY, brand=brand).pk)
        for n in range(1, per_brand + 1):
            desk = desk_create(actor=admin, brand=brand, name=f"{name} desk {n}")
            manager = user_create(actor=admin, email=f"manager.{code}.{n}@scale.example",
                                  full_name=f"Manager {name} {n}", role_code="desk_manager", desk=desk, brands=[brand])
            desk_update(actor=admin, desk=desk, manager=manager)
            owners = [user_create(actor=admin, email=f"agent.{code}.{n}.{a}@scale.example",
                                  full_name=f"Agent {name} {n}.{a}", role_code="sales_agent", desk=desk,
                                  brands=[brand]).pk for a in range(SALES_PER_DESK)]
            owners += [user_create(actor=admin, email=f"retention.{code}.{n}.{a}@scale.example",
                                   full_name=f"Retention {name} {n}.{a}", role_code="retention_agent", desk=desk,
                                   brands=[brand]).pk for a in range(RETENTION_PER_DESK)]
            desks.append(Staff(brand_id=brand.pk, desk_id=desk.pk, owners=tuple(owners)))
    return desks, clearing, servers


# --- the generator -----------------------------------------------------------------------------------

def scale_seed(*, clients: int, deals: int, events: int, access: int | None = None, ledger: int | None = None,
               seed: int = 1, progress: Callable[[str], None] | None = None) -> ScaleResult:
    """Fill an empty database with `clients` clients, `deals` deals and `events` timeline events
    (and `access` access events, a quarter of `events` unless given; `ledger` ledger transactions in
    all, at least a deposit and a transfer per live account, which is what None gives); see the
    module's docstring. Raises ScaleRefused when the database already has clients or a size is out
    of range."""
    from crm.models import AccessEvent, Client, Event, Task
    from demo.copying import secondary_indexes_dropped
    from trading.models import Deal, TradingAccount
    from trading.services import trading_summaries_rebuild
    from wallet.ledger import ledger_balance_checks_paused, ledger_verify

    if clients < 1:
        raise ScaleRefused("--clients must be at least 1")
    if deals < 0 or events < 0 or any(n is not None and n < 0 for n in (access, ledger)):
        raise ScaleRefused("--deals, --events, --access and --ledger cannot be negative")
    if Client.objects.exists():
        raise ScaleRefused("the database already has clients: scale_seed fills an empty one (a new database, "
                           "migrated)")
    say = progress or (lambda _line: None)
    access = events // 4 if access is None else access
    result = ScaleResult()
    clock = _Clock(result)
    started = time.perf_counter()
    rng = random.Random(seed)
    now = timezone.now().replace(microsecond=0)

    t0 = time.perf_counter()
    with transaction.atomic():  # all of the staff or none: a second run then starts clean
        desks, clearing, servers = _staff(clients=clients)
    result.seconds["staff (services)"] = time.perf_counter() - t0
    say(f"staff: {len(desks)} desks in {result.seconds['staff (services)']:.1f} s")

    writer = _BatchWriter(rng=rng, now=now, desks=desks, clearing=clearing, servers=servers, clock=clock,
                          totals=(clients, deals, events, access), ledger=ledger)
    # The ledger's per-row balance checks are paused for the load (outside a caller's transaction)
    # and made over every row by ledger_verify at the end; in a caller's transaction they run at its
    # commit. Its indexes stay: a posting's triggers find its legs through them.
    paused = nullcontext() if connection.in_atomic_block else ledger_balance_checks_paused()
    with paused, secondary_indexes_dropped(Client, Event, AccessEvent, Task, TradingAccount, Deal):
        for start in range(0, clients, BATCH_CLIENTS):
            count = min(BATCH_CLIENTS, clients - start)
            with transaction.atomic():
                writer.batch(start, count)
                t0 = time.perf_counter()
            # The commit runs the deferred checks (the ledger's triggers).
            result.seconds["commits"] = result.seconds.get("commits", 0.0) + time.perf_counter() - t0
            done = start + count
            elapsed = time.perf_counter() - started
            say(f"{done:,} of {clients:,} clients, {result.rows.get(Deal._meta.db_table, 0):,} deals "
                f"({elapsed:.0f} s)")
        t0 = time.perf_counter()
        with transaction.atomic():
            writer.finish()
        result.seconds["ledger balances"] = time.perf_counter() - t0
        t0 = time.perf_counter()
    result.seconds["indexes"] = time.perf_counter() - t0
    say(f"indexes built and foreign keys checked in {result.seconds['indexes']:.1f} s")
    # The accounts were written with COPY, past the services that keep trading's read models.
    t0 = time.perf_counter()
    trading_summaries_rebuild()
    result.seconds["trading summaries"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _analyze()
    result.seconds["analyze"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    problems = ledger_verify()
    result.seconds["ledger_verify"] = time.perf_counter() - t0
    if problems:
        raise RuntimeError(f"ledger_verify found problems in the generated ledger: {sorted(problems)}")
    result.total_seconds = time.perf_counter() - started
    return result


def _analyze() -> None:
    """Statistics of what was written, for the planner. Only a table's owner may ANALYZE it: where the
    schema belongs to another role (crm.lib.dbroles), the application's ANALYZE skips every table
    with a warning, and the pages would be planned on no statistics (or whatever autovacuum last
    saw) until autovacuum came by. The owner analyses the committed rows on a connection of its own;
    rows a caller's transaction still holds only that connection sees, so it analyses what it may."""
    from crm.lib import dbroles
    from crm.models import Client

    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return
    owner = dbroles.connect_as_owner()
    try:
        owner.autocommit = True
        with owner.cursor() as cursor:
            # The clients vacuumed too, as autovacuum would soon after the load: their pages marked
            # all visible, a list's capped count reads the owner's index alone instead of every
            # row's page. (The deals are left to autovacuum: a pass over a hundred million rows is
            # not the generator's to wait for.)
            cursor.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(Client._meta.db_table)))
            cursor.execute("ANALYZE")
    finally:
        owner.close()


def _plan_copy(table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    """`rows` into the temporary table `table` (made on first use with `columns`, emptied at each
    batch's commit), with COPY: the plan the database expands into a batch's rows."""
    with connection.cursor() as cursor:
        # `columns`: the callers' column definitions (this module's constants).
        cursor.execute(sql.SQL("CREATE TEMPORARY TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(
            sql.Identifier(table), sql.SQL(columns)).as_string(None))
    with connection.connection.cursor() as raw, raw.copy(sql.SQL("COPY {} FROM STDIN").format(
            sql.Identifier(table))) as copy:
        for row in rows:
            copy.write_row(row)


class _BatchWriter:
    """The rows of one batch of clients and what hangs off them, written with COPY."""

    def __init__(self, *, rng: random.Random, now: dt.datetime, desks: list[Staff], clearing: dict[int, tuple[int, int]],
                 servers: dict[int, int], clock: _Clock, totals: tuple[int, int, int, int],
                 ledger: int | None = None) -> None:
        self.rng = rng
        self.now = now
        self.desks = desks
        self.clearing = clearing
        self.servers = servers
        self.clock = clock
        self.clients, self.deals, self.events, self.access = totals
        self.ledger = ledger
        self.carry_moves = 0
        self.login = 5_000_000
        self.deal_id = 0
        self.position_id = 10**12
        self.reference = 0
        self.carry_deals = 0
        # What every batch posted to the brands' clearing and fee accounts (their balances, at the end).
        self.system_total: dict[int, Decimal] = dict.fromkeys((pk for pair in clearing.values() for pk in pair),
                                                               Decimal(0))
        self.stages = [s for s, _w in STAGES]
        self.stage_weights = [w for _s, w in STAGES]

    # one batch -------------------------------------------------------------------------------------

    def batch(self, start: int, count: int) -> None:
        from crm.lib.bulk import next_ids
        from crm.models import Client
        from trading.models import TradingAccount

        rng = self.rng
        (client_ids,) = next_ids((Client, count))
        clients = []
        accounts: list[_Account] = []
        for i, pk in enumerate(client_ids):
            n = start + i
            desk = self.desks[n % len(self.desks)]
            stage = rng.choices(self.stages, self.stage_weights)[0]
            created = self.now - dt.timedelta(seconds=rng.randrange(2 * 365 * DAY))
            clients.append((pk, n, desk, stage, created))
            if stage in TRADER_STAGES:
                for _ in range(2 if rng.random() < 0.2 else 1):
                    accounts.append(self._account(pk, desk, created, demo=False, stage=stage))
            elif stage in {"registered", "verified"} and rng.random() < 0.3:
                accounts.append(self._account(pk, desk, created, demo=True, stage=stage))
        (account_ids,) = next_ids((TradingAccount, len(accounts)))
        for account, pk in zip(accounts, account_ids, strict=True):
            account.id = pk
        live = [a for a in accounts if not a.demo]
        quota = _quota(self.deals, start, count, self.clients) + self.carry_deals
        self.carry_deals = 0
        if not live:
            self.carry_deals = quota
        else:
            # A few accounts trade most: weights from a long-tailed distribution. Deals come in
            # pairs (a position opened and closed), an odd one left open-ended.
            for account, n in zip(live, _spread(quota, [rng.paretovariate(1.2) for _ in live]), strict=True):
                account.deals = n
                if n:
                    last = self._last_trade(account)
                    account.last_trade = last
                    span = max(60, int((last - account.opened_at).total_seconds()))
                    account.first_trade = last - dt.timedelta(seconds=min(span, max(60, n * 3600)))
        for account in live:
            if account.stage == "active":
                account.positions = rng.choice((0, 0, 1, 2, 3))

        self._write_clients(clients)
        self._write_accounts(accounts)
        self._write_deals(live)
        self._write_positions(live)
        self._write_ledger(clients, live, self._moves_quota(start, count, live))
        self._write_events(clients)
        self._write_tasks(clients)

    def _moves_quota(self, start: int, count: int, live: list[_Account]) -> int:
        """The batch's money movements beyond each live account's deposit and transfer: its share of
        `ledger` (the ledger transactions asked for in all), less the two per live account."""
        if self.ledger is None:
            return 0
        quota = _quota(self.ledger, start, count, self.clients) + self.carry_moves
        extra = max(0, quota - 2 * len(live))
        self.carry_moves = extra if not live else 0
        return 0 if not live else extra

    def _owner(self, n: int, desk: Staff) -> int:
        """The agent of client number `n`: its desk's agents in turn. (Clients go to desks in turn,
        so `n` alone would give each desk's clients all to one of its agents.)"""
        return desk.owners[(n // len(self.desks)) % len(desk.owners)]

    def _account(self, client_id: int, desk: Staff, created: dt.datetime, *, demo: bool, stage: str) -> _Account:
        rng = self.rng
        self.login += 1
        opened = min(self.now - dt.timedelta(hours=1), created + dt.timedelta(seconds=rng.randrange(20 * DAY)))
        account = _Account(id=0, client_id=client_id, brand_id=desk.brand_id, server_id=self.servers[desk.brand_id],
                           login=self.login, demo=demo, opened_at=opened, stage=stage)
        if not demo:
            account.deposit = _money(Decimal(rng.choice((250, 500, 1000, 2500, 5000, 10000, 50000))), rng.uniform(0.8, 1.2))
        return account

    def _last_trade(self, account: _Account) -> dt.datetime:
        """Active traders traded in the last week; funded ones within a month or two; dormant ones
        long ago."""
        rng = self.rng
        ago = {"active": rng.uniform(0, 7), "funded": rng.uniform(0, 60)}.get(account.stage, rng.uniform(20, 200))
        return max(account.opened_at + dt.timedelta(minutes=1), self.now - dt.timedelta(days=ago))

    # the tables ------------------------------------------------------------------------------------------

    def _write_clients(self, clients: list[tuple[int, int, Staff, str, dt.datetime]]) -> None:
        from crm.lib.fieldcrypt import hasher, text_encrypter
        from crm.models import Client
        from demo.copying import copy_rows

        rng = self.rng
        # The contact details encrypted and hashed as the model's fields would (crm.lib.fieldcrypt).
        email_sealed, phone_sealed = text_encrypter(purpose="email"), text_encrypter(purpose="phone")
        email_hash, phone_hash = hasher(kind="email"), hasher(kind="phone")
        birth_sealed = text_encrypter(purpose="date_of_birth")
        columns = ("id", "code", "brand_id", "stage", "first_name", "last_name", "email", "phone", "email_hash",
                   "phone_hash", "country",
                   "nationality", "language", "timezone", "date_of_birth", "owner_id", "desk_id", "source",
                   "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
                   "referrer_code", "tags", "created_at", "updated_at", "stage_changed_at", "classification",
                   "verified_at")

        def rows() -> Iterator[tuple[Any, ...]]:
            for pk, n, desk, stage, created in clients:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                country = rng.choice(COUNTRIES)
                source = rng.choice(SOURCES)
                changed = created + dt.timedelta(seconds=rng.randrange(30 * DAY))
                changed = min(changed, self.now)
                email, phone = f"{first.lower()}.{last.lower()}.{n}@example.com", f"+4477{n:09d}"
                yield (pk, _uuid(rng), desk.brand_id, stage, first, last, email_sealed(email), phone_sealed(phone),
                       email_hash(email), phone_hash(phone), country, country,
                       LANGUAGES.get(country, "en"), "UTC",
                       birth_sealed((dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(18_000))).isoformat()),
                       self._owner(n, desk), desk.desk_id, source, f"{source}-{n % 12}", source, "cpc",
                       f"spring-{n % 12}", "", "", "", ["vip"] if n % 20 == 0 else [], created, changed, changed,
                       "retail", changed if stage in VERIFIED_STAGES else None)

        self.clock.write("crm_client", lambda: copy_rows(Client, columns, rows()))

    def _write_accounts(self, accounts: list[_Account]) -> None:
        from demo.copying import copy_rows
        from trading.models import AccountEquityDay, BalanceOperation, TradingAccount

        rng = self.rng
        today = self.now.date()
        states: dict[int, tuple[Decimal, Decimal, Decimal | None]] = {}
        for a in accounts:
            balance = a.deposit if not a.demo else Decimal("10000.00")
            equity = _money(balance, rng.uniform(0.5, 1.25))
            margin = Decimal(0)
            level: Decimal | None = None
            if a.positions:
                # Most accounts well covered; some under the margin call (100%).
                margin = _money(equity, 1 / rng.choice((2.0, 3.0, 5.0, 8.0, 0.9, 0.7)))
                level = (equity * 100 / margin).quantize(Decimal("0.01")) if margin else None
            states[a.id] = (equity, margin, level)
        columns = ("id", "code", "server_id", "client_id", "login", "is_demo", "account_type", "group", "currency",
                   "leverage", "access", "is_archived", "opened_at", "balance", "credit", "equity", "margin",
                   "free_margin", "margin_level", "state_observed_at", "last_synced_at", "history_synced",
                   "first_trade_at", "last_trade_at", "inactive_since", "margin_call_since", "created_at",
                   "updated_at", "closed_reason", "close_state", "close_attempts", "close_error")

        def rows() -> Iterator[tuple[Any, ...]]:
            for a in accounts:
                equity, margin, level = states[a.id]
                balance = a.deposit if not a.demo else Decimal("10000.00")
                in_call = level is not None and level < 100
                yield (a.id, _uuid(rng), a.server_id, a.client_id, a.login, a.demo, "standard",
                       "demo\\standard" if a.demo else "real\\standard", CURRENCY, 100 if a.demo else 200, "full",
                       False, a.opened_at, balance, Decimal(0), equity, margin, equity - margin, level, self.now,
                       self.now, True, a.first_trade, a.last_trade, None, self.now if in_call else None,
                       a.opened_at, self.now, "", "", 0, "")

        self.clock.write("trading_tradingaccount", lambda: copy_rows(TradingAccount, columns, rows()))
        live = [a for a in accounts if not a.demo]
        self.clock.write("trading_accountequityday", lambda: copy_rows(
            AccountEquityDay, ("account_id", "day", "high"),
            ((a.id, today - dt.timedelta(days=rng.randrange(30)),
              _money(max(states[a.id][0], a.deposit), rng.uniform(1.0, 1.6))) for a in live)))

        def operations() -> Iterator[tuple[Any, ...]]:
            for a in live:
                self.reference += 1
                at = a.opened_at + dt.timedelta(minutes=5)
                yield (_uuid(rng), f"S{self.reference:015d}", a.id, "balance", "scale deposit", "", "applied",
                       self.reference, 1, "", None, at, at, None, at, at, a.deposit, CURRENCY)

        self.clock.write("trading_balanceoperation", lambda: copy_rows(BalanceOperation, (
            "code", "reference", "account_id", "kind", "comment", "reason", "state", "platform_ticket", "attempts",
            "error", "requested_by_id", "sent_at", "resolved_at", "next_check_at", "created_at", "updated_at",
            "amount", "currency"), operations()))

    def _write_deals(self, live: list[_Account]) -> None:
        """The batch's deals, made by the database from one plan row per trading account (its deal
        count, first and last trade, first deal and position id): a hundred million rows cannot be
        built one Python tuple at a time within the hour. Deals come in pairs (a position opened and
        closed, the closing one with its profit), evenly spaced from the first trade to the last; the
        symbol, volume and side of a position, and a closing deal's profit, are picked by mixing its
        ids (the same data set for the same seed)."""
        from crm.lib.partitions import month_partitions_span
        from demo.copying import copy_columns
        from trading.models import Deal

        plan = []
        for a in live:
            if not a.deals or a.first_trade is None or a.last_trade is None:
                continue
            first = a.first_trade.timestamp()
            step = (a.last_trade.timestamp() - first) / max(1, a.deals - 1)
            plan.append((a.server_id, a.id, a.login, a.deals, first, step, self.deal_id + 1, self.position_id + 1))
            self.deal_id += a.deals
            self.position_id += (a.deals + 1) // 2
        if not plan:
            return
        # The deal table is partitioned by month: the months of this batch's deals first.
        month_partitions_span(Deal._meta.db_table, min(a.first_trade for a in live if a.deals and a.first_trade),
                              max(a.last_trade for a in live if a.deals and a.last_trade))
        names = ("server_id", "account_id", "deal_id", "login", "time", "platform_time_msc", "kind", "action",
                   "entry", "side", "position_id", "order_id", "symbol", "volume", "price", "profit", "commission",
                   "swap", "fee", "comment", "reason", "content_hash", "raw", "first_seen_at", "updated_at")
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in copy_columns(Deal, names))

        def write() -> int:
            _plan_copy("scale_deal_plan", "server_id bigint, account_id bigint, login bigint, deals integer, "
                       "first_s double precision, step double precision, deal_start bigint, position_start bigint",
                       plan)
            with connection.cursor() as cursor:
                cursor.execute(
                    sql_text("demo", "scale/deals", deals=sql.Identifier(Deal._meta.db_table), columns=columns),
                    [[s for s, _p in SYMBOLS], len(SYMBOLS), VOLUMES, len(VOLUMES), [p for _s, p in SYMBOLS],
                     len(SYMBOLS), PROFITS, len(PROFITS)])
                return int(cursor.rowcount)

        self.clock.write(Deal._meta.db_table, write)

    def _write_positions(self, live: list[_Account]) -> None:
        from demo.copying import copy_rows
        from trading.models import Position

        rng = self.rng

        def rows() -> Iterator[tuple[Any, ...]]:
            for a in live:
                for _ in range(a.positions):
                    self.position_id += 1
                    symbol, price = SYMBOLS[rng.randrange(len(SYMBOLS))]
                    opened = self.now - dt.timedelta(seconds=rng.randrange(5 * DAY))
                    move = Decimal(f"{rng.uniform(0.98, 1.02):.4f}")
                    yield (a.server_id, a.id, self.position_id, symbol, rng.choice(("buy", "buy", "sell")),
                           Decimal(rng.choice(("0.01", "0.10", "0.50", "1.00", "3.00"))), price, price * move,
                           _money(Decimal(rng.randint(-80000, 60000)) / 100), _money(Decimal(rng.randint(-2000, 500)) / 100), opened, "", self.now)

        self.clock.write("trading_position", lambda: copy_rows(Position, (
            "server_id", "account_id", "position_id", "symbol", "side", "volume", "price_open", "price_current",
            "profit", "swap", "opened_at", "comment", "observed_at"), rows()))

    def _write_ledger(self, clients: list[tuple[int, int, Staff, str, dt.datetime]], live: list[_Account],
                      moves: int = 0) -> None:
        """Per client with live accounts: a wallet; per live account a mirror, a deposit into the
        wallet and a transfer of most of it to the account, with the deposit's events (and the
        client's first deposit's); then `moves` further movements (_write_moves). Balances are
        written with the accounts (every posting of theirs is in this batch); the clearing and fee
        accounts' at the end."""
        from crm.lib.bulk import next_ids
        from crm.models import Event
        from demo.copying import copy_rows
        from wallet.models import LedgerAccount, LedgerBalance, LedgerLeg, LedgerTransaction
        from wallet.models.ledger import DEBIT_NORMAL_KINDS, NON_NEGATIVE_KINDS, AccountKind, NormalSide

        if not live:
            return
        rng = self.rng
        owners = {a.client_id for a in live}
        brand_of = {pk: desk.brand_id for pk, _n, desk, _s, _c in clients}
        funds_ids, tx_ids = next_ids((LedgerAccount, len(owners)), (LedgerTransaction, 2 * len(live)))
        (mirror_ids,) = next_ids((LedgerAccount, len(live)))
        funds_of = dict(zip(sorted(owners), funds_ids, strict=True))
        mirror_of = {a.id: pk for a, pk in zip(live, mirror_ids, strict=True)}

        wallet_kind, mirror_kind = AccountKind.CLIENT_WALLET, AccountKind.TRADING_MIRROR

        def side(kind: AccountKind) -> str:
            return str(NormalSide.DEBIT if kind in DEBIT_NORMAL_KINDS else NormalSide.CREDIT)

        # Plain strings in the rows: an enum would be written by its name.
        accounts: list[tuple[Any, ...]] = [(pk, _uuid(rng), str(wallet_kind), CURRENCY, brand_of[client], client, None, "", "",
                     side(wallet_kind), wallet_kind not in NON_NEGATIVE_KINDS, self.now)
                    for client, pk in funds_of.items()]
        accounts += [(mirror_of[a.id], _uuid(rng), str(mirror_kind), CURRENCY, a.brand_id, None, a.id, "", "",
                      side(mirror_kind), mirror_kind not in NON_NEGATIVE_KINDS, self.now) for a in live]
        self.clock.write("wallet_ledgeraccount", lambda: copy_rows(LedgerAccount, (
            "id", "code", "kind", "currency", "brand_id", "client_id", "trading_account_id", "owner_ref", "name",
            "normal_side", "may_go_negative", "created_at"), accounts))

        transactions = []
        legs = []
        events = []
        funded: set[int] = set()
        balances: dict[int, Decimal] = {}
        for i, a in enumerate(live):
            wallet, mirror, clearing = funds_of[a.client_id], mirror_of[a.id], self.clearing[a.brand_id][0]
            deposit = a.deposit
            moved = _money(deposit, rng.choice((1.0, 1.0, 0.9, 0.75)))
            paid_at = a.opened_at + dt.timedelta(minutes=2)
            moved_at = a.opened_at + dt.timedelta(minutes=5)
            for tx_id, kind, at, pairs in (
                (tx_ids[2 * i], "deposit", paid_at, ((clearing, -deposit), (wallet, deposit))),
                (tx_ids[2 * i + 1], "transfer", moved_at, ((wallet, -moved), (mirror, moved))),
            ):
                transactions.append((tx_id, _uuid(rng), f"scale:{kind}:{tx_id}", f"{tx_id:064x}", kind, "", at, at,
                                     None, None, "", None, "{}", "", ""))
                for account_id, amount in pairs:
                    legs.append((tx_id, account_id, CURRENCY, amount, at))
                    if account_id == clearing:
                        self.system_total[clearing] += amount
                    else:
                        balances[account_id] = balances.get(account_id, Decimal(0)) + amount
            # The deposit's events, as the wallet emits them (wallet.deposits): the client's first one
            # also proves them funded.
            code, first = str(_uuid(rng)), a.client_id not in funded
            funded.add(a.client_id)
            events.append((_uuid(rng), "wallet.deposit_succeeded", a.client_id, a.brand_id, json.dumps({
                "deposit": code, "amount": str(deposit), "credited": str(deposit), "fee": "0.00", "currency": CURRENCY,
                "method": "card", "provider": PSP, "first": first}), paid_at, paid_at, paid_at, ""))
            if first:
                events.append((_uuid(rng), "wallet.first_deposit", a.client_id, a.brand_id, json.dumps({
                    "deposit": code, "amount": str(deposit), "currency": CURRENCY, "method": "card"}),
                    paid_at, paid_at, paid_at, ""))
        if legs:
            from crm.lib.partitions import month_partitions_span

            # The legs and events are partitioned by month: the months of this batch's postings first.
            for table in (LedgerLeg._meta.db_table, Event._meta.db_table):
                month_partitions_span(table, min(leg[4] for leg in legs), max(leg[4] for leg in legs))
        self.clock.write("wallet_ledgertransaction", lambda: copy_rows(LedgerTransaction, (
            "id", "code", "idempotency_key", "fingerprint", "kind", "memo", "occurred_at", "recorded_at",
            "reverses_id", "rate", "rate_source", "actor_id", "metadata", "ref_kind", "ref_code"), transactions))
        self.clock.write("wallet_ledgerleg", lambda: copy_rows(LedgerLeg, (
            "transaction_id", "account_id", "currency", "amount", "recorded_at"), legs))
        self.clock.write(MONEY_EVENTS_LABEL, lambda: copy_rows(Event, (
            "uuid", "name", "client_id", "brand_id", "data", "occurred_at", "created_at", "dispatched_at",
            "request_id"), events))
        if moves:
            for account_id, amount in self._write_moves(live, funds_of, mirror_of, moves).items():
                if account_id in self.system_total:
                    self.system_total[account_id] += amount
                else:
                    balances[account_id] = balances.get(account_id, Decimal(0)) + amount
        negative = {pk: may for pk, *_rest, may, _at in accounts}
        self.clock.write("wallet_ledgerbalance", lambda: copy_rows(LedgerBalance, (
            "account_id", "currency", "may_go_negative", "balance", "held", "updated_at"),
            [(pk, CURRENCY, negative[pk], balances.get(pk, Decimal(0)), Decimal(0), self.now) for pk in negative]))

    def _write_moves(self, live: list[_Account], funds_of: dict[int, int], mirror_of: dict[int, int],
                     moves: int) -> dict[int, Decimal]:
        """`moves` ledger transactions over the batch's live accounts after their first deposit (a few
        accounts move most), made by the database from one plan row per account, as the deals are
        (ten million postings cannot be built one Python tuple at a time within the hour). Each
        account's movements are evenly spaced from its opening to now, in cycles of four: a deposit
        through the PSP (its fee to the brand's fee account) with its wallet.deposit_succeeded event;
        a transfer of what was credited to the trading account; half of it transferred back; and that
        half withdrawn through the PSP, with its wallet.withdrawal_paid event. A cycle leaves the
        wallet as it found it, so no wallet goes below zero at any time. The amounts and methods
        are picked by mixing the ids (the same data set for the same seed). Returns what the
        movements added to each ledger account, for the balance rows."""
        from crm.lib.partitions import month_partitions_span
        from crm.models import Event
        from wallet.models import LedgerLeg, LedgerTransaction

        rng = self.rng
        plan = []
        end = self.now.timestamp() - 60
        for a, n in zip(live, _spread(moves, [rng.paretovariate(2.0) for _ in live]), strict=True):
            if not n:
                continue
            first = (a.opened_at + dt.timedelta(minutes=30)).timestamp()
            clearing, fees = self.clearing[a.brand_id]
            plan.append((a.id, a.client_id, a.brand_id, funds_of[a.client_id], mirror_of[a.id], clearing, fees, n,
                         first, max(0.0, end - first) / n))
        if not plan:
            return {}
        earliest = min(a.opened_at for a in live)
        for table in (LedgerLeg._meta.db_table, Event._meta.db_table):
            month_partitions_span(table, earliest, self.now)
        tx_table, leg_table, event_table = (sql.Identifier(m._meta.db_table)
                                            for m in (LedgerTransaction, LedgerLeg, Event))
        totals: dict[int, Decimal] = {}

        def write() -> int:
            _plan_copy("scale_money_plan", "account_id bigint, client_id bigint, brand_id bigint, funds_id bigint, "
                       "mirror_id bigint, clearing_id bigint, fees_id bigint, moves integer, first_s double precision, "
                       "gap double precision", plan)
            with connection.cursor() as cursor:
                cursor.execute(
                    "CREATE TEMPORARY TABLE IF NOT EXISTS scale_money_move (id bigint, at timestamptz, step integer, "
                    "client_id bigint, brand_id bigint, method text, amount numeric, fee numeric, "
                    "a1 bigint, x1 numeric, a2 bigint, x2 numeric, a3 bigint, x3 numeric) ON COMMIT DELETE ROWS")
                # Per cycle (k / 4): D paid in, its fee, C = D - fee credited and moved, R = C / 2 back
                # and withdrawn.
                cursor.execute(
                    "INSERT INTO scale_money_move "
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')), at, step, client_id, brand_id, method, "
                    "       CASE step WHEN 0 THEN d WHEN 1 THEN c ELSE r END, CASE step WHEN 0 THEN fee ELSE 0 END, "
                    "       CASE step WHEN 0 THEN clearing_id WHEN 1 THEN funds_id WHEN 2 THEN mirror_id ELSE funds_id END, "
                    "       CASE step WHEN 0 THEN -d WHEN 1 THEN -c ELSE -r END, "
                    "       CASE step WHEN 0 THEN funds_id WHEN 1 THEN mirror_id WHEN 2 THEN funds_id ELSE clearing_id END, "
                    "       CASE step WHEN 0 THEN c WHEN 1 THEN c ELSE r END, "
                    "       CASE WHEN step = 0 AND fee <> 0 THEN fees_id END, CASE WHEN step = 0 THEN fee END "
                    "FROM (SELECT m.*, d - fee AS c, round((d - fee) / 2, 2) AS r FROM ("
                    "  SELECT p.*, to_timestamp(p.first_s + p.gap * k) AS at, (k %% 4)::integer AS step, "
                    "         (%s::numeric[])[1 + mix %% %s] AS d, "
                    "         CASE WHEN (mix / 100) %% 4 = 3 THEN 0 ELSE round((%s::numeric[])[1 + mix %% %s] * 0.015, 2) END AS fee, "
                    "         (ARRAY['card', 'card', 'ewallet', 'bank_wire'])[1 + (mix / 100) %% 4] AS method "
                    "  FROM scale_money_plan p CROSS JOIN LATERAL generate_series(0, p.moves - 1) AS k "
                    "  CROSS JOIN LATERAL (SELECT abs(hashint8(p.account_id * 1000003 + k / 4)::bigint) AS mix) h"
                    ") m ORDER BY m.account_id, m.at) x",  # the account's cycles in time order
                    [LedgerTransaction._meta.db_table, DEPOSITS, len(DEPOSITS), DEPOSITS, len(DEPOSITS)])
                written = int(cursor.rowcount)
                cursor.execute(sql_text("demo", "scale/money_transactions", transactions=tx_table), [PSP])
                cursor.execute(sql_text("demo", "scale/money_legs", legs=leg_table), [CURRENCY])
                cursor.execute(sql_text("demo", "scale/money_events", events=event_table),
                               [CURRENCY, PSP, CURRENCY, PSP])
                self.clock.result.rows[MONEY_EVENTS_LABEL] = (
                    self.clock.result.rows.get(MONEY_EVENTS_LABEL, 0) + cursor.rowcount)
                cursor.execute(
                    "SELECT l.account_id, sum(l.amount) FROM scale_money_move m "
                    "CROSS JOIN LATERAL (VALUES (m.a1, m.x1), (m.a2, m.x2), (m.a3, m.x3)) AS l(account_id, amount) "
                    "WHERE l.account_id IS NOT NULL GROUP BY 1")
                totals.update(cursor.fetchall())
            return written

        self.clock.write("ledger movements", write)
        return totals

    def _write_events(self, clients: list[tuple[int, int, Staff, str, dt.datetime]]) -> None:
        from crm.lib.partitions import PARTITIONED_TABLES, month_partitions_ensure
        from crm.models import AccessEvent, Event
        from demo.copying import copy_rows

        rng = self.rng
        start = clients[0][1]
        count = len(clients)
        events = _quota(self.events, start, count, self.clients)
        views = _quota(self.access, start, count, self.clients)
        # A few clients have long timelines (one in fifty holds a third of the events).
        weights = [30.0 if n % 50 == 0 else 1.0 for _pk, n, *_rest in clients]
        # The history's months (the tables are partitioned by month, crm.lib.partitions).
        first = min(created for *_rest, created in clients)
        for model in (Event, AccessEvent):
            if model._meta.db_table in PARTITIONED_TABLES:
                month_partitions_ensure(model._meta.db_table, first, self.now)

        def timeline() -> Iterator[tuple[Any, ...]]:
            for pk, n, desk, stage, created in rng.choices(clients, weights, k=events):
                at = created + dt.timedelta(seconds=rng.randrange(max(1, int((self.now - created).total_seconds()))))
                name = TIMELINE_EVENTS[rng.randrange(len(TIMELINE_EVENTS))]
                data = json.dumps({"excerpt": "Called the client about the platform", "stage": stage, "n": n})
                yield (_uuid(rng), name, pk, desk.brand_id, self._owner(n, desk), data, at, at, at, "")

        self.clock.write(Event._meta.db_table, lambda: copy_rows(Event, (
            "uuid", "name", "client_id", "brand_id", "actor_id", "data", "occurred_at", "created_at", "dispatched_at",
            "request_id"), timeline()))

        def looks() -> Iterator[tuple[Any, ...]]:
            for pk, n, desk, _stage, created in rng.choices(clients, weights, k=views):
                at = created + dt.timedelta(seconds=rng.randrange(max(1, int((self.now - created).total_seconds()))))
                kind = ACCESS_KINDS[rng.randrange(len(ACCESS_KINDS))]
                yield (self._owner(n, desk), pk, kind, at, None, "", "", "",
                       1 if kind == "search" else None)

        self.clock.write("crm_accessevent", lambda: copy_rows(AccessEvent, (
            "user_id", "client_id", "kind", "at", "ip", "user_agent", "request_id", "detail", "rows"), looks()))

    def _write_tasks(self, clients: list[tuple[int, int, Staff, str, dt.datetime]]) -> None:
        from crm.models import Task
        from demo.copying import copy_rows

        rng = self.rng
        rows = [(_uuid(rng), pk, "Call back about the next deposit", "", self._owner(n, desk),
                 self._owner(n, desk), self.now + dt.timedelta(hours=rng.randrange(-72, 240)),
                 self.now - dt.timedelta(days=1))
                for pk, n, desk, stage, _created in clients if stage in TRADER_STAGES and n % 3 == 0]
        self.clock.write("crm_task", lambda: copy_rows(Task, (
            "code", "client_id", "title", "description", "assignee_id", "created_by_id", "due_at", "created_at"),
            rows))

    def finish(self) -> None:
        """The clearing and fee accounts' balances: what every batch posted to them."""
        from wallet.models import LedgerBalance

        for pk, total in self.system_total.items():
            LedgerBalance.objects.filter(account_id=pk).update(balance=total, updated_at=self.now)
