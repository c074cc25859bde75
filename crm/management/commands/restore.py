"""`manage.py restore DIR --database-url URL [--files-root DIR]`: a backup made by `manage.py backup`
into an empty database (and its files into an empty directory); checks the checksums first and every
table's row count after (plumbing/backup.py). Then run audit_verify and ledger_verify against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from plumbing.backup import BackupError, params_from_url, restore


class Command(BaseCommand):
    help = "Restore a backup into an empty database; exit 1 if a table's row count differs from the backup's."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument("--database-url", required=True, help="postgresql:// URL of an empty database")
        parser.add_argument("--files-root", type=Path, default=None,
                            help="An empty directory for the files (one folder per store); default: not restored")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            done = restore(directory=options["directory"], params=params_from_url(options["database_url"]),
                           files_root=options["files_root"])
        except BackupError as error:
            raise CommandError(str(error)) from error
        if not done.ok:
            lines = "\n".join(f"  {t}: {want} in the backup, {got} restored" for t, (want, got) in done.mismatches.items())
            raise CommandError(f"restored, but row counts differ:\n{lines}")
        self.stdout.write(f"restored {done.tables} tables, {done.rows} rows, {done.files} files; row counts match "
                          "the backup")
