"""The payment connectors the conformance suite (test_provider_conformance.py) holds to the same
scenarios: each is a running simulator of the provider (its own process, over a socket), the
provider configured to reach it, and what differs from one provider to the next (its test cards,
how a notification names our reference, how to make it speak of an order nobody asked for).

Adding a connector: a subclass of ``Connector`` and a session fixture that starts its simulator,
named in ``CONNECTORS``."""

from __future__ import annotations

import abc
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from tests.simulators import HttpSim, simulator_start, simulator_stop
from tests.waiting import wait_until
from tests.wallet.conftest import API_KEY, API_SECRET, WEBHOOK_SECRET, PspSim
from tests.wallet.support import checkout, signed_webhook
from wallet.models import PaymentProvider
from wallet.provider_services import CurrencyRule, payment_method_save, payment_provider_save

PRAXIS_MERCHANT = "API-Test-Merchant"
PRAXIS_APP = "test-application"
PRAXIS_SECRET = "praxis-merchant-secret"
PRAXIS_CONTROL = "praxis-control"
PAYSAFE_USER = "paysafe-test-merchant"
PAYSAFE_PASSWORD = "B-paysafe-test-password"
PAYSAFE_HMAC = "paysafe-webhook-hmac-key"
PAYSAFE_CONTROL = "paysafe-control"
COINSPAID_KEY = "coinspaid-test-key"
COINSPAID_SECRET = "coinspaid-api-secret"
COINSPAID_CONTROL = "coinspaid-control"


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Capture:
    """The CRM's public address as the simulators see it: records every notification, answers 200."""

    server: ThreadingHTTPServer
    received: list[Captured] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def about(self, ref_of: Any, ref: str) -> list[Captured]:
        with self.lock:
            return [c for c in self.received if ref_of(c.body) == ref]

    def wait_about(self, ref_of: Any, ref: str, count: int, timeout: float = 10.0) -> list[Captured]:
        def enough() -> list[Captured] | None:
            got = self.about(ref_of, ref)
            return got if len(got) >= count else None

        return wait_until(enough, timeout=timeout, interval=0.02, what=f"{count} notifications about {ref}")


