"""A simulator (trading.simulator, wallet.psp_simulator, kyc.vendor_simulator) as the tests run it:
its own process on a free loopback port, started the way a supervisor starts it (``python -m``,
the port read from its "listening" line), and stopped."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from tests.waiting import scaled

REPO_ROOT = Path(__file__).resolve().parents[1]


def simulator_start(module: str, *args: str, what: str,
                    stderr: int | IO[bytes] = subprocess.DEVNULL) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start ``python -m module --port 0 *args``; the process and what its listening line says."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
                                                       if p)}
    proc = subprocess.Popen([sys.executable, "-m", module, "--port", "0", *args],  # noqa: S603 - our own module
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr)
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
    try:
        first = lines.get(timeout=scaled(20))
    except queue.Empty:
        proc.kill()
        raise RuntimeError(f"the {what} did not report its port within 20 s") from None
    if not first:
        proc.wait(5)
        raise RuntimeError(f"the {what} exited with {proc.returncode} before listening")
    return proc, json.loads(first)


def simulator_stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class HttpSim:
    """A plain-HTTP simulator (the PSP, the KYC vendor) and its control API."""

    proc: subprocess.Popen[bytes]
    port: int
    control_token: ClassVar[str] = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body or {}).encode(),
                                         headers={"X-Sim-Token": self.control_token,
                                                  "Content-Type": "application/json"},
                                         method="POST" if body is not None else "GET")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own loopback simulator
            return json.loads(response.read())

    def faults(self, *faults: dict[str, Any]) -> None:
        self.control("/_sim/faults", {"faults": list(faults)})
