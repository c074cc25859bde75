"""The partner portal's support pages (/partners/support/): the partner's tickets with their status in
the page's language, a new ticket (category, subject, message, files), a complaint, and a ticket's
public thread with the reply and rating forms. They live in support, above ib: the partner's session
comes from ib's public face (ib.permissions.partner_login_required), the pages extend the partner
portal's base template. Thin: the forms and their handling are support.requester_pages' (shared with
the trader's room); here is who is signed in and which service opens or answers."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods

from crm.exceptions import NotFound
from ib.permissions import PartnerRequest, partner_login_required
from support import complaints, requester_pages, selectors, services
from support.models import ComplaintCategory, Ticket, TicketChannel

TEMPLATE_NEW = "support/partner/ticket_new.html"


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


def _new(request: PartnerRequest, *, complaint: bool) -> HttpResponse:
    partner = request.partner

    def open_ticket(data: dict[str, Any]) -> Ticket:
        values = {"brand": request.partner_login.brand, "category": data["category"], "subject": data["subject"],
                  "body": data["body"], "channel": TicketChannel.PARTNER_PORTAL, "partner": partner,
                  "requester_email": request.partner_login.email, "requester_name": str(partner),
                  "language": _language(request), "attachments": data["attachments"]}
        if complaint:
            return complaints.complaint_file(**values).ticket
        return services.ticket_open(**values, actor=None)

    categories = ComplaintCategory.choices if complaint else selectors.PARTNER_CATEGORIES
    return requester_pages.new_ticket_page(request, categories=categories, open_ticket=open_ticket,
                                           template=TEMPLATE_NEW, context=_ctx(request),
                                           ticket_url="support_partner_ticket", complaint=complaint)


@require_http_methods(["GET", "POST"])
@partner_login_required
def ticket_new(request: PartnerRequest) -> HttpResponse:
    return _new(request, complaint=False)


@require_http_methods(["GET", "POST"])
@partner_login_required
def complaint_new(request: PartnerRequest) -> HttpResponse:
    return _new(request, complaint=True)


@require_http_methods(["GET", "POST"])
@partner_login_required
def ticket_detail(request: PartnerRequest, reference: str) -> HttpResponse:
    try:
        ticket = selectors.ticket_for_partner(partner=request.partner, reference=reference)
    except NotFound:
        raise Http404 from None
    return requester_pages.ticket_page(
        request, ticket=ticket, template="support/partner/ticket.html", context=_ctx(request),
        ticket_url="support_partner_ticket", attachment_url="support_partner_attachment",
        reply=lambda data: services.ticket_reply_partner(ticket=ticket, partner=request.partner, body=data["body"],
                                                         attachments=data["attachments"]))


@require_GET
@partner_login_required
def attachment(request: PartnerRequest, reference: str, code: Any) -> HttpResponse:
    try:
        ticket = selectors.ticket_for_partner(partner=request.partner, reference=reference)
        found = selectors.attachment_for_requester(ticket, code)
    except NotFound:
        raise Http404 from None
    return selectors.attachment_response(found)
