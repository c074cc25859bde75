"""The error pages: 400, 403, 404 and 500 in the CRM's own look, with a way back and the request id
support asks for. Under /api/ the same errors answer with the API's error shape instead of a page.

A 500 page is drawn without the database or context processors (the database may be what failed),
and falls back to plain text if even that fails.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

_STATUS_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 413: "too_large", 500: "server_error"}


def _texts(status: int) -> tuple[str, str]:
    return {
        400: (_("The request is not valid."),
              _("The page could not understand what was sent. Go back and try again.")),
        403: (_("You may not open this page."),
              _("Your role does not give access to it. Ask an administrator if you need it.")),
        404: (_("This page does not exist."),
              _("The address may be mistyped, or what it showed was removed or is outside what you may see.")),
        413: (_("What was sent is too large."),
              _("Send less at once, or split a file into smaller ones.")),
        500: (_("Something went wrong on our side."),
              _("The error was logged. Try again in a moment; if it keeps happening, tell support the request id below.")),
    }[status]


def _back_url(request: HttpRequest) -> str:
    """The page the person came from, when it is one of ours (never another site's address)."""
    referer = request.META.get("HTTP_REFERER", "")
    parts = urlsplit(referer)
    if not referer or parts.netloc != request.get_host() or parts.path == request.path:
        return ""
    return str(referer)


def _answer(request: HttpRequest, status: int, *, message: str = "") -> HttpResponse:
    title, default_message = _texts(status)
    request_id = getattr(request, "request_id", "")
    if request.path.startswith("/api/"):
        body: dict[str, Any] = {"code": _STATUS_CODES[status], "message": message or title, "fields": {}}
        response: HttpResponse = JsonResponse(body, status=status)
    else:
        # A 500 does not ask who is signed in: the session store may be what failed.
        user = getattr(request, "user", None) if status != 500 else None
        signed_in = status == 500 or bool(user is not None and user.is_authenticated)
        html = render_to_string("crm/errors/_page.html", {
            "status": status, "title": title, "message": message or default_message,
            "request_id": request_id, "site_name": settings.CRM_SITE_NAME,
            "home_url": "/" if signed_in else reverse("login"),
            "back_url": _back_url(request) if status != 500 else "",
        })
        response = HttpResponse(html, status=status)
    if request_id:
        response["X-Request-ID"] = request_id
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        return _answer(request, 413, message=_(
            "The request body is larger than %(limit)s MB, the most the CRM accepts at once.")
            % {"limit": f"{limit / 1_000_000:.1f}"})
    return _answer(request, 400)


def refusal(request: HttpRequest, message: str) -> HttpResponse:
    """A 403 that says in words why (a restricted user's change, say): the page, or the API's shape."""
    return _answer(request, 403, message=message)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    try:
        return _answer(request, 500)
    except Exception:  # the page itself failed: still answer, in words
        logger.exception("the 500 page could not be drawn")
        request_id = getattr(request, "request_id", "")
        return HttpResponse(f"Server error. Request id: {request_id}\n", status=500,
                            content_type="text/plain; charset=utf-8")
