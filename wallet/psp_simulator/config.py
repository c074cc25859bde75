"""The simulator's configuration: one merchant's credentials, the control token, the fees per method.

Written to ``config.json`` in the state directory on first start (from the defaults below and the
command-line options) and read as-is afterwards; options given on later starts override it for
that run only, so a test can pin the credentials on every start.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_NAME = "config.json"

# Per method: percent of the amount and a fixed part, in the payment's currency.
DEFAULT_FEES: dict[str, dict[str, str]] = {
    "card": {"percent": "2.9", "fixed": "0.30"},
    "ewallet": {"percent": "1.9", "fixed": "0"},
    "crypto": {"percent": "1.0", "fixed": "0"},
    "payout": {"percent": "0", "fixed": "1.00"},
    "refund": {"percent": "0", "fixed": "0"},
    "chargeback": {"percent": "0", "fixed": "15.00"},
}


@dataclass(frozen=True)
class SimConfig:
    api_key: str
    api_secret: str
    webhook_secret: str
    control_token: str
    fees: dict[str, dict[str, str]] = field(default_factory=lambda: dict(DEFAULT_FEES))
    signature_tolerance_seconds: int = 300


def load_or_create(state_dir: Path | None, **overrides: str | None) -> SimConfig:
    """Read ``config.json`` (creating it on first start); non-empty ``overrides`` win for this run."""
    data: dict[str, Any] | None = None
    path = state_dir / CONFIG_NAME if state_dir is not None else None
    if path is not None and path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    if data is None:
        data = {
            "api_key": overrides.get("api_key") or "pk_" + secrets.token_hex(8),
            "api_secret": overrides.get("api_secret") or secrets.token_urlsafe(24),
            "webhook_secret": overrides.get("webhook_secret") or secrets.token_urlsafe(24),
            "control_token": overrides.get("control_token") or secrets.token_urlsafe(24),
            "fees": DEFAULT_FEES,
        }
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
            os.replace(tmp, path)
    for key, value in overrides.items():
        if value:
            data[key] = value
    return SimConfig(
        api_key=str(data["api_key"]), api_secret=str(data["api_secret"]),
        webhook_secret=str(data["webhook_secret"]), control_token=str(data["control_token"]),
        fees={**DEFAULT_FEES, **dict(data.get("fees") or {})},
    )
