"""The key ring of the envelope encryption (plumbing.envelope) as the settings configure it."""

from __future__ import annotations

from django.conf import settings

from plumbing.envelope import ScopeKeys, load_keyring


def keyring() -> dict[str, ScopeKeys]:
    """The ring of settings CRM_ENCRYPTION_KEYS (the JSON itself) or CRM_ENCRYPTION_KEY_FILE (a JSON key
    file), looked up at each call so that a rotation's new key file is picked up without a restart."""
    return load_keyring(text=getattr(settings, "CRM_ENCRYPTION_KEYS", "") or "",
                        path=getattr(settings, "CRM_ENCRYPTION_KEY_FILE", "") or "")
