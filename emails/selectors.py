"""The emails' reads other apps use."""

from __future__ import annotations

from collections.abc import Mapping

from crm.registry import PlaybookTemplate
from emails import defaults
from emails.composer import client_emails

SOURCE_LANGUAGE = defaults.SOURCE_LANGUAGE

__all__ = ["SOURCE_LANGUAGE", "client_emails", "playbook_templates", "template_translated"]


def template_translated(values: Mapping[str, str], language: str) -> dict[str, str] | None:
    """An app's English template `values` in `language`, or None when no catalogue translates it
    (emails.defaults)."""
    return defaults.template_translated(values, language)


def playbook_templates(templates: Mapping[str, Mapping[str, str]]) -> list[PlaybookTemplate]:
    """An app's English templates (key -> values) in each language the catalogues translate them into."""
    return defaults.playbook_templates(templates)
