"""`manage.py trading_demo_setup`: the demo brands' trading server on the simulator, and accounts for
a few hundred funded and active demo clients whose simulated traders then trade.

Run it after the simulator has started (`python -m trading.simulator --port 8443 --state-dir
var/mt5sim --realtime 1`, which `make run` starts): it waits for the simulator to answer, reads its
manager credentials, control token and certificate from the state directory, creates (or updates)
one platform server per demo brand pointing at it, and opens accounts through the real services
(`trading_account_open` over the MT5 Web API, a deposit through `balance_operation_request`),
giving each account a trader persona through the simulator's control API. Beat's deal and account
state polls bring their deals and balances into the CRM within a minute.

Idempotent: clients that already have an account are left alone and only the missing accounts
(one per funded or active client, or up to --accounts in all) are opened; running it again after a restart just updates the server's
connection settings. For a brand without leverage caps yet it also sets the brand's trading policy
(ceilings, caps by country and classification in the EU/EEA and the UK, who may get a live account)
and classifies a few of its clients in those markets as professional.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import ssl
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.exceptions import DomainError
from crm.models import Brand, Classification, Client, Stage
from crm.services import client_classification_set
from trading.models import LeverageCap, PlatformServer, TradingAccount
from trading.services import (
    balance_operation_request,
    brand_trading_policy_set,
    leverage_cap_save,
    platform_server_save,
    trading_account_open,
)

SERVER_NAME = "MT5 demo (simulator)"
DEMO_BRANDS = ("atlas", "nova")
SEED = 20_260_302
ACCOUNT_TYPES = {
    "standard": {"label": "Standard", "group": "real\\standard", "leverages": [30, 50, 100, 200, 500],
                 "currency": "USD"},
    "pro": {"label": "Pro (commission)", "group": "real\\pro", "leverages": [30, 50, 100, 200], "currency": "USD"},
    "cent": {"label": "Cent", "group": "real\\cent", "leverages": [100, 500, 1000], "currency": "USD"},
    "demo": {"label": "Demo", "group": "demo\\standard", "leverages": [100, 500], "demo": True, "currency": "USD"},
}
CLOSE_ONLY = {"real\\standard": "real\\standard-closeonly", "real\\pro": "real\\pro-closeonly"}
# The brands' ceilings (live, demo). Nova FX is regulated in the EU: every retail client at most 1:30;
# Atlas Markets caps retail clients in the EU, the EEA and the UK (ESMA, FCA) and not elsewhere.
LEVERAGE_CAPS = {"atlas": (500, 1000), "nova": (200, 500)}
EEA_AND_UK = ("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT",
              "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "GB")
# (country, classification, cap) per brand; "" is any.
CAP_RULES = {
    "atlas": [*((c, Classification.RETAIL, 30) for c in EEA_AND_UK), ("GB", Classification.PROFESSIONAL, 200)],
    "nova": [("", Classification.RETAIL, 30)],
}
# Live accounts: the least stage, and whether a verification is needed.
OPENING = {"atlas": (Stage.REGISTERED, False), "nova": (Stage.REGISTERED, True)}
PROFESSIONAL_SHARE = 0.1  # of the funded and active clients in capped markets
# (persona, weight, deposit range)
PERSONAS = (
    ("swing", 40, (2_000, 25_000)),
    ("scalper", 25, (1_000, 10_000)),
    ("dormant", 20, (250, 5_000)),
    ("latency_arb", 10, (5_000, 50_000)),
    ("hedger", 5, (10_000, 50_000)),
)


class Simulator:
    def __init__(self, host: str, port: int, state_dir: Path) -> None:
        self.host, self.port, self.state_dir = host, port, state_dir
        self.ca_file = str(state_dir / "cert.pem")
        self.config: dict[str, Any] = {}

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
        context = ssl.create_default_context(cafile=self.ca_file)
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=30, context=context)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request("POST" if payload is not None else "GET", path, body=payload,
                         headers={"X-Sim-Token": str(self.config["control_token"]),
                                  "Content-Type": "application/json"})
            response = conn.getresponse()
            data = json.loads(response.read())
        finally:
            conn.close()
        if response.status != 200:
            raise CommandError(f"simulator {path}: HTTP {response.status} {data}")
        return data

    @property
    def manager(self) -> dict[str, Any]:
        return self.config["managers"][0]


class Command(BaseCommand):
    help = "Create the demo brands' MT5 server on the simulator and open trading accounts for demo clients."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--state-dir", default=os.environ.get("MT5SIM_STATE_DIR") or str(settings.VAR_DIR / "mt5sim"))
        parser.add_argument("--host", default=os.environ.get("MT5SIM_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("MT5SIM_PORT", "8443")))
        parser.add_argument("--accounts", type=int, default=None,
                            help="demo accounts wanted in all (default: one for every funded or active client)")
        parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the simulator")

    def handle(self, *args: Any, **options: Any) -> None:
        sim = Simulator(options["host"], options["port"], Path(options["state_dir"]).resolve())
        sim.wait(options["wait"])
        brands = list(Brand.objects.filter(code__in=DEMO_BRANDS, is_active=True)) or list(
            Brand.objects.filter(is_active=True)[:2])
        if not brands:
            self.stdout.write("trading demo: no brand yet (load the demo data first); nothing to do")
            return
        servers = [self._server(sim, brand) for brand in brands]
        have = TradingAccount.objects.filter(server__in=servers).count()
        opened = 0
        rng = random.Random(SEED + have)
        if options["accounts"] is None:
            # Every funded or active client gets an account (a hedger two), so no funded client
            # of the demo is without one.
            for server in servers:
                missing = self._eligible(server).count()
                opened += self._accounts(sim, server, 2 * missing, rng, clients_wanted=missing)
        else:
            wanted = max(0, options["accounts"] - have)
            for index, server in enumerate(servers):
                share = wanted // len(servers) + (1 if index < wanted % len(servers) else 0)
                opened += self._accounts(sim, server, share, rng)
        total = TradingAccount.objects.filter(server__in=servers).count()
        self.stdout.write(f"trading demo: {len(servers)} server(s) on the simulator at {sim.host}:{sim.port}; "
                          f"{opened} account(s) opened now, {total} in all")

    def _server(self, sim: Simulator, brand: Brand) -> PlatformServer:
        values: dict[str, Any] = {
            "host": sim.host, "port": sim.port, "manager_login": int(sim.manager["login"]), "ca_file": sim.ca_file,
            "verify_tls": True, "timeout_seconds": 10,
            "server_tz": str(sim.config.get("server_tz") or ""),
            "server_tz_offset_minutes": int(sim.config.get("server_tz_offset_minutes", 120)),
        }
        server = PlatformServer.objects.filter(brand=brand, name=SERVER_NAME).first()
        if server is None:
            server = platform_server_save(
                actor=None, manager_password=str(sim.manager["password"]), brand=brand, name=SERVER_NAME,
                kind="mt5_web", is_active=True, account_types=ACCOUNT_TYPES, close_only_groups=CLOSE_ONLY,
                sync_enabled=True, deal_poll_seconds=15, state_poll_seconds=20, **values)
        else:
            # A fresh simulator state has a new manager password and certificate.
            server = platform_server_save(actor=None, server=server, manager_password=str(sim.manager["password"]),
                                          **values)
        if not LeverageCap.objects.filter(brand=brand).exists():  # first run (or a database from before the caps)
            self._policy(brand)
        return server

    def _policy(self, brand: Brand) -> None:
        """The brand's ceilings, who may get a live account, the caps by country and classification, and
        a few professional clients (opted up) in the capped markets."""
        live, demo = LEVERAGE_CAPS.get(brand.code, (500, 1000))
        stage, verified = OPENING.get(brand.code, (Stage.REGISTERED, False))
        brand_trading_policy_set(actor=None, brand=brand, max_leverage_live=live, max_leverage_demo=demo,
                                 live_min_stage=stage, live_requires_verification=verified)
        for country, classification, cap in CAP_RULES.get(brand.code, []):
            if not LeverageCap.objects.filter(brand=brand, country=country, classification=classification).exists():
                leverage_cap_save(actor=None, brand=brand, country=country, classification=classification,
                                  max_leverage=cap)
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
        return (Client.objects.filter(brand=server.brand, stage__in=[Stage.FUNDED, Stage.ACTIVE])
                .exclude(trading_accounts__server=server))

    def _accounts(self, sim: Simulator, server: PlatformServer, count: int, rng: random.Random,
                  clients_wanted: int | None = None) -> int:
        if count <= 0:
            return 0
        clients = list(self._eligible(server).select_related("brand").order_by("created_at", "id")
                       [:clients_wanted if clients_wanted is not None else count])
        opened = 0
        names = [p[0] for p in PERSONAS]
        weights = [p[1] for p in PERSONAS]
        deposits = {p[0]: p[2] for p in PERSONAS}
        for client in clients:
            if opened >= count:
                break
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
                self.stderr.write(f"trading demo: {client.full_name}: {error.message}")
        return opened

    def _open(self, sim: Simulator, server: PlatformServer, client: Client, kind: str, persona: str,
              deposit: tuple[int, int], rng: random.Random) -> TradingAccount:
        from trading.services import allowed_leverages

        options = allowed_leverages(server, kind, client=client)
        if not options:  # no leverage of this type is within the client's cap
            kind, options = "standard", allowed_leverages(server, "standard", client=client)
        leverage = rng.choice([x for x in options if x <= 200] or options)
        account = trading_account_open(actor=None, client=client, server=server, account_type=kind,
                                       leverage=leverage, send_credentials=False)
        amount = Decimal(rng.randrange(deposit[0], deposit[1], 50))
        balance_operation_request(actor=None, account=account, kind="balance", amount=amount,
                                  reason="Demo deposit")
        return account
