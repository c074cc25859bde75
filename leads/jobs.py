"""Background jobs of leads (crm.jobs, on django-rq): work a person starts and watches. Thin: ids
in, call the service with the job's handle."""

from __future__ import annotations

from crm.jobs import JobHandle


def lead_import(handle: JobHandle, *, import_id: int) -> int:
    """Write a spreadsheet import's rows; returns how many clients it created."""
    from leads.imports import lead_import_run

    return lead_import_run(handle=handle, import_id=import_id).created


def segment_export(handle: JobHandle, *, segment_id: int, segment: str = "") -> int:
    """Write a segment's CSV export (`segment`, its code, only lets "My exports" find the job)."""
    from leads.segments import segment_export_run

    return segment_export_run(handle=handle, segment_id=segment_id)
