"""Shared plumbing of the staff pages, and the global search dropdown.

One view and one template serve both the full page and the htmx swap: the swappable region is a
`{% partialdef name inline %}` block, rendered alone ("template.html#name") for htmx requests
that are neither boosted nor history restores (a history restore needs the whole page).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from crm import selectors, services
from crm.exceptions import DomainError, NotAllowed, NotFound
from crm.models import Client
from crm.permissions import AuthedRequest, client_get_for_user
from crm.registry import SEARCH_EXTRAS

SEARCH_DROPDOWN_LIMIT = 10


def wants_partial(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render `template`, or only its `partial` for an htmx swap."""
    name = f"{template}#{partial}" if partial and wants_partial(request) else template
    response = render(request, name, context, status=status)
    # The same URL answers with a page or a fragment: caches must tell them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


def client_or_404(request: HttpRequest, code: Any, *, for_update: bool = False) -> Client:
    try:
        return client_get_for_user(request.user, code, for_update=for_update)
    except NotFound:
        raise Http404 from None


def raise_for_domain_error(error: DomainError) -> None:
    """Turn an access error from a service into the HTTP answer (404 or 403)."""
    if isinstance(error, NotFound):
        raise Http404 from None
    if isinstance(error, NotAllowed):
        raise PermissionDenied(error.message) from None


def form_submit(form: Any, call: Callable[[], Any], *, aliases: dict[str, str] | None = None) -> tuple[bool, Any]:
    """Run a service for a valid form: (True, its result), or (False, None) with the service's
    refusal shown on the form. An access error becomes the HTTP answer (404 or 403)."""
    from crm.views.ui.forms import apply_domain_errors

    try:
        return True, call()
    except (NotAllowed, NotFound) as error:
        raise_for_domain_error(error)
        raise
    except DomainError as error:
        apply_domain_errors(form, error, aliases=aliases)
        return False, None


def safe_next(request: HttpRequest, value: str | None, default: str) -> str:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()},
                                                 require_https=request.is_secure()):
        return value
    return default


@login_required
@require_GET
def client_search(request: AuthedRequest) -> HttpResponse:
    """The top bar's search dropdown: up to ten clients in the user's scope."""
    q = (request.GET.get("q") or "").strip()[:100]
    results = selectors.client_search(user=request.user, q=q, limit=SEARCH_DROPDOWN_LIMIT) if q else []
    extras = [match for extra in SEARCH_EXTRAS for match in extra.find(request.user, q)] if q else []
    services.access_search_record(actor=request.user, where="search", query=q, rows=len(results) + len(extras))
    return render(request, "crm/clients/_search_results.html", {"q": q, "results": results, "extras": extras})
