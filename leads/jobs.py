"""django-rq jobs of leads: work a person starts and watches (thin: ids in, call a service)."""

from __future__ import annotations


def lead_import_run(import_id: int) -> int:
    """Write a spreadsheet import's rows; returns how many clients it created."""
    from leads.imports import lead_import_run as run

    return run(import_id=import_id).created
