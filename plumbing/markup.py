"""HTML text written without format_html, for the markup a page repeats by the hundred (a table's
cells, a select's options), where format_html's own cost shows. The escaping is the same."""

from __future__ import annotations

import html
from typing import Any


def esc(value: Any) -> str:
    """`value` as HTML text, escaped (safe strings too: use `html_of` to keep them)."""
    return html.escape(str(value))


def html_of(value: Any) -> str:
    """`value` as HTML: a safe string as it is, anything else escaped, None as nothing."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value)) if value is not None else ""
