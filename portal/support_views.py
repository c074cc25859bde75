"""The trader's room's support pages (/portal/support/): the client's tickets with their status in the
page's language (right to left in Arabic: portal/base.html), a new ticket (category, subject,
message, files checked by the ticket services as KYC uploads are), a complaint (registered with its
reference at once and acknowledged), and a ticket's thread without internal notes, with the reply and
rating forms. Thin: the forms and their handling are support's (support.requester_pages, shared with
the partner portal); here is who is signed in and which service opens or answers."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from crm.exceptions import NotFound
from portal.auth import PortalRequest, client_login_required
from support import complaints as support_complaints
from support import requester_pages
from support import selectors as support_selectors
from support import services as support_services

TEMPLATE_NEW = "portal/support/ticket_new.html"


def _ctx(request: PortalRequest, **more: Any) -> dict[str, Any]:
    return {"brand": request.portal_login.brand, "portal_login": request.portal_login,
            "portal_client": request.portal_client, **more}


@require_GET
@client_login_required
def tickets(request: PortalRequest) -> HttpResponse:
    found = support_selectors.tickets_for_client(client=request.portal_client)
    return render(request, "portal/support/tickets.html", _ctx(request, tickets=found))


def _new(request: PortalRequest, *, complaint: bool) -> HttpResponse:
    client = request.portal_client

    def open_ticket(data: dict[str, Any]) -> Any:
        values = {"brand": client.brand, "category": data["category"], "subject": data["subject"],
                  "body": data["body"], "channel": "portal", "client": client, "requester_email": client.email,
                  "requester_name": client.full_name, "language": request.portal_language,
                  "attachments": data["attachments"]}
        if complaint:
            return support_complaints.complaint_file(**values).ticket
        return support_services.ticket_open(**values, actor=None)

    categories = support_selectors.COMPLAINT_CATEGORIES if complaint else support_selectors.CLIENT_CATEGORIES
    return requester_pages.new_ticket_page(request, categories=categories, open_ticket=open_ticket,
                                           template=TEMPLATE_NEW, context=_ctx(request),
                                           ticket_url="portal:support_ticket", complaint=complaint)


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
    return requester_pages.ticket_page(
        request, ticket=ticket, template="portal/support/ticket.html", context=_ctx(request),
        ticket_url="portal:support_ticket", attachment_url="portal:support_attachment",
        reply=lambda data: support_services.ticket_reply_client(ticket=ticket, client=client, body=data["body"],
                                                                attachments=data["attachments"]))


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
