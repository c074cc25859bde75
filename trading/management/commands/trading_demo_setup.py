"""`manage.py trading_demo_setup`: the demo brands' trading server on the simulator, and accounts for
a few hundred funded and active demo clients whose simulated traders then trade.

Run it after the simulator has started (`python -m trading.simulator --port 8443 --state-dir
var/mt5sim --realtime 1`, which `make run` starts): it waits for the simulator to answer, reads its
manager credentials, control token and certificate from the state directory, creates (or updates)
one platform server per demo brand pointing at it, and opens accounts through the real services
(`trading_account_open` over the MT5 Web API, a deposit into the client's wallet and a transfer
from it to the account, as production funds one: trading.demo_funding),
giving each account a trader persona through the simulator's control API. Beat's deal and account
state polls bring their deals and balances into the CRM within a minute.

Retention and dealing content: on a fresh setup a few clients of each server first get the states
the retention workspace and the exposure page are about (``RETENTION_SCENARIOS``): traders who
last traded 10 to 75 days ago (their account is opened, funded and trades once while the
simulator's clock is turned back, so the deals, the opening and the inactivity signals are the
platform's own and reach the CRM through the ordinary sync), one who never traded, equity drops
(a peak recorded by an account state poll, then a losing trade), a margin call (a position held
with too little money) and accounts in yen next to the dollar ones.

Other platforms (``--face ctrader`` / ``matchtrader`` / ``sirix`` / ``mt4bridge``, against a simulator
started with that face): the demo brand of that platform (``FACES``, made with its few clients by
``trading_seed_demo_platforms``) gets its server on the face, and each of its clients an account
opened and funded through the same services; there is no retention story on these.
``--faces-in-use`` prints the faces whose demo brand exists (and is active), one a line, so that
``make run`` starts only the simulators the demo uses.

Idempotent: clients that already have an account are left alone and only the missing accounts
(one per funded or active client, or up to --accounts in all) are opened; running it again after a restart just updates the server's
connection settings. For a brand without leverage caps yet it also sets the brand's trading policy
(ceilings, caps by country and classification in the EU/EEA and the UK, who may get a live account)
and classifies a few of its clients in those markets as professional.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import re
import ssl
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext

from crm.exceptions import DomainError
from crm.models import Brand, Classification, Client, Stage
from crm.services import client_classification_set
from plumbing.demo_parts import Shards, demo_jobs, shard_parse
from trading.demo_funding import demo_account_deposit
from trading.exceptions import LeverageAboveCap, PlatformFailed
from trading.models import BalanceOperation, LeverageCap, PlatformServer, TradingAccount
from trading.services import (
    brand_trading_policy_set,
    leverage_cap_save,
    platform_server_save,
    trading_account_open,
)

SERVER_NAME = "MT5 demo (simulator)"


@dataclass(frozen=True)
class Face:
    """A platform besides MT5 that the demo shows, with the brand that runs on it."""

    label: str
    brand_code: str
    brand_name: str
    currency: str
    server_name: str


# The demo's brands on the other platforms: one each, so that staff see three platforms side by side.
FACES = {
    "ctrader": Face("cTrader", "orion", "Orion Trade", "USD", "cTrader demo (simulator)"),
    "matchtrader": Face("Match-Trader", "meridian", "Meridian Markets", "USD", "Match-Trader demo (simulator)"),
    "sirix": Face("Sirix", "halcyon", "Halcyon Capital", "USD", "Sirix demo (simulator)"),
    "mt4bridge": Face("MT4", "granite", "Granite FX", "USD", "MT4 demo (bridge simulator)"),
}
DEMO_BRANDS = ("atlas", "nova")
SEED = 20_260_302
ACCOUNT_TYPES = {
    # The one a new client's first live account opens with unless they choose another: every demo
    # client can open it (1:30 fits the caps of the EU and UK's retail clients; 1:10 to 1:25 the
    # regulators' defaults elsewhere, trading.policy.REGULATOR_RETAIL_CAPS).
    "standard": {"label": "Standard", "group": "real\\standard", "leverages": [10, 20, 25, 30, 50, 100, 200, 500],
                 "currency": "USD", "default": True},
    "pro": {"label": "Pro (commission)", "group": "real\\pro", "leverages": [30, 50, 100, 200], "currency": "USD"},
    "cent": {"label": "Cent", "group": "real\\cent", "leverages": [100, 500, 1000], "currency": "USD"},
    "demo": {"label": "Demo", "group": "demo\\standard", "leverages": [100, 500], "demo": True, "currency": "USD"},
    "jpy": {"label": "Standard (JPY)", "group": "real\\jpy", "leverages": [10, 20, 25, 30, 50, 100, 200],
            "currency": "JPY"},
}
CLOSE_ONLY = {"real\\standard": "real\\standard-closeonly", "real\\pro": "real\\pro-closeonly"}
# The brands' ceilings (live, demo). Nova FX is regulated in the EU: every retail client at most 1:30;
# Atlas Markets caps retail clients in the EU, the EEA and the UK (ESMA, FCA) and not elsewhere.
LEVERAGE_CAPS = {"atlas": (500, 1000), "nova": (200, 500)}
EEA_AND_UK = ("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT",
              "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "GB")
# (country, classification, cap) per brand; "" is any. The brands on the other platforms cap their
# retail clients in the EU, the EEA and the UK as Atlas does.
CAP_RULES = {
    "atlas": [*((c, Classification.RETAIL, 30) for c in EEA_AND_UK), ("GB", Classification.PROFESSIONAL, 200)],
    "nova": [("", Classification.RETAIL, 30)],
    **{face.brand_code: [(c, Classification.RETAIL, 30) for c in EEA_AND_UK] for face in FACES.values()},
}
# Live accounts: the least stage, and whether a verification is needed.
OPENING = {"atlas": (Stage.REGISTERED, False), "nova": (Stage.REGISTERED, True)}
PROFESSIONAL_SHARE = 0.1  # of the funded and active clients in capped markets
# What the first clients of a fresh setup get, in this order, so that a small demo shows each kind:
# (kind, days ago, deposit, size: the share of equity lost, or margin level wanted).
RETENTION_SCENARIOS = (
    ("margin_call", 0, 0, Decimal("0.70")),
    ("drop", 0, 12_000, Decimal("0.35")),
    ("dormant", 45, 3_000, None),
    ("dormant", 75, 8_000, None),
    ("yen", 0, 1_500_000, None),
    ("dormant", 10, 2_500, None),
    ("dormant", 20, 6_000, None),
    ("never_traded", 40, 1_000, None),
    ("drop", 0, 20_000, Decimal("0.22")),
    ("yen", 0, 800_000, None),
)
DAY_SECONDS = 86_400
# (persona, weight, deposit range)
PERSONAS = (
    ("swing", 40, (2_000, 25_000)),
    ("scalper", 25, (1_000, 10_000)),
    ("dormant", 20, (250, 5_000)),
    ("latency_arb", 10, (5_000, 50_000)),
    ("hedger", 5, (10_000, 50_000)),
)


def brand_caps_seed(brand: Brand) -> None:
    """The demo brand's trading policy (ceilings, who may get a live account) and its cap rules by
    country and classification (CAP_RULES); the rules it has are left as they are."""
    live, demo = LEVERAGE_CAPS.get(brand.code, (500, 1000))
    stage, verified = OPENING.get(brand.code, (Stage.REGISTERED, False))
    brand_trading_policy_set(actor=None, brand=brand, max_leverage_live=live, max_leverage_demo=demo,
                             live_min_stage=stage, live_requires_verification=verified)
    for country, classification, cap in CAP_RULES.get(brand.code, []):
        if not LeverageCap.objects.filter(brand=brand, country=country, classification=classification).exists():
            leverage_cap_save(actor=None, brand=brand, country=country, classification=classification,
                              max_leverage=cap)


class Simulator:
    def __init__(self, host: str, port: int, state_dir: Path) -> None:
        self.host, self.port, self.state_dir = host, port, state_dir
        self.ca_file = str(state_dir / "cert.pem")
        self.config: dict[str, Any] = {}
        self._conn: http.client.HTTPSConnection | None = None

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                self.config = json.loads((self.state_dir / "config.json").read_text(encoding="utf-8"))
                self.control("/_sim/status")
                return
            except (OSError, ValueError, KeyError, ssl.SSLError, CommandError) as exc:
                last = exc
                time.sleep(0.5)
        raise CommandError(f"the simulator at {self.host}:{self.port} (state {self.state_dir}) did not answer "
                           f"within {seconds:.0f} s: {last}")

    def control(self, path: str, body: Any = None) -> Any:
        """One call of the simulator's control API, over a kept-alive connection (a handshake per call
        cost a few hundred of them per demo); a connection the simulator has closed meanwhile is
        opened again once, which is safe because only a request that was never answered is resent."""
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"X-Sim-Token": str(self.config["control_token"]), "Content-Type": "application/json"}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST" if payload is not None else "GET", path, body=payload, headers=headers)
                response = conn.getresponse()
                data = json.loads(response.read())
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
            except BaseException:
                self.close()
                raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        if response.status != 200:
            raise CommandError(f"simulator {path}: HTTP {response.status} {data}")
        return data

    def _connection(self) -> http.client.HTTPSConnection:
        if self._conn is None:
            context = ssl.create_default_context(cafile=self.ca_file)
            self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=30, context=context)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def manager(self) -> dict[str, Any]:
        manager: dict[str, Any] = self.config["managers"][0]
        return manager


class Command(BaseCommand):
    help = "Create the demo brands' MT5 server on the simulator and open trading accounts for demo clients."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--state-dir", default=os.environ.get("MT5SIM_STATE_DIR") or str(settings.VAR_DIR / "mt5sim"))
        parser.add_argument("--host", default=os.environ.get("MT5SIM_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("MT5SIM_PORT", "8443")))
        parser.add_argument("--accounts", type=int, default=None,
                            help="demo accounts wanted in all (default: one for every funded or active client)")
        parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the simulator")
        parser.add_argument("--face", choices=["mt5", *FACES], default="mt5",
                            help="the platform the simulator speaks (mt5: the MT5 demo brands; else that "
                                 "platform's demo brand)")
        parser.add_argument("--faces-in-use", action="store_true",
                            help="print the other platforms whose demo brand exists, one a line, and stop")
        parser.add_argument("--jobs", type=int, default=1,
                            help="open the MT5 demo's accounts in this many processes (0: one more than the "
                                 "cores, at most 4); each opens those of its clients (by id) over its own "
                                 "connection to the simulator")
        parser.add_argument("--shard", type=shard_parse, default=None, metavar="K/N",
                            help="open only the accounts of part K of N (of --jobs; the servers and the "
                                 "retention stories are made by part 0 first)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["faces_in_use"]:
            used = set(Brand.objects.filter(code__in=[f.brand_code for f in FACES.values()], is_active=True)
                       .values_list("code", flat=True))
            for name, face in FACES.items():
                if face.brand_code in used:
                    self.stdout.write(name)
            return
        sim = Simulator(options["host"], options["port"], Path(options["state_dir"]).resolve())
        sim.wait(options["wait"])
        if options["face"] != "mt5":
            self._face(sim, options["face"])
            return
        brands = list(Brand.objects.filter(code__in=DEMO_BRANDS, is_active=True)) or list(
            Brand.objects.filter(is_active=True).exclude(code__in=[f.brand_code for f in FACES.values()])[:2])
        if not brands:
            self.stdout.write("trading demo: no brand yet (load the demo data first); nothing to do")
            return
        if options["shard"] is not None:
            # One part of a run with --jobs: the servers are made; open this part's accounts only.
            number, count = options["shard"]
            servers = list(PlatformServer.objects.filter(brand__in=brands, name=SERVER_NAME))
            opened = sum(self._accounts(sim, server, part=options["shard"]) for server in servers)
            self.stdout.write(f"trading demo: part {number} of {count}: {opened} account(s) opened")
            return
        servers = [self._server(sim, brand) for brand in brands]
        have = TradingAccount.objects.filter(server__in=servers).count()
        opened = 0
        rng = random.Random(SEED + have)
        if options["accounts"] is None:
            # Every funded or active client gets an account (a hedger two), so no funded client
            # of the demo is without one; on a fresh setup the first ones tell the retention stories
            # (before any other account: they turn the simulator's clock back).
            for server in servers:
                if not TradingAccount.objects.filter(server=server).exists():
                    opened += self._retention_scenarios(sim, server, rng)
            opened += self._accounts_in_parts(sim, servers, jobs=demo_jobs(options["jobs"]), options=options)
        else:
            wanted = max(0, options["accounts"] - have)
            for index, server in enumerate(servers):
                share = wanted // len(servers) + (1 if index < wanted % len(servers) else 0)
                opened += self._accounts(sim, server, share)
        total = TradingAccount.objects.filter(server__in=servers).count()
        self.stdout.write(f"trading demo: {len(servers)} server(s) on the simulator at {sim.host}:{sim.port}; "
                          f"{opened} account(s) opened now, {total} in all")

    def _face(self, sim: Simulator, name: str) -> None:
        """The face's demo brand on its server, and an account for each of its clients (registered
        or further) that has none there yet."""
        face = FACES[name]
        brand = Brand.objects.filter(code=face.brand_code, is_active=True).first()
        if brand is None:
            self.stdout.write(f"trading demo: {face.label}: no brand {face.brand_code} yet (load the demo data "
                              "first); nothing to do")
            return
        server = self._server(sim, brand, face=name)
        opened = self._accounts(sim, server)
        total = TradingAccount.objects.filter(server=server).count()
        self.stdout.write(f"trading demo: {face.label} server of {brand.name} on the simulator at {sim.host}:{sim.port}; "
                          f"{opened} account(s) opened now, {total} in all")

    def _server(self, sim: Simulator, brand: Brand, face: str = "mt5") -> PlatformServer:
        values: dict[str, Any] = {
            "host": sim.host, "port": sim.port, "manager_login": int(sim.manager["login"]), "ca_file": sim.ca_file,
            "verify_tls": True, "timeout_seconds": 10,
            "server_tz": str(sim.config.get("server_tz") or ""),
            "server_tz_offset_minutes": int(sim.config.get("server_tz_offset_minutes", 120)),
        }
        # cTrader, Match-Trader, Sirix and the MT4 bridge set close-only per account: no close-only groups.
        name, kind, close_only = ((SERVER_NAME, "mt5_web", CLOSE_ONLY) if face == "mt5"
                                  else (FACES[face].server_name, face, {}))
        server = PlatformServer.objects.filter(brand=brand, name=name).first()
        if server is None:
            server = platform_server_save(
                actor=None, manager_password=str(sim.manager["password"]), brand=brand, name=name,
                kind=kind, is_active=True, account_types=ACCOUNT_TYPES, close_only_groups=close_only,
                sync_enabled=True, deal_poll_seconds=15, state_poll_seconds=20, **values)
        else:
            # A fresh simulator state has a new manager password and certificate; account types added
            # to the demo since the server was made are added (the ones it has are left as they are).
            # A server made before the demo marked a default type gets the mark on "standard".
            types = {**ACCOUNT_TYPES, **(server.account_types or {})}
            if not any(isinstance(t, dict) and t.get("default") is True for t in types.values()):
                types["standard"] = {**types["standard"], "default": True}
            server = platform_server_save(actor=None, server=server, manager_password=str(sim.manager["password"]),
                                          account_types=types, **values)
        if not LeverageCap.objects.filter(brand=brand).exists():  # first run (or a database from before the caps)
            self._policy(brand)
        return server

    def _policy(self, brand: Brand) -> None:
        """The brand's ceilings, who may get a live account, the caps by country and classification, and
        a few professional clients (opted up) in the capped markets."""
        brand_caps_seed(brand)
        rng = random.Random(SEED)
        capped = {c for c, _cls, _cap in CAP_RULES.get(brand.code, []) if c}
        candidates = Client.objects.filter(brand=brand, stage__in=[Stage.FUNDED, Stage.ACTIVE],
                                           classification=Classification.RETAIL).order_by("id")
        if capped:
            candidates = candidates.filter(country__in=capped)
        for client in candidates:
            if rng.random() < PROFESSIONAL_SHARE:
                client_classification_set(actor=None, client=client, classification=Classification.PROFESSIONAL,
                                          reason="Opted up: qualifying trading history and portfolio (demo)")

    @staticmethod
    def _eligible(server: PlatformServer) -> Any:
        # On MT5 the funded and active clients of the big demo; a face's brand has only its few demo
        # clients, each of whom gets an account from registration on.
        stages = ([Stage.FUNDED, Stage.ACTIVE] if server.kind == "mt5_web"
                  else [Stage.REGISTERED, Stage.VERIFIED, Stage.FUNDED, Stage.ACTIVE])
        return Client.objects.filter(brand=server.brand, stage__in=stages).exclude(trading_accounts__server=server)

    def _accounts_in_parts(self, sim: Simulator, servers: list[PlatformServer], *, jobs: int,
                           options: dict[str, Any]) -> int:
        """An account for every eligible client of `servers`, opened by `jobs` processes at once
        (this one and jobs - 1 more, each with its part of the clients, by id): opening one waits on
        the simulator and on PostgreSQL most of the time, so that several keep the machine busy."""
        if jobs <= 1 or sum(self._eligible(server).count() for server in servers) < 2 * jobs:
            return sum(self._accounts(sim, server) for server in servers)
        args = ["--host", sim.host, "--port", str(sim.port), "--state-dir", str(sim.state_dir),
                "--wait", str(options["wait"])]
        with Shards("trading_demo_setup", args, count=jobs) as parts:
            opened = sum(self._accounts(sim, server, part=(0, jobs)) for server in servers)
            try:
                outputs = parts.join()
            except RuntimeError as error:
                raise CommandError(str(error)) from None
        for printed, errors in outputs:
            opened += sum(int(n) for n in re.findall(r"part \d+ of \d+: (\d+) account", printed))
            for line in errors.splitlines():
                if line.strip():
                    self.stderr.write(line)
        return opened

    def _accounts(self, sim: Simulator, server: PlatformServer, count: int | None = None,
                  part: tuple[int, int] | None = None) -> int:
        """Accounts for the eligible clients of `server` (each its own, a hedger two), at most `count`
        (None: every eligible client); with `part` (K, N) only those whose id is K modulo N. Each
        client's persona, account type, leverage and deposit come from a random generator seeded by
        the client, so that they are the same however the clients are split."""
        if count is not None and count <= 0:
            return 0
        clients = list(self._eligible(server).select_related("brand").order_by("created_at", "id")
                       [:count])
        if part is not None:
            clients = [client for client in clients if client.pk % part[1] == part[0]]
        if count is None:
            count = 2 * len(clients)
        opened = 0
        names = [p[0] for p in PERSONAS]
        weights = [p[1] for p in PERSONAS]
        deposits = {p[0]: p[2] for p in PERSONAS}
        for client in clients:
            if opened >= count:
                break
            rng = random.Random(f"{SEED}:{server.pk}:{client.pk}")
            persona = rng.choices(names, weights)[0]
            try:
                if persona == "hedger" and count - opened >= 2:
                    first = self._open(sim, server, client, "standard", persona, deposits[persona], rng)
                    second = self._open(sim, server, client, "pro", persona, deposits[persona], rng)
                    sim.control("/_sim/persona", {"login": first.login, "persona": "hedger", "partner": second.login})
                    sim.control("/_sim/persona", {"login": second.login, "persona": "hedger", "partner": first.login})
                    opened += 2
                    continue
                persona = "swing" if persona == "hedger" else persona
                kind = "demo" if rng.random() < 0.1 else ("pro" if rng.random() < 0.25 else "standard")
                account = self._open(sim, server, client, kind, persona, deposits[persona], rng)
                sim.control("/_sim/persona", {"login": account.login, "persona": persona})
                opened += 1
            except DomainError as error:
                self.stderr.write(f"trading demo: no account for {client.full_name} (left out): {error.message}")
        return opened

    def _retention_scenarios(self, sim: Simulator, server: PlatformServer, rng: random.Random) -> int:
        """The first clients (with an owner: someone's book) get the RETENTION_SCENARIOS."""
        clients = list(self._eligible(server).filter(owner__isnull=False).select_related("brand")
                       .order_by("created_at", "id")[:len(RETENTION_SCENARIOS)])
        opened = 0
        for client, (kind, days, deposit, size) in zip(clients, RETENTION_SCENARIOS, strict=False):
            try:
                self._scenario(sim, server, client, kind, days, Decimal(deposit), size, rng)
            except PlatformFailed as error:
                self.stderr.write(f"trading demo: {client.full_name}: {error.message}")
            except CommandError as error:  # the simulator refused a step: that story is left out
                self.stderr.write(f"trading demo: {client.full_name} ({kind}): {error}")
            else:
                opened += 1
            finally:
                sim.control("/_sim/clock_offset", {"seconds": 0})
        return opened

    def _scenario(self, sim: Simulator, server: PlatformServer, client: Client, kind: str, days: int,
                  deposit: Decimal, size: Decimal | None, rng: random.Random) -> None:
        from trading.services import allowed_leverages

        # Turned back, the simulator stamps the opening, the deposit and the trade `days` ago.
        sim.control("/_sim/clock_offset", {"seconds": -days * DAY_SECONDS})
        account_type = "jpy" if kind == "yen" else "standard"
        options = allowed_leverages(server, account_type, client=client)  # within the client's cap
        leverage = max([x for x in options if x <= 100] or options)
        account = trading_account_open(actor=None, client=client, server=server, account_type=account_type,
                                       leverage=leverage, send_credentials=False)
        if kind == "margin_call":
            # One lot held with money for only part of its margin: the margin level sits under the call.
            wire = sim.control("/_sim/trade", {"login": account.login, "symbol": "EURUSD", "action": "buy",
                                               "volume": "1", "check_margin": False})
            margin = Decimal(wire["ContractSize"]) * Decimal(wire["RateMargin"]) / leverage
            deposit = (margin * (size or 1)).quantize(Decimal(1))
        # Through the client's wallet and a transfer, as production funds an account, so that the
        # ledger mirrors it (trading.demo_funding); sent here and now: the trades below need the money.
        operation = demo_account_deposit(account=account, amount=deposit)
        if days:
            # Demo history: the deposit is shown when the platform made it.
            when = timezone.now() - dt.timedelta(days=days)
            BalanceOperation.objects.filter(pk=operation.pk).update(created_at=when, sent_at=when, resolved_at=when)
        if kind in ("dormant", "drop"):
            # One lot whatever the leverage cap (Nova's is 1:30): the trade is history, not advice.
            position = sim.control("/_sim/trade", {"login": account.login, "symbol": "EURUSD", "action": "buy",
                                                   "volume": "1", "check_margin": False})
            close: dict[str, Any] = {"position": int(position["Position"])}
            if kind == "drop":
                # The equity before the loss is the account's peak: a state poll records it first.
                self._states(server)
                close["price"] = str((Decimal(position["PriceOpen"]) - deposit * (size or 0) / 100_000)
                                     .quantize(Decimal("0.00001")))
            sim.control("/_sim/close", close)
        if kind == "yen":
            # A position held from the start: the exposure page shows yen next to dollars at once.
            sim.control("/_sim/trade", {"login": account.login, "symbol": "USDJPY", "action": rng.choice(["buy", "sell"]),
                                        "volume": "0.5", "check_margin": False})
        persona = "swing" if kind == "yen" else "dormant"
        sim.control("/_sim/persona", {"login": account.login, "persona": persona})

    def _states(self, server: PlatformServer) -> None:
        """One account state poll of `server` (beat may hold its lease for a moment: wait for it)."""
        from trading.sync import account_states_sync

        deadline = time.monotonic() + 30
        while account_states_sync(server.pk, force=True).status == "busy" and time.monotonic() < deadline:
            time.sleep(0.5)

    def _open(self, sim: Simulator, server: PlatformServer, client: Client, kind: str, persona: str,
              deposit: tuple[int, int], rng: random.Random) -> TradingAccount:
        from trading.services import allowed_leverages

        options = allowed_leverages(server, kind, client=client)
        if not options:  # no leverage of this type is within the client's cap
            kind, options = "standard", allowed_leverages(server, "standard", client=client)
        if not options:  # a server made before the standard type had the low leverages
            raise LeverageAboveCap(gettext("No leverage of the standard type is within this client's cap."))
        leverage = rng.choice([x for x in options if x <= 200] or options)
        account = trading_account_open(actor=None, client=client, server=server, account_type=kind,
                                       leverage=leverage, send_credentials=False)
        amount = Decimal(rng.randrange(deposit[0], deposit[1], 50))
        demo_account_deposit(account=account, amount=amount)
        return account
