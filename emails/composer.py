"""The email composer of the client profile: staff write to one client, or start from one of the
brand's email templates in the client's language, preview the message, and send it.

What is written is rendered by the sandbox of emails.services, so `{{ client.first_name }}`
works in a written message as in a template; picking a template only fills the form with its
subject and text (in the language the client would get). The message then goes out as every email
of the CRM does: an OutboundEmail row written in the sender's transaction and audited, sent by a
Celery task after commit, shown on the client's timeline as "email.sent" or "email.failed" under
its author's name. When a send fails for good, its author is notified with the reason.

Previews show the client's address masked (a preview is not a reveal); the sent email carries the
real one. A client without an email address cannot be written to, and the refusal says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.translation import gettext

from crm.events import subscribe
from crm.exceptions import Conflict, FieldErrors, NotAllowed, NotFound
from crm.lib.validation import InvalidValue, language_normalise, text_clean
from crm.models import Client, Event, User
from crm.permissions import user_can
from crm.selectors import mask_email
from emails import permissions
from emails.models import EmailTemplate, OutboundEmail
from emails.services import (
    BODY_MAX,
    SUBJECT_MAX,
    RenderedEmail,
    email_queue,
    email_render,
    email_template_pick,
    language_chain,
    render_text,
    template_context,
    template_problems,
)

COMPOSE_PERMISSION = permissions.COMPOSE
# A line break in a subject would start a new mail header; Unicode's own line separators too.
_LINE_BREAK_RE = re.compile("[\r\n\x85\u2028\u2029]")
# How many of a client's emails the profile lists.
EMAILS_SHOWN = 20


def composer_refusal(*, client: Client) -> str | None:
    """Why `client` cannot be written to (a sentence for the person trying), or None."""
    if not client.email:
        return gettext("%(name)s has no email address. Add one to the client's details first.") % {
            "name": client.full_name}
    return None


def composer_templates(*, client: Client) -> list[EmailTemplate]:
    """The brand's active templates, one per key, each in the language `client` would get it in
    (their language, the brand's default, English), sorted by key. One query."""
    chain = language_chain(client_language=client.language, brand=client.brand)
    best: dict[str, EmailTemplate] = {}
    for template in EmailTemplate.objects.filter(brand_id=client.brand_id, is_active=True, language__in=chain):
        held = best.get(template.key)
        if held is None or chain.index(template.language) < chain.index(held.language):
            best[template.key] = template
    return [best[key] for key in sorted(best)]


def composer_template(*, client: Client, key: str) -> EmailTemplate:
    """Template `key` of the client's brand in the client's best language; NotFound naming it."""
    template = email_template_pick(brand=client.brand, key=key, language=client.language) if key else None
    if template is None:
        raise NotFound(gettext("The brand %(brand)s has no active email template “%(key)s”.") % {
            "brand": client.brand.name, "key": key})
    return template


def composer_languages(*, client: Client) -> list[str]:
    """Languages a message to `client` may be written in: theirs first, then the brand's and the CRM's."""
    codes = language_chain(client_language=client.language, brand=client.brand)
    codes += [code for code, _label in settings.LANGUAGES]
    return list(dict.fromkeys(codes))


@dataclass(frozen=True)
class _Draft:
    subject: str
    body: str
    language: str
    template: EmailTemplate | None


def _context(client: Client, *, masked: bool) -> dict[str, Any]:
    context = template_context(client=client)
    if masked:
        context["client"]["email"] = mask_email(client.email)
    return context


def _require(actor: User, client: Client) -> None:
    if not user_can(actor, COMPOSE_PERMISSION):
        raise NotAllowed(gettext("You are not allowed to email clients."))
    refusal = composer_refusal(client=client)
    if refusal:
        raise Conflict(refusal, code="no_email_address")


def _draft(*, client: Client, subject: Any, body: Any, language: Any, template_key: Any,
           context: dict[str, Any]) -> _Draft:
    """The message as written, checked: every problem named by field, nothing rendered yet."""
    errors = FieldErrors()
    cleaned: dict[str, str] = {}
    for name, value, limit in (("subject", subject, SUBJECT_MAX), ("body", body, BODY_MAX)):
        try:
            cleaned[name] = text_clean(value if isinstance(value, str) else None, field=name, max_length=limit,
                                       required=True)
        except InvalidValue as exc:
            errors.add(exc.field, exc.message)
    if "subject" in cleaned and _LINE_BREAK_RE.search(cleaned["subject"]):
        errors.add("subject", gettext("Write the subject on one line."))
        del cleaned["subject"]
    try:
        code = language_normalise(language if isinstance(language, str) else "", field="language")
    except InvalidValue as exc:
        errors.add(exc.field, exc.message)
        code = ""
    code = code or composer_languages(client=client)[0]
    template = None
    key = template_key.strip() if isinstance(template_key, str) else ""
    if key:
        try:
            template = composer_template(client=client, key=key)
        except NotFound as exc:
            errors.add("template", exc.message)
    for name, value in cleaned.items():
        for problem in template_problems(value, context=context):
            errors.add(name, problem)
    if "subject" in cleaned and "subject" not in errors:
        # Filled in, the subject must still fit: it is not cut short without the writer knowing.
        filled = " ".join(render_text(cleaned["subject"], context).split())
        if len(filled) > SUBJECT_MAX:
            errors.add("subject", gettext("With its variables filled in, the subject is longer than %(max)d "
                                          "characters.") % {"max": SUBJECT_MAX})
    errors.raise_if_any()
    return _Draft(subject=cleaned["subject"], body=cleaned["body"], language=code, template=template)


def _render(client: Client, draft: _Draft, context: dict[str, Any]) -> RenderedEmail:
    written = EmailTemplate(brand=client.brand, key=draft.template.key if draft.template else "",
                            language=draft.language, subject=draft.subject, body=draft.body)
    return email_render(template=written, context=context)


def client_email_preview(*, actor: User, client: Client, subject: str, body: str, language: str = "",
                         template_key: str = "") -> RenderedEmail:
    """The message as `client` would get it (their address masked). Writes nothing.

    Raises NotAllowed without the permission, Conflict when the client has no address, and
    ValidationFailed naming each problem of the subject, text, language or template.
    """
    _require(actor, client)
    context = _context(client, masked=True)
    draft = _draft(client=client, subject=subject, body=body, language=language, template_key=template_key,
                   context=context)
    return _render(client, draft, context)


@transaction.atomic
def client_email_send(*, actor: User, client: Client, subject: str, body: str, language: str = "",
                      template_key: str = "") -> OutboundEmail:
    """Queue a message from `actor` to `client`; a Celery task sends it after commit.

    Checked as client_email_preview is; nothing is written unless everything is valid. The
    OutboundEmail is audited ("email.compose", with what was written); the task emits
    "email.sent" (or "email.failed", which notifies `actor`) with `actor` as the event's actor.
    """
    _require(actor, client)
    context = _context(client, masked=False)
    draft = _draft(client=client, subject=subject, body=body, language=language, template_key=template_key,
                   context=context)
    rendered = _render(client, draft, context)
    return email_queue(client=client, rendered=rendered, template=draft.template, actor=actor, author=actor,
                       audit_action="email.compose",
                       audit_extra={"written_subject": draft.subject, "written_body": draft.body})


def client_emails(*, client: Client, limit: int = EMAILS_SHOWN) -> list[OutboundEmail]:
    """The client's latest emails, newest first, with their authors."""
    return list(OutboundEmail.objects.filter(client=client).select_related("author").order_by("-created_at", "-id")
                [:limit])


# --- a failed send is told to its author ---------------------------------------------------------

def _profile_url(client: Client | None) -> str:
    if client is None:
        return ""
    try:
        return f"{reverse('client_detail', args=[client.code])}?tab=email"
    except NoReverseMatch:
        return ""


@subscribe("email.failed")
def email_failed_notify_author(event: Event) -> None:
    """The member of staff who wrote an email that could not be sent learns it, with the reason."""
    from crm.services import notification_send

    code = event.data.get("email") if isinstance(event.data, dict) else None
    email = (OutboundEmail.objects.select_related("author", "client").filter(code=code).first()
             if code else None)
    if email is None or email.author is None or not email.author.is_active:
        return
    author = email.author
    name = email.client.full_name if email.client is not None else email.to_email
    with translation.override(author.language or settings.LANGUAGE_CODE):
        notification_send(
            user=author, kind="email_failed",
            title=gettext("Your email to %(name)s failed") % {"name": name},
            body=gettext("“%(subject)s” could not be sent: %(reason)s") % {
                "subject": email.subject, "reason": email.last_error or gettext("no reason given")},
            url=_profile_url(email.client),
        )


__all__ = [
    "COMPOSE_PERMISSION", "client_email_preview", "client_email_send", "client_emails", "composer_languages",
    "composer_refusal", "composer_template", "composer_templates", "email_failed_notify_author",
]
