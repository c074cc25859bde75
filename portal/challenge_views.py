"""Prop-trading challenges in the trader's room: the products on sale (bought with the wallet's
balance, or a deposit first), the client's challenges, and a challenge's progress with every
decision explained; a funded challenge's profit share is requested here as a withdrawal."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from crm.exceptions import DomainError, NotFound
from portal.auth import PortalRequest, client_login_required, verified_email_required
from trading.selectors import (
    challenge_ending,
    challenge_equity_curve,
    challenge_get_for_client,
    challenge_payable,
    challenge_product_get_on_sale,
    challenge_products_on_sale,
    challenge_progress,
    challenges_for_client,
    decision_text,
    equity_curve_svg,
)
from wallet.selectors import method_get, wallet_balances_for_client, withdrawal_methods_for
from wallet.services import challenge_buy, challenge_payout


class PayoutForm(forms.Form):
    method = forms.ChoiceField(label=_("Paid to"))
    destination = forms.CharField(label=_("Card number, e-wallet or IBAN"), max_length=100)

    def __init__(self, *args: Any, client: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["method"].choices = [  # type: ignore[attr-defined]  # a ChoiceField, typed as Field
            (o.method_code, o.label) for o in withdrawal_methods_for(client=client, currency=currency)]


def _context(request: PortalRequest, **more: Any) -> dict[str, Any]:
    login = request.portal_login
    return {"brand": login.brand, "portal_login": login, "portal_client": request.portal_client, **more}


@client_login_required
def challenges(request: PortalRequest) -> HttpResponse:
    client = request.portal_client
    available = {w.balance.currency: w.available for w in wallet_balances_for_client(client)}
    products = [{"product": p, "affordable": p.fee_money.currency in available
                 and available[p.fee_money.currency].amount >= p.fee}
                for p in challenge_products_on_sale(brand_id=client.brand_id)]
    return render(request, "portal/challenges.html", _context(
        request, products=products, challenges=list(challenges_for_client(client=client).order_by("-created_at")),
        deposit_url=reverse("portal:wallet_deposit_new")))


@require_POST
@verified_email_required
def challenge_buy_view(request: PortalRequest) -> HttpResponse:
    client = request.portal_client
    try:
        product = challenge_product_get_on_sale(brand_id=client.brand_id, code=request.POST.get("product"))
    except NotFound:
        raise Http404 from None
    try:
        challenge = challenge_buy(client=client, product=product)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("portal:challenges")
    messages.success(request, gettext("Your challenge is bought. Your trading account's password link is on its "
                                      "way by email."))
    return redirect("portal:challenge", code=challenge.code)


@client_login_required
def challenge_detail(request: PortalRequest, code: str) -> HttpResponse:
    client = request.portal_client
    try:
        challenge = challenge_get_for_client(client=client, code=code)
    except NotFound:
        raise Http404 from None
    progress = challenge_progress(challenge)
    profit, share = challenge_payable(challenge)
    decisions = [{"at": d.at, "kind": d.get_kind_display(), "breach": d.kind == "breach", "text": decision_text(d)}
                 for d in challenge.decisions.order_by("-at", "-id")]
    form = PayoutForm(request.POST or None, client=client, currency=challenge.currency) if share.amount > 0 else None
    status = 200
    if request.method == "POST" and form is not None:
        if form.is_valid():
            method = method_get(form.cleaned_data["method"])
            if method is None:
                raise Http404
            try:
                challenge_payout(client=client, challenge=challenge, method=method,
                                 destination={method.method: form.cleaned_data["destination"]})
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, gettext("Your profit share is requested as a withdrawal."))
                return redirect("portal:challenge", code=challenge.code)
        status = 400
    return render(request, "portal/challenge.html", _context(
        request, challenge=challenge, product=challenge.product, progress=progress, decisions=decisions,
        ending=challenge_ending(challenge),
        curve=equity_curve_svg(challenge_equity_curve(challenge), floor=progress.floor.amount if progress else None),
        profit=profit, share=share, form=form), status=status)
