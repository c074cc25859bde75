"""`manage.py partitions_reattach <manifest or data file>`: an archived month (crm.lib.partitions) loaded
back into its table and attached again, after its file was checked against its manifest. Refused, with
nothing changed, when the checksum fails or the month is in the database already."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.lib.partitions import PartitionArchiveError, partition_reattach


class Command(BaseCommand):
    help = "Load an archived month back into its partitioned table (the manifest's .json or the .csv.gz)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = partition_reattach(options["file"])
        except PartitionArchiveError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"reattached {manifest['partition']} to {manifest['table']}: {manifest['rows']} rows")
