"""`manage.py partitions_archive [--apply] [--out DIR]`: the months of the monthly partitioned tables
that are past their retention (crm.lib.partitions). Without --apply it only lists them; with it each is
detached, written to a gzipped CSV and a JSON manifest, read back and checked, and only then dropped."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.lib.partitions import (
    ArchiveCandidate,
    ArchiveResult,
    PartitionArchiveError,
    archive_dir,
    retention_pass,
)


class Command(BaseCommand):
    help = "List (or with --apply archive to files and drop) the monthly partitions past their retention."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--apply", action="store_true", help="Archive and drop them (default: only list)")
        parser.add_argument("--out", type=Path, default=None, help="The archive directory (PARTITION_ARCHIVE_DIR)")
        parser.add_argument("--today", type=date.fromisoformat, default=None, help=LOOKUP_HELP)

    def handle(self, *args: Any, **options: Any) -> None:
        directory = options["out"] or archive_dir()
        try:
            done = retention_pass(apply=options["apply"], today=options["today"], directory=directory)
        except PartitionArchiveError as error:
            raise CommandError(str(error)) from error
        if not done:
            self.stdout.write("no partition is past its retention")
            return
        for item in done:
            if isinstance(item, ArchiveResult):
                self.stdout.write(f"archived {item.candidate.partition}: {item.rows} rows to {item.data_file} "
                                  f"(sha256 {item.sha256}), dropped")
            elif isinstance(item, ArchiveCandidate):
                state = "" if item.attached else " (detached, not yet archived)"
                self.stdout.write(f"would archive {item.partition} ({item.month:%Y-%m}, {item.rows} rows){state}")
        if not options["apply"]:
            self.stdout.write(f"dry run: nothing changed; --apply archives them to {directory}")


LOOKUP_HELP = "Judge the retention as on this day (YYYY-MM-DD; default today)"
