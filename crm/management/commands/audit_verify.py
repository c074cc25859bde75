"""`manage.py audit_verify`: seal the audit rows committed so far, walk the audit log's hash chain,
hold it against the signed checkpoints, and name the first broken row or the rows that are
missing; say how many rows it sealed and how many still wait (committed meanwhile)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from crm.audit import verify_chain
from crm.lib import dbroles
from crm.models import AuditLog


class Command(BaseCommand):
    help = ("Check the audit log's hash chain against its checkpoints; exit 1 and say what is broken or "
            "missing if it does not hold.")
    # Auditors run this against a live system: it needs only the database, not a clean URLconf.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        if dbroles.table_owned_by_current_user(AuditLog._meta.db_table):
            # Not a failure of the chain, but the reason it could be emptied unnoticed.
            self.stderr.write(
                "warning: this database role owns the audit table, so it can switch its triggers off and "
                "empty it; run the CRM as a role that does not (DATABASE_OWNER_URL for migrations, see "
                "the README's Production section)")
        report = verify_chain()
        if report.ok:
            cp = report.newest_checkpoint
            anchor = (f"; matches {report.checkpoints} checkpoints, the newest of "
                      f"{cp.at.isoformat(timespec='seconds')} (head id {cp.head_id}, {cp.row_count} rows)"
                      if cp else "; no checkpoint yet")
            archived = (f"; bridged by the anchors of the archived months {', '.join(report.archived_months)}"
                        if report.archived_months else "")
            self.stdout.write(f"audit chain ok: {report.checked} rows{anchor}{archived}; {report.sealed_now} sealed "
                              f"by this run, {report.unsealed} waiting to be sealed")
            return
        where = f" at row {report.first_bad_id}" if report.first_bad_id else ""
        self.stderr.write(f"audit chain BROKEN{where}: {report.describe()}")
        sys.exit(1)
