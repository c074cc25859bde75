"""Middleware of the core that needs more than the model-free helpers of crm.lib (the audit log)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.lib.middleware import Middleware
from crm.lib.validation import storable, unstorable_problem


def _fields_with_unstorable_text(request: HttpRequest) -> dict[str, list[str]]:
    """Query-string and form fields (names and values) PostgreSQL could not store, with why."""
    found: dict[str, list[str]] = {}
    sources = [request.GET]
    if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded",
                                                             "multipart/form-data"):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0):
            # Read and kept first, so that a view that reads the raw body (a signed webhook) still
            # can; larger uploads are streamed and never sit in memory whole.
            request.body  # noqa: B018
        sources.append(request.POST)
    for source in sources:
        for name, values in source.lists():
            for text in (name, *values):
                problem = unstorable_problem(text)
                if problem:
                    found.setdefault(storable(name, replacement="\u2400"), [problem])
                    break
    return found


class UnstorableTextMiddleware(Middleware):
    """Text PostgreSQL cannot store, sent in a query string or a form, is refused before any view
    sees it, with the one error shape naming each field: JSON under /api/, a page elsewhere (a 422
    either way), and an audit row, so a probe (a failed login with a NUL in the username, say) is
    on record. JSON bodies are checked by the API's schemas and the services' text_clean, field by
    field, so that a batch refuses only its bad items."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        fields = _fields_with_unstorable_text(request)
        if not fields:
            return self.get_response(request)
        audit_record(action="request.refused_text", object_type="request", object_id=request.path[:64],
                     after={"method": request.method, "fields": sorted(fields)})
        message = gettext("The request is not valid.")
        if request.path.startswith("/api/"):
            return JsonResponse({"code": "invalid", "message": message, "fields": fields}, status=422)
        html = render_to_string("crm/errors/refused_text.html", {
            "fields": fields, "request_id": getattr(request, "request_id", ""),
        }, request=None)
        return HttpResponse(html, status=422)


class StaffRestrictionMiddleware(Middleware):
    """A restricted member of staff (crm.permissions.staff_restricted) is read-only: every request
    that could change something (any method but GET, HEAD, OPTIONS) is refused with a 403 saying why,
    on the pages and on the session-authenticated API alike, except signing out and choosing the
    language. The refusal is audited. Reveals and exports are refused a second time where they are
    checked (crm.permissions.user_can), so a job queued before the restriction does not run either."""

    ALLOWED_URL_NAMES = frozenset({"logout", "set_language", "otp_verify"})
    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def process_view(self, request: HttpRequest, view_func: Callable[..., HttpResponse], view_args: Any,
                     view_kwargs: Any) -> HttpResponse | None:
        from crm.permissions import restriction_message, staff_restricted
        from crm.views.errors import refusal

        if request.method in self.SAFE_METHODS:
            return None
        user = getattr(request, "user", None)
        if user is None or not staff_restricted(user):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in self.ALLOWED_URL_NAMES:
            return None
        audit_record(action="staff.restricted_refused", obj=user, actor=user,
                     after={"method": request.method, "path": request.path[:200]})
        return refusal(request, restriction_message())
