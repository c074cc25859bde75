"""A real PSP simulator process on a free loopback port, a capture server for its webhooks, and
providers configured to reach it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.simulators import HttpSim, simulator_start, simulator_stop
from tests.waiting import wait_until
from wallet.providers.base import ProviderConfig
from wallet.providers.simulator import SimulatorProvider

API_KEY = "pk_test"
API_SECRET = "sk-test-secret"
WEBHOOK_SECRET = "whsec-test"
CONTROL_TOKEN = "psp-control"
BUSINESS_DATE = "2026-03-02"


@dataclass
class PspSim(HttpSim):
    control_token = CONTROL_TOKEN

    def config(self, **overrides: Any) -> ProviderConfig:
        values: dict[str, Any] = {"code": "psp-sim", "base_url": self.base_url, "api_key": API_KEY,
                                  "api_secret": API_SECRET, "webhook_secret": WEBHOOK_SECRET, "timeout": 3.0,
                                  "retries": 2, "backoff": 0.05}
        values.update(overrides)
        return ProviderConfig(**values)

    def adapter(self, **overrides: Any) -> SimulatorProvider:
        return SimulatorProvider(self.config(**overrides))


def start_psp(state_dir: Path | None = None) -> PspSim:
    args = ["--api-key", API_KEY, "--api-secret", API_SECRET, "--webhook-secret", WEBHOOK_SECRET, "--control-token",
            CONTROL_TOKEN, "--business-date", BUSINESS_DATE, "--webhook-backoff", "0.1", "--webhook-attempts", "5",
            "--crypto-confirm-seconds", "0.2"]
    if state_dir is not None:
        args += ["--state-dir", str(state_dir)]
    proc, listening = simulator_start("wallet.psp_simulator", *args, what="PSP simulator")
    return PspSim(proc=proc, port=int(listening["port"]))


def stop_psp(sim: PspSim) -> None:
    simulator_stop(sim.proc)


@pytest.fixture(scope="session")
def psp_session() -> Iterator[PspSim]:
    sim = start_psp()
    try:
        yield sim
    finally:
        stop_psp(sim)


@pytest.fixture
def psp(psp_session: PspSim) -> Iterator[PspSim]:
    """The session's simulator with no faults installed."""
    psp_session.control("/_sim/faults/clear", {})
    yield psp_session
    psp_session.control("/_sim/faults/clear", {})


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Hooks:
    """A merchant endpoint on loopback that answers ``status`` and records what it got."""

    server: ThreadingHTTPServer
    received: list[Captured] = field(default_factory=list)
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Captured]:
        def enough() -> list[Captured] | None:
            with self.lock:
                return list(self.received) if len(self.received) >= count else None

        try:
            return wait_until(enough, timeout=timeout, interval=0.02, what=f"{count} webhooks")
        except AssertionError:
            raise AssertionError(f"expected {count} webhooks, got {len(self.received)}") from None

    def of(self, merchant_ref: str) -> list[Captured]:
        with self.lock:
            return [c for c in self.received if json.loads(c.body)["data"]["merchant_ref"] == merchant_ref]

    def wait_of(self, merchant_ref: str, count: int, timeout: float = 10.0) -> list[Captured]:
        try:
            def enough() -> list[Captured] | None:
                got = self.of(merchant_ref)
                return got if len(got) >= count else None

            return wait_until(enough, timeout=timeout, interval=0.02, what=f"{count} webhooks for {merchant_ref}")
        except AssertionError:
            raise AssertionError(f"expected {count} webhooks for {merchant_ref}, "
                                 f"got {len(self.of(merchant_ref))}") from None


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    box: dict[str, Hooks] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hooks_ = box["hooks"]
            with hooks_.lock:
                hooks_.received.append(Captured(self.path, dict(self.headers), body))
                status = hooks_.status
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["hooks"] = Hooks(server=server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield box["hooks"]
    finally:
        server.shutdown()
        server.server_close()
