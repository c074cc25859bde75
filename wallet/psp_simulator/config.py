"""The simulator's configuration: one merchant's credentials, the control token, the fees per method.

Written to ``config.json`` in the state directory on first start (from the defaults below and the
command-line options) and read as-is afterwards; options given on later starts override it for
that run only, so a test can pin the credentials on every start.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simkit.run import state_credentials

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

    def fresh() -> dict[str, Any]:  # the overrides of the first start are kept
        return {
            "api_key": overrides.get("api_key") or "pk_" + secrets.token_hex(8),
            "api_secret": overrides.get("api_secret") or secrets.token_urlsafe(24),
            "webhook_secret": overrides.get("webhook_secret") or secrets.token_urlsafe(24),
            "control_token": overrides.get("control_token") or secrets.token_urlsafe(24),
            "fees": DEFAULT_FEES,
        }

    data = state_credentials(state_dir, fresh, **overrides)
    return SimConfig(
        api_key=str(data["api_key"]), api_secret=str(data["api_secret"]),
        webhook_secret=str(data["webhook_secret"]), control_token=str(data["control_token"]),
        fees={**DEFAULT_FEES, **dict(data.get("fees") or {})},
    )
