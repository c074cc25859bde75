"""TOTP for client logins: the secret encrypted at rest, codes accepted once, recovery codes hashed."""

from __future__ import annotations

import base64
import secrets
from urllib.parse import quote, urlencode

from django.utils.crypto import constant_time_compare, salted_hmac
from django_otp.oath import TOTP

from crm.lib.crypto import FieldCipher

CIPHER = FieldCipher(salt=b"portal.client-login.totp", info=b"trader's room two-factor secret",
                     what="client two-factor secrets")
DIGITS = 6
STEP = 30
RECOVERY_CODES = 10


def secret_new() -> bytes:
    return secrets.token_bytes(20)


def secret_encrypt(key: bytes) -> str:
    return CIPHER.encrypt(key.hex())


def secret_decrypt(token: str) -> bytes:
    return bytes.fromhex(CIPHER.decrypt(token))


def secret_base32(key: bytes) -> str:
    return base64.b32encode(key).decode().rstrip("=")


def otpauth_uri(*, key: bytes, account: str, issuer: str) -> str:
    label = quote(f"{issuer}:{account}")
    return f"otpauth://totp/{label}?" + urlencode({"secret": secret_base32(key), "issuer": issuer,
                                                   "digits": DIGITS, "period": STEP})


def code_step(key: bytes, code: str, *, after: int) -> int | None:
    """The time step `code` is good for (now, or one step either side), if it is later than `after`
    (a code is used once); else None."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != DIGITS:
        return None
    for drift in (0, -1, 1):
        totp = TOTP(key, step=STEP, digits=DIGITS, drift=drift)
        if constant_time_compare(f"{totp.token():0{DIGITS}d}", code) and totp.t() > after:
            return int(totp.t())
    return None


def recovery_codes_new() -> list[str]:
    return [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]


def recovery_hash(code: str) -> str:
    # The codes are random (64 bits), so a keyed hash is enough; no slow hasher needed.
    return salted_hmac("portal.recovery-code", code.strip().lower().replace(" ", ""), algorithm="sha256").hexdigest()
