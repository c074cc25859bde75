"""Monitoring's settings page, for the monitoring administrator (monitoring.change_monitoringsettings):
per brand, whose restriction from monitoring needs two reviewers (MonitoringSettings.restriction_four_eyes,
read by monitoring.review.services.RESTRICTION_APPROVAL). Every save is audited
("monitoring.restriction_four_eyes_saved", before and after)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from crm.exceptions import DomainError
from crm.permissions import AuthedRequest, page_permission_required
from crm.views.ui import render_page
from crm.views.ui.forms import apply_domain_errors
from monitoring.models import SubjectKind
from monitoring.permissions import brands_for
from monitoring.services import SETTINGS_PERMISSION, monitoring_four_eyes_save, monitoring_settings_for


class FourEyesForm(forms.Form):
    kinds = forms.MultipleChoiceField(label=_("Restricting these takes two reviewers"), required=False,
                                      choices=SubjectKind.choices, widget=forms.CheckboxSelectMultiple)


@page_permission_required(SETTINGS_PERMISSION)
@require_http_methods(["GET", "POST"])
def monitoring_settings_page(request: AuthedRequest) -> HttpResponse:
    """Each brand the administrator works with and its four-eyes rule for restrictions; a POST saves one
    brand's (`brand`: its code; a brand outside the user's is a 404)."""
    brands = list(brands_for(request.user).order_by("name"))
    failed: dict[int, FourEyesForm] = {}
    if request.method == "POST":
        brand = next((b for b in brands if b.code == request.POST.get("brand", "")), None)
        if brand is None:
            raise Http404
        form = FourEyesForm(request.POST)
        if form.is_valid():
            try:
                monitoring_four_eyes_save(brand=brand, kinds=form.cleaned_data["kinds"], actor=request.user)
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, gettext("Saved for %(brand)s.") % {"brand": brand.name})
                return redirect("monitoring_settings")
        failed[brand.pk] = form
    rows: list[dict[str, Any]] = []
    for brand in brands:
        kinds = monitoring_settings_for(brand.pk).restriction_four_eyes or []
        rows.append({"brand": brand, "form": failed.get(brand.pk) or FourEyesForm(initial={"kinds": kinds})})
    return render_page(request, "monitoring/settings.html", {"rows": rows}, status=400 if failed else 200)
