"""`manage.py leads_reencrypt_telephony_secrets`: re-encrypt the telephony providers' webhook secrets
under the current key (the first of FIELD_ENCRYPTION_KEY, or SECRET_KEY's). Run it after putting a
new key first, as trading_rotate_credentials for platform credentials; then the old keys can go."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from leads.telephony import telephony_secrets_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt telephony webhook secrets under the current encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        done, unreadable = telephony_secrets_reencrypt()
        for code in unreadable:
            self.stderr.write(f"{code}: no configured key decrypts its secret; rotate it on the telephony page")
        self.stdout.write(f"telephony secrets re-encrypted: {done}; unreadable: {len(unreadable)}")
