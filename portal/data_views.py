"""The client's own data requests in the trader's room, /portal/my-data/: ask for a copy of their
personal data or for its erasure, follow each request to its due date, and download the copy once it
is ready. Their own requests only: anyone else's is a 404. Thin: parse, call compliance, render."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from compliance.selectors import (
    DETAILS_MAX,
    DataRequestKind,
    data_request_archive,
    data_request_archive_name,
    data_request_for_client,
    data_requests_for_client,
)
from compliance.services import data_request_submit
from crm.audit import audit_record
from crm.exceptions import DomainError, NotFound
from portal.auth import PortalRequest, client_login_required


class DataRequestForm(forms.Form):
    kind = forms.ChoiceField(choices=DataRequestKind.choices, widget=forms.HiddenInput)
    details = forms.CharField(label=_("Anything you want to tell us (optional)"), required=False,
                              max_length=DETAILS_MAX, widget=forms.Textarea(attrs={"rows": 2}))


def _page(request: PortalRequest, form: DataRequestForm | None = None, *, status: int = 200) -> HttpResponse:
    client = request.portal_client
    now = timezone.now()
    rows = data_requests_for_client(client=client)
    for row in rows:
        row.days_left_now = row.days_left(now)  # type: ignore[attr-defined]  # for the template only
    return render(request, "portal/my_data.html", {
        "brand": client.brand, "portal_login": request.portal_login, "rows": rows,
        "form": form or DataRequestForm(), "open_kinds": {r.kind for r in rows if r.is_open}}, status=status)


@require_http_methods(["GET", "POST"])
@client_login_required
def my_data(request: PortalRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request)
    form = DataRequestForm(request.POST)
    if form.is_valid():
        try:
            row = data_request_submit(client=request.portal_client, kind=form.cleaned_data["kind"],
                                      details=form.cleaned_data["details"])
        except DomainError as error:
            for field, errors in (error.fields or {}).items():
                for text in errors if isinstance(errors, list) else [errors]:
                    form.add_error(field if field in form.fields else None, str(text))
            if not error.fields:
                form.add_error(None, error.message)
        else:
            messages.success(request, gettext("We received your request. We answer by %(due)s.") % {
                "due": timezone.localtime(row.due_at).date().isoformat()})
            return HttpResponseRedirect(reverse("portal:my_data"))
    return _page(request, form, status=400)


@client_login_required
def my_data_download(request: PortalRequest, code: str) -> HttpResponse:
    """The copy of the client's data, theirs only (404 for anyone else's or one not ready)."""
    try:
        row = data_request_for_client(client=request.portal_client, code=code)
        data = data_request_archive(row)
    except NotFound:
        raise Http404 from None
    audit_record(action="compliance.data_request_downloaded", obj=row, actor=None, brand=row.brand_id,
                 after={"client": str(request.portal_client.code), "by": "client"})
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{data_request_archive_name(row)}"'
    response["Cache-Control"] = "private, no-store"
    return response
