"""Staff pages of screening: the review queue, a hit beside the client with the officers' decisions,
the list versions with their diffs and the upload of a new version, and the screening section of the
client's Compliance tab (`screening_tab_context`)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from compliance import screening_forms as forms
from compliance import selectors, services
from compliance.exceptions import WatchlistGlobal, WatchlistRefused
from compliance.models import HitStatus, ScreeningHit, WatchlistVersion
from compliance.screening import DECIDE_PERMISSION, VIEW_PERMISSION, high_score
from crm.exceptions import DomainError, NotAllowed, NotFound
from crm.models import Client
from crm.permissions import AuthedRequest, page_permission_required, user_can
from crm.views.ui import raise_for_domain_error, render_page
from crm.views.ui.forms import apply_domain_errors

VIEW_LISTS = "compliance.view_watchlistversion"
LOAD_LISTS = "compliance.add_watchlistversion"


def _hit_or_404(request: AuthedRequest, code: Any) -> ScreeningHit:
    try:
        return selectors.screening_hit_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None


# --- the queue -------------------------------------------------------------------------------------

@page_permission_required(VIEW_PERMISSION)
@require_GET
def screening_queue(request: AuthedRequest) -> HttpResponse:
    """Hits waiting for a decision (or any status), by list and lowest score, best score first."""
    form = forms.QueueFilterForm(request.GET or None, lists=selectors.watchlist_names())
    status, list_name, min_score = "unresolved", "", None
    if form.is_bound and form.is_valid():
        status = form.cleaned_data["status"] or "unresolved"
        list_name = form.cleaned_data["list"]
        min_score = form.cleaned_data["min_score"]
    rows = selectors.screening_queue(user=request.user, status="" if status == "all" else status,
                                     list_name=list_name, min_score=min_score)
    page = Paginator(rows, selectors.SCREENING_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(request, "compliance/screening/queue.html", {
        "page": page, "filter_form": form, "query": query.urlencode(), "high_score": high_score(),
        "can_view_lists": user_can(request.user, VIEW_LISTS),
    }, partial="screening-rows")


# --- a hit -----------------------------------------------------------------------------------------

def _hit_context(request: AuthedRequest, hit: ScreeningHit, **given: Any) -> dict[str, Any]:
    user = request.user
    can_decide = user_can(user, DECIDE_PERMISSION)
    return {
        "hit": hit, "client": hit.client, "entry": hit.entry,
        "decisions": list(hit.decisions.select_related("officer")),
        "high_score": high_score(), "needs_second_officer": hit.score >= high_score(),
        "can_decide": can_decide and hit.status == HitStatus.OPEN,
        "can_approve": can_decide and hit.status == HitStatus.PENDING and hit.pending_by_id != user.pk,
        "waiting_for_other": hit.status == HitStatus.PENDING and hit.pending_by_id == user.pk,
        "decision_form": given.get("decision_form") or forms.HitDecisionForm(),
        "send_back_form": given.get("send_back_form") or forms.SendBackForm(),
    }


@page_permission_required(VIEW_PERMISSION)
@require_GET
def screening_hit(request: AuthedRequest, code: Any) -> HttpResponse:
    hit = _hit_or_404(request, code)
    return render_page(request, "compliance/screening/hit.html", _hit_context(request, hit))


_ACTIONS = {"decide", "approve", "send-back"}


@page_permission_required(DECIDE_PERMISSION)
@require_POST
def screening_hit_action(request: AuthedRequest, code: Any, action: str) -> HttpResponse:
    """Decide (confirm or dismiss), approve the first officer's decision, or send it back."""
    if action not in _ACTIONS:
        raise Http404
    hit = _hit_or_404(request, code)
    user = request.user
    form: Any = None
    key = "decision_form"
    refused = False
    try:
        if action == "decide":
            form = forms.HitDecisionForm(request.POST)
            if form.is_valid():
                services.screening_hit_decide(hit=hit, actor=user, action=form.cleaned_data["action"],
                                              reason=form.cleaned_data["reason"])
        elif action == "approve":
            services.screening_hit_approve(hit=hit, actor=user)
        else:
            form, key = forms.SendBackForm(request.POST), "send_back_form"
            if form.is_valid():
                services.screening_hit_send_back(hit=hit, actor=user, reason=form.cleaned_data["reason"])
    except (NotAllowed, NotFound) as error:
        raise_for_domain_error(error)
        raise
    except DomainError as error:
        refused = True
        if form is None:
            messages.error(request, error.message)
        else:
            apply_domain_errors(form, error)
    if refused or (form is not None and form.errors):
        hit = _hit_or_404(request, code)
        given = {key: form} if form is not None else {}
        return render_page(request, "compliance/screening/hit.html", _hit_context(request, hit, **given), status=400)
    hit = _hit_or_404(request, code)
    messages.success(request, {
        HitStatus.PENDING: gettext("Decision recorded: it waits for a second officer's approval."),
        HitStatus.CONFIRMED: gettext("Hit confirmed."),
        HitStatus.DISMISSED: gettext("Hit dismissed as a false positive."),
        HitStatus.OPEN: gettext("The decision was sent back to the queue."),
    }[HitStatus(hit.status)])
    return redirect("compliance_screening_hit", code=hit.code)


