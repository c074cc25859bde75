"""Pages of settlement: the IB manager's commission runs (list, detail, settle), finance's list of
partner payout requests (pay, reject). The partner portal's payout page is ib.partner_views.payouts.
Thin: parse, fetch and authorise, call one service of ib.settlement, render."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from crm.exceptions import DomainError, NotFound
from crm.models import Brand
from crm.permissions import AuthedRequest, page_permission_required, visible_brands
from crm.views.ui import render_page
from crm.views.ui.forms import apply_domain_errors
from ib import commissions, settlement
from ib.forms import RunStartForm, SettlementForm
from ib.models import Partner, PartnerPayout, PayoutState, PlanVersion, RunStatus
from ib.views import MANAGE, _detail, _partner_or_404

RUNS_PER_PAGE = 200


# --- the IB manager: commission runs ----------------------------------------------------------------

class RunFilter(forms.Form):
    brand = forms.ModelChoiceField(label=_("Brand"), queryset=Brand.objects.none(), to_field_name="code",
                                   required=False, empty_label=_("All brands"))
    period = forms.CharField(label=_("Period (YYYY-MM)"), max_length=7, required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["brand"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = visible_brands(user).order_by("name")

    def clean_period(self) -> dt.date | None:
        text = (self.cleaned_data.get("period") or "").strip()
        if not text:
            return None
        try:
            return commissions.period_parse(text)
        except DomainError as error:
            raise forms.ValidationError(error.fields.get("period") or error.message) from None


def _run_or_404(request: AuthedRequest, code: Any) -> Any:
    try:
        return settlement.run_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None


@page_permission_required(commissions.RUN)
@require_GET
def run_list(request: AuthedRequest) -> HttpResponse:
    form = RunFilter(request.GET or None, user=request.user)
    runs = settlement.run_queryset_for_user(request.user).order_by("-period", "brand__name", "-number")
    if form.is_valid():
        if form.cleaned_data.get("brand"):
            runs = runs.filter(brand=form.cleaned_data["brand"])
        if form.cleaned_data.get("period"):
            runs = runs.filter(period=form.cleaned_data["period"])
    rows = list(runs[:RUNS_PER_PAGE])
    summary = settlement.run_summaries([r.pk for r in rows])
    last_month = commissions.period_before()
    start = RunStartForm(brands=visible_brands(request.user).order_by("name"), prefix="start",
                         initial={"period": f"{last_month:%Y-%m}"})
    return render_page(request, "ib/run_list.html", {
        "filter": form, "start": start, "rows": [{"run": r, **summary.get(r.pk, {})} for r in rows]})


def _run_detail(request: AuthedRequest, run: Any, *, status: int = 200) -> HttpResponse:
    run = commissions.run_job_check(run)
    if request.htmx and request.GET.get("poll"):
        # Still computing: nothing to swap, the page polls again; finished or failed: reload it.
        return HttpResponse(status=204) if run.status == RunStatus.RUNNING else HttpResponse(
            headers={"HX-Refresh": "true"})
    return render_page(request, "ib/run_detail.html", {
        "run": run, "totals": commissions.run_totals(run), "compared": commissions.run_compared(run),
        "assumed": list(PlanVersion.objects.filter(pk__in=(run.what_if or {}).get("versions") or [])
                        .select_related("plan").order_by("plan__name", "number")),
        "settlements": list(run.settlements.select_related("partner").order_by("partner__display_name", "currency")),
        "can_settle": settlement.run_can_settle(run),
        "has_old_totals": run.period in commissions.legacy_periods([run.brand_id]),
    }, status=status)


@page_permission_required(commissions.RUN)
@require_GET
def run_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    return _run_detail(request, _run_or_404(request, code))


@page_permission_required(commissions.RUN)
@require_GET
def run_backtest(request: AuthedRequest, code: Any) -> HttpResponse:
    """The run beside what the old CRM paid for its period (the migration import's figures): per
    partner the two totals and the difference; `?partner=<code>` shows that partner's lines."""
    run = _run_or_404(request, code)
    if run.status != RunStatus.DONE:
        raise Http404
    partner_code = _uuid_or_none(request.GET.get("partner"))
    chosen = (Partner.objects.filter(brand_id=run.brand_id, code=partner_code).first()
              if partner_code is not None else None)
    backtest = commissions.run_backtest(run, lines_of=[chosen.pk] if chosen is not None else [])
    return render_page(request, "ib/run_backtest.html", {"run": run, "backtest": backtest, "chosen": chosen})


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


@page_permission_required(commissions.RUN)
@require_POST
def run_settle(request: AuthedRequest, code: Any) -> HttpResponse:
    run = _run_or_404(request, code)
    try:
        rows = settlement.commission_run_settle_post(actor=request.user, run=run)
    except NotFound:
        raise Http404 from None
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("Settled and posted for %(count)d partner totals.") % {"count": len(rows)})
    target = reverse("ib_run_detail", args=[run.code])
    if request.htmx:
        return HttpResponse(headers={"HX-Redirect": target})
    return HttpResponseRedirect(target)


# --- finance: partner payouts ------------------------------------------------------------------------

class PayoutFilter(forms.Form):
    state = forms.ChoiceField(label=_("State"), required=False,
                              choices=[("", _("Open")), ("all", _("All")), *PayoutState.choices])


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)


@page_permission_required(settlement.DECIDE)
@require_GET
def payout_list(request: AuthedRequest) -> HttpResponse:
    form = PayoutFilter(request.GET or None)
    qs = settlement.payout_queryset_for_user(request.user)
    state = form.cleaned_data.get("state") if form.is_valid() else ""
    if not state:
        qs = qs.filter(state=PayoutState.REQUESTED).order_by("requested_at", "id")
    elif state != "all":
        qs = qs.filter(state=state)
    return render_page(request, "ib/payout_list.html", {"payouts": list(qs[:200]), "filter": form})


def _payout_or_404(request: AuthedRequest, code: Any) -> PartnerPayout:
    try:
        return settlement.payout_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None


@page_permission_required(settlement.DECIDE)
@require_POST
def payout_pay(request: AuthedRequest, code: Any) -> HttpResponse:
    payout = _payout_or_404(request, code)
    try:
        settlement.payout_pay(actor=request.user, payout=payout)
    except NotFound:
        raise Http404 from None
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("Marked as paid."))
    return HttpResponseRedirect(reverse("ib_payout_list"))


@page_permission_required(settlement.DECIDE)
@require_POST
def payout_reject(request: AuthedRequest, code: Any) -> HttpResponse:
    payout = _payout_or_404(request, code)
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Reason: say why the payout is rejected."))
        return HttpResponseRedirect(reverse("ib_payout_list"))
    try:
        settlement.payout_reject(actor=request.user, payout=payout, reason=form.cleaned_data["reason"])
    except NotFound:
        raise Http404 from None
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("Rejected; the amount is available to the partner again."))
    return HttpResponseRedirect(reverse("ib_payout_list"))


# --- the IB manager: a partner's settlement settings ---------------------------------------------------

@page_permission_required(MANAGE)
@require_POST
def partner_settlement(request: AuthedRequest, code: Any) -> HttpResponse:
    partner = _partner_or_404(request, code)
    form = SettlementForm(request.POST, partner=partner)
    if form.is_valid():
        try:
            settlement.partner_settlement_set(actor=request.user, partner=partner,
                                              schedule=form.cleaned_data["schedule"],
                                              client=form.cleaned_data["client"])
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Settlement settings saved."))
            return HttpResponseRedirect(reverse("ib_partner_detail", args=[partner.code]))
    return _detail(request, partner, settlement_form=form, status=400)
