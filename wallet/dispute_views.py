"""Finance's payment disputes: the queue by deadline, a dispute's page (evidence, representment,
outcome) and the chargeback ratio per provider and method per month."""

from __future__ import annotations

import base64
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.exceptions import DomainError, NotFound, ValidationFailed
from crm.permissions import AuthedRequest, user_can
from crm.views.ui import render_page
from wallet.dispute_reports import (
    DisputeReport,
    dispute_report_check,
    dispute_report_import,
    report_provider,
    report_providers,
)
from wallet.disputes import (
    MANAGE_PERMISSION,
    chargeback_ratios,
    dispute_accept,
    dispute_evidence_add,
    dispute_generated_evidence,
    dispute_get_for_user,
    dispute_outcome_record,
    dispute_queue_for_user,
    dispute_represent,
    dispute_steps,
    evidence_content,
)
from wallet.models import Dispute


class EvidenceForm(forms.Form):
    title = forms.CharField(label=_("What it shows"), max_length=200)
    file = forms.FileField(label=_("File (PDF, PNG or JPEG)"))


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=[("won", _("Won")), ("lost", _("Lost"))])
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


def _require(request: AuthedRequest) -> None:
    if not user_can(request.user, MANAGE_PERMISSION):
        raise PermissionDenied


def _dispute(request: AuthedRequest, code: str) -> Dispute:
    _require(request)
    try:
        return dispute_get_for_user(user=request.user, code=code)
    except NotFound:
        raise Http404 from None


def _error_text(error: DomainError) -> str:
    if isinstance(error, ValidationFailed) and error.fields:
        parts = []
        for messages_ in error.fields.values():
            parts.extend([str(m) for m in messages_] if isinstance(messages_, list | tuple) else [str(messages_)])
        return " ".join(parts)
    return error.message


@login_required
@require_GET
def dispute_queue(request: AuthedRequest) -> HttpResponse:
    _require(request)
    closed = request.GET.get("show") == "all"
    return render_page(request, "wallet/disputes/queue.html", {
        "disputes": dispute_queue_for_user(user=request.user, include_closed=closed), "closed": closed},
        partial="dispute-table")


def _page(request: AuthedRequest, dispute: Dispute, *, evidence_form: EvidenceForm | None = None,
          status: int = 200) -> HttpResponse:
    return render_page(request, "wallet/disputes/detail.html", {
        "dispute": dispute, "deposit": dispute.deposit, "steps": list(dispute_steps(dispute)),
        "evidence": list(dispute.evidence.select_related("added_by")),
        "generated": dispute_generated_evidence(dispute), "evidence_form": evidence_form or EvidenceForm(),
        "note_form": NoteForm(), "outcome_form": OutcomeForm()}, partial="dispute-evidence", status=status)


@login_required
@require_GET
def dispute_detail(request: AuthedRequest, code: str) -> HttpResponse:
    return _page(request, _dispute(request, code))


@login_required
@require_POST
def dispute_evidence_view(request: AuthedRequest, code: str) -> HttpResponse:
    """Attach a file; an upload without a file (or a bad one) is answered on the page with the reason."""
    dispute = _dispute(request, code)
    form = EvidenceForm(request.POST, request.FILES)
    if not form.is_valid():
        if "file" in form.errors:
            form.errors["file"] = form.error_class([gettext("Choose a file to attach (PDF, PNG or JPEG).")])
        return _page(request, dispute, evidence_form=form, status=400)
    upload = form.cleaned_data["file"]
    try:
        dispute_evidence_add(dispute=dispute, title=form.cleaned_data["title"], data=upload.read(),
                             actor=request.user)
    except ValidationFailed as error:
        for field, problems in error.fields.items():
            form.add_error(field if field in form.fields else None, problems)
        return _page(request, dispute, evidence_form=form, status=400)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("Evidence attached."))
    return HttpResponseRedirect(reverse("wallet_dispute_detail", args=[dispute.code]))


@login_required
@require_GET
def dispute_evidence_file(request: AuthedRequest, code: str, evidence_code: str) -> HttpResponse:
    dispute = _dispute(request, code)
    evidence = dispute.evidence.filter(code=evidence_code).first()
    if evidence is None:
        raise Http404
    response = HttpResponse(evidence_content(evidence), content_type=evidence.content_type)
    response["Content-Disposition"] = f'attachment; filename="evidence-{evidence.code}.{evidence.content_type[-3:]}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _act(request: AuthedRequest, code: str, form_class: type[forms.Form], done: str, act: Any) -> HttpResponse:
    dispute = _dispute(request, code)
    form = form_class(request.POST)
    if not form.is_valid():
        problems = {f: " ".join(str(m) for m in e) for f, e in form.errors.items()}
        messages.error(request, " ".join(f"{form.fields[f].label}: {text}" if f in form.fields else text
                                         for f, text in problems.items()))
        return HttpResponseRedirect(reverse("wallet_dispute_detail", args=[dispute.code]))
    try:
        act(dispute, form.cleaned_data)
    except DomainError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, done)
    return HttpResponseRedirect(reverse("wallet_dispute_detail", args=[dispute.code]))


