"""Finance's month-end close: every provider and currency with its last closed month and the
next one to close, a month's report (as it stands, or as signed off), closing it, and the
PDF, CSV and XLSX downloads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from crm.exceptions import DomainError
from crm.lib.money import currency_normalise
from crm.permissions import AuthedRequest, page_permission_required, user_can
from crm.views.ui import render_page
from wallet import permissions, selectors, services
from wallet.models import MonthClose, PaymentProvider


class CloseForm(forms.Form):
    note = forms.CharField(label=_("Note for the file (optional)"), required=False, max_length=1000,
                           widget=forms.Textarea(attrs={"rows": 2}))


def _previous_month(today: dt.date) -> dt.date:
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _overview(user: Any) -> list[dict[str, Any]]:
    """Per provider (of `user`'s brands) and currency: the last closed month and the month to close next."""
    last_month = _previous_month(timezone.localdate())
    rows = []
    for provider in selectors.providers_for_user(user).order_by("name"):
        for currency in selectors.close_currencies(provider):
            last = selectors.last_closed(provider, currency)
            upcoming = (last.period.replace(day=28) + dt.timedelta(days=4)).replace(day=1) if last else last_month
            rows.append({"provider": provider, "currency": currency, "last": last, "next": upcoming,
                         "next_ready": upcoming <= last_month})
    return rows


def _provider(user: Any, code: str) -> PaymentProvider:
    # A provider serving brands outside the user's: its close is about their money too.
    provider = selectors.providers_for_user(user).filter(code=code).first()
    if provider is None:
        raise Http404
    return provider


def _figures(user: Any, provider_code: str, currency: str, period: str) -> selectors.CloseFigures:
    provider = _provider(user, provider_code)
    try:
        return selectors.month_figures(provider=provider, currency=currency_normalise(currency),
                                       period=selectors.period_parse(period))
    except (DomainError, ValueError):  # a month or currency that does not parse (MoneyError is a ValueError)
        raise Http404 from None


@require_GET
@page_permission_required(permissions.CLOSE_VIEW_PERMISSION)
def close_list(request: AuthedRequest) -> HttpResponse:
    return render_page(request, "wallet/close/list.html", {
        "rows": _overview(request.user),
        "closes": MonthClose.objects.filter(provider__in=selectors.providers_for_user(request.user))
        .select_related("provider", "closed_by")[:48]})


@require_GET
@page_permission_required(permissions.CLOSE_VIEW_PERMISSION)
def close_detail(request: AuthedRequest, provider_code: str, currency: str, period: str) -> HttpResponse:
    figures = _figures(request.user, provider_code, currency, period)
    can_close = figures.closed is None and not figures.problems and user_can(request.user, permissions.CLOSE_PERMISSION)
    return render_page(request, "wallet/close/detail.html", {
        "figures": figures, "form": CloseForm(), "can_close": can_close, "period_text": period,
        "breaks_url": selectors.breaks_url(figures), "can_see_breaks": user_can(request.user, "wallet.reconcile")})


@require_POST
@page_permission_required(permissions.CLOSE_PERMISSION)
def close_month(request: AuthedRequest, provider_code: str, currency: str, period: str) -> HttpResponse:
    provider = _figures(request.user, provider_code, currency, period).provider  # 404 for what does not parse
    form = CloseForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    back = reverse("wallet_close_detail", args=[provider.code, currency, period])
    try:
        row = services.month_close(actor=request.user, provider=provider, currency=currency,
                                   period=selectors.period_parse(period), note=note)
    except DomainError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(back)
    messages.success(request, gettext("%(month)s is closed for %(provider)s in %(currency)s: the report is locked.")
                     % {"month": f"{row.period:%Y-%m}", "provider": provider.name, "currency": row.currency})
    return HttpResponseRedirect(back)


@require_GET
@page_permission_required(permissions.CLOSE_VIEW_PERMISSION)
def close_download(request: AuthedRequest, provider_code: str, currency: str, period: str, fmt: str) -> HttpResponse:
    figures = _figures(request.user, provider_code, currency, period)
    makers = {"pdf": (selectors.close_pdf_download, "application/pdf"),
              "pdf-now": (selectors.close_pdf_now, "application/pdf"),
              "csv": (selectors.close_csv, "text/csv; charset=utf-8"),
              "xlsx": (selectors.close_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    if fmt not in makers:
        raise Http404
    make, content_type = makers[fmt]
    filename, body = make(figures)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
