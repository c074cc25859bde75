"""What the requester's support pages share: the trader's room's (portal.support_views) and the partner
portal's (support.partner_views). The forms (a new ticket or complaint, a reply, a rating; the files
are checked by the ticket services as KYC uploads are, which name the field when they refuse one) and
the two pages' handling: a new ticket, and a ticket's public thread with the reply and rating forms.
Each portal passes what is its own: who is signed in (in `context`), the service that opens a ticket
or writes its requester's reply, the template and the URL names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.exceptions import DomainError
from crm.views.ui.forms import apply_domain_errors
from support import selectors, services
from support.models import Ticket

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


def _submitted(form: forms.Form, run: Callable[[dict[str, Any]], Any]) -> Any:
    """What the service `run` made of a valid posted form's data; None when the form is invalid or the
    service refused (its error then shown on the form, on the field it names)."""
    if not form.is_valid():
        return None
    try:
        return run(form.cleaned_data)
    except DomainError as error:
        apply_domain_errors(form, error)
        return None


def new_ticket_page(request: HttpRequest, *, categories: Any, open_ticket: Callable[[dict[str, Any]], Ticket],
                    template: str, context: Mapping[str, Any], ticket_url: str, complaint: bool) -> HttpResponse:
    """The new ticket (or complaint) form; posted and taken, the new ticket's page (`ticket_url`, a URL
    name taking its reference); refused, the form again with the errors named (400)."""
    form = TicketForm(request.POST or None, request.FILES or None, categories=categories)
    status = 200
    if request.method == "POST":
        status = 400
        ticket = _submitted(form, open_ticket)
        if ticket is not None:
            messages.success(request, gettext("Your complaint is registered; its reference is below.") if complaint
                             else gettext("Your request %(reference)s is sent; we will answer here and by "
                                          "email.") % {"reference": ticket.reference})
            return HttpResponseRedirect(reverse(ticket_url, args=[ticket.reference]))
    return render(request, template, {**context, "form": form, "complaint": complaint}, status=status)


def ticket_page(request: HttpRequest, *, ticket: Ticket, reply: Callable[[dict[str, Any]], Any], template: str,
                context: Mapping[str, Any], ticket_url: str, attachment_url: str) -> HttpResponse:
    """The ticket's public thread with the reply and rating forms; a reply (`reply`: the requester's
    service, given the form's body and attachments) or a rating posted and taken goes back to the page,
    a refused one shows the form again with the errors named (400)."""
    reply_form, rate_form = ReplyForm(), RateForm()
    status = 200
    if request.method == "POST":
        status = 400
        if request.POST.get("action") == "rate":
            rate_form = RateForm(request.POST)
            done = _submitted(rate_form, lambda data: services.ticket_rate(
                ticket=ticket, rating=data["rating"], comment=data["comment"], actor=None))
            thanks = gettext("Thank you for your rating.")
        else:
            reply_form = ReplyForm(request.POST, request.FILES)
            done = _submitted(reply_form, reply)
            thanks = gettext("Your reply is sent.")
        if done is not None:
            messages.success(request, thanks)
            return HttpResponseRedirect(reverse(ticket_url, args=[ticket.reference]))
    return render(request, template, {
        **context, "view": selectors.thread_for_requester(ticket), "reply_form": reply_form, "rate_form": rate_form,
        "attachment_url": attachment_url}, status=status)
