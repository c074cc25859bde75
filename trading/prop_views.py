"""Staff pages of prop-trading challenges: the challenge list, a challenge (its rules, progress,
equity curve and every decision in words) and the products (each version's rules; a new version)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from crm.exceptions import DomainError, NotFound
from crm.permissions import AuthedRequest, page_permission_or_403, user_can
from crm.views.ui import render_page
from crm.views.ui.forms import apply_domain_errors
from trading import prop
from trading.permissions import platform_server_queryset_for_user
from trading.prop_models import BreachAction, ChallengeState, DailyLossBasis, MaxLossMode

PAGE = 50


def decision_rows(challenge: Any) -> list[dict[str, Any]]:
    return [{"at": d.at, "kind": d.get_kind_display(), "breach": d.kind == "breach", "text": prop.decision_text(d),
             "snapshot": d.snapshot} for d in challenge.decisions.order_by("-at", "-id")]


@page_permission_or_403("trading.view_challenge")
@require_GET
def challenge_list(request: AuthedRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    qs = prop.challenges_for_user(user=request.user).order_by("-created_at")
    if state in ChallengeState.values:
        qs = qs.filter(state=state)
    page = Paginator(qs, PAGE).get_page(request.GET.get("page"))
    return render_page(request, "trading/prop/challenge_list.html", {
        "page_obj": page, "state": state, "states": ChallengeState.choices,
        "can_products": user_can(request.user, "trading.view_challengeproduct")}, partial="challenge-rows")


@page_permission_or_403("trading.view_challenge")
@require_GET
def challenge_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    try:
        challenge = prop.challenge_get_for_user(user=request.user, code=code)
    except NotFound:
        raise Http404 from None
    progress = prop.challenge_progress(challenge)
    return render_page(request, "trading/prop/challenge_detail.html", {
        "challenge": challenge, "product": challenge.product, "progress": progress,
        "curve": prop.equity_curve_svg(prop.challenge_equity_curve(challenge),
                                  floor=progress.floor.amount if progress else None),
        "decisions": decision_rows(challenge), "ending": prop.challenge_ending(challenge)},
        partial="challenge-live")


class ProductForm(forms.Form):
    key = forms.SlugField(label=_("Product key"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=120)
    server: forms.ModelChoiceField[Any] = forms.ModelChoiceField(label=_("Server"), queryset=None)
    account_type = forms.CharField(label=_("Account type"), max_length=40)
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="USD")
    account_size = forms.CharField(label=_("Account size"))
    fee = forms.CharField(label=_("Fee"))
    phases = forms.CharField(label=_("Phases (JSON)"), widget=forms.Textarea(attrs={"rows": 6}), initial=json.dumps([
        {"name": "Phase 1", "profit_target_pct": "10", "min_trading_days": 4, "time_limit_days": 30},
        {"name": "Phase 2", "profit_target_pct": "5", "min_trading_days": 4, "time_limit_days": 60}], indent=1))
    daily_loss_pct = forms.CharField(label=_("Maximum daily loss (%)"), initial="5")
    daily_loss_basis = forms.ChoiceField(label=_("Daily loss measured from"), choices=DailyLossBasis.choices)
    max_loss_pct = forms.CharField(label=_("Maximum overall loss (%)"), initial="10")
    max_loss_mode = forms.ChoiceField(label=_("Maximum loss"), choices=MaxLossMode.choices)
    allowed_symbols = forms.CharField(label=_("Allowed instruments (empty: all)"), required=False)
    news_trading_allowed = forms.BooleanField(label=_("News trading allowed (checked by hand)"), required=False,
                                              initial=True)
    weekend_holding_allowed = forms.BooleanField(label=_("Positions over the weekend allowed"), required=False,
                                                 initial=True)
    breach_action = forms.ChoiceField(label=_("On a breach"), choices=BreachAction.choices)
    profit_split_pct = forms.CharField(label=_("Trader's profit split (%)"), initial="80")

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["server"].queryset = platform_server_queryset_for_user(user)  # type: ignore[attr-defined]  # a ModelChoiceField, typed as Field

    def clean_phases(self) -> Any:
        try:
            return json.loads(self.cleaned_data["phases"])
        except ValueError:
            raise forms.ValidationError(gettext("Give the phases as a JSON list.")) from None


def _initial_from(product: Any) -> dict[str, Any]:
    return {"key": product.key, "name": product.name, "server": product.server_id,
            "account_type": product.account_type, "currency": product.currency,
            "account_size": product.account_size.normalize(), "fee": product.fee.normalize(),
            "phases": json.dumps(product.phases, indent=1), "daily_loss_pct": product.daily_loss_pct,
            "daily_loss_basis": product.daily_loss_basis, "max_loss_pct": product.max_loss_pct,
            "max_loss_mode": product.max_loss_mode, "allowed_symbols": " ".join(product.allowed_symbols),
            "news_trading_allowed": product.news_trading_allowed,
            "weekend_holding_allowed": product.weekend_holding_allowed, "breach_action": product.breach_action,
            "profit_split_pct": product.profit_split_pct}


@page_permission_or_403("trading.view_challengeproduct")
@require_http_methods(["GET", "POST"])
def product_list(request: AuthedRequest) -> HttpResponse:
    """Every version of every product the user's brands sell; administrators write a new version."""
    products = prop.challenge_products_for_user(user=request.user).order_by("brand__name", "key", "-version")
    can_add = user_can(request.user, "trading.add_challengeproduct")
    source = products.filter(code=prop._uuid(request.GET.get("from"))).first() if request.GET.get("from") else None
    form = ProductForm(request.POST or None, user=request.user,
                       initial=_initial_from(source) if source is not None else None)
    status = 200
    if request.method == "POST":
        if not can_add:
            return HttpResponse(status=403)
        if form.is_valid():
            data = form.cleaned_data
            server = data["server"]
            try:
                product = prop.challenge_product_save(
                    actor=request.user, brand=server.brand, key=data["key"], name=data["name"], server=server,
                    account_type=data["account_type"], currency=data["currency"], account_size=data["account_size"],
                    fee=data["fee"], phases=data["phases"], daily_loss_pct=data["daily_loss_pct"],
                    daily_loss_basis=data["daily_loss_basis"], max_loss_pct=data["max_loss_pct"],
                    max_loss_mode=data["max_loss_mode"], allowed_symbols=data["allowed_symbols"],
                    news_trading_allowed=data["news_trading_allowed"],
                    weekend_holding_allowed=data["weekend_holding_allowed"], breach_action=data["breach_action"],
                    profit_split_pct=data["profit_split_pct"])
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                messages.success(request, gettext("Saved %(product)s.") % {"product": product})
                return redirect("trading_challenge_products")
        status = 400
    return render_page(request, "trading/prop/product_list.html", {
        "products": products, "form": form if can_add else None}, status=status)
