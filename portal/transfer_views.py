"""The trader's room's transfer page: move money between the wallet and the client's own live
trading accounts, or between two of them, and the history of transfers with their statuses."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.exceptions import DomainError
from crm.lib.money import money_parse
from crm.lib.validation import InvalidValue
from crm.views.ui.forms import AmountField
from portal.auth import PortalRequest, client_login_required
from portal.forms import ServiceErrorsMixin
from trading.permissions import trading_account_for_client
from wallet.selectors import (
    TRANSFER_OPEN_STATES,
    transfer_accounts_for,
    transfers_for_client,
    wallet_balances_for_client,
)
from wallet.services import transfer_request

if TYPE_CHECKING:
    from trading.models import TradingAccount  # for annotations only

WALLET = "wallet"


class TransferForm(ServiceErrorsMixin, forms.Form):
    source = forms.CharField(label=_("From"), max_length=40)
    target = forms.CharField(label=_("To"), max_length=40)
    amount = AmountField(label=_("Amount"),
                         help_text=_("In the trading account's currency."))
    key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args: Any, accounts: list[TradingAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(WALLET, gettext("Wallet"))] + [
            (str(a.code), f"{a.login} ({a.currency})") for a in accounts]
        self.fields["source"].widget = forms.Select(choices=choices)
        self.fields["target"].widget = forms.Select(choices=choices)



def _account(client: Any, value: str) -> TradingAccount | None:
    """The wallet (None) or one of the client's own accounts; anything else is not there (404)."""
    if value == WALLET:
        return None
    found = trading_account_for_client(client=client, code=value, archived=True)
    if found is None:
        raise Http404
    return found


def _page(request: PortalRequest, form: TransferForm | None, status: int = 200, *, part: str = "") -> HttpResponse:
    """The page, or only the list of transfers (`part`), which polls itself while one is open."""
    client = request.portal_client
    login = request.portal_login
    transfers = list(transfers_for_client(client=client)[:50])
    context: dict[str, Any] = {"brand": login.brand, "portal_login": login, "portal_client": client, "form": form,
               "transfers": transfers, "any_open": any(t.state in TRANSFER_OPEN_STATES for t in transfers)}
    if part:
        return render(request, "portal/wallet/transfer.html#transfer-list", context)
    context.update(wallets=wallet_balances_for_client(client), accounts=list(transfer_accounts_for(client=client)))
    return render(request, "portal/wallet/transfer.html", context, status=status)


@client_login_required
def transfer(request: PortalRequest) -> HttpResponse:
    client = request.portal_client
    accounts = list(transfer_accounts_for(client=client))
    if request.method != "POST":
        if request.GET.get("part") == "list":
            return _page(request, None, part="list")
        return _page(request, TransferForm(accounts=accounts, initial={"key": uuid.uuid4().hex}))
    form = TransferForm(request.POST, accounts=accounts)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    source, target = _account(client, data["source"]), _account(client, data["target"])
    chosen = source or target
    currency = chosen.currency if chosen is not None else client.brand.default_currency
    try:
        transfer_request(actor=None, client=client, source=source, target=target,
                         amount=money_parse(data["amount"], currency), key=f"portal:{client.pk}:{data['key']}")
    except DomainError as error:
        form.add_service_errors(error)
        return _page(request, form, status=400)
    except InvalidValue as error:  # the one parser's refusal (more decimals than the currency has)
        form.add_error("amount", error.message)
        return _page(request, form, status=400)
    messages.success(request, gettext("Your transfer is on its way; its status below changes when the platform "
                                      "has applied it."))
    return redirect("portal:wallet_transfer")
