"""The Twilio simulator as the SMS tests use it: its own process (started once per session, with
short status steps and retries), a stand-in for the CRM's public address that records what the
simulator posts there, and a brand whose SMS provider points at the simulator."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client as HttpClient

from emails.sms import sms_provider_save
from tests.factories import make_brand, make_client
from tests.simulators import HttpSim, simulator_start, simulator_stop
from tests.waiting import wait_until

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token"
FROM_NUMBER = "+15005550006"
CONTROL = "twilio-control"
SKIPPED = {"host", "content-length", "connection", "accept-encoding"}


@dataclass
class TwilioSim(HttpSim):
    control_token: ClassVar[str] = CONTROL


@pytest.fixture(scope="session")
def twilio_session() -> Iterator[TwilioSim]:
    proc, listening = simulator_start(
        "emails.twilio_simulator", "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN, "--from-number",
        FROM_NUMBER, "--control-token", CONTROL, "--step-seconds", "0.05", "--webhook-backoff", "0.1",
        "--webhook-attempts", "3", what="Twilio simulator")
    sim = TwilioSim(proc=proc, port=int(listening["port"]))
    try:
        yield sim
    finally:
        simulator_stop(proc)


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


@dataclass
class Capture:
    """The CRM's public address as the simulator sees it: records every request, answers 200."""

    server: ThreadingHTTPServer
    received: list[Posted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def about(self, sid: str, count: int, timeout: float = 10.0) -> list[Posted]:
        def enough() -> list[Posted] | None:
            with self.lock:
                got = [p for p in self.received if p.params.get("MessageSid") == sid]
            return got if len(got) >= count else None

        got: list[Posted] = wait_until(enough, timeout=timeout, interval=0.02, what=f"{count} requests about {sid}")
        return got


@pytest.fixture
def capture() -> Iterator[Capture]:
    box: dict[str, Capture] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with box["c"].lock:
                box["c"].received.append(Posted(self.path, dict(self.headers), body))
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


def forward(posted: list[Posted]) -> list[Any]:
    """Post what the simulator sent, as it sent it, to the CRM (its path, body and headers)."""
    http = HttpClient()
    return [http.post(urlsplit(p.path).path, data=p.body, content_type=p.headers.get("Content-Type", ""),
                      headers={k: v for k, v in p.headers.items() if k.lower() not in SKIPPED | {"content-type"}})
            for p in posted]


@pytest.fixture
def sms_world(db: Any, twilio_session: TwilioSim, capture: Capture, settings: Any) -> Iterator[Any]:
    twilio_session.control("/_sim/faults/clear", {})
    settings.CRM_PUBLIC_URL = capture.base
    brand = make_brand(name="Text Markets")
    provider = sms_provider_save(actor=None, brand=brand, code="twilio-test", name="Twilio (simulator)",
                                 base_url=twilio_session.base_url, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                 from_number=FROM_NUMBER, rate_per_second="1000")
    client = make_client(brand=brand, first_name="Sami", phone="+442071838750", email="sami@example.com")
    twilio_session.control("/_sim/numbers", {"number": client.phone, "fate": "delivered"})
    yield type("SmsWorld", (), {"sim": twilio_session, "capture": capture, "brand": brand, "provider": provider,
                                "client": client})
    twilio_session.control("/_sim/faults/clear", {})
