"""`manage.py trading_rotate_credentials`: re-encrypt stored platform credentials under the current
key (the first of FIELD_ENCRYPTION_KEY, or SECRET_KEY's). Run it after putting a new key first;
afterwards the old keys can be dropped."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from crm.audit import audit_record
from trading import crypto
from trading.models import PlatformServer


class Command(BaseCommand):
    help = "Re-encrypt platform credentials under the current encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = unreadable = 0
        for server in PlatformServer.objects.exclude(manager_password_encrypted="").only(
                "pk", "code", "name", "manager_password_encrypted"):
            token = server.manager_password_encrypted
            if crypto.is_current(token):
                continue
            try:
                fresh = crypto.rotate(token)
            except crypto.CredentialsUnreadable:
                unreadable += 1
                self.stderr.write(f"{server.name}: no configured key decrypts its credentials; enter them again")
                continue
            with transaction.atomic():
                PlatformServer.objects.filter(pk=server.pk).update(manager_password_encrypted=fresh)
                audit_record(action="trading.credentials_rotate", obj=server, after={"rotated": True})
            rotated += 1
        self.stdout.write(f"credentials re-encrypted: {rotated}; unreadable: {unreadable}")
