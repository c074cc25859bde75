"""Encryption at rest for secrets the CRM must read back (Fernet: AES-128-CBC with HMAC-SHA256, from
`cryptography`). Each use has its own `FieldCipher`, with a purpose-specific salt and info, so that
a key derived for one purpose is unrelated to any other use of the same secret.

Keys, in order (the first one encrypts, every one decrypts):

1. ``settings.FIELD_ENCRYPTION_KEY``: a list (the FIELD_ENCRYPTION_KEY environment variable, comma
   separated). Each entry is either a Fernet key (``Fernet.generate_key()``) or any other secret,
   from which a key is derived. To rotate: put the new key first, keep the old ones after it,
   re-encrypt what is stored (``FieldCipher.rotate``), then drop the old ones.
2. A key derived from ``settings.SECRET_KEY``, then from each of ``SECRET_KEY_FALLBACKS``: with no
   FIELD_ENCRYPTION_KEY set the SECRET_KEY's key encrypts, and after a SECRET_KEY rotation (old key
   moved to SECRET_KEY_FALLBACKS) stored values still decrypt until rotated.

Derivation is HKDF-SHA256 with the cipher's salt and info. A Fernet key in FIELD_ENCRYPTION_KEY is
itself put through HKDF too, unless the cipher was made with ``fernet_keys_as_is=True`` (kept for
the platform credentials, whose stored tokens were made that way).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class Undecryptable(ValueError):
    """The token was not made by any configured key (or is not a token at all)."""


def _is_fernet_key(entry: str) -> bool:
    try:
        return len(entry) == 44 and len(base64.urlsafe_b64decode(entry.encode())) == 32
    except (binascii.Error, ValueError):
        return False


@lru_cache(maxsize=16)
def _multi(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


@dataclass(frozen=True)
class FieldCipher:
    """Encrypts and decrypts the values of one purpose (`what` names it in configuration errors)."""

    salt: bytes
    info: bytes
    what: str = "secrets"
    fernet_keys_as_is: bool = False

    def derive_key(self, secret: str) -> bytes:
        """A Fernet key derived from an arbitrary secret, for this purpose only."""
        raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=self.salt, info=self.info).derive(secret.encode())
        return base64.urlsafe_b64encode(raw)

    def _entry_key(self, entry: str) -> bytes:
        if self.fernet_keys_as_is and _is_fernet_key(entry):
            return entry.encode()
        return self.derive_key(entry)

    def keys(self) -> tuple[bytes, ...]:
        """The configured keys, the encrypting one first."""
        explicit = getattr(settings, "FIELD_ENCRYPTION_KEY", None) or []
        if isinstance(explicit, str):
            explicit = [k.strip() for k in explicit.split(",") if k.strip()]
        secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        keys = [self._entry_key(k) for k in explicit] + [self.derive_key(s) for s in secrets if s]
        if not keys:
            raise ImproperlyConfigured(f"Set SECRET_KEY or FIELD_ENCRYPTION_KEY to store {self.what}.")
        return tuple(dict.fromkeys(keys))  # order kept, duplicates dropped

    def encrypt(self, plaintext: str) -> str:
        """A token for `plaintext`, under the current (first) key."""
        return _multi(self.keys()).encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The plaintext of `token`, trying every configured key. Undecryptable if none fits."""
        try:
            return _multi(self.keys()).decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            raise Undecryptable() from None

    def is_current(self, token: str) -> bool:
        """Whether `token` is encrypted under the current key (no rotation needed)."""
        try:
            Fernet(self.keys()[0]).decrypt(token.encode())
        except (InvalidToken, ValueError):
            return False
        return True

    def rotate(self, token: str) -> str:
        """`token` re-encrypted under the current key (its original time stamp kept)."""
        try:
            return _multi(self.keys()).rotate(token.encode()).decode()
        except (InvalidToken, ValueError):
            raise Undecryptable() from None