@login_required
@require_POST
def dispute_represent_view(request: AuthedRequest, code: str) -> HttpResponse:
    return _act(request, code, NoteForm, gettext("Representment recorded as sent; the provider decides."),
                lambda d, data: dispute_represent(dispute=d, note=data["note"], actor=request.user))


@login_required
@require_POST
def dispute_accept_view(request: AuthedRequest, code: str) -> HttpResponse:
    return _act(request, code, NoteForm, gettext("Accepted: the amount is debited from the client's wallet."),
                lambda d, data: dispute_accept(dispute=d, reason=data["note"], actor=request.user))


@login_required
@require_POST
def dispute_outcome_view(request: AuthedRequest, code: str) -> HttpResponse:
    return _act(request, code, OutcomeForm, gettext("Outcome recorded."),
                lambda d, data: dispute_outcome_record(dispute=d, outcome=data["outcome"], note=data["note"],
                                                       actor=request.user))


@login_required
@require_GET
def chargeback_ratio(request: AuthedRequest) -> HttpResponse:
    _require(request)
    return render_page(request, "wallet/disputes/ratio.html", {"rows": chargeback_ratios(user=request.user)})


# --- a provider's dispute report ------------------------------------------------------------------------

REPORT_SESSION_KEY = "wallet_dispute_report"
REPORT_MAX_BYTES = 5 * 1024 * 1024


class ReportForm(forms.Form):
    provider = forms.ModelChoiceField(label=_("Provider"), queryset=report_providers(), to_field_name="code")
    file = forms.FileField(label=_("The provider's dispute report (CSV or XLSX)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = report_providers()  # type: ignore[attr-defined]  # a ModelChoiceField's queryset, read afresh


def _report_page(request: AuthedRequest, form: ReportForm, report: DisputeReport | None = None, *,
                 status: int = 200) -> HttpResponse:
    return render_page(request, "wallet/disputes/report.html", {"form": form, "report": report}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def dispute_report_view(request: AuthedRequest) -> HttpResponse:
    """Upload a provider's dispute report: "Check" reads every row and shows what importing would do
    (or every problem, by row and column), keeping the file in the session; "Import" opens the cases."""
    _require(request)
    if request.method == "GET":
        request.session.pop(REPORT_SESSION_KEY, None)
        return _report_page(request, ReportForm())
    if request.POST.get("action") == "import":
        kept = request.session.get(REPORT_SESSION_KEY)
        provider = report_provider(str((kept or {}).get("provider") or ""))
        if not kept or provider is None:
            messages.error(request, gettext("Check the report again before importing it."))
            return HttpResponseRedirect(reverse("wallet_dispute_report"))
        try:
            report = dispute_report_import(provider=provider, data=base64.b64decode(kept["data"]), actor=request.user,
                                           file_name=kept["name"], user=request.user)
        except ValidationFailed as error:
            messages.error(request, _error_text(error))
            return HttpResponseRedirect(reverse("wallet_dispute_report"))
        request.session.pop(REPORT_SESSION_KEY, None)
        messages.success(request, gettext("Report imported: %(opened)d disputes opened, %(escalated)d escalated, "
                                          "%(known)d already known.") % {
            "opened": report.count("open"), "escalated": report.count("escalate"), "known": report.count("known")})
        return HttpResponseRedirect(reverse("wallet_dispute_queue"))
    form = ReportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _report_page(request, form, status=400)
    upload = form.cleaned_data["file"]
    if upload.size > REPORT_MAX_BYTES:
        form.add_error("file", gettext("The file is larger than 5 MB: split the report."))
        return _report_page(request, form, status=400)
    data, provider = upload.read(), form.cleaned_data["provider"]
    report = dispute_report_check(provider=provider, data=data, file_name=upload.name or "", user=request.user)
    if report.problems:
        request.session.pop(REPORT_SESSION_KEY, None)
        return _report_page(request, form, report, status=400)
    request.session[REPORT_SESSION_KEY] = {"provider": provider.code, "name": (upload.name or "")[:200],
                                           "data": base64.b64encode(data).decode("ascii")}
    return _report_page(request, form, report)
