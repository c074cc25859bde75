"""`manage.py encryption_rotate`: after a brand's (or the default) key is changed in the key ring,
re-wrap every private file's data key with its scope's current key. Only the small `.key` files are
rewritten (each atomically); the documents are not read or rewritten. Then the old key can leave the
key ring (plumbing/envelope.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from crm.lib.private_files import PrivateStore, file_stores
from plumbing.envelope import KeyError_


def _root(path: Path) -> Callable[[], Path]:
    return lambda: path


class Command(BaseCommand):
    help = "Re-wrap the private files' data keys with each scope's current key (after a key rotation)."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for name, root in file_stores().items():
            try:
                done = PrivateStore(_root(root)).rewrap_all()
            except KeyError_ as error:
                raise CommandError(f"{name}: {error}") from error
            total += done.rewrapped
            self.stdout.write(f"{name}: {done.rewrapped} re-wrapped, {done.current} already on the current key")
        self.stdout.write(f"{total} key files re-wrapped; no document was rewritten")
