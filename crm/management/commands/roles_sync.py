from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from crm.roles import roles_sync


class Command(BaseCommand):
    help = "Create the staff roles with their groups and set each role's permissions (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default", help="Database alias to sync (default: default).")

    def handle(self, *args: Any, **options: Any) -> None:
        report = roles_sync(using=options["database"])
        self.stdout.write(self.style.SUCCESS(str(report)))
