"""The simulator's configuration: manager logins, groups, server time zone, control token.

It lives in ``config.json`` in the state directory, written on first start from the defaults
below and the command-line options, and read as-is afterwards (edit it to change groups).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_NAME = "config.json"


@dataclass(frozen=True)
class GroupConfig:
    name: str
    currency: str = "USD"
    currency_digits: int = 2  # IMTConGroup::CurrencyDigits: decimals of money in this group's accounts
    leverage_max: int = 500
    margin_call: int = 100  # margin level (%) at which a margin call starts
    stop_out: int = 50  # margin level (%) at which positions are closed
    commission_per_lot: str = "0"  # USD per lot per side
    trade_mode: str = "full"  # "full" or "close_only"
    demo: bool = False


@dataclass(frozen=True)
class ManagerConfig:
    login: int
    password: str
    groups: tuple[str, ...] = ("*",)  # group masks this manager may work on
    rights: tuple[str, ...] = ("all",)  # "all", or a subset of: users, balance, deals, positions


@dataclass(frozen=True)
class SimConfig:
    managers: tuple[ManagerConfig, ...]
    groups: tuple[GroupConfig, ...]
    control_token: str
    seed: int = 1
    server_tz_offset_minutes: int = 120
    server_tz: str = ""  # an IANA zone name overrides the fixed offset when set
    start_time: str = ""  # ISO UTC time of the simulated clock in a fresh state; "" = now
    tick_seconds: int = 60  # simulated seconds per tick of /_sim/advance
    session_idle_seconds: int = 180  # documented: the access server drops a silent connection
    challenge_seconds: float = 10.0  # documented limit between auth/start and auth/answer
    max_sessions: int = 1024  # sessions and pending challenges held at once (oldest dropped first)
    login_start: int = 100_001
    extra: dict[str, Any] = field(default_factory=dict)

    def group(self, name: str) -> GroupConfig | None:
        for group in self.groups:
            if group.name.lower() == name.lower():
                return group
        return None


DEFAULT_GROUPS: tuple[GroupConfig, ...] = (
    GroupConfig("demo\\standard", demo=True),
    GroupConfig("real\\standard"),
    GroupConfig("real\\pro", leverage_max=200, commission_per_lot="3.50"),
    GroupConfig("real\\cent", leverage_max=1000, margin_call=80, stop_out=30),
    GroupConfig("real\\standard-closeonly", trade_mode="close_only"),
    GroupConfig("real\\pro-closeonly", leverage_max=200, commission_per_lot="3.50", trade_mode="close_only"),
    # Deposit currencies with other minor units than the dollar's: none, three, six and eight decimals.
    GroupConfig("real\\jpy", currency="JPY", currency_digits=0),
    GroupConfig("real\\kwd", currency="KWD", currency_digits=3),
    GroupConfig("real\\usdt", currency="USDT", currency_digits=6, leverage_max=100),
    GroupConfig("real\\btc", currency="BTC", currency_digits=8, leverage_max=100),
)


def load_or_create(
    state_dir: Path,
    *,
    manager_login: int | None = None,
    manager_password: str | None = None,
    control_token: str | None = None,
    seed: int | None = None,
    start_time: str | None = None,
    server_tz_offset_minutes: int | None = None,
    session_idle_seconds: int | None = None,
    challenge_seconds: float | None = None,
    max_sessions: int | None = None,
) -> SimConfig:
    """Read ``config.json``; on first start write it from defaults and the given options.

    Options given on later starts override what the file says for this run (they are not written
    back), so a test can pin the control token or manager password on every start.
    """
    path = state_dir / CONFIG_NAME
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    else:
        data = {
            "managers": [
                {
                    "login": manager_login or 1000,
                    "password": manager_password or _new_password(),
                    "groups": ["*"],
                    "rights": ["all"],
                }
            ],
            "groups": [g.__dict__ for g in DEFAULT_GROUPS],
            "control_token": control_token or secrets.token_urlsafe(24),
            "seed": seed if seed is not None else 1,
            "server_tz_offset_minutes": server_tz_offset_minutes
            if server_tz_offset_minutes is not None
            else 120,
            "server_tz": "",
            "start_time": start_time or "",
            "tick_seconds": 60,
            "session_idle_seconds": 180,
            "login_start": 100_001,
        }
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    config = _from_json(data)
    overrides: dict[str, Any] = {}
    if control_token:
        overrides["control_token"] = control_token
    if seed is not None:
        overrides["seed"] = seed
    if start_time:
        overrides["start_time"] = start_time
    if server_tz_offset_minutes is not None:
        overrides["server_tz_offset_minutes"] = server_tz_offset_minutes
    if session_idle_seconds is not None:
        overrides["session_idle_seconds"] = session_idle_seconds
    if challenge_seconds is not None:
        overrides["challenge_seconds"] = challenge_seconds
    if max_sessions is not None:
        overrides["max_sessions"] = max_sessions
    if manager_password and manager_login:
        managers = [m for m in config.managers if m.login != manager_login]
        managers.insert(0, ManagerConfig(manager_login, manager_password))
        overrides["managers"] = tuple(managers)
    if overrides:
        config = SimConfig(**{**config.__dict__, **overrides})
    return config


def _from_json(data: dict[str, Any]) -> SimConfig:
    managers = tuple(
        ManagerConfig(
            login=int(m["login"]),
            password=str(m["password"]),
            groups=tuple(m.get("groups", ["*"])),
            rights=tuple(m.get("rights", ["all"])),
        )
        for m in data["managers"]
    )
    groups = tuple(GroupConfig(**g) for g in data["groups"])
    known = {
        "seed",
        "server_tz_offset_minutes",
        "server_tz",
        "start_time",
        "tick_seconds",
        "session_idle_seconds",
        "challenge_seconds",
        "max_sessions",
        "login_start",
    }
    rest = {k: v for k, v in data.items() if k in known}
    return SimConfig(managers=managers, groups=groups, control_token=str(data["control_token"]), **rest)


def _new_password() -> str:
    # MT5 wants upper, lower and digits; the prefix guarantees all three.
    return "Mgr1" + secrets.token_urlsafe(9)
