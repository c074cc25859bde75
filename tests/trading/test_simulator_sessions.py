"""The simulator forgets what the MT5 access server forgets: a challenge nobody answered, a session
nobody used, and never holds more than its configured number of sessions."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import wait_until

from .conftest import MANAGER_LOGIN, Simulator, start_simulator, stop_simulator


@pytest.fixture
def short_sim(tmp_path: Path) -> Iterator[Simulator]:
    simulator = start_simulator(
        tmp_path / "mt5sim", "--challenge-seconds", "1", "--session-idle-seconds", "2", "--max-sessions", "100"
    )
    try:
        yield simulator
    finally:
        stop_simulator(simulator)


def _unanswered_starts(sim: Simulator, count: int) -> None:
    """`count` auth/start requests on one keep-alive connection, without a cookie: each opens a
    fresh challenge that is never answered."""
    conn = http.client.HTTPSConnection(
        "127.0.0.1", sim.port, timeout=10, context=ssl.create_default_context(cafile=sim.ca_file)
    )
    try:
        for _ in range(count):
            conn.request("GET", f"/api/auth/start?version=4000&agent=probe&login={MANAGER_LOGIN}&type=manager")
            response = conn.getresponse()
            assert json.loads(response.read())["retcode"].startswith("0 ")
    finally:
        conn.close()


def _sessions(sim: Simulator) -> int:
    return sim.control("/_sim/status")["sessions"]


def test_a_flood_of_unanswered_starts_leaves_bounded_sessions(sim):
    _unanswered_starts(sim, 1100)  # within the default 10 s challenge timeout
    assert _sessions(sim) <= 1024  # the default bound


def test_it_never_holds_more_sessions_than_configured(short_sim):
    _unanswered_starts(short_sim, 300)
    assert _sessions(short_sim) <= 100


def test_it_forgets_unanswered_challenges_after_the_challenge_timeout(short_sim):
    _unanswered_starts(short_sim, 50)
    wait_until(lambda: _sessions(short_sim) == 0, timeout=10, what="the unanswered challenges to be forgotten")


def test_it_forgets_idle_sessions_and_a_flood_of_starts_does_not_log_a_manager_out(short_sim):
    adapter = short_sim.adapter()
    adapter.server_time()
    assert short_sim.control("/_sim/status")["logins"] == 1
    _unanswered_starts(short_sim, 150)  # more than max_sessions: pending challenges make room first
    adapter.server_time()
    assert short_sim.control("/_sim/status")["logins"] == 1  # the manager's session survived the flood
    # idle past session_idle_seconds
    wait_until(lambda: _sessions(short_sim) == 0, timeout=10, what="the idle session to be forgotten")
    adapter.server_time()  # the adapter notices and logs in again
    assert (short_sim.control("/_sim/status")["logins"], _sessions(short_sim)) == (2, 1)
