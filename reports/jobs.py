"""Background jobs of the reporting hub (crm.jobs, on django-rq): a report built in its starter's
scope, with progress, its file the job's result."""

from __future__ import annotations

from typing import Any

from crm.jobs import JobHandle


def report_export(handle: JobHandle, *, report: str, params: dict[str, Any], export_format: str) -> int:
    """Build `report` with `params` for the job's starter and keep it as a CSV, XLSX or PDF file;
    returns its number of rows."""
    from reports.catalogue import Params, report_build, result_file
    from reports.selectors import dashboard_scope

    user = handle.job.started_by
    handle.progress(0, 3, force=True)
    parsed = Params.from_dict(params)
    result = report_build(name=report, user=user, scope=dashboard_scope(user), params=parsed)
    handle.progress(2, 3, force=True)
    filename, content, _mime = result_file(result, parsed, export_format)
    with handle.result_file(filename, binary=True) as stream:
        stream.write(content)
    handle.progress(3, 3, force=True)
    return len(result.rows)
