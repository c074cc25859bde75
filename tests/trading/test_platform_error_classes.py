"""Each class of platform failure says what it proves about a write: refused (nothing applied, safe
to fail or send again at once) or unknown (look the reference up first). Checked against the
simulator, whose faults apply nothing unless they come after the write (timeout_after_apply,
malformed), so the look-up shows each classification is true."""

from __future__ import annotations

import datetime as dt
import secrets
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest

from trading.adapters.base import (
    AuthFailed,
    BalanceKind,
    NewAccount,
    PlatformError,
    PlatformProtocolError,
    PlatformRejected,
    PlatformTimeout,
    PlatformUnavailable,
)

BALANCE = "/api/trade/balance"
START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def _login(sim) -> int:
    adapter = sim.adapter()
    return adapter.create_account(NewAccount(group="real\\standard", leverage=100, name="Ada Lovelace",
                                             password="Strong123x", investor_password="Watch456y")).login


def _deposit(adapter, login: int) -> tuple[str, PlatformError]:
    reference = secrets.token_hex(3).upper()
    with pytest.raises(PlatformError) as raised:
        adapter.apply_balance_operation(login, BalanceKind.BALANCE, Decimal("10"), f"dep {reference}")
    return reference, raised.value


def _applied(sim, login: int, reference: str) -> bool:
    return sim.adapter().find_balance_operation(login, reference, START) is not None


@pytest.mark.parametrize(
    ("status", "error", "unknown"),
    [
        (400, PlatformProtocolError, False),
        (404, PlatformProtocolError, False),
        (408, PlatformProtocolError, False),
        (413, PlatformProtocolError, False),
        (429, PlatformUnavailable, False),
        (500, PlatformUnavailable, True),
        (501, PlatformUnavailable, False),
        (502, PlatformUnavailable, True),
        (503, PlatformUnavailable, False),
        (504, PlatformUnavailable, True),
    ],
)
def test_http_statuses_say_whether_a_write_may_have_been_applied(quiet_sim, status, error, unknown):
    login = _login(quiet_sim)
    quiet_sim.faults({"type": "http_error", "path": BALANCE, "status": status, "count": 1})
    reference, raised = _deposit(quiet_sim.adapter(), login)
    assert type(raised) is error
    assert raised.outcome_unknown is unknown
    assert not _applied(quiet_sim, login, reference)


@pytest.mark.parametrize(
    ("retcode", "error", "unknown"),
    [
        ("2 Common error", PlatformUnavailable, True),
        ("3 Invalid parameters", PlatformRejected, False),
        ("5 Disk error", PlatformUnavailable, True),
        ("7 Network error", PlatformUnavailable, True),
        ("9 Operation timeout", PlatformTimeout, True),
        ("10 No connection", PlatformUnavailable, False),
        ("11 Service not available", PlatformUnavailable, False),
        ("12 Too frequent requests", PlatformUnavailable, False),
        ("14 Partial error", PlatformUnavailable, True),
        ("15 Server shutdown in progress", PlatformUnavailable, False),
        ("1002 Account disabled", AuthFailed, False),
        ("10019 Not enough money", PlatformRejected, False),
    ],
)
def test_mt5_retcodes_say_whether_a_write_may_have_been_applied(quiet_sim, retcode, error, unknown):
    login = _login(quiet_sim)
    quiet_sim.faults({"type": "retcode", "path": BALANCE, "retcode": retcode, "count": 1})
    reference, raised = _deposit(quiet_sim.adapter(), login)
    assert type(raised) is error
    assert raised.outcome_unknown is unknown
    assert not _applied(quiet_sim, login, reference)


@pytest.mark.parametrize("mode", ["not_json", "truncated", "missing_retcode", "wrong_shape"])
def test_a_malformed_answer_to_a_write_is_unknown_because_it_came_after_the_write(quiet_sim, mode):
    login = _login(quiet_sim)
    quiet_sim.faults({"type": "malformed", "path": BALANCE, "mode": mode, "count": 1})
    reference, raised = _deposit(quiet_sim.adapter(), login)
    assert isinstance(raised, PlatformProtocolError)
    assert raised.outcome_unknown
    assert _applied(quiet_sim, login, reference)


def test_a_read_timeout_on_a_write_is_unknown(quiet_sim):
    login = _login(quiet_sim)
    quiet_sim.faults({"type": "timeout_after_apply", "path": BALANCE, "seconds": 2, "count": 1})
    reference, raised = _deposit(quiet_sim.adapter(timeout=0.5), login)
    assert isinstance(raised, PlatformTimeout)
    assert raised.outcome_unknown
    assert _applied(quiet_sim, login, reference)


def test_an_untrusted_tls_certificate_fails_before_anything_is_sent(quiet_sim):
    login = _login(quiet_sim)
    reference, raised = _deposit(quiet_sim.adapter(ca_file=None), login)  # the system CAs do not know it
    assert isinstance(raised, PlatformUnavailable)
    assert "TLS" in raised.message
    assert not raised.outcome_unknown
    assert not _applied(quiet_sim, login, reference)


def test_a_refused_connection_fails_before_anything_is_sent(quiet_sim):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nobody listens once the socket is closed
    _reference, raised = _deposit(quiet_sim.adapter(port=closed_port), 100_001)
    assert isinstance(raised, PlatformUnavailable)
    assert not raised.outcome_unknown


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and then never says a word (no TLS handshake)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        server.close()


def test_a_connect_timeout_fails_before_anything_is_sent(quiet_sim, silent_port):
    _reference, raised = _deposit(quiet_sim.adapter(port=silent_port, connect_timeout=0.5), 100_001)
    assert isinstance(raised, PlatformTimeout)
    assert not raised.outcome_unknown
