"""Staff pages of data-subject requests: the list with each request's clock (days left, overdue), a
request (what the export held and withheld, who decided), its operations (start the export, approve
an erasure, refuse), the archive's download, and recording a request on a client's behalf. Compliance
officers and administrators only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from compliance import data_requests as services
from compliance import permissions
from compliance.data_request_models import DataRequestKind, DataRequestStatus, DataSubjectRequest
from crm.audit import audit_record
from crm.exceptions import DomainError, NotAllowed, NotFound
from crm.permissions import AuthedRequest, client_queryset_for_user, page_permission_required, user_can
from crm.views.ui import raise_for_domain_error, render_page
from crm.views.ui.forms import apply_domain_errors

PAGE_SIZE = 50


class FilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[
        ("open", _("Open")), ("", _("All")), *DataRequestStatus.choices])
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All")), *DataRequestKind.choices])


class RecordForm(forms.Form):
    client = forms.CharField(label=_("Client (code)"), max_length=64)
    kind = forms.ChoiceField(label=_("Kind"), choices=DataRequestKind.choices)
    details = forms.CharField(label=_("What the client asked, in their words"), required=False,
                              widget=forms.Textarea(attrs={"rows": 3}), max_length=services.DETAILS_MAX)
    received_at = forms.DateField(label=_("Received on (empty: today)"), required=False,
                                  widget=forms.DateInput(attrs={"type": "date"}))


class RefuseForm(forms.Form):
    reason = forms.CharField(label=_("Reason (the client reads it)"), widget=forms.Textarea(attrs={"rows": 3}),
                             max_length=services.REASON_MAX)


def _row_or_404(request: AuthedRequest, code: Any) -> DataSubjectRequest:
    try:
        return services.data_request_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None


def _list_page(request: AuthedRequest, *, record_form: RecordForm | None = None, status: int = 200) -> HttpResponse:
    form = FilterForm(request.GET or None)
    wanted_status, kind = "open", ""
    if form.is_bound:
        if not form.is_valid():
            status = 400
        else:
            wanted_status, kind = form.cleaned_data["status"], form.cleaned_data["kind"]
    now = timezone.now()
    rows = services.data_request_queue(user=request.user, status=wanted_status, kind=kind)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for row in page.object_list:
        row.days_left_now = row.days_left(now)  # type: ignore[attr-defined]  # for the template only
        row.overdue_now = row.overdue_at(now)  # type: ignore[attr-defined]  # for the template only
        row.days_late_now = -row.days_left_now  # type: ignore[attr-defined]  # for the template only
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(request, "compliance/data_requests/list.html", {
        "page": page, "filter_form": form, "query": query.urlencode(), "now": now,
        "record_form": record_form or RecordForm(),
        "can_record": user_can(request.user, permissions.DATA_REQUEST_RECORD)}, status=status)


@page_permission_required(permissions.DATA_REQUEST_VIEW)
@require_GET
def data_request_list(request: AuthedRequest) -> HttpResponse:
    return _list_page(request)


@page_permission_required(permissions.DATA_REQUEST_RECORD)
@require_POST
def data_request_record(request: AuthedRequest) -> HttpResponse:
    """Record a client's request on their behalf (a call, a letter, an email)."""
    form = RecordForm(request.POST)
    if form.is_valid():
        try:
            code = uuid.UUID(form.cleaned_data["client"].strip())
        except ValueError:
            code = None
        client = client_queryset_for_user(request.user).filter(code=code).first() if code else None
        if client is None:
            form.add_error("client", gettext("No client you may see has this code."))
        else:
            try:
                day = form.cleaned_data["received_at"]
                received = None if day is None or day == timezone.localdate() else timezone.make_aware(
                    dt.datetime.combine(day, dt.time(9)))
                row = services.data_request_submit(client=client, kind=form.cleaned_data["kind"],
                                                   details=form.cleaned_data["details"], actor=request.user,
                                                   received_at=received)
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, gettext("The request is recorded; it is due on %(due)s.") % {
                    "due": timezone.localtime(row.due_at).date().isoformat()})
                return redirect("compliance_data_request", code=row.code)
    return _list_page(request, record_form=form, status=400)


def _detail(request: AuthedRequest, row: DataSubjectRequest, *, refuse_form: RefuseForm | None = None,
            status: int = 200) -> HttpResponse:
    now = timezone.now()
    can_work = user_can(request.user, permissions.DATA_REQUEST_WORK) and row.is_open
    plan = None
    erasure_ready = services.erasure_available()
    if can_work and row.kind == DataRequestKind.ERASURE and erasure_ready:
        plan = services.data_request_erasure_plan(request=row)
    job_open = row.job is not None and not row.job.is_finished
    return render_page(request, "compliance/data_requests/detail.html", {
        "row": row, "client": row.client, "now": now, "days_left": row.days_left(now),
        "overdue": row.overdue_at(now), "steps": list(row.steps.select_related("actor")),
        "contents": sorted(row.contents.items()), "withheld": row.withheld,
        "can_export": can_work and row.kind == DataRequestKind.ACCESS and not job_open,
        "can_erase": can_work and row.kind == DataRequestKind.ERASURE and erasure_ready,
        "erasure_missing": row.kind == DataRequestKind.ERASURE and not erasure_ready,
        "plan": plan, "can_refuse": can_work, "refuse_form": refuse_form or RefuseForm()}, status=status)


@page_permission_required(permissions.DATA_REQUEST_VIEW)
@require_GET
def data_request_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    return _detail(request, _row_or_404(request, code))


@page_permission_required(permissions.DATA_REQUEST_WORK)
@require_POST
def data_request_action(request: AuthedRequest, code: Any, action: str) -> HttpResponse:
    if action not in ("export", "erase", "refuse"):
        raise Http404
    row = _row_or_404(request, code)
    form = RefuseForm(request.POST) if action == "refuse" else None
    try:
        if action == "export":
            row = services.data_request_export_start(request=row, actor=request.user)
            messages.success(request, gettext("The export is being built; the request is fulfilled when it is ready."))
        elif action == "erase":
            services.data_request_erasure_approve(request=row, actor=request.user)
            messages.success(request, gettext("The erasure was applied; the request is fulfilled."))
        else:
            assert form is not None  # noqa: S101 - made above for "refuse"
            if not form.is_valid():
                return _detail(request, row, refuse_form=form, status=400)
            services.data_request_refuse(request=row, actor=request.user, reason=form.cleaned_data["reason"])
            messages.success(request, gettext("The request is refused; the client sees the reason."))
    except (NotAllowed, NotFound) as error:
        raise_for_domain_error(error)
        raise
    except DomainError as error:
        if form is not None and error.fields:
            apply_domain_errors(form, error)
            return _detail(request, _row_or_404(request, code), refuse_form=form, status=400)
        messages.error(request, error.message)
        return _detail(request, _row_or_404(request, code), status=409)
    return redirect("compliance_data_request", code=row.code)


@page_permission_required(permissions.DATA_REQUEST_VIEW)
@require_GET
def data_request_download(request: AuthedRequest, code: Any) -> HttpResponse:
    """The archive the client received, for the officers (each download is audited)."""
    row = _row_or_404(request, code)
    try:
        data = services.data_request_archive(row)
    except NotFound:
        raise Http404 from None
    audit_record(action="compliance.data_request_downloaded", obj=row, actor=request.user, brand=row.brand_id,
                 after={"client": str(row.client.code)})
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{services.data_request_archive_name(row)}"'
    response["Cache-Control"] = "private, no-store"
    return response
