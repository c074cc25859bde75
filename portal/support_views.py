"""The trader's room's support pages (/portal/support/): the client's tickets with their status in the
page's language (right to left in Arabic: portal/base.html), a new ticket (category, subject,
message, files checked by the ticket services as KYC uploads are), a complaint (registered with its
reference at once and acknowledged), and a ticket's thread without internal notes, with the reply and
rating forms. Thin: parse a form, call a support service, render."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from crm.exceptions import DomainError, NotFound
from portal.auth import PortalRequest, client_login_required
from portal.forms import ServiceErrorsMixin
from support import complaints as support_complaints
from support import selectors as support_selectors
from support import services as support_services

MAX_FILES = 5
ACCEPT = "image/png,image/jpeg,application/pdf"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input, cleaned to a list (empty when none was chosen); their content is
    the ticket services' to check (the KYC uploads' checks), which name this field when refused."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        one = super().clean
        files = [one(item, initial) for item in data] if isinstance(data, list | tuple) else (
            [one(data, initial)] if data else [])
        files = [f for f in files if f]
        if len(files) > MAX_FILES:
            raise forms.ValidationError(gettext("At most %(n)s files.") % {"n": MAX_FILES})
        return files


class TicketForm(ServiceErrorsMixin, forms.Form):
    category = forms.ChoiceField(label=_("About"), choices=())
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(label=_("Your message"), max_length=20_000, widget=forms.Textarea(attrs={"rows": 6}))
    attachments = MultipleFileField(label=_("Files"), required=False, help_text=_("PNG, JPEG or PDF; at most 5."))

    def __init__(self, *args: Any, categories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = categories  # type: ignore[attr-defined]  # a ChoiceField


class ReplyForm(ServiceErrorsMixin, forms.Form):
    body = forms.CharField(label=_("Your reply"), max_length=20_000, widget=forms.Textarea(attrs={"rows": 4}))
    attachments = MultipleFileField(label=_("Files"), required=False, help_text=_("PNG, JPEG or PDF; at most 5."))


class RateForm(ServiceErrorsMixin, forms.Form):
    rating = forms.TypedChoiceField(label=_("How was our answer?"), coerce=int, widget=forms.RadioSelect,
                                    choices=[(n, str(n)) for n in range(1, 6)])
    comment = forms.CharField(label=_("Anything to add? (optional)"), required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 2}))


def _ctx(request: PortalRequest, **more: Any) -> dict[str, Any]:
    return {"brand": request.portal_login.brand, "portal_login": request.portal_login,
            "portal_client": request.portal_client, **more}


@require_GET
@client_login_required
def tickets(request: PortalRequest) -> HttpResponse:
    found = support_selectors.tickets_for_client(client=request.portal_client)
    return render(request, "portal/support/tickets.html", _ctx(request, tickets=found))


def _open(request: PortalRequest, form: TicketForm, *, complaint: bool) -> Any:
    data = form.cleaned_data
    client = request.portal_client
    values = {"brand": client.brand, "category": data["category"], "subject": data["subject"], "body": data["body"],
              "channel": "portal", "client": client, "requester_email": client.email,
              "requester_name": client.full_name, "language": request.portal_language,
              "attachments": data["attachments"]}
    if complaint:
        return support_complaints.complaint_file(**values).ticket
    return support_services.ticket_open(**values, actor=None)


def _new(request: PortalRequest, *, complaint: bool) -> HttpResponse:
    categories = (support_selectors.COMPLAINT_CATEGORIES if complaint else support_selectors.CLIENT_CATEGORIES)
    form = TicketForm(request.POST or None, request.FILES or None, categories=categories)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                ticket = _open(request, form, complaint=complaint)
            except DomainError as error:
                form.add_service_errors(error)
            else:
                messages.success(request, gettext("Your complaint is registered; its reference is below.") if complaint
                                 else gettext("Your request %(reference)s is sent; we will answer here and by "
                                              "email.") % {"reference": ticket.reference})
                return HttpResponseRedirect(reverse("portal:support_ticket", args=[ticket.reference]))
    return render(request, "portal/support/ticket_new.html", _ctx(request, form=form, complaint=complaint),
                  status=status)


@require_http_methods(["GET", "POST"])
@client_login_required
def ticket_new(request: PortalRequest) -> HttpResponse:
    return _new(request, complaint=False)


@require_http_methods(["GET", "POST"])
@client_login_required
def complaint_new(request: PortalRequest) -> HttpResponse:
    return _new(request, complaint=True)


@require_http_methods(["GET", "POST"])
@client_login_required
def ticket_detail(request: PortalRequest, reference: str) -> HttpResponse:
    client = request.portal_client
    try:
        ticket = support_selectors.ticket_for_client(client=client, reference=reference)
    except NotFound:
        raise Http404 from None
    if ticket.reference != reference:  # merged into another: that one's page
        return HttpResponseRedirect(reverse("portal:support_ticket", args=[ticket.reference]))
    reply_form, rate_form = ReplyForm(), RateForm()
    status = 200
    if request.method == "POST":
        status = 400
        here = reverse("portal:support_ticket", args=[ticket.reference])
        if request.POST.get("action") == "rate":
            rate_form = RateForm(request.POST)
            if rate_form.is_valid():
                try:
                    support_services.ticket_rate(ticket=ticket, rating=rate_form.cleaned_data["rating"],
                                                 comment=rate_form.cleaned_data["comment"], actor=None)
                except DomainError as error:
                    rate_form.add_service_errors(error)
                else:
                    messages.success(request, gettext("Thank you for your rating."))
                    return HttpResponseRedirect(here)
        else:
            reply_form = ReplyForm(request.POST, request.FILES)
            if reply_form.is_valid():
                try:
                    support_services.ticket_reply_client(ticket=ticket, client=client,
                                                         body=reply_form.cleaned_data["body"],
                                                         attachments=reply_form.cleaned_data["attachments"])
                except DomainError as error:
                    reply_form.add_service_errors(error)
                else:
                    messages.success(request, gettext("Your reply is sent."))
                    return HttpResponseRedirect(here)
    return render(request, "portal/support/ticket.html", _ctx(
        request, view=support_selectors.thread_for_requester(ticket), reply_form=reply_form, rate_form=rate_form,
        attachment_url="portal:support_attachment"), status=status)


@require_GET
@client_login_required
def attachment(request: PortalRequest, reference: str, code: Any) -> HttpResponse:
    """A file of the client's own ticket (a public message's); anyone else's, or an internal note's, is a 404."""
    try:
        ticket = support_selectors.ticket_for_client(client=request.portal_client, reference=reference)
        found = support_selectors.attachment_for_requester(ticket, code)
    except NotFound:
        raise Http404 from None
    return support_selectors.attachment_response(found)
