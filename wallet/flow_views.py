"""Finance's money-flow page: deposits and withdrawals per provider and day, open breaks by age."""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from crm.permissions import AuthedRequest, page_permission_required
from crm.views.ui import render_page
from wallet.selectors import FLOWS_MAX_DAYS as MAX_DAYS
from wallet.selectors import money_flows, open_breaks_by_age


class FlowFilter(forms.Form):
    days = forms.TypedChoiceField(label=_("Period"), coerce=int, required=False, initial=30,
                                  choices=[(7, _("7 days")), (30, _("30 days")), (MAX_DAYS, _("92 days"))])
    currency = forms.CharField(label=_("Currency"), required=False, max_length=10)


@require_GET
@page_permission_required("wallet.view_deposit")
def money_flow(request: AuthedRequest) -> HttpResponse:
    """A refused period or currency is named beside its field (400) and the page shows the default
    (30 days, the busiest currency) instead."""
    form = FlowFilter(request.GET or None)
    days, currency = 30, ""
    problems: dict[str, str] = {}
    if form.is_bound and not form.is_valid():
        problems = {name: " ".join(str(e) for e in errors) for name, errors in form.errors.items()}
    elif form.is_bound:
        days = form.cleaned_data.get("days") or 30
        currency = (form.cleaned_data.get("currency") or "").upper()
    flows = money_flows(user=request.user, days=days, currency=currency)
    if currency and currency != flows.currency:
        problems["currency"] = gettext("No money moved in %(currency)s in this period.") % {"currency": currency}
    breaks = open_breaks_by_age(user=request.user)
    return render_page(request, "wallet/flows/page.html", {
        "form": form, "flows": flows, "days": days, "breaks": breaks, "problems": problems,
        "chart_data": {**flows.chart(), "breaks": breaks}}, status=400 if problems else 200)
