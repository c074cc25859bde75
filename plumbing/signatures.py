"""Signed HTTP requests: the one X-CRM-Signature, and the check a receiver runs (standard library
only, so that a receiver may copy this file as it is).

Every request the CRM signs, and every request it takes signed with a secret it shares, carries

    X-CRM-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]

where each v1 is HMAC-SHA256, keyed with one of the shared secrets, over ``<t> + "." + <raw body>``
in lower-case hexadecimal. During a key change the sender signs with both the new and the old
secret (two v1 entries) until the old one is retired, so a receiver holding either accepts it. The
timestamp is inside the signed text: a captured request cannot be replayed with a fresh one, and a
receiver refuses timestamps further than its tolerance (five minutes by default) from its clock.
Replays within the tolerance are the receiver's to refuse (by the delivery's id).

Who uses it:
- the CRM's outbound webhooks to integrators (integrations.outbound, with X-CRM-Delivery and
  X-CRM-Event) and partners' postbacks (ib.postbacks, with Idempotency-Key): the CRM signs;
- telephony providers' webhooks to the CRM (leads.calls): the provider signs, the CRM verifies.

Outside vendors' own schemes (the PSP's X-Psp-*, the KYC vendor's X-Kyc-*) sign the same text but
put the timestamp and the signature in two headers of their own: `sign` and `verify_parts`.

    from plumbing.signatures import SignatureError, verify
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
    """The request is not a genuine, fresh one from the sender it claims. `reason` says which, for
    the caller's log and answer: "unknown_sender" (no secret to check with), "malformed" (no
    timestamp or no signature), "stale" (a timestamp outside the tolerance) or "mismatch"."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
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


def _verified(timestamp: int, signatures: list[str], *, body: bytes, secrets: list[str], tolerance: float,
              now: float | None) -> int:
    if not secrets:
        raise SignatureError("no secret is known for this sender", reason="unknown_sender")
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError("the signature's timestamp is too old or in the future", reason="stale")
    for secret in secrets:
        expected = sign(secret, timestamp, body)
        if any(hmac.compare_digest(expected, given) for given in signatures):
            return timestamp
    raise SignatureError("no signature matches a known secret", reason="mismatch")


def verify(*, body: bytes, header: str, secrets: Iterable[str], tolerance: float = TOLERANCE_SECONDS,
           now: float | None = None) -> int:
    """Check that `body` was signed with one of `secrets` within `tolerance` seconds of `now`.
    Returns the signed timestamp; raises SignatureError otherwise (no secret at all: a sender we do
    not know, never passes). Comparisons take constant time. Give the raw body as received:
    re-serialised JSON does not match."""
    known = [s for s in secrets if s]
    timestamp, signatures = parse(header)
    return _verified(timestamp, signatures, body=body, secrets=known, tolerance=tolerance, now=now)


def verify_parts(*, body: bytes, timestamp: str, signature: str, secret: str,
                 tolerance: float = TOLERANCE_SECONDS, now: float | None = None) -> int:
    """`verify` for a vendor's scheme that sends the timestamp and the signature ("sha256=<hex>"
    or bare hex, any case) in two headers of its own."""
    given = signature.strip().removeprefix("sha256=").strip().lower()
    if not timestamp.strip().isdigit() or not given:
        raise SignatureError("the request has no timestamp or no signature", reason="malformed")
    return _verified(int(timestamp), [given], body=body, secrets=[secret] if secret else [], tolerance=tolerance,
                     now=now)
