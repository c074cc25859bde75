"""`manage.py ib_import FILE.json`: the partner programme's migration import (ib/importer.py;
format in README.md, example in ib/examples/three_level.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ib.importer import ImportFailed, ib_import


class Command(BaseCommand):
    help = ("Import a partner programme from one JSON file: instruments, FX rates, partners, plans, assignments, "
            "clients, re-attributions, deposits, chargebacks and the old CRM's totals, with their knowledge times.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"{path}: {error}") from None
        if not isinstance(data, dict):
            raise CommandError(f"{path}: the file must hold one JSON object")
        try:
            counts = ib_import(data)
        except ImportFailed as error:
            raise CommandError(f"{error.where}: {error.message} (nothing was imported)") from None
        for note in counts.notes:
            self.stdout.write(note)
        summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "nothing new"
        self.stdout.write(f"Imported: {summary}.")
