"""Encryption at rest for platform credentials: crm.lib.crypto with this purpose's salt.

Keys as described in crm.lib.crypto (FIELD_ENCRYPTION_KEY first, then keys derived from SECRET_KEY
and SECRET_KEY_FALLBACKS). To rotate: put the new key first in FIELD_ENCRYPTION_KEY, keep the old
ones after it, run ``manage.py trading_rotate_credentials``, then drop the old ones.

A Fernet key in FIELD_ENCRYPTION_KEY is used as it is here (not derived), as it always was, so that
credentials stored before crm.lib.crypto existed still decrypt.
"""

from __future__ import annotations

from crm.lib.crypto import FieldCipher, Undecryptable
from trading.exceptions import CredentialsUnreadable

__all__ = ["CredentialsUnreadable", "configured_keys", "decrypt", "derive_key", "encrypt", "is_current", "rotate"]

CIPHER = FieldCipher(salt=b"brokerage-crm/trading.crypto", info=b"platform credentials v1",
                     what="platform credentials", fernet_keys_as_is=True)


def derive_key(secret: str) -> bytes:
    """A Fernet key derived from an arbitrary secret."""
    return CIPHER.derive_key(secret)


def configured_keys() -> tuple[bytes, ...]:
    return CIPHER.keys()


def encrypt(plaintext: str) -> str:
    """A token for `plaintext`, under the current (first) key."""
    return CIPHER.encrypt(plaintext)


def decrypt(token: str) -> str:
    """The plaintext of `token`, trying every configured key. CredentialsUnreadable if none fits."""
    try:
        return CIPHER.decrypt(token)
    except Undecryptable:
        raise CredentialsUnreadable() from None


def is_current(token: str) -> bool:
    """Whether `token` is encrypted under the current key (no rotation needed)."""
    return CIPHER.is_current(token)


def rotate(token: str) -> str:
    """`token` re-encrypted under the current key (its original time stamp kept)."""
    try:
        return CIPHER.rotate(token)
    except Undecryptable:
        raise CredentialsUnreadable() from None
