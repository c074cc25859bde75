"""The email templates the apps write for a brand (KYC's decisions and reminder, support's answer and
complaint letters), in every language the catalogues translate them into.

An app writes each template once, in English, its subject and body marked with gettext_noop (the
template language's tags and variables are part of the message: a translation keeps them). A brand is
given it in English and in each language of settings.LANGUAGES whose catalogue translates its body;
administrators may reword what they were given (their words are never replaced).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from crm.registry import PlaybookTemplate

SOURCE_LANGUAGE = "en"


def template_translated(values: Mapping[str, str], language: str) -> dict[str, str] | None:
    """`values` (description, subject, body in English) in `language`, or None when no catalogue of
    `language` translates its body. The description, which only staff read, stays as written."""
    text = {
        "description": values.get("description", ""),
        "subject": values["subject"],
        "body": values["body"],
    }
    code = (language or "").strip().lower()
    if code == SOURCE_LANGUAGE:
        return text
    if code not in {c for c, _name in settings.LANGUAGES}:
        return None
    with translation.override(code):
        body, subject = gettext(text["body"]), gettext(text["subject"])
    if body == text["body"]:
        return None
    return {**text, "subject": subject, "body": body}


def template_languages(values: Mapping[str, str]) -> list[tuple[str, dict[str, str]]]:
    """(language, values) for English and every offered language that translates `values`."""
    found = []
    for code, _name in settings.LANGUAGES:
        text = template_translated(values, code)
        if text is not None:
            found.append((code, text))
    return found


def playbook_templates(
    templates: Mapping[str, Mapping[str, str]] | Iterable[tuple[str, Mapping[str, str]]],
) -> list[PlaybookTemplate]:
    """The playbook templates of `templates` (key -> English values) in each language they are translated into."""
    items = templates.items() if isinstance(templates, Mapping) else templates
    return [
        PlaybookTemplate(key, code, text)
        for key, values in items
        for code, text in template_languages(values)
    ]
