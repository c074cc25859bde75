"""Pages of the sales desk: the profile's Calls tab (log a call, reveal and dial, move the pipeline
status), the telephony webhook, and the agent's workspace with saved views."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import services as crm_services
from crm.exceptions import DomainError, NotAllowed, NotFound, ValidationFailed
from crm.lib.webhooks import webhook_request
from crm.models import Client, RoleCode
from crm.permissions import AuthedRequest, contact_reveal_remember, contact_revealed, user_can
from crm.views.staff import administrator_required
from crm.views.ui import client_or_404, raise_for_domain_error, render_page
from crm.views.ui.forms import apply_domain_errors
from leads import calls, kpis, pipeline, workspace
from leads.models import Call, CallOutcome, Campaign, PipelineStatus
from leads.sales_forms import (
    CallLogForm,
    CampaignCostForm,
    KpiPeriodForm,
    PipelineMoveForm,
    PipelineStatusForm,
    SavedViewForm,
    WorkspaceFilterForm,
)

logger = logging.getLogger(__name__)
CALLS_SHOWN = 50
WORKSPACE_PAGE = 50


# --- the profile's Calls tab -------------------------------------------------------------------


def calls_tab_context(request: AuthedRequest, client: Client, **extra: Any) -> dict[str, Any]:
    statuses = pipeline.pipeline_statuses(brand_id=client.brand_id)
    current = pipeline.pipeline_status_of(client=client)
    context = {
        "client": client,
        "calls": list(Call.objects.filter(client_id=client.pk).select_related("agent")[:CALLS_SHOWN]),
        "call_form": CallLogForm(),
        "pipeline_statuses": statuses,
        "pipeline_current": current,
        "pipeline_form": PipelineMoveForm(statuses=statuses, initial={"status": current.key if current else ""}),
        "can_log_call": user_can(request.user, "crm.change_client"),
        "can_reveal": user_can(request.user, "crm.reveal_contact"),
        "dial_phone": "",
        "dial_url": "",
    }
    # A phone revealed earlier in the visit (in the header or here) stays shown, ready to dial.
    phone = contact_revealed(session=request.session, user=request.user, client=client).get("phone")
    if phone:
        context.update(_dial(request, client, phone))
    context.update(extra)
    return context


def _dial(request: AuthedRequest, client: Client, phone: str) -> dict[str, str]:
    template = calls.click_to_call_template(brand_id=client.brand_id)
    url = calls.click_to_call_url(template=template, phone=phone, extension=request.user.phone_extension)
    return {"dial_phone": phone, "dial_url": url or f"tel:{phone}"}


def _calls_panel(request: AuthedRequest, client: Client, **extra: Any) -> HttpResponse:
    context = calls_tab_context(request, client, **extra)
    if getattr(request, "htmx", None):
        return render_page(request, "leads/sales/calls_tab.html", context, partial="calls-panel")
    return redirect(f"{reverse('client_detail', args=[client.code])}?tab=calls")


@login_required
@require_POST
def call_log_view(request: AuthedRequest, code: Any) -> HttpResponse:
    client = client_or_404(request, code)
    form = CallLogForm(request.POST)
    if form.is_valid():
        try:
            calls.call_log(actor=request.user, client=client, outcome=form.cleaned_data["outcome"],
                           direction=form.cleaned_data["direction"],
                           duration_seconds=form.cleaned_data["duration"], notes=form.cleaned_data["notes"])
        except NotAllowed as error:
            raise_for_domain_error(error)
        except ValidationFailed as error:
            apply_domain_errors(form, error, aliases={"duration_seconds": "duration"})
        else:
            messages.success(request, _("Call logged."))
            return _calls_panel(request, client)
    # 200 with the errors: htmx swaps only successful responses.
    return _calls_panel(request, client, call_form=form)


@login_required
@require_POST
def call_dial_view(request: AuthedRequest, code: Any) -> HttpResponse:
    """Reveal the phone (logged by the core) and show it with its click-to-call link."""
    client = client_or_404(request, code)
    try:
        phone = crm_services.client_contact_reveal(actor=request.user, client=client, field="phone")
    except (NotAllowed, NotFound) as error:
        raise_for_domain_error(error)
        raise
    contact_reveal_remember(session=request.session, client=client, field="phone")
    return _calls_panel(request, client, **_dial(request, client, phone))


@login_required
@require_POST
def pipeline_move_view(request: AuthedRequest, code: Any) -> HttpResponse:
    client = client_or_404(request, code)
    statuses = pipeline.pipeline_statuses(brand_id=client.brand_id)
    form = PipelineMoveForm(request.POST, statuses=statuses)
    if form.is_valid():
        try:
            pipeline.pipeline_move(actor=request.user, client=client, status=form.cleaned_data["status"],
                                   reason=form.cleaned_data["reason"])
        except NotAllowed as error:
            raise_for_domain_error(error)
        except ValidationFailed as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, _("Status changed."))
            return _calls_panel(request, client)
    return _calls_panel(request, client, pipeline_form=form)


# --- telephony webhook ---------------------------------------------------------------------------


@csrf_exempt
@require_POST
def telephony_webhook(request: HttpRequest, provider: str) -> JsonResponse:
    """A provider's call event, through the webhook inbox (leads.calls: stored, signature-checked,
    deduplicated, applied)."""
    receipt = calls.telephony_webhook_receive(provider=provider, **webhook_request(request))
    status, answer = calls.telephony_webhook_answer(receipt, request.body)
    return JsonResponse(answer, status=status)


# --- the agent's workspace -----------------------------------------------------------------------


def _status_choices() -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for key, label in PipelineStatus.objects.filter(is_active=True).order_by("order", "id").values_list("key", "label"):
        seen.setdefault(key, _(label))  # the default statuses' labels in the reader's language
    return list(seen.items())


@login_required
@require_GET
def lead_workspace(request: AuthedRequest) -> HttpResponse:
    if not user_can(request.user, "crm.add_client"):
        raise PermissionDenied  # roles that do not work clients have no leads of their own
    form = WorkspaceFilterForm(request.GET or None, status_choices=_status_choices())
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v}
    clients = workspace.workspace_clients(user=request.user, **filters)
    page = Paginator(clients, WORKSPACE_PAGE).get_page(request.GET.get("page"))
    query = workspace.saved_view_query(request.GET.urlencode())
    context = {
        "form": form, "page": page, "clients": page.object_list, "query": query,
        "outcome_labels": dict(CallOutcome.choices),
        "saved_views": workspace.saved_views(user=request.user),
        "save_form": SavedViewForm(initial={"query": query}),
    }
    return render_page(request, "leads/sales/workspace.html", context, partial="workspace-table")


@login_required
@require_POST
def saved_view_save_view(request: AuthedRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    if form.is_valid():
        try:
            view = workspace.saved_view_save(user=request.user, name=form.cleaned_data["name"],
                                             query=form.cleaned_data["query"])
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("View saved."))
            return redirect(f"{reverse('lead_workspace')}?{view.query}" if view.query else reverse("lead_workspace"))
    else:
        messages.error(request, _("Name the view."))
    return redirect(reverse("lead_workspace"))


@login_required
@require_POST
def saved_view_delete_view(request: AuthedRequest, view_id: int) -> HttpResponse:
    if not workspace.saved_view_delete(user=request.user, view_id=view_id):
        raise Http404
    messages.success(request, _("View deleted."))
    return redirect(reverse("lead_workspace"))


# --- sales KPIs and marketing ROI ----------------------------------------------------------------


def _kpi_context(request: AuthedRequest, cost_form: Any = None) -> dict[str, Any]:
    form = KpiPeriodForm(request.GET or None)
    period, start, end = "7d", None, None
    if form.is_bound and form.is_valid():
        period = form.cleaned_data.get("period") or "7d"
        start, end = form.cleaned_data.get("start"), form.cleaned_data.get("end")
    tz = timezone.get_current_timezone()
    begin, finish, first, last = kpis.period_bounds(period=period, tz=tz, start=start, end=end)
    report = kpis.sales_kpis(user=request.user, start=begin, end=finish, tz=tz)
    by_campaign, by_source = kpis.marketing_roi(user=request.user, start=begin, end=finish, first_day=first,
                                                last_day=last)
    show_roi = request.user.is_administrator or request.user.role_code == RoleCode.DESK_MANAGER
    brands = kpis.roi_brands(user=request.user)
    chart = {
        "labels": report.daily["labels"],
        "series": [
            {"label": _("Leads received"), "data": report.daily["received"]},
            {"label": _("Contacted"), "data": report.daily["contacted"]},
            {"label": _("Calls"), "data": report.daily["calls"]},
        ],
        "agents": {"labels": [r.label for r in report.agents],
                   "received": [r.received for r in report.agents], "contacted": [r.contacted for r in report.agents]},
    }
    return {
        "form": form, "report": report, "first_day": first, "last_day": last, "show_roi": show_roi,
        "by_campaign": by_campaign, "by_source": by_source, "chart_data": chart,
        "can_add_cost": request.user.is_administrator,
        "cost_form": cost_form or CampaignCostForm(campaigns=Campaign.objects.filter(brand__in=brands)),
    }



@login_required
@require_GET
def sales_kpis(request: AuthedRequest) -> HttpResponse:
    return render_page(request, "leads/sales/kpis.html", _kpi_context(request), partial="kpi-body")


@login_required
@require_POST
def campaign_cost_add_view(request: AuthedRequest) -> HttpResponse:
    if not request.user.is_administrator:
        raise Http404
    form = CampaignCostForm(request.POST, campaigns=Campaign.objects.all())
    if form.is_valid():
        try:
            kpis.campaign_cost_add(actor=request.user, **form.cleaned_data)
        except ValidationFailed as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, _("Campaign cost recorded."))
            return redirect(reverse("sales_kpis") + ("?" + request.GET.urlencode() if request.GET else ""))
    return render_page(request, "leads/sales/kpis.html", _kpi_context(request, cost_form=form), status=422)


# --- pipeline configuration (administrators) -------------------------------------------------------


@administrator_required
@require_http_methods(["GET", "POST"])
def pipeline_settings(request: AuthedRequest) -> HttpResponse:
    """Every brand's statuses; the form creates a status or, for an existing key, changes it."""
    from crm.models import Brand

    form = PipelineStatusForm(request.POST or None, brands=Brand.objects.order_by("name"))
    if request.method == "POST" and form.is_valid():
        try:
            pipeline.pipeline_status_save(actor=request.user, **form.cleaned_data)
        except ValidationFailed as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, _("Pipeline status saved."))
            return redirect(reverse("lead_pipeline_settings"))
    statuses = PipelineStatus.objects.select_related("brand").order_by("brand__name", "order", "id")
    return render_page(request, "leads/sales/pipeline_settings.html", {"statuses": statuses, "form": form},
                       status=422 if form.errors else 200)
