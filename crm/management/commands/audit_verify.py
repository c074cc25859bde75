"""`manage.py audit_verify`: walk the audit log's hash chain and name the first broken row."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from crm.audit import verify_chain


class Command(BaseCommand):
    help = "Check the audit log's hash chain; exit 1 and name the first broken row if it does not hold."
    # Auditors run this against a live system: it needs only the database, not a clean URLconf.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_chain()
        if report.ok:
            self.stdout.write(f"audit chain ok: {report.checked} rows")
            return
        self.stderr.write(f"audit chain BROKEN at row {report.first_bad_id}: {report.problem}")
        sys.exit(1)
