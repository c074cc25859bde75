"""Pages of lead acquisition.

- The public lead form of each brand (/f/<brand>/lead/): a standalone page that landing pages
  embed in an iframe. It is exempt from X-Frame-Options and from CSRF: a third-party iframe does
  not send our SameSite cookies, so the CSRF cookie cannot work there. In their place: a signed,
  expiring form token bound to the brand, a honeypot field and a per-IP rate limit in Redis.
- Staff: spreadsheet imports, the reassignment queue, merging duplicates.
- Administrators: campaigns, scoring rules, routing rules, desk SLAs, agent availability, telephony
  providers (their webhook secret is shown once, when made).
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from crm import jobs
from crm.exceptions import DomainError, ValidationFailed
from crm.lib.csp import csp_exception
from crm.lib.middleware import client_ip
from crm.lib.public_url import public_url
from crm.lib.ratelimit import rate_hit, rate_key
from crm.models import Brand, Desk
from crm.permissions import AuthedRequest, client_queryset_for_user
from crm.services import access_export_record, access_search_record
from crm.views.jobs import job_context
from crm.views.staff import administrator_required
from crm.views.ui import client_or_404, render_page
from crm.views.ui.forms import apply_domain_errors
from leads import selectors, services
from leads.forms import (
    AvailabilityForm,
    CampaignForm,
    DeskSlaForm,
    ImportMappingForm,
    ImportUploadForm,
    MergeForm,
    ReassignForm,
    RoutingRuleForm,
    ScoringRuleForm,
    TelephonyProviderForm,
)
from leads.imports import (
    PREVIEW_ROWS,
    RESTARTABLE,
    lead_import_create,
    lead_import_preview,
    lead_import_set_mapping,
    lead_import_start,
)
from leads.intake import LEAD_FIELDS, IntakeMeta
from leads.models import (
    AgentAvailability,
    Campaign,
    Channel,
    DeskSla,
    LeadImport,
    RoutingRule,
    ScoringRule,
    TelephonyProvider,
)
from leads.permissions import may_assign_leads
from leads.public_form import (
    CONSENT_TEXT_VERSION,
    FORM_EXPIRED,
    PublicLeadForm,
    attribution_from_query,
    form_token,
    form_token_valid,
)
from leads.telephony import (
    ProviderWithSecret,
    telephony_provider_create,
    telephony_provider_rotate_secret,
    telephony_provider_set_active,
    telephony_provider_update,
)
from plumbing.csvsafe import SafeCsvWriter

logger = logging.getLogger(__name__)


# --- the public lead form ----------------------------------------------------------------------


def _public_language(request: HttpRequest) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    wanted = (request.GET.get("lang") or request.POST.get("lang") or "").strip().lower()
    if wanted in codes:
        return wanted
    return translation.get_language_from_request(request)


def _rate_limited(request: HttpRequest) -> int:
    """Seconds to wait if this IP has sent too many forms in the current window, else 0."""
    return rate_hit(rate_key("leads:form:rate", client_ip(request) or "unknown"), settings.LEADS_FORM_RATE_LIMIT)


def _public_context(request: HttpRequest, brand: Brand, **extra: Any) -> dict[str, Any]:
    params = request.GET.copy()
    params.pop("lang", None)
    return {"brand": brand, "query_without_lang": params.urlencode(), **extra}


_EMBEDDABLE = csp_exception(
    "Landing pages embed the public lead form in an iframe: the sites in LEAD_FORM_FRAME_ANCESTORS may frame it.",
    frame_ancestors=settings.LEAD_FORM_FRAME_ANCESTORS,
)


@_EMBEDDABLE
@xframe_options_exempt
@csrf_exempt
@require_http_methods(["GET", "POST"])
def lead_form(request: HttpRequest, brand_code: str) -> HttpResponse:
    brand = get_object_or_404(Brand, code=brand_code, is_active=True)
    with translation.override(_public_language(request)):
        status = 200
        if request.method == "POST":
            retry_after = _rate_limited(request)
            if retry_after:
                response = render(request, "leads/public/rate_limited.html",
                                  _public_context(request, brand, retry_after=retry_after), status=429)
                response["Retry-After"] = str(retry_after)
                return response
            form = PublicLeadForm(request.POST)
            if form.is_bot:
                logger.info("lead form honeypot filled", extra={"brand": brand.code})
                return redirect(_thanks_url(brand))
            if not form_token_valid(request.POST.get("form_token", ""), brand):
                form.is_valid()
                form.add_error(None, FORM_EXPIRED)
            elif form.is_valid():
                meta = IntakeMeta(ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", ""),
                                  default_source="web_form", consent_text_version=CONSENT_TEXT_VERSION)
                data = form.lead_data()
                # The language the visitor filled the form in is the one to call and write to them in.
                data["language"] = data.get("language") or translation.get_language()
                try:
                    services.lead_intake(brand=brand, data=data, channel=Channel.FORM, meta=meta)
                except ValidationFailed as error:
                    apply_domain_errors(form, error)
                else:
                    return redirect(_thanks_url(brand))
            status = 400
        else:
            initial = attribution_from_query(request.GET, request.META.get("HTTP_REFERER", ""))
            country = (request.GET.get("country") or "").upper()
            if country:
                initial["country"] = country
            form = PublicLeadForm(initial=initial)
        return render(request, "leads/public/form.html",
                      _public_context(request, brand, form=form, token=form_token(brand)), status=status)


def _thanks_url(brand: Brand) -> str:
    return f"{reverse('lead_form_thanks', args=[brand.code])}?{urlencode({'lang': translation.get_language()})}"


@_EMBEDDABLE
@xframe_options_exempt
@require_http_methods(["GET"])
def lead_form_thanks(request: HttpRequest, brand_code: str) -> HttpResponse:
    brand = get_object_or_404(Brand, code=brand_code, is_active=True)
    with translation.override(_public_language(request)):
        return render(request, "leads/public/thanks.html", _public_context(request, brand))


# --- staff: access ----------------------------------------------------------------------------------


def assigner_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, with "crm.assign_client" (administrators, desk managers); everyone else gets 404."""

    @functools.wraps(view)
    @login_required
    def wrapper(request: AuthedRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not may_assign_leads(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


# --- imports ---------------------------------------------------------------------------------------


def _import_or_404(request: HttpRequest, code: Any) -> LeadImport:
    found = selectors.lead_imports_for(user=request.user).filter(code=code).first()
    if found is None:
        raise Http404
    return found


@assigner_required
@require_http_methods(["GET", "POST"])
def lead_import_list(request: AuthedRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            lead_import = lead_import_create(actor=request.user, brand=form.cleaned_data["brand"],
                                             filename=upload.name, content=upload.read())
        except ValidationFailed as error:
            apply_domain_errors(form, error)
        else:
            return redirect("lead_import_map", lead_import.code)
    page = Paginator(selectors.lead_imports_for(user=request.user), 25).get_page(request.GET.get("page"))
    return render(request, "leads/imports/list.html", {"form": form, "page_obj": page, "imports": page.object_list},
                  status=400 if form.errors else 200)


@assigner_required
@require_http_methods(["GET", "POST"])
def lead_import_map(request: AuthedRequest, code: Any) -> HttpResponse:
    lead_import = _import_or_404(request, code)
    if lead_import.status != "uploaded":
        return redirect("lead_import_detail", lead_import.code)
    form = ImportMappingForm(request.POST or None, headers=lead_import.headers, mapping=lead_import.mapping,
                             initial={"default_source": lead_import.default_source or "import",
                                      "default_campaign": lead_import.default_campaign})
    if request.method == "POST" and form.is_valid():
        try:
            lead_import_set_mapping(actor=request.user, lead_import=lead_import, mapping=form.mapping(),
                                    default_source=form.cleaned_data["default_source"],
                                    default_campaign=form.cleaned_data["default_campaign"])
        except ValidationFailed as error:
            apply_domain_errors(form, error)
        else:
            return redirect("lead_import_preview", lead_import.code)
    return render(request, "leads/imports/map.html", {"lead_import": lead_import, "form": form},
                  status=400 if form.errors else 200)


@assigner_required
@require_http_methods(["GET", "POST"])
def lead_import_preview_view(request: AuthedRequest, code: Any) -> HttpResponse:
    lead_import = _import_or_404(request, code)
    if request.method == "POST":
        try:
            lead_import_start(actor=request.user, lead_import=lead_import)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            return redirect("lead_import_detail", lead_import.code)
    preview = lead_import_preview(lead_import=lead_import)
    fields = [name for name in LEAD_FIELDS if name in set(lead_import.mapping.values())]
    return render(request, "leads/imports/preview.html", {
        "lead_import": lead_import, "preview": preview, "fields": fields, "preview_rows": PREVIEW_ROWS,
        "labels": LEAD_FIELDS,
    })


@assigner_required
def lead_import_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    lead_import = _import_or_404(request, code)
    job = jobs.job_liveness_check(lead_import.job) if lead_import.job is not None else None
    finished = job.is_finished if job is not None else lead_import.is_finished
    errors = list(lead_import.row_errors.order_by("row_number")[:50])
    context = {"lead_import": lead_import, "row_errors": errors, "labels": LEAD_FIELDS, "finished": finished,
               "can_restart": job is not None and job.status in RESTARTABLE}
    if job is not None:
        context.update(job_context(request, job))
    return render_page(request, "leads/imports/detail.html", context, partial="import-progress")


@assigner_required
def lead_import_errors(request: AuthedRequest, code: Any) -> StreamingHttpResponse:
    """The per-row error report: row number, each field's messages, and the row as it was. An
    export of what people typed: recorded as an access event with its row count."""
    lead_import = _import_or_404(request, code)
    fields = list(LEAD_FIELDS)
    rows_total = lead_import.row_errors.count()
    access_export_record(actor=request.user, what=f"import error report: {lead_import.filename}", rows=rows_total)

    def rows() -> Any:
        buffer = io.StringIO()
        writer = SafeCsvWriter(buffer)
        writer.writerow(["row", "errors", *fields])
        yield buffer.getvalue()
        for error in lead_import.row_errors.order_by("row_number").iterator(chunk_size=500):
            buffer.seek(0)
            buffer.truncate()
            text = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in error.errors.items())
            writer.writerow([error.row_number, text, *[error.values.get(f, "") for f in fields]])
            yield buffer.getvalue()

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{lead_import.code}-errors.csv"'
    return response


# --- reassignment ------------------------------------------------------------------------------------


@assigner_required
@require_http_methods(["GET", "POST"])
def lead_assign(request: AuthedRequest) -> HttpResponse:
    agents = selectors.assignable_agents(user=request.user)
    desks = selectors.assignable_desks(user=request.user)
    form = ReassignForm(request.POST or None, agents=agents, desks=desks)
    if request.method == "POST":
        codes = request.POST.getlist("clients")
        if not codes:
            form.add_error(None, _("Tick the leads to reassign."))
        elif form.is_valid():
            clients = list(client_queryset_for_user(request.user).filter(code__in=_uuids(codes))
                           .select_related("owner", "desk", "brand").order_by("pk"))
            try:
                changed = services.lead_reassign_bulk(actor=request.user, clients=clients,
                                                      owner=form.cleaned_data["owner"], desk=form.cleaned_data["desk"],
                                                      reason=form.cleaned_data["reason"])
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, ngettext("%(count)d lead reassigned.", "%(count)d leads reassigned.",
                                                    changed) % {"count": changed})
                return redirect(request.get_full_path())
    desk_code = request.GET.get("desk", "")
    unassigned = request.GET.get("unassigned") == "1"
    leads = selectors.lead_queue(user=request.user, desk=desk_code or None, unassigned=unassigned,
                                 q=request.GET.get("q", "")[:100])
    page = Paginator(leads, 50).get_page(request.GET.get("page"))
    access_search_record(actor=request.user, where="lead queue", query=request.GET.get("q", "")[:100],
                         rows=page.paginator.count)
    return render(request, "leads/assign.html", {
        "form": form, "page_obj": page, "leads": page.object_list, "desks": desks, "desk_code": desk_code,
        "unassigned": unassigned, "q": request.GET.get("q", ""),
    }, status=400 if form.errors else 200)


def _uuids(values: list[str]) -> list[str]:
    import uuid

    out = []
    for value in values:
        try:
            out.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return out


# --- merge -------------------------------------------------------------------------------------------


@assigner_required
@require_http_methods(["GET", "POST"])
def client_merge(request: AuthedRequest, code: Any) -> HttpResponse:
    """Merge a duplicate into this client (the survivor)."""
    keep = client_or_404(request, code)
    form = MergeForm(request.POST or None, initial={"other": request.GET.get("other", "")})
    if request.method == "POST" and form.is_valid():
        other = client_queryset_for_user(request.user).filter(code=form.cleaned_data["other"]).first()
        if other is None:
            form.add_error("other", _("No client with this code is within your reach."))
        else:
            try:
                services.client_merge(actor=request.user, keep=keep, merge=other, reason=form.cleaned_data["reason"])
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, _("%(name)s was merged into this client.") % {"name": other.full_name})
                return redirect(f"{reverse('client_detail', args=[keep.code])}?tab=lead")
    return render(request, "leads/merge.html", {
        "client": keep, "form": form, "candidates": selectors.merge_candidates(user=request.user, client=keep),
    }, status=400 if form.errors else 200)


