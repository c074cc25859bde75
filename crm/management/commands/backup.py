"""`manage.py backup [--out DIR]`: the database (pg_dump, one snapshot with its row counts) and the
private file stores into a new directory, with a manifest of checksums (plumbing/backup.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from crm.lib.private_files import file_stores
from plumbing.backup import BackupError, backup, connection_params


class Command(BaseCommand):
    help = "Back up the database and the private files into a new directory (for small installations)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=None,
                            help="A new directory (default: var/backups/<UTC time>)")

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"] or (Path(settings.VAR_DIR) / "backups"
                                       / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"))
        database = dict(connections["default"].settings_dict)
        owner = getattr(settings, "CRM_DATABASE_OWNER", None)
        if owner:  # the owner reads every table and sequence; the application role may not
            database.update({k: owner[k] for k in ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS") if k in owner})
        try:
            made = backup(params=connection_params(database), out=out, stores=file_stores())
        except BackupError as error:
            raise CommandError(str(error)) from error
        m = made.manifest
        self.stdout.write(f"backup written to {made.directory}: {len(m['tables'])} tables, {m['rows']} rows, "
                          f"{m['files']} files")