@pytest.fixture
def capture() -> Iterator[Capture]:
    box: dict[str, Capture] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with box["c"].lock:
                box["c"].received.append(Captured(self.path, dict(self.headers), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["c"] = Capture(server=server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield box["c"]
    finally:
        server.shutdown()
        server.server_close()


class Connector(abc.ABC):
    """One provider as the suite drives it."""

    code: ClassVar[str]
    cards: ClassVar[dict[str, str]]  # approve, decline, 3ds: a test card of each
    method: ClassVar[str] = "card"  # the method kind its deposits are made with

    def __init__(self, sim: HttpSim) -> None:
        self.sim = sim

    @abc.abstractmethod
    def provider(self) -> PaymentProvider:
        """The provider saved (through the configuration service) to reach the simulator."""

    def methods(self, brand: Any) -> PaymentProvider:
        provider = self.provider()
        payment_method_save(brand=brand, method="card", direction="deposit", provider=provider, currencies=[
            CurrencyRule("USD", Decimal("10"), Decimal("5000"))], order=10)
        return provider

    def pay(self, redirect_url: str, card: str) -> tuple[int, str, str]:
        """Pay on the hosted page: its answer (status, where it sends the client back, page text)."""
        return checkout(redirect_url, {"card_number": self.cards[card], "card_holder": "Ann Smith"})

    def start(self, deposit: Any, card: str) -> None:
        """The client pays ``deposit`` as ``card`` says (a hosted page here; a provider without one
        says how)."""
        assert deposit.redirect_url
        self.pay(deposit.redirect_url, card)

    def three_ds(self, redirect_url: str, *, approve: bool) -> None:
        checkout(redirect_url, {"decision": "approve" if approve else "fail"}, suffix="/3ds")

    def fault(self, **rule: Any) -> None:
        self.sim.faults(rule)

    @staticmethod
    @abc.abstractmethod
    def ref_of(body: bytes) -> str:
        """Our reference a notification is about."""

    @abc.abstractmethod
    def unknown_order(self, capture: Capture) -> Captured:
        """A correctly signed notification about an order nobody asked for."""


class PspConnector(Connector):
    code = "psp-sim"
    cards: ClassVar = {"approve": "4242424242424242", "decline": "4000000000000002", "3ds": "4000000000003220"}

    def provider(self) -> PaymentProvider:
        return payment_provider_save(code=self.code, name="PSP simulator", kind="simulator", base_url=self.sim.base_url,
                                     api_key=API_KEY, api_secret=API_SECRET, webhook_secret=WEBHOOK_SECRET)

    @staticmethod
    def ref_of(body: bytes) -> str:
        return str(json.loads(body)["data"]["merchant_ref"])

    def unknown_order(self, capture: Capture) -> Captured:
        headers, body = signed_webhook(WEBHOOK_SECRET, merchant_ref="dep-nobody-asked")
        return Captured(f"/wallet/webhooks/{self.code}/", headers, body)


class PraxisConnector(Connector):
    code = "praxis"
    cards: ClassVar = {"approve": "4111111111111111", "decline": "4000000000000002", "3ds": "4000000000003220",
                       "timeout": "4000000000000259"}

    def provider(self) -> PaymentProvider:
        return payment_provider_save(code=self.code, name="Praxis Cashier", kind="praxis", base_url=self.sim.base_url,
                                     api_key=PRAXIS_MERCHANT, api_secret=PRAXIS_SECRET,
                                     settings={"application_key": PRAXIS_APP, "environment": "sandbox"})

    @staticmethod
    def ref_of(body: bytes) -> str:
        return str(json.loads(body)["session"]["order_id"])

    def unknown_order(self, capture: Capture) -> Captured:
        sent = self.sim.control("/_sim/notify_unknown", {"url": f"{capture.base}/wallet/webhooks/{self.code}/"})
        [got] = capture.wait_about(self.ref_of, sent["session"]["order_id"], 1)
        return got


class CoinsPaidConnector(Connector):
    """Crypto: the deposit is an address (no hosted page); the client's wallet sends to it through
    the simulator's control API. The card scenarios map to what the network does: approve is a
    deposit confirmed at once, decline one the network cancels, 3ds one first reported not
    confirmed and then confirmed or cancelled."""

    code = "coinspaid"
    method: ClassVar[str] = "crypto"
    cards: ClassVar = {"approve": "confirm", "decline": "cancel", "3ds": "slow", "timeout": "stuck"}
    rate: ClassVar[Decimal] = Decimal("50000")  # the simulator's BTC price in USD

    def __init__(self, sim: HttpSim) -> None:
        super().__init__(sim)
        self.address = ""

    def provider(self) -> PaymentProvider:
        from wallet.provider_selectors import provider_webhook_url

        provider = payment_provider_save(code=self.code, name="CoinsPaid", kind="coinspaid", base_url=self.sim.base_url
                                         + "/api/v2", api_key=COINSPAID_KEY, api_secret=COINSPAID_SECRET,
                                         settings={"environment": "sandbox", "deposit_currency": "BTC"})
        # The callback URL is a setting of the merchant's account at CoinsPaid, not of a request.
        self.sim.control("/_sim/settings", {"callback_url": provider_webhook_url(provider)})
        return provider

    def methods(self, brand: Any) -> PaymentProvider:
        provider = self.provider()
        payment_method_save(brand=brand, method="crypto", direction="deposit", provider=provider, currencies=[
            CurrencyRule("USD", Decimal("10"), Decimal("5000"))], order=10)
        return provider

    def start(self, deposit: Any, card: str) -> None:
        assert deposit.instructions.get("kind") == "crypto" and not deposit.redirect_url
        self.address = deposit.instructions["address"]
        self.sim.control("/_sim/pay", {"address": self.address, "amount": str(deposit.amount / self.rate),
                                       "scenario": self.cards[card]})

    def three_ds(self, redirect_url: str, *, approve: bool) -> None:
        self.sim.control("/_sim/confirm", {"address": self.address, "approve": approve})

    @staticmethod
    def ref_of(body: bytes) -> str:
        doc = json.loads(body)
        if str(doc.get("type", "")).startswith("deposit"):
            return str(doc["crypto_address"]["foreign_id"])
        return str(doc.get("foreign_id") or "")

    def unknown_order(self, capture: Capture) -> Captured:
        sent = self.sim.control("/_sim/notify_unknown", {"url": f"{capture.base}/wallet/webhooks/{self.code}/"})
        [got] = capture.wait_about(self.ref_of, sent["crypto_address"]["foreign_id"], 1)
        return got


@dataclass
class CoinsPaidSim(HttpSim):
    control_token: ClassVar[str] = COINSPAID_CONTROL


def start_coinspaid() -> CoinsPaidSim:
    proc, listening = simulator_start(
        "wallet.coinspaid_simulator", "--api-key", COINSPAID_KEY, "--api-secret", COINSPAID_SECRET,
        "--control-token", COINSPAID_CONTROL, "--webhook-backoff", "0.1", "--webhook-attempts", "5",
        what="CoinsPaid simulator")
    return CoinsPaidSim(proc=proc, port=int(listening["port"]))


@pytest.fixture(scope="session")
def coinspaid_session() -> Iterator[CoinsPaidSim]:
    sim = start_coinspaid()
    try:
        yield sim
    finally:
        simulator_stop(sim.proc)


class PaysafeConnector(Connector):
    """Skrill through Paysafe: the client logs in to the wallet on its redirect page (the test
    accounts stand for the cards); the wallet's second step stands for 3-D Secure. Paysafe's
    webhook address is a setting of the merchant's account, so the provider's is given to the
    simulator when it is configured."""

    code = "paysafe"
    method: ClassVar[str] = "skrill"
    cards: ClassVar = {"approve": "approve@wallet.test", "decline": "decline@wallet.test",
                       "3ds": "verify@wallet.test", "timeout": "pending@wallet.test"}

    def provider(self) -> PaymentProvider:
        from wallet.provider_selectors import provider_webhook_url

        provider = payment_provider_save(code=self.code, name="Paysafe", kind="paysafe",
                                         base_url=self.sim.base_url + "/paymenthub/v1", api_key=PAYSAFE_USER,
                                         api_secret=PAYSAFE_PASSWORD, webhook_secret=PAYSAFE_HMAC,
                                         settings={"environment": "sandbox"})
        self.sim.control("/_sim/config", {"webhook_url": provider_webhook_url(provider)})
        return provider

    def methods(self, brand: Any) -> PaymentProvider:
        provider = self.provider()
        payment_method_save(brand=brand, method=self.method, direction="deposit", provider=provider, currencies=[
            CurrencyRule("USD", Decimal("10"), Decimal("5000"))], order=10)
        return provider

    def pay(self, redirect_url: str, card: str) -> tuple[int, str, str]:
        return checkout(redirect_url, {"account": self.cards[card], "password": "any"})

    def three_ds(self, redirect_url: str, *, approve: bool) -> None:
        checkout(redirect_url, {"decision": "approve" if approve else "fail"}, suffix="/verify")

    @staticmethod
    def ref_of(body: bytes) -> str:
        return str(json.loads(body)["payload"]["merchantRefNum"])

    def unknown_order(self, capture: Capture) -> Captured:
        sent = self.sim.control("/_sim/notify_unknown", {"url": f"{capture.base}/wallet/webhooks/{self.code}/"})
        [got] = capture.wait_about(self.ref_of, sent["payload"]["merchantRefNum"], 1)
        return got


@dataclass
class PaysafeSim(HttpSim):
    control_token: ClassVar[str] = PAYSAFE_CONTROL


def start_paysafe() -> PaysafeSim:
    proc, listening = simulator_start(
        "wallet.paysafe_simulator", "--api-user", PAYSAFE_USER, "--api-password", PAYSAFE_PASSWORD, "--hmac-key",
        PAYSAFE_HMAC, "--control-token", PAYSAFE_CONTROL, "--webhook-backoff", "0.1", "--webhook-attempts", "5",
        what="Paysafe simulator")
    return PaysafeSim(proc=proc, port=int(listening["port"]))


@pytest.fixture(scope="session")
def paysafe_session() -> Iterator[PaysafeSim]:
    sim = start_paysafe()
    try:
        yield sim
    finally:
        simulator_stop(sim.proc)


@dataclass
class PraxisSim(HttpSim):
    control_token: ClassVar[str] = PRAXIS_CONTROL


def start_praxis() -> PraxisSim:
    proc, listening = simulator_start(
        "wallet.praxis_simulator", "--merchant-id", PRAXIS_MERCHANT, "--application-key", PRAXIS_APP,
        "--merchant-secret", PRAXIS_SECRET, "--control-token", PRAXIS_CONTROL, "--webhook-backoff", "0.1",
        "--webhook-attempts", "5", what="Praxis simulator")
    return PraxisSim(proc=proc, port=int(listening["port"]))


@pytest.fixture(scope="session")
def praxis_session() -> Iterator[PraxisSim]:
    sim = start_praxis()
    try:
        yield sim
    finally:
        simulator_stop(sim.proc)


# The connectors every scenario runs against: the fixture starting the simulator, and the class.
CONNECTORS: dict[str, tuple[str, type[Connector]]] = {
    "psp-sim": ("psp_session", PspConnector),
    "praxis": ("praxis_session", PraxisConnector),
    "coinspaid": ("coinspaid_session", CoinsPaidConnector),
    "paysafe": ("paysafe_session", PaysafeConnector),
}

__all__ = ["CONNECTORS", "Capture", "Captured", "CoinsPaidConnector", "CoinsPaidSim", "Connector", "PraxisSim",
           "PaysafeConnector", "PaysafeSim", "PspSim", "capture", "coinspaid_session", "paysafe_session", "praxis_session",
           "start_coinspaid", "start_paysafe", "start_praxis"]
