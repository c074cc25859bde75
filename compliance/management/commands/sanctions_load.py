"""`manage.py sanctions_load --format ofac-csv|eu-xml|un-xml|uk-csv|pep-csv --list NAME FILE [FILE...]`:
load the files as the next version of the list (all or nothing) and print its diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.exceptions import WatchlistRefused
from compliance.services import watchlist_load
from compliance.watchlists.parsers import FORMATS, SourceFile


class Command(BaseCommand):
    help = "Load a sanctions or PEP list version from the files its publisher ships."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
        parser.add_argument("--list", required=True, dest="list_name")
        parser.add_argument("files", nargs="+")

    def handle(self, *args: Any, **options: Any) -> None:
        files = []
        for name in options["files"]:
            path = Path(name)
            try:
                files.append(SourceFile(path.name, path.read_bytes()))
            except OSError as error:
                raise CommandError(f"{path}: {error}") from None
        try:
            version = watchlist_load(name=options["list_name"], fmt=options["fmt"], files=files)
        except WatchlistRefused as error:
            raise CommandError(f"{error.message} (nothing was loaded)") from None
        self.stdout.write(
            f"{version.watchlist.name} version {version.number}: {version.entry_count} entries, "
            f"{version.name_count} names; {len(version.added)} added, {len(version.removed)} removed, "
            f"{len(version.changed)} changed (sha256 {version.checksum[:12]})."
        )
