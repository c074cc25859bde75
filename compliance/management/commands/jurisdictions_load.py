"""`manage.py jurisdictions_load --brand CODE FILE.csv`: load a jurisdictions list (FATF-style CSV) into
a brand's jurisdictions, all or nothing, and say what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.exceptions import JurisdictionFileRefused
from compliance.services import jurisdictions_load
from crm.models import Brand


class Command(BaseCommand):
    help = "Load a brand's jurisdictions (country, region, status, effective dates) from a CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", required=True, help="the brand's code")
        parser.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        brand = Brand.objects.filter(code=options["brand"]).first()
        if brand is None:
            raise CommandError(f"No brand with the code {options['brand']!r}.")
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"{path}: {error}") from None
        try:
            report = jurisdictions_load(brand=brand, data=data, name=path.name, by=None)
        except JurisdictionFileRefused as error:
            raise CommandError(f"{path.name}: {error.message} (nothing was loaded)") from None
        self.stdout.write(f"{brand.code}: {report}.")
