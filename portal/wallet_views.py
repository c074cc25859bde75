"""The trader's room's wallet: balances and deposit history, making a deposit (to the provider's
checkout), and the deposit's page, which follows its status until the provider has decided."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from crm.exceptions import DomainError, NotFound
from crm.lib.money import MoneyError, money_format, money_parse
from crm.lib.public_url import public_url
from crm.lib.validation import InvalidValue
from crm.views.ui.forms import AmountField
from portal.auth import PortalRequest, client_login_required
from portal.forms import ServiceErrorsMixin
from trading.selectors import live_accounts_for_client
from wallet import permissions as wallet_permissions
from wallet import selectors as wallet_selectors
from wallet import services as wallet_services


def _ctx(request: PortalRequest, **more: Any) -> dict[str, Any]:
    login = request.portal_login
    return {"brand": login.brand, "portal_login": login, "portal_client": request.portal_client,
            **more}


class DepositForm(ServiceErrorsMixin, forms.Form):
    currency = forms.ChoiceField(label=_("Currency"))
    method = forms.ChoiceField(label=_("Payment method"))
    amount = AmountField(label=_("Amount"))
    trading_account = forms.ChoiceField(label=_("Credit a trading account (optional)"), required=False,
                                        help_text=_("The money reaches your wallet first; we move it to the "
                                                    "account you choose."))

    def __init__(self, *args: Any, client: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        currencies = wallet_selectors.deposit_currencies(client=client)
        self._choices("currency", [(c, c) for c in currencies])
        self._choices("method", [(o.method_code, f"{o.label} ({money_format(o.minimum)} – "
                                                 f"{money_format(o.maximum) if o.maximum is not None else '∞'}; "
                                                 f"{wallet_selectors.method_fee_text(o)})")
                                 for o in wallet_selectors.deposit_options(client=client, currency=currency)])
        self.accounts = {str(a.code): a for a in live_accounts_for_client(client=client)}
        self._choices("trading_account", [("", gettext("Wallet only"))] + [
            (code, f"{a.login} ({a.currency})") for code, a in self.accounts.items()])

    def _choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices



@client_login_required
@require_GET
def wallet_home(request: PortalRequest) -> HttpResponse:
    client = request.portal_client
    return render(request, "portal/wallet/home.html", _ctx(
        request, balances=wallet_selectors.wallet_balances_for_client(client),
        deposits=list(wallet_selectors.deposits_for_client(client=client)[:50])))


def _first_currency(client: Any, currencies: list[str]) -> str:
    """The currency the deposit form opens in: a wallet the client holds (the brand's currency first),
    else the brand's currency, else the first the brand takes (not EUR for a USD client because it
    sorts first)."""
    default = client.brand.default_currency
    held = sorted({b.balance.currency for b in wallet_selectors.wallet_balances_for_client(client)},
                  key=lambda code: code != default)
    return next((code for code in [*held, default] if code in currencies), currencies[0] if currencies else default)


@client_login_required
def deposit_new(request: PortalRequest) -> HttpResponse:
    client = request.portal_client
    currencies = wallet_selectors.deposit_currencies(client=client)
    currency = request.POST.get("currency") or request.GET.get("currency") or _first_currency(client, currencies)
    if currency not in currencies:  # the choice field names an unknown or metal code; the methods are the first's
        currency = currencies[0] if currencies else client.brand.default_currency
    status = 200
    if request.method == "POST" and request.POST.get("action") == "pay":
        form = DepositForm(request.POST, client=client, currency=currency)
        if form.is_valid():
            data = form.cleaned_data
            try:
                account = form.accounts.get(data["trading_account"] or "")
                deposit = wallet_services.deposit_create(
                    client=client, amount=money_parse(data["amount"], data["currency"]), method=data["method"],
                    trading_account=account,
                    return_url=public_url(reverse("portal:wallet_deposit_return")))
            except DomainError as exc:
                form.add_service_errors(exc)
            except InvalidValue as exc:  # the one parser's refusal, naming the amount or the currency
                form.add_error(exc.field if exc.field in form.fields else "amount", exc.message)
            else:
                if deposit.redirect_url:
                    # Through a page of ours: the form may only post here (CSP form-action), and a
                    # browser holds a redirect answering the post to that as well.
                    return HttpResponseRedirect(reverse("portal:wallet_deposit_checkout", args=[deposit.code]))
                return HttpResponseRedirect(reverse("portal:wallet_deposit", args=[deposit.code]))
        status = 400
    else:
        form = DepositForm(initial={"currency": currency}, client=client, currency=currency)
    return render(request, "portal/wallet/deposit.html", _ctx(
        request, form=form, currency=currency, deposit_refused=wallet_selectors.deposit_refusal(client=client),
        quote=_quote(client, request.POST) if request.method == "POST" else None),
        status=status)


def _quote(client: Any, data: Any) -> Any:
    """The fee and the amount credited for what the deposit form holds so far (None before a valid
    amount and an available method are entered)."""
    try:
        amount = money_parse(str(data.get("amount") or ""), str(data.get("currency") or ""))
    except (InvalidValue, MoneyError):
        return None
    if amount.amount <= 0:
        return None
    return wallet_selectors.deposit_quote(client=client, amount=amount, method=str(data.get("method") or ""))


@client_login_required
@require_GET
def deposit_quote(request: PortalRequest) -> HttpResponse:
    """The fee and what is credited, for htmx as the client types the amount (before paying)."""
    return render(request, "portal/wallet/_deposit_quote.html", {"quote": _quote(request.portal_client, request.GET)})


@client_login_required
@require_GET
def deposit_return(request: PortalRequest) -> HttpResponse:
    """Where the provider's checkout sends the client back (?merchant_ref=...): the deposit's page."""
    found = wallet_selectors.deposits_for_client(client=request.portal_client).filter(
        merchant_ref=request.GET.get("merchant_ref", "")[:64]).first()
    if found is None:
        raise Http404
    return HttpResponseRedirect(reverse("portal:wallet_deposit", args=[found.code]))


def _own(request: PortalRequest, code: str) -> Any:
    try:
        return wallet_permissions.deposit_for_client(client=request.portal_client, code=code)
    except NotFound:
        raise Http404 from None


@client_login_required
@require_GET
def deposit_detail(request: PortalRequest, code: str) -> HttpResponse:
    return render(request, "portal/wallet/deposit_detail.html", _ctx(request, deposit=_own(request, code)))


@client_login_required
@require_GET
def deposit_checkout(request: PortalRequest, code: str) -> HttpResponse:
    """On to the provider's hosted payment page (a navigation, not a form's post), with a link for a
    browser that does not follow the refresh; a deposit no longer open goes to its own page."""
    deposit = _own(request, code)
    url = deposit.redirect_url or ""
    if not deposit.is_open or not url.startswith(("https://", "http://")):
        return HttpResponseRedirect(reverse("portal:wallet_deposit", args=[deposit.code]))
    return render(request, "portal/wallet/checkout.html", _ctx(request, deposit=deposit, checkout_url=url))


@client_login_required
@require_GET
def deposit_status(request: PortalRequest, code: str) -> HttpResponse:
    """The small part of the deposit's page that htmx polls while the deposit is open."""
    return render(request, "portal/wallet/_deposit_status.html", _ctx(request, deposit=_own(request, code)))


