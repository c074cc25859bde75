"""Staff pages of jurisdictions and restrictions: a brand's jurisdictions (set one, load a file, the
clients a sanctioned one restricted) and the restrictions part of a client's Compliance tab (impose,
lift). Thin: parse, authorise, call a service, render."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from compliance import selectors, services
from compliance.models import JurisdictionStatus, Restriction, RestrictionKind
from compliance.restrictions import IMPOSE_PERMISSION, LIFT_PERMISSION, VIEW_PERMISSION, staff_message
from crm.exceptions import DomainError
from crm.lib.countries import country_choices, country_name
from crm.models import Brand, Client
from crm.permissions import AuthedRequest, page_permission_required, user_can, visible_brands
from crm.views.ui import client_or_404, render_page
from crm.views.ui.forms import apply_domain_errors

VIEW_JURISDICTION = "compliance.view_jurisdiction"
MANAGE_JURISDICTION = "compliance.change_jurisdiction"


# --- forms -------------------------------------------------------------------------------------------------

class JurisdictionForm(forms.Form):
    country = forms.ChoiceField(label=_("Country"), choices=())
    region = forms.CharField(label=_("Region (ISO 3166-2, optional)"), max_length=10, required=False)
    status = forms.ChoiceField(label=_("Status"), choices=JurisdictionStatus.choices)
    effective_from = forms.DateField(label=_("In effect from"), required=False,
                                     widget=forms.DateInput(attrs={"type": "date"}))
    effective_to = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(label=_("Note"), max_length=300, required=False)

    def __init__(self, *args: Any, language: str = "en", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["country"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101 - declared above
        field.choices = country_choices(language)


class JurisdictionFileForm(forms.Form):
    file = forms.FileField(label=_("CSV file"), help_text=_(
        "Columns: country, status, and optionally region, effective_from, effective_to, note."))


class RestrictionImposeForm(forms.Form):
    kinds = forms.MultipleChoiceField(label=_("Restrict"), choices=RestrictionKind.choices,
                                      widget=forms.CheckboxSelectMultiple)
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    until = forms.DateTimeField(label=_("Until (optional)"), required=False,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


class RestrictionLiftForm(forms.Form):
    reason = forms.CharField(label=_("Why it is lifted"), max_length=2000)


# --- jurisdictions -------------------------------------------------------------------------------------------

def _brand(request: AuthedRequest, code: str | None) -> Brand:
    brands = visible_brands(request.user).order_by("name")
    brand = brands.filter(code=code).first() if code else brands.first()
    if brand is None:
        raise Http404
    return brand


def _jurisdictions_page(request: AuthedRequest, brand: Brand, *, set_form: JurisdictionForm | None = None,
                        file_form: JurisdictionFileForm | None = None, status: int = 200) -> HttpResponse:
    language = getattr(request, "LANGUAGE_CODE", "en")
    rows = selectors.jurisdictions_for_brand(brand=brand)
    today = timezone.localdate()
    return render_page(request, "compliance/jurisdictions.html", {
        "brand": brand, "brands": list(visible_brands(request.user).order_by("name")),
        "rows": [{"j": j, "name": country_name(j.country, language), "in_effect": j.in_effect(today)} for j in rows],
        "can_manage": user_can(request.user, MANAGE_JURISDICTION),
        "set_form": set_form or JurisdictionForm(language=language),
        "file_form": file_form or JurisdictionFileForm(),
    }, status=status)


@page_permission_required(VIEW_JURISDICTION)
@require_GET
def jurisdictions(request: AuthedRequest) -> HttpResponse:
    return _jurisdictions_page(request, _brand(request, request.GET.get("brand")))


@page_permission_required(MANAGE_JURISDICTION)
@require_POST
def jurisdiction_save(request: AuthedRequest, brand_code: str) -> HttpResponse:
    brand = _brand(request, brand_code)
    form = JurisdictionForm(request.POST, language=getattr(request, "LANGUAGE_CODE", "en"))
    if form.is_valid():
        data = form.cleaned_data
        try:
            row = services.jurisdiction_set(brand=brand, by=request.user, **data)
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("%(country)s is now %(status)s for %(brand)s.") % {
                "country": row.country + (f"-{row.region}" if row.region else ""),
                "status": row.get_status_display(), "brand": brand.name})
            return redirect(f"{reverse('compliance_jurisdictions')}?brand={brand.code}")
    return _jurisdictions_page(request, brand, set_form=form, status=400)


@page_permission_required(MANAGE_JURISDICTION)
@require_POST
def jurisdictions_upload(request: AuthedRequest, brand_code: str) -> HttpResponse:
    brand = _brand(request, brand_code)
    form = JurisdictionFileForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = services.jurisdictions_load(brand=brand, data=upload.read(), name=upload.name, by=request.user)
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Jurisdictions loaded: %(report)s.") % {"report": report})
            return redirect(f"{reverse('compliance_jurisdictions')}?brand={brand.code}")
    return _jurisdictions_page(request, brand, file_form=form, status=400)


@page_permission_required(VIEW_JURISDICTION)
@require_GET
def jurisdiction_clients(request: AuthedRequest, brand_code: str, country: str) -> HttpResponse:
    """The clients a sanctioned jurisdiction restricted (the list the officers are sent)."""
    brand = _brand(request, brand_code)
    country = country.upper()
    rows = selectors.clients_restricted_by(brand=brand, country=country)
    language = getattr(request, "LANGUAGE_CODE", "en")
    return render_page(request, "compliance/jurisdiction_clients.html", {
        "brand": brand, "country": country, "country_label": country_name(country, language), "rows": rows,
        "jurisdiction": selectors.jurisdiction_in_effect(brand=brand, country=country)})


# --- restrictions: the client's Compliance tab ------------------------------------------------------------

def _tab_url(client: Client) -> str:
    return f"{reverse('client_detail', args=[client.code])}?tab=compliance"


@page_permission_required(IMPOSE_PERMISSION)
@require_POST
def restriction_impose(request: AuthedRequest, code: Any) -> HttpResponse:
    client = client_or_404(request, code)
    form = RestrictionImposeForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.impose_restriction(client=client, kinds=data["kinds"], reason=data["reason"], by=request.user,
                                        until=data["until"])
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("The restriction was imposed."))
            return redirect(_tab_url(client))
    messages.error(request, "; ".join(str(m) for ms in form.errors.values() for m in ms))
    return redirect(_tab_url(client))


@page_permission_required(LIFT_PERMISSION)
@require_POST
def restriction_lift(request: AuthedRequest, code: Any) -> HttpResponse:
    row = Restriction.objects.select_related("client").filter(code=code).first()
    if row is None:
        raise Http404
    client = client_or_404(request, row.client.code)  # out of the user's scope: not found
    form = RestrictionLiftForm(request.POST)
    if form.is_valid():
        try:
            services.lift_restriction(restriction=row, reason=form.cleaned_data["reason"], by=request.user)
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("The restriction was lifted."))
            return redirect(_tab_url(client))
    messages.error(request, "; ".join(str(m) for ms in form.errors.values() for m in ms))
    return redirect(_tab_url(client))


def restrictions_tab_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    """The restrictions part of the client's Compliance tab (templates/compliance/_client_restrictions.html)."""
    now = timezone.now()
    rows = selectors.restrictions_for_client(client=client)
    language = getattr(request, "LANGUAGE_CODE", "en")
    return {
        "restriction_rows": [{"r": r, "active": r.active_at(now),
                              "expired": r.lifted_at is None and not r.active_at(now)} for r in rows],
        "restriction_can_impose": user_can(request.user, IMPOSE_PERMISSION),
        "restriction_can_lift": user_can(request.user, LIFT_PERMISSION),
        "restriction_form": RestrictionImposeForm(),
        "client_jurisdictions": selectors.jurisdictions_of_country(brand=client.brand_id, country=client.country),
        "client_country_label": country_name(client.country, language) if client.country else "",
        "today": timezone.localdate(),
    }


