"""Trading accounts in the trader's room: the type of the first live account, more accounts (live
and demo), leverage, and the dashboard's accounts panel while the first one is being set up."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from crm.exceptions import DomainError, NotFound
from portal import selectors, services
from portal.auth import PortalRequest, client_login_required, verified_email_required
from portal.forms import AccountChoiceForm, AccountOpenForm, LeverageForm


def _label(offer: Any) -> str:
    return f"{offer.spec.get('label') or offer.account_type} · {offer.spec.get('currency', '')} · {offer.server.name}"


def _choices(offers: list[Any]) -> list[tuple[str, str]]:
    return [(services.offer_key(o), _label(o)) for o in offers]


def account_choice_context(request: PortalRequest) -> dict[str, Any]:
    """The live account type chooser (the dashboard's and the verification journey's), while the
    client has no live account and the brand offers one: {"choice_form", "chosen"}, or {}."""
    client = request.portal_client
    offers = selectors.live_offers(client=client)
    if not offers or selectors.live_account_setup(client=client) is not None:
        return {}  # nothing the client can open, or verified already (the account is opening or was refused)
    from trading.selectors import has_live_account

    if has_live_account(client=client):
        return {}
    chosen = selectors.account_choice(client=client)
    return {"chosen": chosen, "choice_form": AccountChoiceForm(offers=_choices(offers), initial={
        "offer": services.offer_key(chosen if chosen is not None else offers[0])})}


def accounts_panel_context(request: PortalRequest) -> dict[str, Any]:
    """What the dashboard's accounts panel shows (also its htmx refresh)."""
    client = request.portal_client
    setup = selectors.live_account_setup(client=client)
    context: dict[str, Any] = {"accounts": selectors.trading_accounts(client=client), "setup": setup,
                               "brand": client.brand,
                               **account_choice_context(request)}
    context["verified"] = services.client_verified(client=client)
    context["refusal"] = selectors.live_account_refusal(client=client) if setup == selectors.REFUSED else ""
    context["live_offered"] = context["verified"] and bool(selectors.live_offers(client=client))
    context["demo_offered"] = bool(selectors.demo_offers(client=client))
    return context


@client_login_required
def accounts_panel(request: PortalRequest) -> HttpResponse:
    return render(request, "portal/_accounts_panel.html", accounts_panel_context(request))


@require_POST
@client_login_required
def account_choose(request: PortalRequest) -> HttpResponse:
    client = request.portal_client
    form = AccountChoiceForm(request.POST, offers=_choices(selectors.live_offers(client=client)))
    if not form.is_valid():
        messages.error(request, gettext("Choose one of the account types on offer."))
    else:
        services.portal_account_choose(login=request.portal_login, key=form.cleaned_data["offer"])
        messages.success(request, gettext("Saved: your live account opens with this type once you are verified."))
    target = request.POST.get("next") or ""
    return HttpResponseRedirect(reverse("portal:kyc") if target == "kyc" else reverse("portal:home"))


@verified_email_required
def account_new(request: PortalRequest) -> HttpResponse:
    client = request.portal_client
    demo = (request.POST.get("kind") or request.GET.get("kind")) == "demo"
    offers = selectors.demo_offers(client=client) if demo else selectors.live_offers(client=client)
    verified = services.client_verified(client=client)
    blocked = "" if offers else gettext("No account of this kind is on offer at the moment.")
    if not demo and not verified:
        blocked = gettext("A live account opens once your identity is verified.")
    data = request.POST if request.method == "POST" else None
    key = (data or request.GET).get("offer") or (services.offer_key(offers[0]) if offers else "")
    offer = next((o for o in offers if services.offer_key(o) == key), offers[0] if offers else None)
    leverages = selectors.leverages_for(client=client, offer=offer) if offer is not None else []
    low, high = services.demo_balance_limits()
    form = AccountOpenForm(data, offers=_choices(offers), leverages=leverages, demo=demo, initial={
        "token": uuid.uuid4(), "offer": key, "leverage": max(leverages) if leverages else None,
        "demo_balance": min(high, max(low, 10000))})
    status = 400 if data is not None and blocked else 200
    if data is not None and not blocked:
        if form.is_valid():
            try:
                account = services.portal_account_open(
                    login=request.portal_login, token=form.cleaned_data["token"],
                    key=form.cleaned_data["offer"], demo=demo, leverage=form.cleaned_data["leverage"],
                    demo_balance=form.cleaned_data.get("demo_balance"))
            except DomainError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, gettext("Your account %(login)s is open. We emailed you a link to see its "
                                                  "password.") % {"login": account.login})
                return HttpResponseRedirect(reverse("portal:home"))
        status = 400
    template = "portal/account_new.html#open-form" if request.htmx and not request.htmx.boosted else "portal/account_new.html"
    return render(request, template, {
        "brand": client.brand, "portal_login": request.portal_login, "form": form, "demo": demo,
        "blocked": blocked, "offer": offer, "low": low, "high": high}, status=status)


@verified_email_required
def account_leverage(request: PortalRequest, code: str) -> HttpResponse:
    client = request.portal_client
    account = selectors.own_account(client=client, code=code)
    if account is None:
        raise Http404
    offers = [o for o in selectors.live_offers(client=client) + selectors.demo_offers(client=client)
              if o.server.pk == account.server_id and o.account_type == account.account_type]
    leverages = selectors.leverages_for(client=client, offer=offers[0]) if offers else []
    form = LeverageForm(request.POST if request.method == "POST" else None, leverages=leverages,
                        initial={"leverage": account.leverage})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.portal_account_leverage_set(login=request.portal_login, code=code,
                                                     leverage=form.cleaned_data["leverage"])
            except NotFound:
                raise Http404 from None
            except DomainError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, gettext("The leverage of account %(login)s is now 1:%(leverage)s.")
                                 % {"login": account.login, "leverage": form.cleaned_data["leverage"]})
                return HttpResponseRedirect(reverse("portal:home"))
        status = 400
    return render(request, "portal/account_leverage.html", {
        "brand": client.brand, "portal_login": request.portal_login, "form": form, "account": account},
        status=status)
