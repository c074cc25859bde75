"""Encryption at rest for platform credentials (Fernet: AES-128-CBC with HMAC-SHA256, from `cryptography`).

Keys, in order (the first one encrypts, every one decrypts):

1. ``settings.FIELD_ENCRYPTION_KEY``: a list (the FIELD_ENCRYPTION_KEY environment variable, comma
   separated). Each entry is either a Fernet key (``Fernet.generate_key()``) or any other secret,
   from which a key is derived. To rotate: put the new key first, keep the old ones after it, run
   ``manage.py trading_rotate_credentials``, then drop the old ones.
2. A key derived from ``settings.SECRET_KEY``, then from each of ``SECRET_KEY_FALLBACKS``: with no
   FIELD_ENCRYPTION_KEY set the SECRET_KEY's key encrypts, and after a SECRET_KEY rotation (old key
   moved to SECRET_KEY_FALLBACKS) stored credentials still decrypt until rotated.

Derivation is HKDF-SHA256 with a fixed, purpose-specific salt and info, so the derived key is
unrelated to any other use of the same secret.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from trading.exceptions import CredentialsUnreadable

_SALT = b"brokerage-crm/trading.crypto"
_INFO = b"platform credentials v1"


def derive_key(secret: str) -> bytes:
    """A Fernet key derived from an arbitrary secret."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


def _as_fernet_key(entry: str) -> bytes:
    """`entry` itself when it is a Fernet key (32 bytes, url-safe base64), else a key derived from it."""
    try:
        if len(base64.urlsafe_b64decode(entry.encode())) == 32 and len(entry) == 44:
            return entry.encode()
    except (binascii.Error, ValueError):
        pass
    return derive_key(entry)


def configured_keys() -> tuple[bytes, ...]:
    explicit = getattr(settings, "FIELD_ENCRYPTION_KEY", None) or []
    if isinstance(explicit, str):
        explicit = [k.strip() for k in explicit.split(",") if k.strip()]
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    keys = [_as_fernet_key(k) for k in explicit] + [derive_key(s) for s in secrets if s]
    if not keys:
        raise ImproperlyConfigured("Set SECRET_KEY or FIELD_ENCRYPTION_KEY to store platform credentials.")
    return tuple(dict.fromkeys(keys))  # order kept, duplicates dropped


@lru_cache(maxsize=8)
def _multi(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(plaintext: str) -> str:
    """A token for `plaintext`, under the current (first) key."""
    return _multi(configured_keys()).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of `token`, trying every configured key. CredentialsUnreadable if none fits."""
    try:
        return _multi(configured_keys()).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise CredentialsUnreadable() from None


def is_current(token: str) -> bool:
    """Whether `token` is encrypted under the current key (no rotation needed)."""
    try:
        Fernet(configured_keys()[0]).decrypt(token.encode())
    except (InvalidToken, ValueError):
        return False
    return True


def rotate(token: str) -> str:
    """`token` re-encrypted under the current key (its original time stamp kept)."""
    try:
        return _multi(configured_keys()).rotate(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise CredentialsUnreadable() from None
