"""The trader's room's withdrawal page: what would block a withdrawal (re-checked as the amount
changes, via htmx), the form, and the client's withdrawals with a cancel button while pending."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from crm.exceptions import DomainError, NotFound
from crm.lib.money import money_parse
from crm.lib.validation import InvalidValue
from crm.views.ui.forms import AmountField
from portal.auth import PortalRequest, client_login_required
from portal.forms import ServiceErrorsMixin
from wallet.exceptions import WithdrawalBlocked
from wallet.permissions import withdrawal_get_for_client
from wallet.selectors import (
    Blocker,
    method_get,
    wallet_balances_for_client,
    withdrawal_blockers,
    withdrawal_methods_for,
    withdrawal_quote,
    withdrawal_under_review,
    withdrawals_for_client,
)
from wallet.services import withdrawal_cancel, withdrawal_request

if TYPE_CHECKING:
    from wallet.models import PaymentMethod  # for annotations only


class WithdrawForm(ServiceErrorsMixin, forms.Form):
    currency = forms.ChoiceField(label=_("From your wallet in"))
    amount = AmountField(label=_("Amount"))
    method = forms.ChoiceField(label=_("Paid to"))
    destination = forms.CharField(label=_("Card number, e-wallet or IBAN"), max_length=100,
                                  help_text=_("For a bank wire, the IBAN of an account in your name."))

    def __init__(self, *args: Any, client: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        wallets = [w.balance.currency for w in wallet_balances_for_client(client)] or ["USD"]
        cast(forms.ChoiceField, self.fields["currency"]).choices = [(c, c) for c in wallets]
        currency = (self.data.get("currency") if self.is_bound else None) or wallets[0]
        if currency not in wallets:
            currency = wallets[0]
        self.options = withdrawal_methods_for(client=client, currency=currency)
        cast(forms.ChoiceField, self.fields["method"]).choices = [(o.method_code, o.label) for o in self.options]


def _method(code: str) -> PaymentMethod | None:
    try:
        return method_get(code)
    except (ValueError, DomainError):
        return None


def _blockers(client: Any, data: Any) -> list[Blocker] | None:
    """The blockers for what the form holds so far (None before an amount and a currency are entered);
    an amount or currency the one parser refuses is the first blocker, named."""
    text, currency = str(data.get("amount") or ""), str(data.get("currency") or "")
    if not text.strip() or not currency:
        return None
    try:
        amount = money_parse(text, currency)
    except InvalidValue as error:
        return [Blocker(code=f"invalid_{error.field}", message=error.message)]
    method = _method(data.get("method") or "") if data.get("method") else None
    return withdrawal_blockers(client=client, amount=amount, method=method)


def _quote(client: Any, data: Any) -> Any:
    """The fee and what is paid out for what the form holds (None before a valid amount, currency
    and method are entered)."""
    method = _method(data.get("method") or "") if data.get("method") else None
    if method is None:
        return None
    try:
        amount = money_parse(str(data.get("amount") or ""), str(data.get("currency") or ""))
    except InvalidValue:
        return None
    return withdrawal_quote(client=client, amount=amount, method=method)


def _page(request: PortalRequest, form: WithdrawForm, blockers: list[Blocker] | None, status: int = 200) -> HttpResponse:
    client = request.portal_client
    login = request.portal_login
    withdrawals = list(withdrawals_for_client(client=client)[:50])
    for w in withdrawals:
        # A held withdrawal reads "Under review": never why (no tipping off).
        w.under_review = withdrawal_under_review(withdrawal=w)  # type: ignore[attr-defined]  # for the template only
    return render(request, "portal/wallet/withdraw.html", {
        "brand": login.brand, "portal_login": login, "portal_client": client, "form": form, "blockers": blockers,
        "wallets": wallet_balances_for_client(client), "withdrawals": withdrawals,
        "quote": _quote(client, request.POST) if blockers == [] else None,
    }, status=status)


@client_login_required
def withdraw(request: PortalRequest) -> HttpResponse:
    client = request.portal_client
    if request.method != "POST":
        return _page(request, WithdrawForm(client=client), None)
    form = WithdrawForm(request.POST, client=client)
    if not form.is_valid():
        # What the form already says beside a field is not said again in the blockers panel.
        said = {str(message) for messages in form.errors.values() for message in messages}
        blockers = _blockers(client, request.POST)
        # The panel says nothing when every blocker is already said beside its field: never "Nothing
        # stands in the way" under a refused amount.
        unsaid = [b for b in blockers or [] if b.message not in said]
        return _page(request, form, unsaid or None, status=400)
    data = form.cleaned_data
    method = _method(data["method"])
    if method is None:
        raise Http404
    try:
        withdrawal_request(client=client, amount=money_parse(data["amount"], data["currency"]), method=method,
                           destination={method.method: data["destination"]}, actor=None)
    except WithdrawalBlocked as blocked:
        return _page(request, form, blocked.blockers, status=400)
    except InvalidValue as error:
        form.add_error(error.field, error.message)
        return _page(request, form, None, status=400)
    except DomainError as error:
        form.add_service_errors(error)
        return _page(request, form, None, status=400)
    messages.success(request, gettext("Your withdrawal is requested; the amount is set aside until it is paid."))
    return redirect("portal:withdraw")


@client_login_required
@require_GET
def withdraw_check(request: PortalRequest) -> HttpResponse:
    """The blockers panel alone, for htmx as the client types."""
    client = request.portal_client
    blockers = _blockers(client, request.GET)
    return render(request, "portal/wallet/_withdraw_blockers.html", {
        "blockers": blockers, "quote": _quote(client, request.GET) if blockers == [] else None})


@client_login_required
@require_POST
def withdraw_cancel(request: PortalRequest, code: str) -> HttpResponse:
    client = request.portal_client
    try:
        w = withdrawal_get_for_client(client=client, code=code)
    except NotFound:
        raise Http404 from None
    try:
        withdrawal_cancel(withdrawal=w, actor=None)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("Your withdrawal is cancelled; the amount is available again."))
    return redirect("portal:withdraw")
