"""Data-subject requests for the demo (`manage.py compliance_seed_demo_cases`): one client's request for
a copy of their data, recorded by the compliance officer as received by letter 26 days ago (due in four
days: near its deadline on the officers' list), and another client's, asked in the trader's room and
fulfilled: the export built (the job run here, in the process) and ready to download.

Everything goes through the services: the steps, audit rows, events and the archive are the product's."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from compliance.selectors import data_request_queue
from compliance.services import data_request_export_start, data_request_submit
from crm.models import Brand, User
from crm.permissions import client_queryset_for_user


def compliance_seed_demo_data_requests(*, brand: Brand, officer: User | None) -> dict[str, int]:
    """Two requests of the brand's clients (one open near its due date, one fulfilled); nothing when the
    brand has requests already or fewer than two clients."""
    from crm.jobs import job_execute

    if officer is None or data_request_queue(user=officer, status="").filter(brand=brand).exists():
        return {}
    clients = list(client_queryset_for_user(officer).filter(brand=brand).order_by("created_at", "id")[:2])
    if len(clients) < 2:
        return {}
    near, done = clients
    data_request_submit(client=near, kind="access", actor=officer, details="Letter: a copy of everything you hold.",
                        received_at=max(timezone.now() - dt.timedelta(days=26), near.created_at))
    row = data_request_submit(client=done, kind="access", details="Please send me my data.")
    row = data_request_export_start(request=row, actor=officer)  # commits: the job is queued
    if row.job is not None:
        job_execute(row.job.pk)  # here, so the demo has the archive at once (a worker later skips it)
    return {"requests": 2}
