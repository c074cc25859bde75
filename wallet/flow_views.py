"""Finance's money-flow page: deposits and withdrawals per provider and day, open breaks by age."""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from crm.permissions import AuthedRequest, page_permission_required
from crm.views.ui import render_page
from wallet.flows import MAX_DAYS, money_flows, open_breaks_by_age


class FlowFilter(forms.Form):
    days = forms.TypedChoiceField(label=_("Period"), coerce=int, required=False, initial=30,
                                  choices=[(7, _("7 days")), (30, _("30 days")), (MAX_DAYS, _("92 days"))])
    currency = forms.CharField(label=_("Currency"), required=False, max_length=10)


@require_GET
@page_permission_required("wallet.view_deposit")
def money_flow(request: AuthedRequest) -> HttpResponse:
    form = FlowFilter(request.GET or None)
    days, currency = 30, ""
    if form.is_valid():
        days = form.cleaned_data.get("days") or 30
        currency = (form.cleaned_data.get("currency") or "").upper()
    flows = money_flows(user=request.user, days=days, currency=currency)
    return render_page(request, "wallet/flows/page.html", {
        "form": form, "flows": flows, "days": days, "breaks": open_breaks_by_age(user=request.user),
        "chart_data": {**flows.chart(), "breaks": open_breaks_by_age(user=request.user)}})
