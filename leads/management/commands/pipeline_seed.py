"""Give every brand (or the named ones) the default pipeline statuses it lacks. Idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from crm.models import Brand
from leads.pipeline import pipeline_defaults_ensure


class Command(BaseCommand):
    help = "Create the default sales pipeline statuses (New, Contacted, ...) for brands that lack them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("brands", nargs="*", help="brand codes (default: every brand)")

    def handle(self, *args: Any, brands: list[str], **options: Any) -> None:
        qs = Brand.objects.all() if not brands else Brand.objects.filter(code__in=brands)
        created = sum(pipeline_defaults_ensure(brand=brand) for brand in qs.order_by("code"))
        self.stdout.write(f"Pipeline statuses created: {created}.")