# --- administrators: configuration -----------------------------------------------------------------


def _brand_filter(request: HttpRequest) -> Brand | None:
    code = request.GET.get("brand", "")
    return Brand.objects.filter(code=code).first() if code else None


def _admin_page(request: HttpRequest, template: str, context: dict[str, Any], *, tab: str,
                status: int = 200) -> HttpResponse:
    brands = Brand.objects.filter(is_active=True)
    return render(request, template, {"tab": tab, "brands": brands, **context}, status=status)


@administrator_required
@require_http_methods(["GET", "POST"])
def campaign_list(request: AuthedRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None, initial={"is_active": True})
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_save(actor=request.user, **form.cleaned_data)
        except ValidationFailed as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, _("Campaign saved."))
            return redirect("lead_campaign_list")
    brand = _brand_filter(request)
    campaigns = Campaign.objects.select_related("brand").order_by("brand__name", "name")
    if brand is not None:
        campaigns = campaigns.filter(brand=brand)
    return _admin_page(request, "leads/settings/campaigns.html", {"form": form, "campaigns": campaigns},
                       tab="campaigns", status=400 if form.errors else 200)


@administrator_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request: AuthedRequest, brand_code: str, code: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("brand"), brand__code=brand_code, code=code)
    form = CampaignForm(request.POST or None, initial=CampaignForm.of(campaign))
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_save(actor=request.user, campaign=campaign, **form.cleaned_data)
        except ValidationFailed as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, _("Campaign saved."))
            return redirect("lead_campaign_list")
    return _admin_page(request, "leads/settings/campaign_form.html", {"form": form, "campaign": campaign},
                       tab="campaigns", status=400 if form.errors else 200)


