"""`manage.py crm_import DIR`: move in from another CRM (integrations.moving_in; the folder's format
is docs/moving-in.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.models import Brand, User
from integrations.moving_in.folder import Folder, FolderUnreadable
from integrations.moving_in.importer import MONEY_MODES, crm_import
from integrations.moving_in.report import report_files_write


class Command(BaseCommand):
    help = ("Import another CRM's export folder (staff, clients, notes, calls, tasks, trading accounts, balances or "
            "transactions, ib.json) through the CRM's services; re-running it changes only what changed.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder")
        parser.add_argument("--dry-run", action="store_true", help="Check everything, write nothing.")
        parser.add_argument("--mapping", help="mapping.json to use instead of the folder's own.")
        parser.add_argument("--brand", help="The brand's code (default: the only brand).")
        parser.add_argument("--money", choices=MONEY_MODES, default="opening",
                            help="opening: one posting per client and currency (balances.csv); "
                                 "history: every old transaction (transactions.csv).")
        parser.add_argument("--actor", help="Email of the administrator the import runs as (stage overrides).")
        parser.add_argument("--report-dir", help="Where to write errors.csv and reconciliation.csv "
                                                 "(default: the folder).")
        parser.add_argument("--no-mail", action="store_true", help="Print staff's set-password links, do not mail them.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            folder = Folder(Path(options["folder"]), mapping_path=Path(options["mapping"]) if options["mapping"] else None)
        except FolderUnreadable as error:
            raise CommandError(f"{error} (nothing was imported)") from None
        brands = Brand.objects.filter(code=options["brand"]) if options["brand"] else Brand.objects.all()
        if brands.count() != 1:
            raise CommandError("Name the brand with --brand CODE." if not options["brand"]
                               else f"No brand has the code {options['brand']}.")
        actor = None
        if options["actor"]:
            actor = User.objects.filter(email__iexact=options["actor"], is_active=True).first()
            if actor is None or not actor.is_administrator:
                raise CommandError(f"{options['actor']} is not an active administrator.")
        report = crm_import(folder=folder, brand=brands.get(), actor=actor, money=options["money"],
                            dry_run=options["dry_run"], send_links=not options["no_mail"])
        for line in report.summary():
            self.stdout.write(line)
        for email, link in report.links:
            self.stdout.write(f"  set-password link for {email}: {link}")
        paths = report_files_write(report, Path(options["report_dir"] or options["folder"]))
        self.stdout.write("Reports: " + ", ".join(str(p) for p in paths))
