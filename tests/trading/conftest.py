"""A real MT5 Web API simulator process on a free loopback port, and adapters pointed at it."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.simulators import simulator_start, simulator_stop
from trading.adapters.mt5_web import MT5WebAdapter, MT5WebConfig

MANAGER_LOGIN = 1000
MANAGER_PASSWORD = "Manager123"
CONTROL_TOKEN = "test-control-token"
SERVER_TZ_MINUTES = 120
START_TIME = "2026-03-02T08:00:00Z"


@dataclass
class Simulator:
    """Handle on a running simulator: its port, certificate and control API."""

    proc: subprocess.Popen[bytes]
    state_dir: Path
    port: int
    ca_file: str
    adapters: list[MT5WebAdapter] = field(default_factory=list)

    def control(self, path: str, body: Any = None, *, method: str | None = None) -> Any:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, timeout=30, context=ssl.create_default_context(cafile=self.ca_file)
        )
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(
                method or ("POST" if payload is not None else "GET"),
                path,
                body=payload,
                headers={"X-Sim-Token": CONTROL_TOKEN, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            data = json.loads(response.read())
        finally:
            conn.close()
        if response.status != 200:
            raise AssertionError(f"control {path} -> {response.status}: {data}")
        return data

    def faults(self, *faults: dict[str, Any]) -> None:
        self.control("/_sim/faults", {"faults": list(faults)})

    def seed(self, *accounts: dict[str, Any]) -> list[int]:
        return self.control("/_sim/seed", {"accounts": list(accounts)})["logins"]

    def advance(self, *, ticks: int = 0, seconds: int = 0) -> dict[str, Any]:
        body = {"seconds": seconds} if seconds else {"ticks": ticks}
        return self.control("/_sim/advance", body)

    def truth(self) -> dict[str, Any]:
        return self.control("/_sim/ground_truth")

    def config(self, **overrides: Any) -> MT5WebConfig:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "login": MANAGER_LOGIN,
            "password": MANAGER_PASSWORD,
            "ca_file": self.ca_file,
            "server_tz_offset_minutes": SERVER_TZ_MINUTES,
            "timeout": 5.0,
        }
        values.update(overrides)
        return MT5WebConfig(**values)

    def adapter(self, **overrides: Any) -> MT5WebAdapter:
        adapter = MT5WebAdapter(self.config(**overrides))
        self.adapters.append(adapter)
        return adapter


def start_simulator(state_dir: Path, *extra: str) -> Simulator:
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(state_dir.with_name(state_dir.name + ".log"), "ab") as log:  # the child process writes to it
        proc, info = simulator_start(
            "trading.simulator", "--state-dir", str(state_dir), "--manager-login", str(MANAGER_LOGIN),
            "--manager-password", MANAGER_PASSWORD, "--control-token", CONTROL_TOKEN, "--seed", "7",
            "--start-time", START_TIME, "--server-tz-offset", str(SERVER_TZ_MINUTES), *extra,
            what="simulator", stderr=log)
    return Simulator(proc=proc, state_dir=state_dir, port=int(info["port"]), ca_file=info["ca_file"])


def stop_simulator(sim: Simulator) -> None:
    for adapter in sim.adapters:
        adapter.close()
    simulator_stop(sim.proc)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    """A fresh simulator process with its own state directory, for one test."""
    simulator = start_simulator(tmp_path / "mt5sim")
    try:
        yield simulator
    finally:
        stop_simulator(simulator)


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """One simulator for a whole module, for tests that only touch accounts they create."""
    simulator = start_simulator(tmp_path_factory.mktemp("mt5sim-shared"))
    try:
        yield simulator
    finally:
        stop_simulator(simulator)


@pytest.fixture
def quiet_sim(shared_sim: Simulator) -> Iterator[Simulator]:
    """The module's simulator with no faults installed; adapters made in the test are closed."""
    shared_sim.control("/_sim/faults/clear", {})
    made = len(shared_sim.adapters)
    try:
        yield shared_sim
    finally:
        shared_sim.control("/_sim/faults/clear", {})
        for adapter in shared_sim.adapters[made:]:
            adapter.close()
        del shared_sim.adapters[made:]
