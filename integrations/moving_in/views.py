"""The administrators' page of the move-in from another CRM: upload the export as a zip (or choose a
folder of the server's moving-in directory), start a dry run or a run as a job (its page shows the
progress, the counts and the report to download), and run for real an export whose dry run was read."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from crm.exceptions import DomainError
from crm.jobs import jobs_for
from crm.lib.forms import form_field
from crm.models import Brand, JobStatus
from crm.permissions import AuthedRequest
from crm.views.ui.forms import apply_domain_errors
from integrations.moving_in.jobs import JOB_KIND, crm_import_start, server_folders
from integrations.permissions import moving_in_page


class MovingInForm(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.none(), to_field_name="code",
                                   widget=forms.Select(attrs={"class": "input"}))
    upload = forms.FileField(label=_("Export (zip of the CSV files)"), required=False,
                             widget=forms.ClearableFileInput(attrs={"accept": ".zip"}))
    folder = forms.ChoiceField(label=_("Or a folder on the server"), required=False,
                               widget=forms.Select(attrs={"class": "input"}))
    money = forms.ChoiceField(label=_("Money"), choices=(
        ("opening", _("Opening balances (balances.csv)")), ("history", _("Every transaction (transactions.csv)"))),
        widget=forms.Select(attrs={"class": "input"}))
    dry_run = forms.BooleanField(label=_("Dry run: check everything, write nothing"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "brand", forms.ModelChoiceField).queryset = Brand.objects.filter(
            is_active=True).order_by("name")
        form_field(self, "folder", forms.ChoiceField).choices = [("", "—"), *((n, n) for n in server_folders())]


def _jobs(request: AuthedRequest) -> Any:
    return jobs_for(user=request.user).filter(kind=JOB_KIND)[:20]


@moving_in_page
def moving_in(request: AuthedRequest) -> HttpResponse:
    form = MovingInForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = crm_import_start(actor=request.user, brand=data["brand"], money=data["money"],
                                   dry_run=bool(data["dry_run"]), upload=data["upload"], folder=data["folder"])
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            return redirect("job_detail", job.code)
    return render(request, "integrations/moving_in.html", {"form": form, "jobs": _jobs(request),
                                                          "done": JobStatus.DONE})


@moving_in_page
@require_POST
def moving_in_run(request: AuthedRequest, code: Any) -> HttpResponse:
    """Run for real the export of one of the administrator's finished dry runs."""
    dry_run = jobs_for(user=request.user).filter(kind=JOB_KIND, code=code, status=JobStatus.DONE).first()
    if dry_run is None or dry_run.brand is None or not dry_run.kwargs.get("dry_run"):
        raise Http404
    job = crm_import_start(actor=request.user, brand=dry_run.brand, money=dry_run.kwargs["money"], dry_run=False,
                           again=dry_run)
    return redirect("job_detail", job.code)
