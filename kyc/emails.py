"""The emails KYC sends the client, in the client's language: what to fix after a retryable rejection,
a final rejection, a request for more information, a warning before a document runs out and the
expiry itself.

They are ordinary brand email templates (emails.services), contributed to the playbook so that a
brand gets them with the others and administrators can reword them. A brand that has none yet gets
them written the first time one is needed. The words of the moment (the officer's reason, what to
fix, the day a document runs out) reach the template as `event.data.*`, the names a template may use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from crm.models import Client, Event, User
from crm.registry import PlaybookTemplate
from emails import selectors as email_selectors
from emails.models import EmailTemplate
from emails.services import (
    EmailSendResult,
    email_send_templated,
    email_template_pick,
    email_template_save,
)

# In English, marked for the catalogues (emails.defaults gives a brand each language they translate).
_TEMPLATES: dict[str, dict[str, str]] = {
    "kyc_resubmit": {
        "description": "Verification refused: what the client should send again",
        "subject": gettext_noop("{{ brand.name }}: please send your documents again"),
        "body": gettext_noop(
            "Dear {{ client.first_name }},\n\nWe could not verify your identity with the documents you sent."
            "{% if event.data.reason %}\n\n{{ event.data.reason }}{% endif %}"
            "{% if event.data.hints %}\n\nPlease:\n{% for hint in event.data.hints %}- {{ hint }}\n{% endfor %}"
            "{% endif %}\nYou can upload new documents in your client area.\n\nKind regards,\n{{ brand.name }}"),
    },
    "kyc_rejected": {
        "description": "Verification refused for good",
        "subject": gettext_noop("{{ brand.name }}: your verification"),
        "body": gettext_noop(
            "Dear {{ client.first_name }},\n\nWe are unable to verify your account."
            "{% if event.data.reason %}\n\n{{ event.data.reason }}{% endif %}"
            "\n\nIf you have questions, reply to this email.\n\nKind regards,\n{{ brand.name }}"),
    },
    "kyc_info_requested": {
        "description": "A compliance officer needs more information",
        "subject": gettext_noop("{{ brand.name }}: we need a little more information"),
        "body": gettext_noop(
            "Dear {{ client.first_name }},\n\nTo finish verifying your account we need more information:"
            "\n\n{{ event.data.message }}\n\nPlease send it from your client area.\n\nKind regards,\n{{ brand.name }}"),
    },
    "kyc_expiry_warning": {
        "description": "A verification document runs out soon",
        "subject": gettext_noop("{{ brand.name }}: your document expires on {{ event.data.expires_on }}"),
        "body": gettext_noop(
            "Dear {{ client.first_name }},\n\nYour {{ event.data.document }} expires on "
            "{{ event.data.expires_on }}. Please upload a valid one in your client area before then "
            "to keep your account fully verified.\n\nKind regards,\n{{ brand.name }}"),
    },
    "kyc_expired": {
        "description": "The verification ran out",
        "subject": gettext_noop("{{ brand.name }}: please verify your account again"),
        "body": gettext_noop(
            "Dear {{ client.first_name }},\n\nYour verification has expired: {{ event.data.reason }}."
            "{% if event.data.holds %}\n\nUntil you verify again: {{ event.data.holds }}.{% endif %}"
            "\n\nPlease upload valid documents in your client area.\n\nKind regards,\n{{ brand.name }}"),
    },
}


def playbook_templates() -> list[PlaybookTemplate]:
    """The KYC emails for the playbook, in each language the catalogues translate them into."""
    return email_selectors.playbook_templates(_TEMPLATES)


def _ensure_templates(client: Client, key: str) -> None:
    """Give the brand the KYC template `key` in the client's language (when the catalogues translate
    it) and in English, unless it has it in the client's language or, for one we cannot give, in a
    language of their fallback chain."""
    brand = client.brand
    found = email_template_pick(brand=brand, key=key, language=client.language)
    language = client_language(client)
    if found is not None and (found.language == language or email_selectors.template_translated(
            _TEMPLATES[key], language) is None):
        return
    existing = set(EmailTemplate.objects.filter(brand=brand, key=key).values_list("language", flat=True))
    for code in dict.fromkeys((language, email_selectors.SOURCE_LANGUAGE)):
        values = email_selectors.template_translated(_TEMPLATES[key], code)
        if values is not None and code not in existing:
            email_template_save(actor=None, brand=brand, key=key, language=code, subject=values["subject"],
                                body=values["body"], description=values["description"])


def client_language(client: Client) -> str:
    return (client.language or client.brand.default_language or "en").strip().lower()  # pt-br: Brazilian


def in_client_language(client: Client, text: str, params: Mapping[str, Any] | None = None) -> str:
    """`text` (an English message id, e.g. a check's hint) in the client's language, filled in with
    `params` (%(name)s placeholders) once translated."""
    if not text:
        return ""
    with translation.override(client_language(client)):
        translated = gettext(text)
        return translated % params if params else translated


def kyc_email_send(*, client: Client, key: str, data: Mapping[str, Any], actor: User | None) -> EmailSendResult:
    """Queue KYC email `key` to `client` with `data` as `event.data` (in the caller's transaction)."""
    _ensure_templates(client, key)
    event = Event(name=f"kyc.email.{key}", client=client, data=dict(data), occurred_at=timezone.now())
    return email_send_templated(template_key=key, client=client, actor=actor, event=event)
