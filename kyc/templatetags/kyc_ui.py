"""Template filters of the KYC pages: a check's evidence as officers read it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext

register = template.Library()


def _label(key: Any) -> str:
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _value(value: Any) -> SafeString:
    if isinstance(value, Mapping):
        return evidence_list(value)
    if isinstance(value, list | tuple | set):
        if not value:
            return format_html("{}", "—")
        if any(isinstance(item, Mapping | list | tuple | set) for item in value):
            return format_html('<ul class="evidence-items">{}</ul>',
                               format_html_join("", "<li>{}</li>", ((_value(item),) for item in value)))
        return format_html("{}", ", ".join(str(item) for item in value))
    if value is None or value == "":
        return format_html("{}", "—")
    if isinstance(value, bool):
        return format_html("{}", gettext("yes") if value else gettext("no"))
    return format_html("{}", value)


@register.filter
def evidence_list(evidence: Any) -> SafeString:
    """A check's evidence as a definition list: keys humanised ("max_age_days": "Max age days"),
    values formatted (yes/no, lists joined, nested dicts as nested lists), everything escaped."""
    if not isinstance(evidence, Mapping):
        return _value(evidence)
    if not evidence:
        return format_html("{}", "—")
    return format_html('<dl class="evidence">{}</dl>', format_html_join(
        "", "<dt>{}</dt><dd>{}</dd>", ((_label(key), _value(value)) for key, value in evidence.items())))
