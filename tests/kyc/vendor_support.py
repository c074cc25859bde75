"""A real KYC vendor simulator process (kyc.vendor_simulator) on a free loopback port, and helpers to
point a brand at it, sign its webhooks and wait for what it causes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from plumbing.signatures import sign
from tests.simulators import HttpSim, simulator_start, simulator_stop

API_KEY = "kyck_test"
API_SECRET = "kyc-api-secret"
WEBHOOK_SECRET = "kyc-whsec-test"
CONTROL_TOKEN = "kyc-control"
WEBHOOK_PATH = "/kyc/vendors/kycsim/webhook/"


@dataclass
class KycSim(HttpSim):
    control_token = CONTROL_TOKEN

    def webhooks(self, reference: str = "") -> list[dict[str, Any]]:
        hooks = self.control("/_sim/webhooks")["webhooks"]
        return [h for h in hooks if not reference or json.loads(h["body"])["data"]["id"] == reference]

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {"kycsim": {"base_url": self.base_url, "api_key": API_KEY, "api_secret": API_SECRET,
                           "webhook_secret": WEBHOOK_SECRET, "timeout": 3.0, "retries": 0, "backoff": 0.05,
                           **overrides}}


def start_kycsim() -> KycSim:
    proc, listening = simulator_start(
        "kyc.vendor_simulator", "--api-key", API_KEY, "--api-secret", API_SECRET, "--webhook-secret", WEBHOOK_SECRET,
        "--control-token", CONTROL_TOKEN, "--decision-seconds", "0.3", "--webhook-backoff", "0.2",
        "--webhook-attempts", "6", what="KYC vendor simulator")
    return KycSim(proc=proc, port=int(listening["port"]))


def stop_kycsim(sim: KycSim) -> None:
    simulator_stop(sim.proc)


def signed(body: bytes | str, *, secret: str = WEBHOOK_SECRET, at: float | None = None) -> tuple[dict[str, str], bytes]:
    """Headers and body of a webhook as the vendor signs it ("<timestamp>." + body, HMAC-SHA256)."""
    data = body.encode() if isinstance(body, str) else body
    timestamp = str(int(time.time() if at is None else at))
    event_id = str(json.loads(data).get("id", ""))
    return {"Content-Type": "application/json", "X-Kyc-Event-Id": event_id, "X-Kyc-Timestamp": timestamp,
            "X-Kyc-Signature": "sha256=" + sign(secret, timestamp, data)}, data
