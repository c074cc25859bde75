"""Background jobs of the wallet (crm.jobs, on django-rq): work a person starts and watches. Thin:
ids in, call the service with the job's handle."""

from __future__ import annotations

from crm.jobs import JobHandle


def settlement_import(handle: JobHandle, *, import_id: int) -> dict[str, int]:
    """Read and match a settlement file (wallet.reconciliation.settlement_import_start)."""
    from wallet.reconciliation import settlement_import_run

    return settlement_import_run(handle=handle, import_id=import_id)