def _save_scoring(request: AuthedRequest, form: ScoringRuleForm, rule: ScoringRule | None) -> bool:
    if not form.is_valid():
        return False
    d = form.cleaned_data
    try:
        services.scoring_rule_save(actor=request.user, brand=d["brand"], name=d["name"], kind=d["kind"],
                                   params=form.params(), points=d["points"], is_active=d["is_active"], rule=rule)
    except ValidationFailed as error:
        apply_domain_errors(form, error)
        if "params" in error.fields:
            form.add_error(None, " ".join(error.fields["params"]))
        return False
    messages.success(request, _("Scoring rule saved."))
    return True


@administrator_required
@require_http_methods(["GET", "POST"])
def scoring_rule_list(request: AuthedRequest) -> HttpResponse:
    form = ScoringRuleForm(request.POST or None, initial={"is_active": True, "points": 10})
    if request.method == "POST" and _save_scoring(request, form, None):
        return redirect("lead_scoring_list")
    rules = ScoringRule.objects.select_related("brand").order_by("brand__name", "order", "id")
    brand = _brand_filter(request)
    if brand is not None:
        rules = rules.filter(brand=brand)
    return _admin_page(request, "leads/settings/scoring.html", {"form": form, "rules": rules}, tab="scoring",
                       status=400 if form.errors else 200)


