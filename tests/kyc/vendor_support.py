"""A real KYC vendor simulator process (kyc.vendor_simulator) on a free loopback port, and helpers to
point a brand at it, sign its webhooks and wait for what it causes."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm.lib.signatures import signature_for
from tests.waiting import scaled

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "kyck_test"
API_SECRET = "kyc-api-secret"
WEBHOOK_SECRET = "kyc-whsec-test"
CONTROL_TOKEN = "kyc-control"
WEBHOOK_PATH = "/kyc/vendors/kycsim/webhook/"


@dataclass
class KycSim:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body or {}).encode(),
                                         headers={"X-Sim-Token": CONTROL_TOKEN, "Content-Type": "application/json"},
                                         method="POST" if body is not None else "GET")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own loopback simulator
            return json.loads(response.read())

    def faults(self, *faults: dict[str, Any]) -> None:
        self.control("/_sim/faults", {"faults": list(faults)})

    def webhooks(self, reference: str = "") -> list[dict[str, Any]]:
        hooks = self.control("/_sim/webhooks")["webhooks"]
        return [h for h in hooks if not reference or json.loads(h["body"])["data"]["id"] == reference]

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {"kycsim": {"base_url": self.base_url, "api_key": API_KEY, "api_secret": API_SECRET,
                           "webhook_secret": WEBHOOK_SECRET, "timeout": 3.0, "retries": 0, "backoff": 0.05,
                           **overrides}}


def start_kycsim() -> KycSim:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
                                                       if p)}
    argv = [sys.executable, "-m", "kyc.vendor_simulator", "--port", "0", "--api-key", API_KEY,
            "--api-secret", API_SECRET, "--webhook-secret", WEBHOOK_SECRET, "--control-token", CONTROL_TOKEN,
            "--decision-seconds", "0.3", "--webhook-backoff", "0.2", "--webhook-attempts", "6"]
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # noqa: S603
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
    try:
        first = lines.get(timeout=scaled(20))
    except queue.Empty:
        proc.kill()
        raise RuntimeError("the KYC vendor simulator did not report its port within 20 s") from None
    if not first:
        proc.wait(5)
        raise RuntimeError(f"the KYC vendor simulator exited with {proc.returncode} before listening")
    return KycSim(proc=proc, port=int(json.loads(first)["port"]))


def stop_kycsim(sim: KycSim) -> None:
    sim.proc.terminate()
    try:
        sim.proc.wait(10)
    except subprocess.TimeoutExpired:
        sim.proc.kill()
        sim.proc.wait(5)


def signed(body: bytes | str, *, secret: str = WEBHOOK_SECRET, at: float | None = None) -> tuple[dict[str, str], bytes]:
    """Headers and body of a webhook as the vendor signs it ("<timestamp>." + body, HMAC-SHA256)."""
    data = body.encode() if isinstance(body, str) else body
    timestamp = str(int(time.time() if at is None else at))
    event_id = str(json.loads(data).get("id", ""))
    return {"Content-Type": "application/json", "X-Kyc-Event-Id": event_id, "X-Kyc-Timestamp": timestamp,
            "X-Kyc-Signature": "sha256=" + signature_for(secret, timestamp, data)}, data
