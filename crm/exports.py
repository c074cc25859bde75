"""The client list's export (CSV or XLSX), a background job (crm.jobs).

It writes exactly the rows the list shows with the same filters and sort, read as the person who
asked may see them (their scope, when the job runs), streamed from a server-side cursor into a file
(never the whole export in memory). Contact details are written masked, as the list shows them:
they are revealed one client at a time, and each reveal is logged. The export is recorded as an
access event with its row count (agent monitoring reads these).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlencode
from django.utils.translation import gettext

from crm import selectors
from crm.audit import audit_record
from crm.exceptions import NotAllowed, ValidationFailed
from crm.filters import ClientFilter
from crm.jobs import JobHandle, job_start
from crm.models import Client, Job, User
from crm.permissions import restriction_message, staff_restricted, user_can
from crm.services import access_export_record
from crm.tables import CLIENT_DEFAULT_SORT, ClientTable

EXPORT_JOB_KIND = "crm.client_export"
EXPORT_PERMISSION = "crm.export_client"
FORMATS = {"csv": "CSV", "xlsx": "XLSX"}
EXPORT_COLUMNS = ("code", "first_name", "last_name", "stage", "email_masked", "phone_masked", "country",
                  "language", "brand", "owner", "desk", "tags", "created_at", "updated_at")
PROGRESS_EVERY = 500


def _require_export(actor: User | None) -> None:
    if staff_restricted(actor):
        raise NotAllowed(restriction_message())
    if actor is None or not user_can(actor, EXPORT_PERMISSION):
        raise NotAllowed(gettext("You are not allowed to export clients."))


def client_export_rows(*, user: User, filters: Mapping[str, Any], sort: str) -> tuple[QuerySet[Client], str]:
    """The clients `user` may see through the client list's `filters`, in the list's order for
    `sort` (a column name, "-" first for descending; anything else: the list's default), and the
    sort used. Raises ValidationFailed naming each filter that does not apply."""
    bound = ClientFilter(dict(filters), user=user)
    if bound.problems:
        raise ValidationFailed(gettext("These filters do not apply: %(problems)s") % {
            "problems": " ".join(bound.problems)}, fields={"filters": bound.problems})
    table = ClientTable(bound.qs.select_related(None).select_related("brand", "owner", "desk"))
    table.order_by = sort or CLIENT_DEFAULT_SORT
    if not table.order_by:
        table.order_by = CLIENT_DEFAULT_SORT
    return table.data.data, str(table.order_by[0])


@transaction.atomic
def client_export_request(*, actor: User, query: Mapping[str, Any], fmt: str) -> Job:
    """Queue an export of the client list as `actor` sees it with the list's query string `query`
    (its filters and sort). Filters the list leaves out (invalid values) are left out here too,
    so the file holds the rows the list showed. Needs "crm.export_client"."""
    _require_export(actor)
    if fmt not in FORMATS:
        raise ValidationFailed(fields={"format": [gettext("Choose CSV or XLSX.")]})
    shown = ClientFilter(query, user=actor)
    filters = shown.query()
    _rows, sort = client_export_rows(user=actor, filters=filters, sort=str(query.get("sort") or ""))
    link_query = urlencode({**filters, **({"sort": sort} if sort != CLIENT_DEFAULT_SORT else {})})
    job = job_start(kind=EXPORT_JOB_KIND, actor=actor, func="crm.exports.client_export_job",
                    title=gettext("Client list export (%(format)s)") % {"format": FORMATS[fmt]},
                    kwargs={"filters": filters, "sort": sort, "format": fmt},
                    link=f"{reverse('client_list')}?{link_query}" if link_query else reverse("client_list"))
    audit_record(action="client.export_requested", obj=job, actor=actor,
                 after={"format": fmt, "filters": filters, "sort": sort})
    return job


def _described(filters: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in filters.items())


def _row(client: Client, *, as_text: bool) -> tuple[Any, ...]:
    created, updated = client.created_at, client.updated_at
    owner = (client.owner.full_name or client.owner.email) if client.owner is not None else ""
    return (str(client.code), client.first_name, client.last_name, client.stage,
            selectors.mask_email(client.email), selectors.mask_phone(client.phone), client.country,
            client.language, client.brand.name, owner, client.desk.name if client.desk is not None else "",
            " ".join(client.tags or []),
            created.isoformat() if as_text else created, updated.isoformat() if as_text else updated)


def client_export_job(handle: JobHandle, *, filters: dict[str, str], sort: str, format: str) -> int:  # noqa: A002
    """Write the export to the job's result file; returns the number of rows. Runs as the person
    who asked: their permission and scope when the job runs decide what is written."""
    actor = handle.job.started_by
    _require_export(actor)
    with translation.override(actor.language or None):
        clients, _sort = client_export_rows(user=actor, filters=filters, sort=sort)
        handle.progress(0, clients.count(), force=True)
        name = f"clients-{timezone.now():%Y%m%d-%H%M}.{format}"
        result = (handle.xlsx_result(name, sheet=gettext("Clients")) if format == "xlsx"
                  else handle.csv_result(name))
        rows = 0
        with result as writer:
            writer.writerow(EXPORT_COLUMNS)
            for client in clients.iterator(chunk_size=2000):
                writer.writerow(_row(client, as_text=format != "xlsx"))
                rows += 1
                if rows % PROGRESS_EVERY == 0:
                    handle.progress(rows, max(rows, handle.job.total or 0))
    handle.set_result_rows(rows)
    handle.progress(rows, rows, force=True, rows=rows)
    described = _described(filters)
    access_export_record(actor=actor, what=f"client list export ({format})" + (f": {described}" if described else ""),
                         rows=rows)
    return rows