@administrator_required
@require_http_methods(["GET", "POST"])
def scoring_rule_edit(request: AuthedRequest, code: Any) -> HttpResponse:
    rule = get_object_or_404(ScoringRule.objects.select_related("brand"), code=code)
    if request.method == "POST" and request.POST.get("delete"):
        services.scoring_rule_delete(actor=request.user, rule=rule)
        messages.success(request, _("Scoring rule deleted."))
        return redirect("lead_scoring_list")
    form = ScoringRuleForm(request.POST or None, initial=ScoringRuleForm.of(rule))
    if request.method == "POST" and _save_scoring(request, form, rule):
        return redirect("lead_scoring_list")
    return _admin_page(request, "leads/settings/scoring_form.html", {"form": form, "rule": rule}, tab="scoring",
                       status=400 if form.errors else 200)


def _save_routing(request: AuthedRequest, form: RoutingRuleForm, rule: RoutingRule | None) -> bool:
    if not form.is_valid():
        return False
    d = dict(form.cleaned_data)
    brand = d.pop("brand")
    try:
        services.routing_rule_save(actor=request.user, brand=brand, rule=rule, **d)
    except ValidationFailed as error:
        apply_domain_errors(form, error)
        return False
    messages.success(request, _("Routing rule saved."))
    return True


