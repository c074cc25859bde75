"""Staff pages of the client risk score and the compliance trail export: the risk part of a client's
Compliance tab (the current score, each factor's contribution, the history; an officer records a
review), the brand's risk model (its versions; an officer saves a new one), and the Compliance trail
page (start an export, follow its job, download the ZIP). Thin: parse, authorise, call a service, render."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from compliance.models import RiskModel
from compliance.risk import (
    CONFIGURE_PERMISSION,
    FACTORS,
    RECOMPUTE_PERMISSION,
    VIEW_PERMISSION,
    risk_history,
    risk_model_save,
    risk_model_settings,
    risk_score_compute,
)
from compliance.trail import EXPORT_PERMISSION, SECTIONS, trail_export_request, trail_exports_for
from crm.exceptions import DomainError
from crm.models import Brand, Client
from crm.permissions import (
    AuthedRequest,
    client_queryset_for_user,
    page_permission_required,
    user_can,
    visible_brands,
)
from crm.views.ui import client_or_404, render_page
from crm.views.ui.forms import apply_domain_errors

HISTORY_SHOWN = 50


# --- the client's Compliance tab ---------------------------------------------------------------------

def risk_tab_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    """The risk part of the Compliance tab, for those who may see risk scores (None for others)."""
    if not user_can(request.user, VIEW_PERMISSION):
        return {"risk_rows": None}
    rows = list(risk_history(client=client)[:HISTORY_SHOWN])
    return {"risk_rows": rows, "risk_current": rows[0] if rows else None,
            "risk_can_review": user_can(request.user, RECOMPUTE_PERMISSION),
            # The client's compliance trail is started from here (no code to copy into the export's page).
            "trail_can_export": user_can(request.user, EXPORT_PERMISSION)}


@page_permission_required(RECOMPUTE_PERMISSION)
@require_POST
def risk_review(request: AuthedRequest, code: Any) -> HttpResponse:
    """An officer's periodic review: the score is recorded again, and the next review dated from today."""
    client = client_or_404(request, code)
    try:
        row = risk_score_compute(client_id=client.pk, trigger="review", actor=request.user, review=True)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        if row is not None:
            messages.success(request, gettext("Risk recorded: %(band)s (%(points)s points); next review %(due)s.") % {
                "band": row.get_band_display(), "points": row.score, "due": row.review_due})
    return redirect(f"{reverse('client_detail', args=[client.code])}?tab=compliance")


# --- the brand's risk model ----------------------------------------------------------------------------

class RiskModelForm(forms.Form):
    factors = forms.CharField(label=_("Factors (JSON: factor, then its parameters and points)"),
                              widget=forms.Textarea(attrs={"rows": 18, "dir": "ltr", "spellcheck": "false"}))
    medium_from = forms.IntegerField(label=_("Medium risk from (points)"), min_value=0)
    high_from = forms.IntegerField(label=_("High risk from (points)"), min_value=0)
    review_months_low = forms.IntegerField(label=_("Review low risk every (months)"), min_value=1, max_value=120)
    review_months_medium = forms.IntegerField(label=_("Review medium risk every (months)"), min_value=1,
                                              max_value=120)
    review_months_high = forms.IntegerField(label=_("Review high risk every (months)"), min_value=1, max_value=120)
    note = forms.CharField(label=_("What changed"), max_length=300, required=False)

    def clean_factors(self) -> Any:
        try:
            value = json.loads(self.cleaned_data["factors"])
        except ValueError as exc:
            raise forms.ValidationError(gettext("This is not valid JSON: %(error)s") % {"error": exc}) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(gettext("Give an object: {factor: {parameter: value}}."))
        return value


def _brand(request: AuthedRequest, code: str | None) -> Brand:
    brands = visible_brands(request.user).order_by("name")
    brand = brands.filter(code=code).first() if code else brands.first()
    if brand is None:
        raise Http404
    return brand