# --- the lists -------------------------------------------------------------------------------------

@page_permission_required(VIEW_LISTS)
@require_http_methods(["GET", "POST"])
def watchlist_versions(request: AuthedRequest) -> HttpResponse:
    """Every list's versions, newest first, and (for those who may) the upload of a new version."""
    may_load = user_can(request.user, LOAD_LISTS)
    # Lists are global: an officer of some brands only sees why there is no upload, and a POST says it.
    can_load = may_load and selectors.watchlist_load_allowed(request.user)
    form = forms.WatchlistUploadForm()
    status = 200
    if request.method == "POST":
        if not may_load:
            raise Http404
        if not can_load:
            return render_page(request, "compliance/screening/versions.html", {
                "versions": list(selectors.watchlist_versions()), "upload_form": form, "can_load": False,
                "load_refusal": WatchlistGlobal().message}, status=403)
        form = forms.WatchlistUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                version = services.watchlist_load(name=form.cleaned_data["list_name"], fmt=form.cleaned_data["fmt"],
                                                  files=form.cleaned_data["files"], actor=request.user)
            except WatchlistRefused as error:
                form.add_error("files", gettext("%(error)s Nothing was loaded.") % {"error": error.message})
            else:
                messages.success(request, gettext(
                    "%(list)s version %(n)s loaded: %(added)s added, %(removed)s removed, %(changed)s changed. "
                    "Clients are being screened against the new and changed entries.") % {
                    "list": version.watchlist.name, "n": version.number, "added": len(version.added),
                    "removed": len(version.removed), "changed": len(version.changed)})
                return redirect(_version_url(version))
        status = 400
    return render_page(request, "compliance/screening/versions.html", {
        "versions": list(selectors.watchlist_versions()), "upload_form": form, "can_load": can_load,
        "load_refusal": WatchlistGlobal().message if may_load and not can_load else "",
    }, status=status)


def _version_url(version: WatchlistVersion) -> str:
    return reverse("compliance_watchlist_version", args=[version.watchlist_id, version.number])


@page_permission_required(VIEW_LISTS)
@require_GET
def watchlist_version(request: AuthedRequest, watchlist_id: int, number: int) -> HttpResponse:
    try:
        version = selectors.watchlist_version_get(watchlist_id=watchlist_id, number=number)
    except NotFound:
        raise Http404 from None
    return render_page(request, "compliance/screening/version.html", {
        "version": version, "diff": selectors.watchlist_version_diff(version)})


# --- the client's Compliance tab -------------------------------------------------------------------

def screening_tab_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    """The screening section of the Compliance tab: the client's hits and the decisions on each."""
    if not user_can(request.user, VIEW_PERMISSION):
        return {"screening_hits": None}
    return {"screening_hits": list(selectors.screening_hits_for_client(client=client))}
