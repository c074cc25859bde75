"""Pages of marketing's segments: the list and builder with a live count (htmx), a segment's page
with its versions and snapshots."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm.exceptions import NotAllowed, ValidationFailed
from crm.permissions import AuthedRequest
from crm.views.ui.forms import apply_domain_errors
from marketing import selectors, services
from marketing.engine import definition_clean, definition_count
from marketing.exceptions import SegmentUnknown
from marketing.facts import definition_words, facts_for
from marketing.forms import SegmentForm
from marketing.models import Segment
from marketing.permissions import (
    may_change_segments,
    may_view_segments,
    segment_brands_for_user,
    segment_get_for_user,
    segment_queryset_for_user,
)


def segments_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapper(request: AuthedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_view_segments(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _form(request: AuthedRequest, segment: Segment | None = None) -> SegmentForm:
    initial = (
        {}
        if segment is None
        else {
            "brand": segment.brand,
            "name": segment.name,
            "match": segment.definition.get("match", "all"),
            "definition": segment.definition,
        }
    )
    if segment is not None and any("conditions" in c for c in segment.definition.get("conditions", [])):
        initial["definition_json"] = json.dumps(segment.definition)
    return SegmentForm(
        request.POST or None,
        brands=segment_brands_for_user(request.user),
        facts=facts_for(request.user),
        initial=initial,
    )


def _save(request: AuthedRequest, form: SegmentForm, segment: Segment | None) -> Segment | None:
    if not may_change_segments(request.user):
        raise Http404
    if not form.is_valid():
        return None
    try:
        return services.segment_save(
            actor=request.user,
            brand=form.cleaned_data["brand"],
            name=form.cleaned_data["name"],
            definition=form.definition(),
            segment=segment,
        )
    except (ValidationFailed, NotAllowed) as error:
        apply_domain_errors(form, error)
        return None


@segments_required
@require_http_methods(["GET", "POST"])
def segment_list(request: AuthedRequest) -> HttpResponse:
    form = _form(request)
    if request.method == "POST":
        saved = _save(request, form, None)
        if saved is not None:
            messages.success(request, _("Segment saved."))
            return redirect(reverse("marketing_segment", args=[saved.code]))
    rows = list(segment_queryset_for_user(request.user).order_by("brand__name", "name"))
    return render(
        request,
        "marketing/segments.html",
        {"segments": rows, "form": form, "count": None, "may_change": may_change_segments(request.user)},
        status=422 if form.errors else 200,
    )


@segments_required
@require_http_methods(["GET", "POST"])
def segment_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    try:
        segment = segment_get_for_user(request.user, code)
    except SegmentUnknown:
        raise Http404 from None
    form = _form(request, segment)
    if request.method == "POST":
        if _save(request, form, segment) is not None:
            messages.success(request, _("Segment saved."))
            return redirect(reverse("marketing_segment", args=[segment.code]))
    context = {
        "segment": segment,
        "form": form,
        "count": selectors.segment_count(segment=segment),
        "versions": [(v, definition_words(v.definition)) for v in segment.versions.all()[:20]],
        "snapshots": list(selectors.snapshots_of(segment=segment)[:20]),
        "may_change": may_change_segments(request.user),
    }
    return render(request, "marketing/segment.html", context, status=422 if form.errors else 200)


@segments_required
@require_POST
def segment_count(request: AuthedRequest) -> HttpResponse:
    """The live count of the definition being edited (htmx, debounced by the page), not saved."""
    form = _form(request)
    form.fields["name"].required = False  # a name is not needed to count
    count, error = None, ""
    if form.is_valid():
        brand = form.cleaned_data["brand"]
        try:
            definition = definition_clean(form.definition(), brand=brand, user=request.user)
        except ValidationFailed as exc:
            error = " ".join(f"{name}: {m}" for name, msgs in exc.fields.items() for m in msgs)
        else:
            count = definition_count(definition, brand_id=brand.pk)
    else:
        error = " ".join(str(m) for msgs in form.errors.values() for m in msgs)
    return render(request, "marketing/_count.html", {"count": count, "error": error})


@segments_required
@require_POST
def segment_snapshot(request: AuthedRequest, code: Any) -> HttpResponse:
    try:
        segment = segment_get_for_user(request.user, code)
        services.segment_snapshot_take(
            actor=request.user, segment=segment, reason=request.POST.get("reason", "")
        )
    except (SegmentUnknown, NotAllowed):
        raise Http404 from None
    messages.success(request, _("Members recorded."))
    return redirect(reverse("marketing_segment", args=[segment.code]))