@client_login_required
@require_POST
def deposit_cancel(request: PortalRequest, code: str) -> HttpResponse:
    deposit = _own(request, code)
    try:
        wallet_services.deposit_cancel(deposit=deposit)
    except DomainError as exc:
        from django.contrib import messages

        messages.error(request, exc.message)
    return HttpResponseRedirect(reverse("portal:wallet_deposit", args=[deposit.code]))


@client_login_required
@require_GET
def statement(request: PortalRequest) -> HttpResponse:
    """The client's wallet statement as PDF (?currency=USD&from=YYYY-MM-DD&to=YYYY-MM-DD; this month
    by default). A bad period is named, not guessed."""

    client = request.portal_client
    try:
        start, end = wallet_selectors.statement_period(request.GET.get("from", ""), request.GET.get("to", ""))
        made = wallet_selectors.statement_build(client=client, currency=request.GET.get("currency") or client.brand.default_currency,
                               start=start, end=end)
    except (DomainError, MoneyError) as error:
        message = error.message if isinstance(error, DomainError | InvalidValue) else gettext(
            "Choose one of your currencies.")
        fields = getattr(error, "fields", None) or {}
        text = " ".join(str(m) for msgs in fields.values() for m in (msgs if isinstance(msgs, list) else [msgs]))
        return HttpResponse(text or message, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(wallet_selectors.statement_pdf(made), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{made.filename}"'
    return response