def _compliance_tab_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    """The whole tab: the restrictions and jurisdiction here, the screening hits, the risk score, the
    cases (each part checks its own permission: finance sees the restrictions, not the hits, the risk
    nor the cases)."""
    from compliance.cases_views import cases_tab_context
    from compliance.retention_views import erasure_tab_context
    from compliance.screening_views import screening_tab_context
    from compliance.views_risk import risk_tab_context

    return {**restrictions_tab_context(request, client), **screening_tab_context(request, client),
            **risk_tab_context(request, client), **cases_tab_context(request, client),
            **erasure_tab_context(request, client)}


def _restriction_summary(event: Any) -> str:
    """What the client may not do (or may again), never why: the timeline is the sales floor's (the
    reason names a case, a list or a country; it is on the Compliance tab)."""
    data = event.data if isinstance(event.data, dict) else {}
    return staff_message(str(data.get("kind", "")), lifted=event.name == "compliance.restriction_lifted")


def ui_contributions() -> dict[str, Any]:
    """The client's Compliance tab (the restrictions part; the screening part sits beside it) and the
    timeline labels of the restriction events."""
    from crm.registry import ClientTab, TimelineKind

    return {
        "tabs": [ClientTab(key="compliance", label=_("Compliance"), template="compliance/client_tab.html",
                           order=24, permission=VIEW_PERMISSION, context=_compliance_tab_context)],
        "timeline": [TimelineKind("compliance.restriction_imposed", _("Restriction imposed"), "alert", _restriction_summary),
                     TimelineKind("compliance.restriction_lifted", _("Restriction lifted"), "shield", _restriction_summary)],
    }

