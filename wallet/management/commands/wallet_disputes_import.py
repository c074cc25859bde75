"""manage.py wallet_disputes_import PROVIDER FILE [--dry-run]: a provider's dispute report (CSV or
XLSX; the columns are in wallet.dispute_reports and the README) opens the disputes it lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.exceptions import ValidationFailed
from wallet.dispute_reports import dispute_report_check, dispute_report_import
from wallet.models import PaymentProvider


class Command(BaseCommand):
    help = "Open the chargebacks and retrieval requests a provider's dispute report lists (checked whole first)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("provider", help="the payment provider's code")
        parser.add_argument("file", type=Path, help="the provider's dispute report, CSV or XLSX")
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        provider = PaymentProvider.objects.filter(code=options["provider"]).first()
        if provider is None:
            raise CommandError(f"No payment provider has the code {options['provider']!r}.")
        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from None
        if options["dry_run"]:
            report = dispute_report_check(provider=provider, data=data, file_name=path.name)
            if report.problems:
                raise CommandError("\n".join([f"{len(report.problems)} problems; nothing would be imported:",
                                              *(str(p) for p in report.problems)]))
        else:
            try:
                report = dispute_report_import(provider=provider, data=data, file_name=path.name, actor=None)
            except ValidationFailed as error:
                raise CommandError("\n".join([error.message, *error.fields.get("file", [])])) from None
        verb = "would open" if options["dry_run"] else "opened"
        self.stdout.write(f"{len(report.rows)} rows: {verb} {report.count('open')}, escalated "
                          f"{report.count('escalate')}, already known {report.count('known')}.")
