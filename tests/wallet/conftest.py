"""A real PSP simulator process on a free loopback port, a capture server for its webhooks, and
providers configured to reach it."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import scaled, wait_until
from wallet.providers.base import ProviderConfig
from wallet.providers.simulator import SimulatorProvider

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "pk_test"
API_SECRET = "sk-test-secret"
WEBHOOK_SECRET = "whsec-test"
CONTROL_TOKEN = "psp-control"
BUSINESS_DATE = "2026-03-02"


@dataclass
class PspSim:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body or {}).encode(),
                                         headers={"X-Sim-Token": CONTROL_TOKEN, "Content-Type": "application/json"},
                                         method="POST" if body is not None else "GET")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def faults(self, *faults: dict[str, Any]) -> None:
        self.control("/_sim/faults", {"faults": list(faults)})

    def config(self, **overrides: Any) -> ProviderConfig:
        values: dict[str, Any] = {"code": "psp-sim", "base_url": self.base_url, "api_key": API_KEY,
                                  "api_secret": API_SECRET, "webhook_secret": WEBHOOK_SECRET, "timeout": 3.0,
                                  "retries": 2, "backoff": 0.05}
        values.update(overrides)
        return ProviderConfig(**values)

    def adapter(self, **overrides: Any) -> SimulatorProvider:
        return SimulatorProvider(self.config(**overrides))


def start_psp(state_dir: Path | None = None) -> PspSim:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")] if p)}
    argv = [sys.executable, "-m", "wallet.psp_simulator", "--port", "0", "--api-key", API_KEY,
            "--api-secret", API_SECRET, "--webhook-secret", WEBHOOK_SECRET, "--control-token", CONTROL_TOKEN,
            "--business-date", BUSINESS_DATE, "--webhook-backoff", "0.1", "--webhook-attempts", "5",
            "--crypto-confirm-seconds", "0.2"]
    if state_dir is not None:
        argv += ["--state-dir", str(state_dir)]
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
    try:
        first = lines.get(timeout=scaled(20))
    except queue.Empty:
        proc.kill()
        raise RuntimeError("the PSP simulator did not report its port within 20 s") from None
    if not first:
        proc.wait(5)
        raise RuntimeError(f"the PSP simulator exited with {proc.returncode} before listening")
    return PspSim(proc=proc, port=int(json.loads(first)["port"]))


def stop_psp(sim: PspSim) -> None:
    sim.proc.terminate()
    try:
        sim.proc.wait(10)
    except subprocess.TimeoutExpired:
        sim.proc.kill()
        sim.proc.wait(5)


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