@administrator_required
@require_http_methods(["GET", "POST"])
def routing_rule_list(request: AuthedRequest) -> HttpResponse:
    form = RoutingRuleForm(request.POST or None, initial={"is_active": True, "target_kind": "desk",
                                                          "strategy": "round_robin"})
    if request.method == "POST" and _save_routing(request, form, None):
        return redirect(request.get_full_path())
    brand = _brand_filter(request) or Brand.objects.filter(is_active=True).first()
    rules = selectors.routing_rules(brand=brand) if brand is not None else []
    return _admin_page(request, "leads/settings/routing.html", {"form": form, "rules": rules, "brand": brand},
                       tab="routing", status=400 if form.errors else 200)


@administrator_required
@require_http_methods(["GET", "POST"])
def routing_rule_edit(request: AuthedRequest, code: Any) -> HttpResponse:
    rule = get_object_or_404(RoutingRule.objects.select_related("brand", "target_agent", "target_desk"), code=code)
    back = f"{reverse('lead_routing_list')}?brand={rule.brand.code}"
    if request.method == "POST" and request.POST.get("delete"):
        services.routing_rule_delete(actor=request.user, rule=rule)
        messages.success(request, _("Routing rule deleted."))
        return redirect(back)
    form = RoutingRuleForm(request.POST or None, initial=RoutingRuleForm.of(rule))
    if request.method == "POST" and _save_routing(request, form, rule):
        return redirect(back)
    return _admin_page(request, "leads/settings/routing_form.html", {"form": form, "rule": rule}, tab="routing",
                       status=400 if form.errors else 200)


@administrator_required
@require_POST
def routing_rule_move(request: AuthedRequest, code: Any) -> HttpResponse:
    rule = get_object_or_404(RoutingRule.objects.select_related("brand"), code=code)
    try:
        services.routing_rule_move(actor=request.user, rule=rule, direction=request.POST.get("direction", ""))
    except ValidationFailed as error:
        messages.error(request, error.message)
    return redirect(f"{reverse('lead_routing_list')}?brand={rule.brand.code}")


@administrator_required
@require_POST
def routing_rule_reorder(request: AuthedRequest) -> HttpResponse:
    """Drag and drop: the new order of the brand's rules, as their codes."""
    brand = get_object_or_404(Brand, code=request.POST.get("brand", ""))
    services.routing_rules_reorder(actor=request.user, brand=brand, codes=request.POST.getlist("rule"))
    if getattr(request, "htmx", None):
        return HttpResponse(status=204)
    return redirect(f"{reverse('lead_routing_list')}?brand={brand.code}")


@administrator_required
def desk_sla_list(request: AuthedRequest) -> HttpResponse:
    desks = Desk.objects.select_related("brand", "manager", "lead_sla", "lead_sla__escalate_to").order_by(
        "brand__name", "name")
    return _admin_page(request, "leads/settings/sla.html", {"desks": desks}, tab="sla")


@administrator_required
@require_http_methods(["GET", "POST"])
def desk_sla_edit(request: AuthedRequest, code: Any) -> HttpResponse:
    desk = get_object_or_404(Desk.objects.select_related("brand", "manager"), code=code)
    sla = DeskSla.objects.filter(desk=desk).first()
    initial = {"minutes_to_first_contact": 15, "is_active": True} if sla is None else {
        "minutes_to_first_contact": sla.minutes_to_first_contact, "escalate_to": sla.escalate_to,
        "auto_reassign": sla.auto_reassign, "is_active": sla.is_active}
    form = DeskSlaForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.desk_sla_save(actor=request.user, desk=desk, **form.cleaned_data)
        except ValidationFailed as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, _("First-contact SLA saved."))
            return redirect("lead_sla_list")
    return _admin_page(request, "leads/settings/sla_form.html", {"form": form, "desk": desk}, tab="sla",
                       status=400 if form.errors else 200)


