"""Signed webhooks: the one check for requests that partners' systems sign with a shared secret.

    X-CRM-Timestamp: <unix seconds>     must be within SIGNATURE_TOLERANCE of our clock
    X-CRM-Signature: sha256=<hex>       HMAC-SHA256 over "<timestamp>." + raw body, keyed with the secret

The timestamp is part of the signed text, so an old request cannot be replayed with a fresh
timestamp; the comparison takes constant time. Telephony providers use it today (leads.calls);
payment providers and partners' postbacks are meant to use it too. Replays within the tolerance
are the caller's to refuse (an idempotency key per delivery).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

SIGNATURE_TOLERANCE = timedelta(minutes=5)


class SignatureInvalid(Exception):
    """The request is not from the sender it claims (bad or missing signature, stale timestamp).
    `reason` says which, for the caller's log and answer: "unknown_sender", "missing_timestamp",
    "stale" or "bad_signature"."""

    def __init__(self, message: str, *, reason: str = "bad_signature") -> None:
        super().__init__(message)
        self.reason = reason


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    """The hex signature of `body` sent at `timestamp` (what the sender puts after "sha256=")."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_check(*, secret: str, timestamp: str, signature: str, body: bytes, now: float | None = None,
                    tolerance: timedelta = SIGNATURE_TOLERANCE) -> None:
    """Raise SignatureInvalid unless `signature` ("sha256=<hex>" or bare hex) signs `body` with
    `secret` at `timestamp`, and `timestamp` is within `tolerance` of `now`. An empty secret (a
    provider we do not know) never passes."""
    if not secret:
        raise SignatureInvalid("unknown provider", reason="unknown_sender")
    if not timestamp.isdigit():
        raise SignatureInvalid("missing timestamp", reason="missing_timestamp")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance.total_seconds():
        raise SignatureInvalid("stale timestamp", reason="stale")
    given = signature.removeprefix("sha256=").strip().lower()
    if not hmac.compare_digest(given, signature_for(secret, timestamp, body)):
        raise SignatureInvalid("bad signature", reason="bad_signature")
