"""manage.py automation_seed_playbook [--brand CODE ...]: the brokers' automation playbook.

Adds, for each brand (every active brand unless named), the rules and email templates of the
playbook that it does not have yet. Safe to run any number of times.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from automation.services import automation_seed_playbook
from crm.models import Brand
from plumbing.context import acting_as


class Command(BaseCommand):
    help = "Add the automation playbook (rules and email templates) to brands that lack it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", action="append", default=[], help="Brand code (repeatable); default: all active.")

    def handle(self, *args: Any, **options: Any) -> None:
        codes: list[str] = options["brand"]
        brands = list(Brand.objects.filter(code__in=codes)) if codes else list(Brand.objects.filter(is_active=True))
        missing = sorted(set(codes) - {b.code for b in brands})
        if missing:
            raise CommandError(f"Unknown brand code(s): {', '.join(missing)}")
        with acting_as(None, source="shell"):
            for brand in brands:
                report = automation_seed_playbook(brand=brand)
                self.stdout.write(
                    f"{brand.code}: {len(report.rules_created)} rule(s) and {len(report.templates_created)} "
                    f"template(s) added"
                    + (f" ({', '.join(report.rules_created + report.templates_created)})"
                       if report.rules_created or report.templates_created else "")
                )
