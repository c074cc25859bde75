"""PDFs the CRM prints (a month-end close, a statement): a Django template rendered to HTML and
laid out by weasyprint. The template is a whole HTML document with its own print CSS (an @page
rule for size and margins); it loads nothing from the network: weasyprint's URL fetcher is
limited to the project's static files, so a stray link in a template cannot reach out.

The document's language and direction come from the active language, so an Arabic statement is
laid out right to left.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import translation

STATIC_PREFIX = "static:"


def _fetcher(url: str, *args: Any, **kwargs: Any) -> Any:
    """Only `static:<path>` URLs, read from the static files; anything else is refused."""
    if not url.startswith(STATIC_PREFIX):
        raise ValueError(f"PDF templates may only load static files, not {url!r}")
    name = url[len(STATIC_PREFIX):]
    path = finders.find(name)
    if not path or isinstance(path, list):
        raise ValueError(f"No static file {url!r}")
    with open(path, "rb") as handle:
        body = handle.read()
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        from weasyprint.urls import URLFetcherResponse
    except ImportError:  # weasyprint before 67 takes a dict
        return {"string": body, "mime_type": mime}
    return URLFetcherResponse(url, body=body, headers={"Content-Type": mime})


def pdf_render(template: str, context: Mapping[str, Any]) -> bytes:
    """`template` rendered with `context` (plus the language's code and direction) as PDF bytes."""
    from weasyprint import HTML

    language = translation.get_language() or "en"
    html = render_to_string(template, {**context, "pdf_language": language,
                                       "pdf_direction": "rtl" if translation.get_language_bidi() else "ltr"})
    pdf: bytes = HTML(string=html, url_fetcher=_fetcher).write_pdf()
    return pdf


def pdf_warm() -> None:
    """Load weasyprint and lay out one line, so that the process's first real PDF does not pay for
    it: the import alone (fontTools, cairo and pango through cffi, whose library look-ups run
    subprocesses) took 3.5 of a first suspicious-activity report's 4.8 s, the next one 0.4 s. The web
    workers call it in the background as they start (deploy.gunicorn_conf)."""
    from weasyprint import HTML

    HTML(string="<p>.</p>", url_fetcher=_fetcher).write_pdf()
