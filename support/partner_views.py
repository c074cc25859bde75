"""The partner portal's support pages (/partners/support/): the partner's tickets with their status in
the page's language, a new ticket (category, subject, message, files), a complaint, and a ticket's
public thread with the reply and rating forms. They live in support, above ib: the partner's session
comes from ib's public face (ib.permissions.partner_login_required), the pages extend the partner
portal's base template. Thin: parse a form, call a support service, render."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from crm.exceptions import DomainError, NotFound
from crm.views.ui.forms import apply_domain_errors
from ib.permissions import PartnerRequest, partner_login_required
from support import complaints, selectors, services
from support.models import ComplaintCategory, TicketChannel

MAX_FILES = 5


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; cleaned to a list (empty when none was chosen). Their content is
    checked by the ticket services (the same checks as KYC uploads)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/png,image/jpeg,application/pdf"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        one = super().clean
        files = [one(item, initial) for item in data] if isinstance(data, list | tuple) else (
            [one(data, initial)] if data else [])
        files = [f for f in files if f]
        if len(files) > MAX_FILES:
            raise forms.ValidationError(gettext("At most %(n)s files.") % {"n": MAX_FILES})
        return files


class TicketForm(forms.Form):
    category = forms.ChoiceField(label=_("About"), choices=())
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(label=_("Your message"), max_length=20_000, widget=forms.Textarea(attrs={"rows": 6}))
    attachments = MultipleFileField(label=_("Files"), required=False, help_text=_("PNG, JPEG or PDF; at most 5."))

    def __init__(self, *args: Any, categories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = categories  # type: ignore[attr-defined]  # a ChoiceField


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Your reply"), max_length=20_000, widget=forms.Textarea(attrs={"rows": 4}))
    attachments = MultipleFileField(label=_("Files"), required=False, help_text=_("PNG, JPEG or PDF; at most 5."))


class RateForm(forms.Form):
    rating = forms.TypedChoiceField(label=_("How was our answer?"), coerce=int, widget=forms.RadioSelect,
                                    choices=[(n, str(n)) for n in range(1, 6)])
    comment = forms.CharField(label=_("Anything to add? (optional)"), required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 2}))


def _ctx(request: PartnerRequest, **more: Any) -> dict[str, Any]:
    return {"brand": request.partner_login.brand, "partner_login": request.partner_login,
            "partner": request.partner, **more}


def _language(request: PartnerRequest) -> str:
    return (get_language() or request.partner_login.brand.default_language or "en").split("-", 1)[0]


@require_GET
@partner_login_required
def ticket_list(request: PartnerRequest) -> HttpResponse:
    tickets = selectors.tickets_for_partner(partner=request.partner)
    return render(request, "support/partner/tickets.html", _ctx(request, tickets=tickets))


def _open(request: PartnerRequest, *, complaint: bool, form: TicketForm) -> Any:
    data = form.cleaned_data
    partner = request.partner
    values = {"brand": request.partner_login.brand, "category": data["category"], "subject": data["subject"],
              "body": data["body"], "channel": TicketChannel.PARTNER_PORTAL, "partner": partner,
              "requester_email": request.partner_login.email, "requester_name": str(partner),
              "language": _language(request), "attachments": data["attachments"]}
    if complaint:
        return complaints.complaint_file(**values).ticket
    return services.ticket_open(**values, actor=None)


@require_http_methods(["GET", "POST"])
@partner_login_required
def ticket_new(request: PartnerRequest) -> HttpResponse:
    form = TicketForm(request.POST or None, request.FILES or None, categories=selectors.PARTNER_CATEGORIES)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                ticket = _open(request, complaint=False, form=form)
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, gettext("Your request %(reference)s is sent; we will answer here and by "
                                                  "email.") % {"reference": ticket.reference})
                return HttpResponseRedirect(reverse("support_partner_ticket", args=[ticket.reference]))
    return render(request, "support/partner/ticket_new.html", _ctx(request, form=form, complaint=False), status=status)


@require_http_methods(["GET", "POST"])
@partner_login_required
def complaint_new(request: PartnerRequest) -> HttpResponse:
    form = TicketForm(request.POST or None, request.FILES or None, categories=ComplaintCategory.choices)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                ticket = _open(request, complaint=True, form=form)
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, gettext("Your complaint is registered; its reference is below."))
                return HttpResponseRedirect(reverse("support_partner_ticket", args=[ticket.reference]))
    return render(request, "support/partner/ticket_new.html", _ctx(request, form=form, complaint=True), status=status)


@require_http_methods(["GET", "POST"])
@partner_login_required
def ticket_detail(request: PartnerRequest, reference: str) -> HttpResponse:
    try:
        ticket = selectors.ticket_for_partner(partner=request.partner, reference=reference)
    except NotFound:
        raise Http404 from None
    reply_form, rate_form = ReplyForm(), RateForm()
    status = 200
    if request.method == "POST":
        status = 400
        here = reverse("support_partner_ticket", args=[ticket.reference])
        if request.POST.get("action") == "rate":
            rate_form = RateForm(request.POST)
            if rate_form.is_valid():
                try:
                    services.ticket_rate(ticket=ticket, rating=rate_form.cleaned_data["rating"],
                                         comment=rate_form.cleaned_data["comment"], actor=None)
                except DomainError as error:
                    apply_domain_errors(rate_form, error)
                else:
                    messages.success(request, gettext("Thank you for your rating."))
                    return HttpResponseRedirect(here)
        else:
            reply_form = ReplyForm(request.POST, request.FILES)
            if reply_form.is_valid():
                try:
                    services.ticket_reply_partner(ticket=ticket, partner=request.partner,
                                                  body=reply_form.cleaned_data["body"],
                                                  attachments=reply_form.cleaned_data["attachments"])
                except DomainError as error:
                    apply_domain_errors(reply_form, error)
                else:
                    messages.success(request, gettext("Your reply is sent."))
                    return HttpResponseRedirect(here)
    return render(request, "support/partner/ticket.html", _ctx(
        request, view=selectors.thread_for_requester(ticket), reply_form=reply_form, rate_form=rate_form,
        attachment_url="support_partner_attachment"), status=status)


@require_GET
@partner_login_required
def attachment(request: PartnerRequest, reference: str, code: Any) -> HttpResponse:
    try:
        ticket = selectors.ticket_for_partner(partner=request.partner, reference=reference)
        found = selectors.attachment_for_requester(ticket, code)
    except NotFound:
        raise Http404 from None
    return selectors.attachment_response(found)
