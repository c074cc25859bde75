"""The emails' reads other apps use."""

from __future__ import annotations

from collections.abc import Mapping

from crm.models import Brand
from crm.registry import PlaybookTemplate
from emails import defaults
from emails.composer import client_emails
from emails.models import EmailTemplate, OutboundEmail

SOURCE_LANGUAGE = defaults.SOURCE_LANGUAGE

__all__ = [
    "SOURCE_LANGUAGE",
    "client_email_with_header",
    "client_emails",
    "file_template",
    "playbook_templates",
    "template_translated",
]


def template_translated(values: Mapping[str, str], language: str) -> dict[str, str] | None:
    """An app's English template `values` in `language`, or None when no catalogue translates it
    (emails.defaults)."""
    return defaults.template_translated(values, language)


def playbook_templates(templates: Mapping[str, Mapping[str, str]]) -> list[PlaybookTemplate]:
    """An app's English templates (key -> values) in each language the catalogues translate them into."""
    return defaults.playbook_templates(templates)


def client_email_with_header(*, client_id: int, name: str, value: str) -> bool:
    """Whether an email to client `client_id` was queued with header `name` set to `value` (whatever
    became of it): the key of an email that must go once (a wallet receipt's "X-CRM-Receipt")."""
    return OutboundEmail.objects.filter(client_id=client_id, headers__contains={name: value}).exists()


def file_template(*, brand: Brand, key: str, language: str) -> EmailTemplate:
    """An unsaved template standing for email `key` that an app renders from its own files (not a
    brand's template): what emails.services.RenderedEmail and email_queue record as its key."""
    return EmailTemplate(brand=brand, key=key, language=language)
