"""Staff answers mailed to the requester, so that the client can reply by email and the reply threads.

A staff answer (never an internal note) on a ticket with a requester address (the client's, else
the ticket's requester_email: a partner, an email sender who is nobody's client) is rendered
through the brand's email template ``support_ticket_answer`` in the ticket's language and queued
on the emails pipeline (emails.services.email_queue: sent by its Celery task after commit, once).
The subject carries "[T001234]" (support.mail.subject_with_reference); the headers are
support.mail.outbound_headers: our Message-ID with the ticket inside, In-Reply-To/References of the
requester's last mail on the ticket, our loop marker. The Message-ID is stored on the answer's
TicketMessage (``email_message_id``): support.mail_intake threads the client's reply by it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.utils import timezone

from crm.models import Event
from support import mail
from support.letters import ANSWER_TEMPLATE, TEMPLATES
from support.models import MessageKind, Ticket, TicketMessage


def message_id_domain() -> str:
    """The domain of our own Message-IDs (support.mail.outbound_headers): SUPPORT_MAIL_DOMAIN, else
    the domain of DEFAULT_FROM_EMAIL."""
    configured = str(getattr(settings, "SUPPORT_MAIL_DOMAIN", "") or "")
    return (configured or str(settings.DEFAULT_FROM_EMAIL).rpartition("@")[2].strip(" >") or "localhost").lower()


def answer_recipient(ticket: Ticket) -> str:
    """Where an answer on `ticket` is mailed: the client's address, else the requester's; "" for none."""
    client = ticket.client
    if client is not None and client.email:
        return str(client.email)
    return (ticket.requester_email or "").strip()


def _language(ticket: Ticket) -> str:
    client = ticket.client
    code = (client.language if client is not None and client.language else ticket.language) or "en"
    return code.strip().lower()  # "pt-br" stays itself: its templates and catalogue are Brazilian


def _ensure_template(brand: Any, language: str) -> Any:
    """The brand's active answer template in the best language of `language`'s chain, or None when
    the brand switched it off. Ours is given to a brand that never had it in that language (when the
    catalogues translate it) or in English; administrators may reword it or deactivate it."""
    from emails.selectors import SOURCE_LANGUAGE, template_translated
    from emails.services import email_template_pick, email_template_save, email_templates_for_brand

    had = {t.language for t in email_templates_for_brand(brand=brand) if t.key == ANSWER_TEMPLATE}
    for code in dict.fromkeys((language, SOURCE_LANGUAGE)):
        values = template_translated(TEMPLATES[ANSWER_TEMPLATE], code)
        if values is not None and code not in had:
            email_template_save(actor=None, brand=brand, key=ANSWER_TEMPLATE, language=code, subject=values["subject"],
                                body=values["body"], description=values["description"])
    return email_template_pick(brand=brand, key=ANSWER_TEMPLATE, language=language)


def _last_requester_message_id(ticket: Ticket) -> str:
    return (TicketMessage.objects.filter(ticket=ticket, kind__in=(MessageKind.CLIENT_REPLY, MessageKind.PARTNER_REPLY))
            .exclude(email_message_id=None).order_by("-created_at", "-pk")
            .values_list("email_message_id", flat=True).first()) or ""


def _context(ticket: Ticket, data: dict[str, Any]) -> dict[str, Any]:
    from emails.services import template_context

    event = Event(name="support.email.answer", client=ticket.client, data=data, occurred_at=timezone.now())
    if ticket.client is not None:
        return template_context(client=ticket.client, event=event)
    name = ticket.requester_name or ""
    return {
        "client": {"first_name": name.split(" ", 1)[0], "last_name": name.partition(" ")[2], "full_name": name,
                   "email": ticket.requester_email, "country": "", "language": ticket.language, "stage": "",
                   "code": ""},
        "brand": {"name": ticket.brand.name, "code": ticket.brand.code},
        "owner": {"name": "", "first_name": "", "email": ""},
        "event": {"name": event.name, "data": data, "occurred_at": event.occurred_at},
    }


def answer_mail(*, ticket: Ticket, message: TicketMessage, actor: Any) -> str | None:
    """Queue `message` (a staff answer on `ticket`) to the requester by email, in the caller's
    transaction; returns the Message-ID it is sent with, or None when nothing is mailed (not a staff
    answer, no address, or mailed already). Call inside the answer's transaction."""
    from emails.services import email_queue, email_render

    if message.kind != MessageKind.STAFF_REPLY or message.email_message_id:
        return None
    to_email = answer_recipient(ticket)
    if not to_email:
        return None

    language = _language(ticket)
    template = _ensure_template(ticket.brand, language)
    if template is None:  # the brand switched its answer mail off
        return None
    agent = (getattr(actor, "full_name", "") or "") if actor is not None else ""
    data = {"reference": ticket.reference, "subject": mail.subject_with_reference(ticket.subject, ticket.reference),
            "body": message.body_text, "agent": agent}
    rendered = email_render(template=template, context=_context(ticket, data))
    headers = mail.outbound_headers(reference=ticket.reference, domain=message_id_domain(), token=uuid.uuid4().hex,
                                    in_reply_to=_last_requester_message_id(ticket))
    desk_address = ticket.desk.support_address if ticket.desk_id else None
    if desk_address:
        headers["Reply-To"] = desk_address
    email_queue(client=ticket.client if ticket.client is not None and ticket.client.email else None,
                brand=ticket.brand, to_email=to_email, rendered=rendered, template=template, actor=actor,
                author=actor, audit_action="support.ticket.answer_mailed",
                audit_extra={"ticket": ticket.reference}, headers=headers)
    message_id = headers["Message-ID"].strip("<>")
    message.email_message_id = message_id
    message.save(update_fields=["email_message_id"])
    return message_id
