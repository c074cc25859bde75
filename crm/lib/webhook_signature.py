"""The signature on the CRM's outbound webhooks, and the check a receiver runs (standard library
only, so that a receiver may copy this file as it is).

Every delivery carries

    X-CRM-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]
    X-CRM-Delivery:  <delivery id, a UUID: the same on every attempt and replay; dedupe by it>
    X-CRM-Event:     <event name, e.g. client.created>

where each v1 is HMAC-SHA256, keyed with one of the subscriber's secrets, over
``<t> + "." + <raw body>``. During a key change the CRM signs with both the new and the old
secret (two v1 entries) until the old one is retired, so a receiver holding either accepts it.
The timestamp is inside the signed text: a captured request cannot be replayed with a fresh one,
and a receiver refuses timestamps older than its tolerance (five minutes by default).

    from crm.lib.webhook_signature import SignatureError, verify
    try:
        verify(body=raw_body, header=request.headers["X-CRM-Signature"], secrets=["whsec_..."])
    except SignatureError as exc:
        return 400, str(exc)
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

HEADER = "X-CRM-Signature"
DELIVERY_HEADER = "X-CRM-Delivery"
EVENT_HEADER = "X-CRM-Event"
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The request is not a genuine, fresh delivery. `reason`: "malformed", "stale" or "mismatch"."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` under `secret`."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def header_value(secrets: Iterable[str], body: bytes, *, timestamp: int | None = None) -> str:
    """The X-CRM-Signature value for `body`: one v1 per secret (the current one first)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={ts}", *(f"v1={sign(s, ts, body)}" for s in secrets if s)])


def parse(header: str) -> tuple[int, list[str]]:
    """(timestamp, signatures) of a header value; SignatureError("malformed") if it is not one."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        raise SignatureError("the signature header has no t= or no v1=", reason="malformed")
    return timestamp, signatures


def verify(*, body: bytes, header: str, secrets: Iterable[str], tolerance: float = TOLERANCE_SECONDS,
           now: float | None = None) -> int:
    """Check that `body` was signed by the CRM with one of `secrets` within `tolerance` seconds of
    `now`. Returns the signed timestamp; raises SignatureError otherwise. Comparisons take constant
    time. Give the raw body as received: re-serialised JSON does not match."""
    timestamp, signatures = parse(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError("the signature's timestamp is too old or in the future", reason="stale")
    for secret in secrets:
        if not secret:
            continue
        expected = sign(secret, timestamp, body)
        if any(hmac.compare_digest(expected, given) for given in signatures):
            return timestamp
    raise SignatureError("no signature matches a known secret", reason="mismatch")