@login_required
def availability_list(request: AuthedRequest) -> HttpResponse:
    if not may_assign_leads(request.user):
        raise Http404
    rows = selectors.agent_availability_list(user=request.user)
    return _admin_page(request, "leads/settings/availability.html", {"rows": rows}, tab="availability")


@login_required
@require_http_methods(["GET", "POST"])
def availability_edit(request: AuthedRequest, code: Any) -> HttpResponse:
    agent = selectors.assignable_agents(user=request.user).filter(code=code).first()
    if agent is None:
        raise Http404
    current = AgentAvailability.objects.filter(user=agent).first()
    initial = {"status": "available"} if current is None else {
        "status": current.status, "shift_start": current.shift_start, "shift_end": current.shift_end,
        "shift_days": [str(d) for d in current.shift_days], "note": current.note}
    form = AvailabilityForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            services.agent_availability_set(actor=request.user, user=agent, status=d["status"],
                                            shift_start=d["shift_start"], shift_end=d["shift_end"],
                                            shift_days=[int(x) for x in d["shift_days"]], note=d["note"])
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, _("Availability saved."))
            return redirect("lead_availability_list")
    return _admin_page(request, "leads/settings/availability_form.html", {"form": form, "agent": agent},
                       tab="availability", status=400 if form.errors else 200)



# --- administrators: telephony providers ---------------------------------------------------------


def _provider_or_404(code: str) -> TelephonyProvider:
    return get_object_or_404(TelephonyProvider.objects.select_related("brand"), code=code)


def _secret_page(request: HttpRequest, created: ProviderWithSecret, *, rotated: bool) -> HttpResponse:
    # Rendered, not redirected: the secret is kept nowhere it could be shown from later.
    webhook_url = public_url(reverse("telephony_webhook", args=[created.provider.code]))
    return _admin_page(request, "leads/settings/telephony_secret.html", {
        "provider": created.provider, "secret": created.secret, "webhook_url": webhook_url, "rotated": rotated,
    }, tab="telephony")


@never_cache
@administrator_required
@require_http_methods(["GET", "POST"])
def telephony_provider_list(request: AuthedRequest) -> HttpResponse:
    """The providers with their webhook activity, and a form to add one (its secret is shown once)."""
    form = TelephonyProviderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = telephony_provider_create(actor=request.user, **form.cleaned_data)
        except ValidationFailed as error:
            apply_domain_errors(form, error)
        else:
            return _secret_page(request, created, rotated=False)
    return _admin_page(request, "leads/settings/telephony.html", {
        "form": form, "rows": selectors.telephony_provider_overview(),
        "default_template": getattr(settings, "CRM_CLICK_TO_CALL_TEMPLATE", ""),
    }, tab="telephony", status=400 if form.errors else 200)


@never_cache
@administrator_required
@require_http_methods(["GET", "POST"])
def telephony_provider_edit(request: AuthedRequest, code: str) -> HttpResponse:
    provider = _provider_or_404(code)
    form = TelephonyProviderForm(request.POST or None, initial=TelephonyProviderForm.of(provider), editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            telephony_provider_update(actor=request.user, provider=provider, **form.cleaned_data)
        except ValidationFailed as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, _("Telephony provider saved."))
            return redirect("lead_telephony_list")
    webhook_url = public_url(reverse("telephony_webhook", args=[provider.code]))
    return _admin_page(request, "leads/settings/telephony_form.html", {
        "form": form, "provider": provider, "webhook_url": webhook_url,
    }, tab="telephony", status=400 if form.errors else 200)


@never_cache
@administrator_required
@require_POST
def telephony_provider_rotate(request: AuthedRequest, code: str) -> HttpResponse:
    """A new secret for the provider; the old one stops working at once."""
    provider = _provider_or_404(code)
    return _secret_page(request, telephony_provider_rotate_secret(actor=request.user, provider=provider),
                        rotated=True)


@administrator_required
@require_POST
def telephony_provider_activate(request: AuthedRequest, code: str) -> HttpResponse:
    provider = _provider_or_404(code)
    active = request.POST.get("active") == "1"
    telephony_provider_set_active(actor=request.user, provider=provider, is_active=active)
    if active:
        messages.success(request, _("%(name)s is active again: its webhook is accepted.") % {"name": provider.name})
    else:
        messages.success(request, _("%(name)s is deactivated: its webhook requests are refused.")
                         % {"name": provider.name})
    return redirect("lead_telephony_list")
