"""The withdrawal policy of each brand: automatic approval, the four-eyes threshold and the daily
limit per client, per currency, with the SLA and who counts as low risk. Administrators set it;
finance reads it (the thresholds are theirs to work by, not theirs to move). Every save is audited
(`withdrawal_policy_saved`, before and after) and listed on the page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from crm.exceptions import DomainError
from crm.permissions import AuthedRequest, page_permission_required, user_can, visible_brands
from crm.views.ui import render_page
from crm.views.ui.forms import AmountField, apply_domain_errors
from wallet.models import LowRiskRule, WithdrawalPolicy
from wallet.services import withdrawal_policy_save
from wallet.withdrawal_policy import (
    CHANGE_POLICY_PERMISSION,
    POLICY_PERMISSION,
    withdrawal_policies_of,
    withdrawal_policy_changes,
    withdrawal_policy_currencies,
)

# (form field prefix, the policy's table, the service's argument)
TABLES = (("auto", "auto_approve_below"), ("four_eyes", "four_eyes_above"), ("daily", "daily_limit"),
          ("refund_four_eyes", "refund_four_eyes_above"))


class WithdrawalPolicyForm(forms.Form):
    """Four amounts per currency (each optional: blank means no automatic approval, no four eyes, no
    limit, no four eyes on refunds in that currency), the SLA in hours and the low-risk rule."""

    sla_hours = forms.IntegerField(label=_("Hours to decide (SLA)"), min_value=1, max_value=24 * 14)
    low_risk_rule = forms.ChoiceField(label=_("Automatic approval for"), choices=LowRiskRule.choices)

    def __init__(self, *args: Any, currencies: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currencies = currencies
        for currency in currencies:
            self.fields[f"auto_{currency}"] = AmountField(
                label=gettext("%(currency)s: automatic approval up to") % {"currency": currency}, currency=currency,
                required=False)
            self.fields[f"four_eyes_{currency}"] = AmountField(
                label=gettext("%(currency)s: two approvers above") % {"currency": currency}, currency=currency,
                required=False)
            self.fields[f"daily_{currency}"] = AmountField(
                label=gettext("%(currency)s: daily limit per client") % {"currency": currency}, currency=currency,
                required=False)
            self.fields[f"refund_four_eyes_{currency}"] = AmountField(
                label=gettext("%(currency)s: a deposit's refund needs two people above") % {"currency": currency},
                currency=currency, required=False)

    def rows(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(c, [self[f"{prefix}_{c}"] for prefix, _table in TABLES]) for c in self.currencies]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for currency in self.currencies:
            auto, four_eyes = data.get(f"auto_{currency}"), data.get(f"four_eyes_{currency}")
            if auto is not None and four_eyes is not None and auto > four_eyes:
                # Above the threshold two people decide; nothing there approves itself.
                self.add_error(f"auto_{currency}", gettext(
                    "Automatic approval must stop at or below the four-eyes threshold (%(limit)s).")
                    % {"limit": four_eyes})
        return data

    def tables(self) -> dict[str, dict[str, Decimal]]:
        """The service's arguments: {table: {currency: amount}} for the amounts given."""
        out: dict[str, dict[str, Decimal]] = {}
        for prefix, table in TABLES:
            out[table] = {c: self.cleaned_data[f"{prefix}_{c}"] for c in self.currencies
                          if self.cleaned_data.get(f"{prefix}_{c}") is not None}
        return out


def _initial(policy: WithdrawalPolicy | None, currencies: list[str]) -> dict[str, Any]:
    if policy is None:
        return {"sla_hours": 24, "low_risk_rule": LowRiskRule.KYC_APPROVED_NO_FLAGS}
    initial: dict[str, Any] = {"sla_hours": policy.sla_hours, "low_risk_rule": policy.low_risk_rule}
    for prefix, table in TABLES:
        for currency, value in (getattr(policy, table) or {}).items():
            if currency in currencies:
                initial[f"{prefix}_{currency}"] = value
    return initial


def _brand_or_404(request: HttpRequest, brand_code: str) -> Any:
    brand = visible_brands(request.user).filter(code=brand_code).first()
    if brand is None:
        raise Http404
    return brand


@page_permission_required(POLICY_PERMISSION)
@require_GET
def policy_list(request: AuthedRequest) -> HttpResponse:
    """Each brand the user works with and its thresholds per currency."""
    return render_page(request, "wallet/withdrawals/policy_list.html", {
        "rows": withdrawal_policies_of(brands=visible_brands(request.user)),
        "can_change": user_can(request.user, CHANGE_POLICY_PERMISSION),
    })


@page_permission_required(POLICY_PERMISSION)
@require_http_methods(["GET", "POST"])
def policy_edit(request: AuthedRequest, brand_code: str) -> HttpResponse:
    """A brand's policy: the form for administrators, the figures for finance, and its latest changes."""
    brand = _brand_or_404(request, brand_code)
    can_change = user_can(request.user, CHANGE_POLICY_PERMISSION)
    if request.method == "POST" and not can_change:
        raise PermissionDenied
    policy = WithdrawalPolicy.objects.filter(brand=brand).first()
    currencies = withdrawal_policy_currencies(brand=brand, policy=policy)
    form = WithdrawalPolicyForm(request.POST or None, currencies=currencies, initial=_initial(policy, currencies))
    if request.method == "POST" and form.is_valid():
        try:
            withdrawal_policy_save(brand=brand, actor=request.user, sla_hours=form.cleaned_data["sla_hours"],
                                   low_risk_rule=form.cleaned_data["low_risk_rule"], **form.tables())
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("The withdrawal policy of %(brand)s was saved.") % {"brand": brand.name})
            return redirect("wallet_withdrawal_policy_edit", brand.code)
    return render_page(request, "wallet/withdrawals/policy_form.html", {
        "brand": brand, "policy": policy, "form": form, "can_change": can_change, "currencies": currencies,
        "changes": withdrawal_policy_changes(policy=policy),
    }, status=400 if form.errors else 200)