def _model_initial(brand: Brand) -> dict[str, Any]:
    settings = risk_model_settings(brand=brand)
    return {"factors": json.dumps(settings.factors, indent=2, ensure_ascii=False, sort_keys=True),
            "medium_from": settings.medium_from, "high_from": settings.high_from,
            **{f"review_months_{b}": m for b, m in settings.review_months.items()}}


@page_permission_required("compliance.view_riskmodel")
@require_http_methods(["GET", "POST"])
def risk_model(request: AuthedRequest) -> HttpResponse:
    brand = _brand(request, request.GET.get("brand") or request.POST.get("brand"))
    form = RiskModelForm(initial=_model_initial(brand))
    status = 200
    if request.method == "POST":
        if not user_can(request.user, CONFIGURE_PERMISSION):
            raise Http404
        form = RiskModelForm(request.POST)
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                row = risk_model_save(brand=brand, by=request.user, factors=data["factors"],
                                      medium_from=data["medium_from"], high_from=data["high_from"],
                                      review_months={b: data[f"review_months_{b}"] for b in ("low", "medium", "high")},
                                      note=data["note"])
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, gettext("Risk model version %(v)s saved for %(brand)s.") % {
                    "v": row.version, "brand": brand.name})
                return redirect(f"{reverse('compliance_risk_model')}?brand={brand.code}")
    versions = RiskModel.objects.filter(brand=brand).select_related("created_by").order_by("-version")[:20]
    return render_page(request, "compliance/risk_model.html", {
        "brand": brand, "brands": list(visible_brands(request.user).order_by("name")), "form": form,
        "versions": versions, "can_configure": user_can(request.user, CONFIGURE_PERMISSION),
        "factor_labels": [(k, f.label) for k, f in sorted(FACTORS.items(), key=lambda kv: kv[1].order)],
    }, status=status)


# --- the compliance trail export ----------------------------------------------------------------------

class TrailForm(forms.Form):
    brand = forms.ChoiceField(label=_("Brand"), choices=())
    client = forms.CharField(label=_("Client (code; empty: every client of the brand)"), max_length=64,
                             required=False)
    start = forms.DateField(label=_("First day"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("Last day"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, brands: list[Brand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["brand"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101 - declared above
        field.choices = [(b.code, b.name) for b in brands]


def _trail_page(request: AuthedRequest, form: TrailForm, *, status: int = 200) -> HttpResponse:
    return render_page(request, "compliance/trail.html", {
        "form": form, "exports": list(trail_exports_for(user=request.user)[:50]),
        "sections": [s.title for s in sorted(SECTIONS.values(), key=lambda s: (s.order, s.key))],
    }, status=status)


@page_permission_required(EXPORT_PERMISSION)
@require_GET
def trail(request: AuthedRequest) -> HttpResponse:
    brands = list(visible_brands(request.user).order_by("name"))
    initial = {"client": request.GET.get("client", ""), "brand": request.GET.get("brand", "")}
    return _trail_page(request, TrailForm(brands=brands, initial=initial))


@page_permission_required(EXPORT_PERMISSION)
@require_POST
def trail_start(request: AuthedRequest) -> HttpResponse:
    brands = list(visible_brands(request.user).order_by("name"))
    form = TrailForm(request.POST, brands=brands)
    if form.is_valid():
        data = form.cleaned_data
        brand = next(b for b in brands if b.code == data["brand"])
        client = None
        if data["client"]:
            client = client_queryset_for_user(request.user).filter(brand=brand, code=_uuid(data["client"])).first() \
                if _uuid(data["client"]) else None
            if client is None:
                form.add_error("client", gettext("No client of this brand has this code."))
        if not form.errors:
            try:
                row = trail_export_request(actor=request.user, brand=brand, client=client, start=data["start"],
                                           end=data["end"])
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, gettext("The export is being built; it appears below when it is ready."))
                if row.job is not None:
                    return redirect(reverse("job_detail", args=[row.job.code]))
                return redirect(reverse("compliance_trail"))
    return _trail_page(request, form, status=400)


def _uuid(text: str) -> Any:
    import uuid

    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None
