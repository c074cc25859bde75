"""The complaints register's staff pages: the register (filters: month, category, status, overdue),
one complaint with its 2-month clock and the actions its state allows (acknowledge, final response,
close), marking a ticket as a complaint, and the month's export (PDF, CSV, XLSX). Thin: parse,
fetch and authorise, call one service of support.complaints, render."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.exceptions import DomainError, NotAllowed, NotFound
from crm.lib.paginator import CappedPaginator
from crm.lib.validation import InvalidValue
from crm.models import Brand
from crm.permissions import AuthedRequest, page_permission_required, user_can, visible_brands
from crm.services import access_export_record
from crm.views.ui import render_page
from crm.views.ui.forms import AmountField, PlainSelect, apply_domain_errors
from support import complaints, register_export
from support.exceptions import TicketUnknown
from support.models import ComplaintCategory, ComplaintOutcome, ComplaintStatus
from support.permissions import ticket_get_for_user

PER_PAGE = 50


class RegisterFilter(forms.Form):
    month = forms.CharField(label=_("Month"), required=False, max_length=7,
                            widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"}))
    category = forms.ChoiceField(label=_("Category"), required=False, widget=PlainSelect,
                                 choices=[("", _("All")), *ComplaintCategory.choices])
    status = forms.ChoiceField(label=_("Status"), required=False, widget=PlainSelect,
                               choices=[("", _("All")), *ComplaintStatus.choices])
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)

    def clean_month(self) -> Any:
        text = self.cleaned_data.get("month") or ""
        if not text:
            return None
        try:
            return complaints.month_parse(text)
        except InvalidValue as error:
            raise forms.ValidationError(error.message) from None


class MarkForm(forms.Form):
    category = forms.ChoiceField(label=_("Complaint category"), choices=ComplaintCategory.choices)


class FinalResponseForm(forms.Form):
    final_response = forms.CharField(label=_("Final response"), widget=forms.Textarea(attrs={"rows": 8}),
                                     max_length=complaints.TEXT_MAX)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=[
        (c, label) for c, label in ComplaintOutcome.choices if c != ComplaintOutcome.WITHDRAWN])
    amount_paid = AmountField(label=_("Amount paid"), required=False, allow_zero=True,
                              help_text=_("Leave empty when nothing is paid."))
    currency = forms.CharField(label=_("Currency"), required=False, max_length=10,
                               widget=forms.TextInput(attrs={"placeholder": "USD", "size": 6}))


class CloseForm(forms.Form):
    withdrawn = forms.BooleanField(label=_("Withdrawn by the complainant"), required=False)


def _complaint_or_404(request: AuthedRequest, reference: str) -> Any:
    try:
        return complaints.complaint_get_for_user(request.user, reference)
    except NotFound:
        raise Http404 from None


def _detail_url(complaint: Any) -> str:
    return reverse("support_complaint", args=[complaint.reference])


@page_permission_required(complaints.VIEW_PERMISSION)
@require_GET
def complaint_list(request: AuthedRequest) -> HttpResponse:
    form = RegisterFilter(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    now = timezone.now()
    qs = complaints.complaint_list(user=request.user, month=data.get("month"), category=data.get("category") or "",
                                   status=data.get("status") or "", overdue=bool(data.get("overdue")), now=now)
    page = CappedPaginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    rows = [(c, complaints.complaint_clock(c, now=now)) for c in page.object_list]
    can_export = user_can(request.user, complaints.EXPORT_PERMISSION)
    month = data.get("month") or timezone.localdate().replace(day=1)
    return render_page(request, "support/complaint_list.html", {
        "filter": form, "page": page, "rows": rows, "can_export": can_export, "export_month": month,
        "brands": list(visible_brands(request.user)) if can_export else []})


@page_permission_required(complaints.VIEW_PERMISSION)
@require_GET
def complaint_detail(request: AuthedRequest, reference: str) -> HttpResponse:
    complaint = _complaint_or_404(request, reference)
    return _detail(request, complaint)


def _detail(request: AuthedRequest, complaint: Any, *, status: int = 200, **forms_: Any) -> HttpResponse:
    user = request.user
    can_work = user_can(user, complaints.WORK_PERMISSION)
    can_respond = user_can(user, complaints.RESPOND_PERMISSION)
    can_close = user_can(user, complaints.CLOSE_PERMISSION)
    state = complaint.status
    context: dict[str, Any] = {
        "complaint": complaint, "ticket": complaint.ticket, "clock": complaints.complaint_clock(complaint),
        "can_acknowledge": can_work and state == ComplaintStatus.REGISTERED,
        "response_form": forms_.get("response_form") or (
            FinalResponseForm(initial={"currency": complaint.brand.default_currency})
            if can_respond and state == ComplaintStatus.ACKNOWLEDGED else None),
        "close_form": forms_.get("close_form") or (CloseForm() if can_close and state != ComplaintStatus.CLOSED
                                                   else None),
    }
    return render_page(request, "support/complaint_detail.html", context, status=status)


@page_permission_required(complaints.VIEW_PERMISSION)
@require_POST
def complaint_acknowledge(request: AuthedRequest, reference: str) -> HttpResponse:
    complaint = _complaint_or_404(request, reference)
    try:
        complaints.complaint_acknowledge(complaint=complaint, actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("Acknowledgement sent."))
    return HttpResponseRedirect(_detail_url(complaint))


@page_permission_required(complaints.VIEW_PERMISSION)
@require_POST
def complaint_respond(request: AuthedRequest, reference: str) -> HttpResponse:
    complaint = _complaint_or_404(request, reference)
    form = FinalResponseForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            complaints.complaint_final_response(complaint=complaint, response=data["final_response"],
                                                outcome=data["outcome"], amount_paid=data["amount_paid"],
                                                currency=data["currency"] if data["amount_paid"] is not None else "",
                                                actor=request.user)
        except NotAllowed:
            raise Http404 from None
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Final response sent."))
            return HttpResponseRedirect(_detail_url(complaint))
    complaint.refresh_from_db()
    return _detail(request, complaint, status=400, response_form=form)


@page_permission_required(complaints.VIEW_PERMISSION)
@require_POST
def complaint_close(request: AuthedRequest, reference: str) -> HttpResponse:
    complaint = _complaint_or_404(request, reference)
    form = CloseForm(request.POST)
    if form.is_valid():
        try:
            complaints.complaint_close(complaint=complaint, actor=request.user,
                                       outcome=ComplaintOutcome.WITHDRAWN if form.cleaned_data["withdrawn"] else "")
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Complaint closed."))
            return HttpResponseRedirect(_detail_url(complaint))
    complaint.refresh_from_db()
    return _detail(request, complaint, status=400, close_form=form)


@page_permission_required(complaints.WORK_PERMISSION)
@require_http_methods(["GET", "POST"])
def ticket_mark_complaint(request: AuthedRequest, reference: str) -> HttpResponse:
    """Mark a ticket as a complaint (the desk's ticket page links here): choose its category."""
    try:
        ticket = ticket_get_for_user(request.user, reference)
    except TicketUnknown:
        raise Http404 from None
    existing = complaints.complaint_for_ticket(ticket)
    if existing is not None:
        return HttpResponseRedirect(_detail_url(existing))
    form = MarkForm(request.POST or None, initial={
        "category": complaints.CATEGORY_FOR_TICKET.get(ticket.category, ComplaintCategory.OTHER)})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                complaint = complaints.complaint_register(ticket=ticket, category=form.cleaned_data["category"],
                                                          actor=request.user)
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, gettext("Registered as complaint %(reference)s; the acknowledgement is "
                                                  "sent.") % {"reference": complaint.reference})
                return HttpResponseRedirect(_detail_url(complaint))
    return render_page(request, "support/complaint_mark.html", {"ticket": ticket, "form": form}, status=status)


@page_permission_required(complaints.EXPORT_PERMISSION)
@require_GET
def register_download(request: AuthedRequest, brand_code: str, month: str, fmt: str) -> HttpResponse:
    """/support/complaints/register/<brand>/<YYYY-MM>.<pdf|csv|xlsx>"""
    if fmt not in register_export.FORMATS:
        raise Http404
    brand = Brand.objects.filter(code=brand_code).first()
    if brand is None:
        raise Http404
    try:
        period = complaints.month_parse(month)
        report = register_export.register_month(user=request.user, brand=brand, period=period)
    except (InvalidValue, NotAllowed):
        raise Http404 from None
    name, body, content_type = register_export.register_file(report, fmt)
    access_export_record(actor=request.user, what=f"complaints register {brand.code} {period:%Y-%m} ({fmt})",
                         rows=report.received)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response
