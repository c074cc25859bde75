"""Pages of segments: list and editor with a live count (htmx), CSV export (a background job: its page shows progress and the link)."""

from __future__ import annotations

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

from crm.exceptions import ValidationFailed
from crm.models import Brand
from crm.permissions import AuthedRequest
from crm.views.ui.forms import apply_domain_errors
from leads import segments
from leads.models import Segment
from leads.permissions import may_assign_leads
from leads.sales_forms import SegmentForm


def segment_manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapper(request: AuthedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_assign_leads(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _brands(request: AuthedRequest) -> Any:
    user = request.user
    if user.is_administrator or user.all_brands:
        return Brand.objects.all()
    return user.brands.all()


def _segment_or_404(request: AuthedRequest, code: Any) -> Segment:
    segment = segments.segments_for(user=request.user).filter(code=code).first()
    if segment is None:
        raise Http404
    return segment


def _initial(segment: Segment) -> dict[str, Any]:
    d = segment.definition or {}
    return {"brand": segment.brand, "name": segment.name, "stages": d.get("stages", []),
            **{k: " ".join(d.get(k, [])) for k in ("countries", "languages", "tags", "pipeline_statuses")},
            "registered_from": d.get("registered_from"), "registered_to": d.get("registered_to")}


def _save(request: AuthedRequest, form: SegmentForm, segment: Segment | None) -> Segment | None:
    if not form.is_valid():
        return None
    try:
        return segments.segment_save(actor=request.user, brand=form.cleaned_data["brand"],
                                     name=form.cleaned_data["name"], definition=form.definition(), segment=segment)
    except ValidationFailed as error:
        apply_domain_errors(form, error)
        return None


@segment_manager_required
@require_http_methods(["GET", "POST"])
def segment_list(request: AuthedRequest) -> HttpResponse:
    form = SegmentForm(request.POST or None, brands=_brands(request))
    if request.method == "POST":
        saved = _save(request, form, None)
        if saved is not None:
            messages.success(request, _("Segment saved."))
            return redirect(reverse("lead_segment_edit", args=[saved.code]))
    rows = [(s, segments.segment_clients(segment=s, user=request.user).count())
            for s in segments.segments_for(user=request.user).order_by("brand__name", "name")]
    return render(request, "leads/sales/segments.html", {"rows": rows, "form": form, "count": None},
                  status=422 if form.errors else 200)


@segment_manager_required
@require_http_methods(["GET", "POST"])
def segment_edit(request: AuthedRequest, code: Any) -> HttpResponse:
    segment = _segment_or_404(request, code)
    form = SegmentForm(request.POST or None, brands=_brands(request), initial=_initial(segment))
    if request.method == "POST":
        if _save(request, form, segment) is not None:
            messages.success(request, _("Segment saved."))
            return redirect(reverse("lead_segment_edit", args=[segment.code]))
    context = {"segment": segment, "form": form, "count": segments.segment_clients(segment=segment, user=request.user).count(),
               "exports": list(segments.segment_exports_for(user=request.user, segment=segment)[:10])}
    return render(request, "leads/sales/segment_edit.html", context, status=422 if form.errors else 200)


@segment_manager_required
@require_POST
def segment_count(request: AuthedRequest) -> HttpResponse:
    """The live count of the filters being edited (htmx), without saving them."""
    form = SegmentForm(request.POST, brands=_brands(request))
    count, error = None, ""
    if form.is_valid():
        try:
            definition = segments.definition_clean(form.definition(), brand=form.cleaned_data["brand"])
        except ValidationFailed as exc:
            error = " ".join(m for msgs in exc.fields.values() for m in msgs)
        else:
            count = segments.definition_clients(brand=form.cleaned_data["brand"], definition=definition,
                                                user=request.user).count()
    else:
        error = " ".join(str(m) for msgs in form.errors.values() for m in msgs)
    return render(request, "leads/sales/_segment_count.html", {"count": count, "error": error})


@segment_manager_required
@require_POST
def segment_export(request: AuthedRequest, code: Any) -> HttpResponse:
    segment = _segment_or_404(request, code)
    job = segments.segment_export_request(actor=request.user, segment=segment)
    return redirect(reverse("job_detail", args=[job.code]))
