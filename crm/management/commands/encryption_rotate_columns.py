"""`manage.py encryption_rotate_columns`: after a new key is made current in the key ring (the "default"
scope's for encrypted columns, "#search" for keyed hashes), re-encrypt every encrypted column's value
under it and hash every keyed-hash column again (crm/lib/fieldcrypt.py). Rows already on the current
keys are not written; it can be stopped and run again. Then the old key can leave the key ring."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from crm.lib.fieldcrypt import rotate_all
from plumbing.envelope import KeyError_


class Command(BaseCommand):
    help = "Re-encrypt encrypted columns and re-hash keyed-hash columns with the key ring's current keys."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            done = rotate_all()
        except KeyError_ as error:
            raise CommandError(str(error)) from error
        for model in done:
            self.stdout.write(f"{model.model}: {model.reencrypted} values re-encrypted, {model.rehashed} hashes "
                              f"recomputed, {model.rows} rows looked at")
        self.stdout.write(f"{sum(m.reencrypted for m in done)} values re-encrypted, "
                          f"{sum(m.rehashed for m in done)} hashes recomputed")
